//! The front end: source files (YAML and the DSL) to spanned trees to the model, with
//! diagnostics; and the way back (printers, `convert`). Pure: text in, values out.

pub mod comments;
pub mod convert;
pub mod de;
pub mod diag;
pub mod dsl;
pub mod emit;
pub mod limits;
pub mod load;
pub mod source;
pub mod tree;
pub mod yaml;
pub mod yaml_fast;
