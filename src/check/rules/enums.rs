//! K007 `enum-value`: a value outside the fixed set its field allows.

use crate::check::{Rule, Scope};
use crate::model::Object;
use crate::model::selector::{self, SelectorError};
use crate::syntax::de::did_you_mean;
use crate::syntax::diag::{Diagnostic, Severity};
use crate::syntax::load::Document;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub static RULE: Rule = Rule {
    code: crate::syntax::diag::code::ENUM_VALUE,
    name: "enum-value",
    summary: "A value outside the fixed set its field allows.",
    severity: Severity::Error,
    scope: Scope::Document(check),
    doc: r#"
What it checks: `mode` (Enforce, DryRun), probe `type` (K8s, VmSystem, HostSystem), schedule
`days` (Mon … Sun), `resizePolicy` (Limits, Requests, Both), `workloadRef.kind` (Deployment,
StatefulSet, DaemonSet, ReplicaSet), label selector operators (In, NotIn, Exists,
DoesNotExist; values required by In and NotIn, forbidden with the others) and governor names (performance, powersave, schedutil,
ondemand, conservative, userspace — the Linux cpufreq governors). Values are case-sensitive;
the message suggests the closest allowed value.

Why: the node's kernel answers EINVAL to an unknown governor, and Kubernetes rejects unknown
enum values; kilter reports them before they reach either.

Example:

    mode: enforce        # did you mean `Enforce`?
    action:
      governor: { name: powersafe }   # did you mean `powersave`?
"#,
};

/// The Linux cpufreq governors.
pub const GOVERNORS: [&str; 6] = [
    "performance",
    "powersave",
    "schedutil",
    "ondemand",
    "conservative",
    "userspace",
];

/// Every label selector of an object, with its path.
fn selectors(obj: &Object) -> Vec<(&'static str, &LabelSelector)> {
    let mut v = Vec::new();
    match obj {
        Object::Policy(p) => {
            if let Some(s) = &p.spec.node_selector {
                v.push(("spec.nodeSelector", s));
            }
            if let Some(r) = &p.spec.action.resize {
                v.push(("spec.action.resize.targetSelector", &r.target_selector));
            }
        }
        Object::Budget(b) => {
            if let Some(s) = &b.spec.node_selector {
                v.push(("spec.nodeSelector", s));
            }
        }
        Object::Probe(p) => {
            if let Some(d) = &p.spec.daemon_set {
                v.push(("spec.daemonSet.selector", &d.selector));
            }
        }
        Object::ScalingTarget(_) => {}
    }
    v
}

/// Selector operators exactly as the API server spells them, with values where they belong:
/// a selector that matches nothing protects nothing.
fn check_selectors(doc: &Document, obj: &Object, out: &mut Vec<Diagnostic>) {
    for (path, sel) in selectors(obj) {
        let Err(e) = selector::validate(sel) else {
            continue;
        };
        let at = format!("{path}.matchExpressions[{}]", e.index());
        let d = match &e {
            SelectorError::UnknownOperator(_, op) => {
                let help = did_you_mean(op, selector::OPERATORS)
                    .or_else(|| {
                        selector::OPERATORS
                            .into_iter()
                            .find(|o| o.eq_ignore_ascii_case(op))
                    })
                    .map(|c| format!("did you mean `{c}`?"))
                    .unwrap_or_else(|| "operators are In, NotIn, Exists, DoesNotExist".into());
                doc.error(
                    crate::syntax::diag::code::ENUM_VALUE,
                    &format!("{at}.operator"),
                    e.to_string(),
                )
                .with_help(help)
            }
            _ => doc
                .error(
                    crate::syntax::diag::code::ENUM_VALUE,
                    &format!("{at}.values"),
                    e.to_string(),
                )
                .with_help("In and NotIn need values; Exists and DoesNotExist take none"),
        };
        out.push(d);
    }
}

fn check(doc: &Document, obj: &Object, out: &mut Vec<Diagnostic>) {
    check_selectors(doc, obj, out);
    let Object::Policy(p) = obj else { return };
    let Some(g) = &p.spec.action.governor else {
        return;
    };
    let names = std::iter::once(("spec.action.governor.name".to_string(), &g.name)).chain(
        g.fallback
            .iter()
            .enumerate()
            .map(|(i, f)| (format!("spec.action.governor.fallback[{i}]"), f)),
    );
    for (path, name) in names {
        if !GOVERNORS.contains(&name.as_str()) {
            let help = did_you_mean(name, GOVERNORS)
                .map(|c| format!("did you mean `{c}`?"))
                .unwrap_or_else(|| format!("cpufreq governors are {}", GOVERNORS.join(", ")));
            out.push(
                doc.error(
                    crate::syntax::diag::code::ENUM_VALUE,
                    &path,
                    format!("`{name}` is not a CPU governor"),
                )
                .with_help(help),
            );
        }
    }
}
