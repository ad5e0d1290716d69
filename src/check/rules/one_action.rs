//! K009 `one-action`: a policy must have exactly one action.

use crate::check::{Rule, Scope};
use crate::model::Object;
use crate::syntax::diag::{Diagnostic, Severity};
use crate::syntax::load::Document;

pub static RULE: Rule = Rule {
    code: crate::syntax::diag::code::ONE_ACTION,
    name: "one-action",
    summary: "A policy must set exactly one action.",
    severity: Severity::Error,
    scope: Scope::Document(check),
    doc: r#"
What it checks: `spec.action` of a Policy sets exactly one of `governor`, `consolidate`,
`cordon`, `drain` or `resize`.

Why: one policy, one decision: the plan explains every action by the policy that asked for it,
and priorities order policies, not actions inside one. Write two policies instead.

Example:

    action:
      governor: { name: powersave }
      drain: {}          # a second action: split into another policy
"#,
};

fn check(doc: &Document, obj: &Object, out: &mut Vec<Diagnostic>) {
    let Object::Policy(p) = obj else { return };
    let kinds = p.spec.action.kinds();
    // An action written but set aside by a decoding error has been reported already.
    let written = doc
        .node
        .at("spec.action")
        .is_some_and(|a| !a.entries().is_empty());
    match kinds.len() {
        1 => {}
        0 if written => {}
        0 => out.push(
            doc.error(
                crate::syntax::diag::code::ONE_ACTION,
                "spec.action",
                "the policy has no action",
            )
            .with_help("set one of `governor`, `consolidate`, `cordon`, `drain`, `resize`"),
        ),
        _ => {
            let mut d = doc
                .error(
                    crate::syntax::diag::code::ONE_ACTION,
                    &format!("spec.action.{}", kinds[1].field()),
                    format!(
                        "a policy takes exactly one action, this one sets {}",
                        kinds
                            .iter()
                            .map(|k| format!("`{}`", k.field()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .with_help("split it into one policy per action");
            d.span = doc.key_span(&format!("spec.action.{}", kinds[1].field()));
            d = d.with_related(
                doc.key_span(&format!("spec.action.{}", kinds[0].field())),
                "first action",
            );
            out.push(d);
        }
    }
}
