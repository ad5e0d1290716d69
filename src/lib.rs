//! kilter: a declarative GitOps reconciler for CPU governors, node consolidation and
//! in-place pod resizes.
//!
//! The core is pure — [`load`] (parse and decode), [`check`] (rules) and [`lint`] take text and
//! return values; the [`cli`] owns the file system and the terminal.

pub mod check;
pub mod cli;
pub mod cluster;
pub mod comments;
pub mod convert;
pub mod de;
pub mod diag;
pub mod dsl;
pub mod expr;
pub mod limits;
pub mod lint;
pub mod load;
pub mod model;
pub mod plan;
pub mod policytest;
pub mod probe;
pub mod sim;
pub mod source;
pub mod state;
pub mod tree;
pub mod yaml;
pub mod yaml_emit;
