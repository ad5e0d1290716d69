//! From a file to documents: runs the right front end, checks `apiVersion`/`kind` and
//! metadata, and decodes each document into the model. Pure: callers pass the text in.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;

use crate::model::{API_VERSION, Budget, Kind, Object, Policy, Probe, ScalingTarget};
use crate::syntax::de::{Issue, decode, did_you_mean};
use crate::syntax::diag::Diagnostic;
use crate::syntax::source::{SourceFile, Span};
use crate::syntax::tree::{Node, Value};

/// One document of a file: its tree (for spans) and its object when it decoded. When the
/// document had errors (`valid` is false) the object is partial — the offending fields left
/// out — and serves only further checks, never conversion or planning.
#[derive(Clone, Debug)]
pub struct Document {
    pub file: Arc<SourceFile>,
    pub node: Node,
    pub kind: Option<Kind>,
    pub object: Option<Object>,
    pub valid: bool,
}

impl Document {
    /// The span of a path in this document, e.g. `spec.power.warnPercent`.
    pub fn span(&self, path: &str) -> Span {
        self.node.span_at(path)
    }

    /// The span of the key introducing a path, falling back to the value.
    pub fn key_span(&self, path: &str) -> Span {
        self.node.key_span(path).unwrap_or_else(|| self.span(path))
    }

    pub fn error(&self, code: &'static str, path: &str, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::error(code, &self.file, self.span(path), msg)
    }

    pub fn warning(&self, code: &'static str, path: &str, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::warning(code, &self.file, self.span(path), msg)
    }

    /// `Kind/name` (with namespace when set), for messages.
    pub fn display_name(&self) -> String {
        match &self.object {
            Some(o) => match o.namespace() {
                Some(ns) => format!("{} {ns}/{}", o.kind().name(), o.name()),
                None => format!("{} {}", o.kind().name(), o.name()),
            },
            None => "document".into(),
        }
    }
}

/// Parses and decodes every document in a file.
pub fn load_file(file: &Arc<SourceFile>) -> (Vec<Document>, Vec<Diagnostic>) {
    let (docs, diags, _) = load_file_counted(file);
    (docs, diags)
}

/// [`load_file`], and how many documents were skipped as not kilter's (other API groups,
/// values files, CI configs…).
pub fn load_file_counted(file: &Arc<SourceFile>) -> (Vec<Document>, Vec<Diagnostic>, usize) {
    let dsl = file.is_dsl();
    if let Some(d) = crate::syntax::limits::line_too_long(file) {
        return (Vec::new(), vec![d], 0);
    }
    let (nodes, mut diags) = if dsl {
        crate::syntax::dsl::parse(file)
    } else {
        let (docs, d) = crate::syntax::yaml::parse(file);
        (docs.into_iter().map(|d| d.node).collect(), d)
    };
    let mut docs = Vec::new();
    let mut skipped = 0;
    for node in nodes {
        if matches!(node.value, Value::Null) {
            continue; // an empty document, e.g. after a trailing `---`
        }
        if !dsl && !is_kilter_object(&node) {
            skipped += 1;
            continue;
        }
        let (doc, d) = load_document(file, node);
        diags.extend(d);
        if let Some(doc) = doc {
            docs.push(doc);
        }
    }
    (docs, diags, skipped)
}

/// Whether the text of a file that does not parse is about kilter (names its API group or
/// one of its kinds): only then are its syntax errors kilter's to report.
pub fn mentions_kilter(text: &str) -> bool {
    text.contains(crate::model::GROUP)
        || text.lines().any(|l| {
            let l = l.trim_start().trim_start_matches("- ");
            l.strip_prefix("kind:").is_some_and(|k| {
                let k = k.trim().trim_matches(['"', '\'']);
                Kind::from_name(k).is_some()
            })
        })
}

fn to_diag(file: &Arc<SourceFile>, fallback: Span, i: Issue) -> Diagnostic {
    Diagnostic::error(i.code, file, i.span.unwrap_or(fallback), i.message).with_help_opt(i.help)
}

/// Documents kilter reads elsewhere (snapshots, tests, traces, scenarios), skipped by the object loader.
/// A `PolicySource` is the controller's own status object, never a policy.
pub const AUXILIARY_KINDS: [&str; 5] = [
    "ClusterSnapshot",
    "PolicyTest",
    "Scenario",
    "Trace",
    "PolicySource",
];

/// Whether a YAML document is kilter's to validate. It is when its `apiVersion` names the
/// `kilter.dev` group (or a near miss of it: a typo is reported, not skipped), or when it has
/// no `apiVersion` and one of kilter's kinds (the missing line is reported). Anything else —
/// other API groups, even with `kind: Policy` (Kyverno has one), Helm values, CI configs,
/// lists and scalars — is not, and is skipped. Snapshots and policy tests are read elsewhere.
/// Every document of a `.kilter` file is kilter's.
pub fn is_kilter_object(node: &Node) -> bool {
    if !matches!(node.value, Value::Map(_)) {
        return false;
    }
    let kind = node.get("kind").and_then(Node::as_str);
    if kind.is_some_and(|k| AUXILIARY_KINDS.contains(&k)) {
        return false;
    }
    match node.get("apiVersion") {
        Some(v) => {
            let Some(v) = v.as_str() else {
                return false;
            };
            let group = v.split_once('/').map_or(v, |(g, _)| g);
            group == crate::model::GROUP || did_you_mean(group, [crate::model::GROUP]).is_some()
        }
        None => kind.is_some_and(|k| Kind::from_name(k).is_some()),
    }
}

const TOP_LEVEL: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "status"];

/// Checks the envelope of one document and decodes its spec.
pub fn load_document(file: &Arc<SourceFile>, node: Node) -> (Option<Document>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    if !matches!(node.value, Value::Map(_)) {
        diags.push(Diagnostic::error(
            crate::syntax::diag::code::DOCUMENT_KIND,
            file,
            node.span,
            format!(
                "expected a kilter object (a mapping with apiVersion and kind), found {}",
                node.describe()
            ),
        ));
        return (None, diags);
    }
    let head = Span::new(node.span.start, node.span.start);
    if !is_kilter_object(&node) {
        return (None, diags);
    }
    let mut ok = true;
    match node.get("apiVersion") {
        None => {
            diags.push(
                Diagnostic::error(
                    crate::syntax::diag::code::DOCUMENT_KIND,
                    file,
                    head,
                    "missing `apiVersion`",
                )
                .with_help(format!("add `apiVersion: {API_VERSION}`")),
            );
            ok = false;
        }
        Some(v) if v.as_str() != Some(API_VERSION) => {
            diags.push(
                Diagnostic::error(
                    crate::syntax::diag::code::DOCUMENT_KIND,
                    file,
                    v.span,
                    format!("unsupported apiVersion; kilter reads `{API_VERSION}`"),
                )
                .with_help(format!("write `apiVersion: {API_VERSION}`")),
            );
            ok = false;
        }
        Some(_) => {}
    }
    let kind = match node.get("kind") {
        None => {
            diags.push(
                Diagnostic::error(
                    crate::syntax::diag::code::DOCUMENT_KIND,
                    file,
                    head,
                    "missing `kind`",
                )
                .with_help("one of `Policy`, `Budget`, `Probe`, `ScalingTarget`"),
            );
            None
        }
        Some(k) => match k.as_str().and_then(Kind::from_name) {
            Some(kind) => Some(kind),
            None => {
                let written = k.as_str().unwrap_or("");
                let help = did_you_mean(written, Kind::ALL.iter().map(|k| k.name()))
                    .map(|c| format!("did you mean `{c}`?"))
                    .unwrap_or_else(|| {
                        "one of `Policy`, `Budget`, `Probe`, `ScalingTarget`".into()
                    });
                diags.push(
                    Diagnostic::error(
                        crate::syntax::diag::code::DOCUMENT_KIND,
                        file,
                        k.span,
                        "unknown kind",
                    )
                    .with_help(help),
                );
                None
            }
        },
    };
    for e in node.entries() {
        if !TOP_LEVEL.contains(&e.key.as_str()) {
            let help = did_you_mean(&e.key, TOP_LEVEL).map(|c| format!("did you mean `{c}`?"));
            diags.push(
                Diagnostic::error(
                    crate::syntax::diag::code::UNKNOWN_FIELD,
                    file,
                    e.key_span,
                    format!("unknown field `{}`", e.key),
                )
                .with_help_opt(help),
            );
            ok = false;
        }
    }
    let Some(kind) = kind else {
        return (None, diags);
    };

    let meta = match node.get("metadata") {
        None => {
            diags.push(Diagnostic::error(
                crate::syntax::diag::code::DOCUMENT_KIND,
                file,
                head,
                "missing `metadata` with a `name`",
            ));
            None
        }
        Some(m) => {
            let (meta, issues) = decode::<ObjectMeta>(m);
            diags.extend(issues.into_iter().map(|i| to_diag(file, m.span, i)));
            meta.map(|meta| check_meta(file, m, kind, meta, &mut diags))
        }
    };
    let spec_node = node.get("spec");
    let object =
        match spec_node {
            None => {
                diags.push(Diagnostic::error(
                    crate::syntax::diag::code::TYPE_MISMATCH,
                    file,
                    head,
                    format!("missing `spec` of the {}", kind.name()),
                ));
                None
            }
            Some(spec) => {
                let decoded =
                    match kind {
                        Kind::Policy => spec_of(file, spec, &mut diags)
                            .map(|s| Object::Policy(Policy::new("", s))),
                        Kind::Budget => spec_of(file, spec, &mut diags)
                            .map(|s| Object::Budget(Budget::new("", s))),
                        Kind::Probe => spec_of(file, spec, &mut diags)
                            .map(|s| Object::Probe(Probe::new("", s))),
                        Kind::ScalingTarget => spec_of(file, spec, &mut diags)
                            .map(|s| Object::ScalingTarget(ScalingTarget::new("", s))),
                    };
                match (decoded, meta) {
                    (Some(mut o), Some(meta)) => {
                        match &mut o {
                            Object::Policy(x) => x.metadata = meta,
                            Object::Budget(x) => x.metadata = meta,
                            Object::Probe(x) => x.metadata = meta,
                            Object::ScalingTarget(x) => x.metadata = meta,
                        }
                        Some(o)
                    }
                    _ => None,
                }
            }
        };
    let valid = ok
        && !diags
            .iter()
            .any(|d| d.severity == crate::syntax::diag::Severity::Error);
    (
        Some(Document {
            file: file.clone(),
            node,
            kind: Some(kind),
            object,
            valid,
        }),
        diags,
    )
}

fn spec_of<T: DeserializeOwned>(
    file: &Arc<SourceFile>,
    spec: &Node,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    let (v, issues) = decode::<T>(spec);
    diags.extend(issues.into_iter().map(|i| to_diag(file, spec.span, i)));
    v
}

fn check_meta(
    file: &Arc<SourceFile>,
    m: &Node,
    kind: Kind,
    meta: ObjectMeta,
    diags: &mut Vec<Diagnostic>,
) -> ObjectMeta {
    match meta.name.as_deref() {
        None | Some("") => diags.push(Diagnostic::error(
            crate::syntax::diag::code::DOCUMENT_KIND,
            file,
            m.span,
            "missing `metadata.name`",
        )),
        Some(name) => {
            if let Some(why) = invalid_dns_subdomain(name) {
                diags.push(Diagnostic::error(
                    crate::syntax::diag::code::INVALID_VALUE,
                    file,
                    m.get("name").map_or(m.span, |n| n.span),
                    format!("`{name}` is not a valid object name: {why}"),
                ));
            }
        }
    }
    if let Some(ns) = meta.namespace.as_deref() {
        let span = m.get("namespace").map_or(m.span, |n| n.span);
        if !kind.namespaced() {
            diags.push(
                Diagnostic::error(
                    crate::syntax::diag::code::DOCUMENT_KIND,
                    file,
                    span,
                    format!("{} is cluster-scoped and takes no namespace", kind.name()),
                )
                .with_help("remove `metadata.namespace`"),
            );
        } else if let Some(why) = invalid_dns_label(ns) {
            diags.push(Diagnostic::error(
                crate::syntax::diag::code::INVALID_VALUE,
                file,
                span,
                format!("`{ns}` is not a valid namespace: {why}"),
            ));
        }
    }
    meta
}

/// RFC 1123 subdomain, as Kubernetes requires of most object names.
pub fn invalid_dns_subdomain(s: &str) -> Option<&'static str> {
    if s.len() > 253 {
        return Some("longer than 253 characters");
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    {
        return Some("use lowercase letters, digits, `-` and `.` only");
    }
    if !s.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !s.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Some("must start and end with a letter or digit");
    }
    None
}

/// RFC 1123 label, as Kubernetes requires of namespaces.
pub fn invalid_dns_label(s: &str) -> Option<&'static str> {
    if s.len() > 63 {
        return Some("longer than 63 characters");
    }
    if s.contains('.') {
        return Some("must not contain `.`");
    }
    invalid_dns_subdomain(s)
}
