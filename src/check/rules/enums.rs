//! K007 `enum-value`: a value outside the fixed set its field allows.

use crate::check::{Rule, Scope};
use crate::de::did_you_mean;
use crate::diag::{Diagnostic, Severity};
use crate::load::Document;
use crate::model::Object;

pub static RULE: Rule = Rule {
    code: "K007",
    name: "enum-value",
    summary: "A value outside the fixed set its field allows.",
    severity: Severity::Error,
    scope: Scope::Document(check),
    doc: r#"
What it checks: `mode` (Enforce, DryRun), probe `type` (K8s, VmSystem, HostSystem), schedule
`days` (Mon … Sun), `resizePolicy` (Limits, Requests, Both), `workloadRef.kind` (Deployment,
StatefulSet, DaemonSet, ReplicaSet) and governor names (performance, powersave, schedutil,
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

fn check(doc: &Document, obj: &Object, out: &mut Vec<Diagnostic>) {
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
                doc.error("K007", &path, format!("`{name}` is not a CPU governor"))
                    .with_help(help),
            );
        }
    }
}
