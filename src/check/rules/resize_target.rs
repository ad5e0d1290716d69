//! K015 `resize-target-unmatched`: a resize policy whose targetSelector matches no ScalingTarget.

use crate::check::{Rule, Scope};
use crate::model::Object;
use crate::model::selector::matches;
use crate::syntax::diag::{Diagnostic, Severity};
use crate::syntax::load::Document;

pub static RULE: Rule = Rule {
    code: crate::syntax::diag::code::RESIZE_TARGET_UNMATCHED,
    name: "resize-target-unmatched",
    summary: "A resize policy's targetSelector matches no ScalingTarget.",
    severity: Severity::Warning,
    scope: Scope::Bundle(check),
    doc: r#"
What it checks: the `targetSelector` of every `resize` action matches the labels of at least one
ScalingTarget among the files linted together.

Why: a resize policy with nothing to resize is usually a typo in a label. It is a warning, not
an error, because the ScalingTargets may live in another repository; lint them together, or
pass `--deny-warnings` to make it fail CI.

Example:

    action:
      resize: { targetSelector: { matchLabels: { tier: wbe } } }   # no target has tier=wbe
"#,
};

fn check(docs: &[Document], out: &mut Vec<Diagnostic>) {
    let targets: Vec<_> = docs
        .iter()
        .filter_map(|d| match &d.object {
            Some(Object::ScalingTarget(t)) => Some(t.metadata.labels.clone().unwrap_or_default()),
            _ => None,
        })
        .collect();
    for d in docs {
        let Some(Object::Policy(p)) = &d.object else {
            continue;
        };
        let Some(r) = &p.spec.action.resize else {
            continue;
        };
        if !targets
            .iter()
            .any(|labels| matches(&r.target_selector, labels))
        {
            out.push(
                Diagnostic::warning(
                    crate::syntax::diag::code::RESIZE_TARGET_UNMATCHED,
                    &d.file,
                    d.key_span("spec.action.resize.targetSelector"),
                    format!("the targetSelector of {} matches no ScalingTarget", d.display_name()),
                )
                .with_help("check the labels in `metadata.labels` of your ScalingTargets, or lint them together with this policy"),
            );
        }
    }
}
