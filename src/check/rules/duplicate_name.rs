//! K013 `duplicate-name`: two objects of one kind with the same name.

use std::collections::HashMap;

use crate::check::{Rule, Scope};
use crate::syntax::diag::{Diagnostic, Severity};
use crate::syntax::load::Document;

pub static RULE: Rule = Rule {
    code: crate::syntax::diag::code::DUPLICATE_NAME,
    name: "duplicate-name",
    summary: "Two objects of the same kind share a name (and namespace).",
    severity: Severity::Error,
    scope: Scope::Bundle(check),
    doc: r#"
What it checks: across every file linted together, no two objects of the same kind have the same
name (ScalingTargets: the same namespace and name), whether written in YAML or the DSL; and no
two ScalingTargets name the same workload (namespace, `workloadRef.kind` and `name`).

Why: in the cluster the second would silently replace the first on apply, and which one wins
depends on file order. Two targets for one workload would give its pods two floors, caps and
weights; the market would use one and ignore the other.

Example:

    # policies/night.yaml
    metadata: { name: night }
    # policies/night.kilter
    policy night { ... }      # the same Policy name again
"#,
};

fn check(docs: &[Document], out: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<(crate::model::Kind, Option<&str>, &str), &Document> = HashMap::new();
    for d in docs {
        let Some(o) = &d.object else { continue };
        let key = (o.kind(), o.namespace(), o.name());
        match seen.get(&key) {
            None => {
                seen.insert(key, d);
            }
            Some(first) => {
                let (line, col) = first.file.line_col(first.span("metadata.name").start);
                let mut diag = d.error(
                    crate::syntax::diag::code::DUPLICATE_NAME,
                    "metadata.name",
                    format!("{} is defined twice", d.display_name()),
                );
                diag = if std::sync::Arc::ptr_eq(&first.file, &d.file) {
                    diag.with_related(first.span("metadata.name"), "first defined here")
                } else {
                    diag.with_help(format!("first defined at {}:{line}:{col}", first.file.path))
                };
                out.push(diag);
            }
        }
    }
    let mut workloads: HashMap<(&str, crate::model::WorkloadKind, &str), &Document> =
        HashMap::new();
    for d in docs {
        let Some(crate::model::Object::ScalingTarget(t)) = &d.object else {
            continue;
        };
        let key = (
            t.metadata.namespace.as_deref().unwrap_or("default"),
            t.spec.workload_ref.kind,
            t.spec.workload_ref.name.as_str(),
        );
        if let Some(first) = workloads.get(&key) {
            let (line, col) = first.file.line_col(first.span("spec.workloadRef").start);
            let mut diag = d.error(
                crate::syntax::diag::code::DUPLICATE_NAME,
                "spec.workloadRef",
                format!(
                    "{} {}/{} already has a ScalingTarget ({})",
                    key.1.as_str(),
                    key.0,
                    key.2,
                    first.display_name()
                ),
            );
            diag = if std::sync::Arc::ptr_eq(&first.file, &d.file) {
                diag.with_related(first.span("spec.workloadRef"), "first target of it")
            } else {
                diag.with_help(format!("first target at {}:{line}:{col}", first.file.path))
            };
            out.push(diag);
        } else {
            workloads.insert(key, d);
        }
    }
}
