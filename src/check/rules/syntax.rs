//! K001 `syntax`: The file is not valid YAML or kilter DSL.

use crate::check::{Rule, Scope};
use crate::syntax::diag::Severity;

pub static RULE: Rule = Rule {
    code: crate::syntax::diag::code::SYNTAX,
    name: "syntax",
    summary: "The file is not valid YAML or kilter DSL.",
    severity: Severity::Error,
    scope: Scope::FrontEnd,
    doc: r#"
What it checks: that each document parses. YAML files are read as YAML 1.2 (core schema);
`.kilter` files follow `grammar/kilter.pest`. Duplicate keys are errors too: YAML would keep
only one of them, silently.

Why: nothing else can be checked in a document that does not parse. A syntax error in one
document or object never hides the diagnostics of the others in the same file.

Example (DSL, the block is never closed):

    policy night {
      mode: Enforce
    budget workers { ... }
"#,
};
