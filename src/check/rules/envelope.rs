//! K002 `document-kind`: A document lacks a valid apiVersion, kind or metadata.

use crate::check::{Rule, Scope};
use crate::syntax::diag::Severity;

pub static RULE: Rule = Rule {
    code: crate::syntax::diag::code::DOCUMENT_KIND,
    name: "document-kind",
    summary: "A document lacks a valid apiVersion, kind or metadata.",
    severity: Severity::Error,
    scope: Scope::FrontEnd,
    doc: r#"
What it checks: every document has `apiVersion: kilter.dev/v1alpha1`, a `kind` of Policy,
Budget, Probe or ScalingTarget, and `metadata.name` (a DNS-1123 subdomain). Policy, Budget and
Probe are cluster-scoped: a namespace on them is an error. Only apiVersion, kind, metadata, spec
and status may appear at the top level.

Why: `kubectl apply` would reject the document, or create something kilter never reads.

Example:

    apiVersion: kilter.dev/v1
    kind: Polcy          # did you mean `Policy`?
"#,
};
