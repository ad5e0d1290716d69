//! K003 `unknown-field`: A field that the kind does not have.

use crate::check::{Rule, Scope};
use crate::syntax::diag::Severity;

pub static RULE: Rule = Rule {
    code: crate::syntax::diag::code::UNKNOWN_FIELD,
    name: "unknown-field",
    summary: "A field that the kind does not have.",
    severity: Severity::Error,
    scope: Scope::FrontEnd,
    doc: r#"
What it checks: every key names a field of the object at that place, as listed in the
kilter.dev/v1alpha1 API. The message suggests the closest known field.

Why: a misspelt field is silently ignored by a lenient reader, so the setting the author meant
never takes effect. kilter treats it as an error.

Example:

    spec:
      power:
        maxWats: 4500    # did you mean `maxWatts`?
"#,
};
