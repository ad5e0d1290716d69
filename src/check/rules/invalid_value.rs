//! K005 `invalid-value`: A value that does not parse as its type.

use crate::check::{Rule, Scope};
use crate::syntax::diag::Severity;

pub static RULE: Rule = Rule {
    code: crate::syntax::diag::code::INVALID_VALUE,
    name: "invalid-value",
    summary: "A value that does not parse as its type.",
    severity: Severity::Error,
    scope: Scope::FrontEnd,
    doc: r#"
What it checks: durations (`30s`, `5m`, `1h30m`), CPU quantities (`250m`, `2`, `1.5`),
memory quantities (`512Mi`, `2Gi`), percentages (`"20%"`), times of day (`22:00`), object
names and URLs.

Why: an unparseable value cannot be enforced; reporting it at the value's line and column
lets the author fix it in place.

Example:

    cooldown: 10 minutes     # write 10m
"#,
};
