//! K004 `type-mismatch`: A value of the wrong type, or a required field missing.

use crate::check::{Rule, Scope};
use crate::syntax::diag::Severity;

pub static RULE: Rule = Rule {
    code: crate::syntax::diag::code::TYPE_MISMATCH,
    name: "type-mismatch",
    summary: "A value of the wrong type, or a required field missing.",
    severity: Severity::Error,
    scope: Scope::FrontEnd,
    doc: r#"
What it checks: numbers where numbers are expected (not quoted strings), strings, lists and
mappings where those are expected, and that required fields (such as `spec.action` of a
Policy or `maxWatts` of a power budget) are present.

Why: Kubernetes would reject the object on apply; kilter says so before it reaches a cluster.

Example:

    disruption:
      minNodes: "5"      # remove the quotes: this field takes a number
"#,
};
