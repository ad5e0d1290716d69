//! Output forms: files converted between YAML and the DSL, YAML documents, CRDs and JSON
//! Schemas for editors.

use serde_json::{Value as Json, json};

use std::sync::Arc;

use crate::model::{API_VERSION, Kind, Object};
use crate::syntax::comments::Comments;
use crate::syntax::source::{SourceFile, Span};
use crate::syntax::tree::{Node, Value};

/// Objects as multi-document YAML, `kubectl apply`-able.
pub fn to_yaml(objects: &[Object]) -> String {
    let values: Vec<Json> = objects.iter().map(Object::to_json).collect();
    crate::syntax::emit::emit_all(&values)
}

/// Why a file was not converted.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// No kilter object in it (an empty file, a snapshot, a policy test).
    Empty,
    /// Documents the DSL cannot hold: (line, what each is).
    Foreign(Vec<(usize, String)>),
    /// Text that does not parse (lint passes such a YAML file over when it never mentions
    /// kilter): converting what parses would lose the rest. The first error, as `file:line:col`.
    Unreadable(String),
}

/// A valid file as YAML: its kilter objects re-written with their comments, every other
/// document kept as it was written.
pub fn file_to_yaml(file: &Arc<SourceFile>) -> Result<String, Refused> {
    let docs = documents(file)?;
    if !docs.iter().any(|d| matches!(d, Doc::Kilter { .. })) {
        return Err(Refused::Empty);
    }
    Ok(yaml_out(file, &docs))
}

/// A valid file as DSL, comments carried; refused when it holds anything but kilter objects.
pub fn file_to_dsl(file: &Arc<SourceFile>) -> Result<String, Refused> {
    let docs = documents(file)?;
    if !docs.iter().any(|d| matches!(d, Doc::Kilter { .. })) {
        return Err(Refused::Empty);
    }
    dsl_out(file, &docs)
}

/// The documents of a file in order: kilter objects as written, with their comments, and
/// everything else as the text it was read from.
pub enum Doc {
    Kilter {
        json: Json,
        comments: Comments,
    },
    Other {
        chunk: Span,
        /// The document's first line and what it is; None for an empty document.
        what: Option<(usize, String)>,
    },
}

pub fn documents(file: &Arc<SourceFile>) -> Result<Vec<Doc>, Refused> {
    let unreadable = |diags: &[crate::syntax::diag::Diagnostic]| {
        diags
            .iter()
            .find(|d| d.severity == crate::syntax::diag::Severity::Error)
            .map(|d| Refused::Unreadable(d.one_line()))
    };
    if let Some(d) = crate::syntax::limits::line_too_long(file) {
        return Err(Refused::Unreadable(d.one_line()));
    }
    if file.is_dsl() {
        let (nodes, diags) = crate::syntax::dsl::parse(file);
        if let Some(r) = unreadable(&diags) {
            return Err(r);
        }
        // Each object owns the text from the end of the one before it: the comments above
        // its keyword are its own.
        let mut start = 0;
        let last = nodes.len().saturating_sub(1);
        return Ok(nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let end = if i == last {
                    file.text.len()
                } else {
                    n.span.end
                };
                let range = Span::new(start, end);
                start = end;
                Doc::Kilter {
                    json: n.to_json(),
                    comments: crate::syntax::comments::attach(&file.text, range, n, true),
                }
            })
            .collect());
    }
    let (docs, diags) = crate::syntax::yaml::parse(file);
    if let Some(r) = unreadable(&diags) {
        return Err(r);
    }
    Ok(docs
        .into_iter()
        .map(|d| {
            if crate::syntax::load::is_kilter_object(&d.node) {
                Doc::Kilter {
                    json: d.node.to_json(),
                    comments: crate::syntax::comments::attach(&file.text, d.chunk, &d.node, false),
                }
            } else {
                let what = (!matches!(d.node.value, Value::Null))
                    .then(|| (file.line_col(d.node.span.start).0, describe(&d.node)));
                Doc::Other {
                    chunk: d.chunk,
                    what,
                }
            }
        })
        .collect())
}

/// `v1 ConfigMap settings`, as far as the document says.
fn describe(n: &Node) -> String {
    let s = |v: Option<&Node>| v.and_then(Node::as_str).map(str::to_string);
    let parts: Vec<String> = [
        s(n.get("apiVersion")),
        s(n.get("kind")),
        s(n.at("metadata.name")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        "a document".into()
    } else {
        format!("`{}`", parts.join(" "))
    }
}

/// YAML: kilter objects re-written, every other document kept as it was.
fn yaml_out(file: &SourceFile, docs: &[Doc]) -> String {
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        let part = match d {
            Doc::Kilter { json, comments } => {
                crate::syntax::emit::emit_commented(json, Some(comments))
            }
            Doc::Other { chunk, .. } => file.slice(*chunk).to_string(),
        };
        if part.trim().is_empty() {
            continue;
        }
        let first = part
            .lines()
            .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .unwrap_or_default();
        let marked =
            first.starts_with("---") && first[3..].chars().next().is_none_or(char::is_whitespace);
        if i > 0 && !out.is_empty() && !marked {
            // A document with directives must follow an explicit end.
            out.push_str(if first.starts_with('%') {
                "...\n"
            } else {
                "---\n"
            });
        }
        out.push_str(&part);
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// DSL: kilter objects only; anything else fails the conversion (line, description). A
/// document that holds only comments gives them to the next object.
fn dsl_out(file: &SourceFile, docs: &[Doc]) -> Result<String, Refused> {
    let foreign: Vec<_> = docs
        .iter()
        .filter_map(|d| match d {
            Doc::Other { what: Some(w), .. } => Some(w.clone()),
            _ => None,
        })
        .collect();
    if !foreign.is_empty() {
        return Err(Refused::Foreign(foreign));
    }
    let mut pending = Vec::new();
    let mut objects: Vec<(Json, Comments)> = Vec::new();
    for d in docs {
        match d {
            Doc::Other { chunk, .. } => pending.extend(
                file.slice(*chunk)
                    .lines()
                    .filter_map(|l| l.trim_start().strip_prefix('#'))
                    .map(|t| t.trim_end().to_string()),
            ),
            Doc::Kilter { json, comments } => {
                let mut comments = comments.clone();
                let top = comments.at.entry(Vec::new()).or_default();
                top.before.splice(0..0, pending.drain(..));
                objects.push((json.clone(), comments));
            }
        }
    }
    if let Some((_, c)) = objects.last_mut() {
        c.end.append(&mut pending);
    }
    let with: Vec<_> = objects.iter().map(|(j, c)| (j, Some(c))).collect();
    Ok(crate::syntax::dsl::print::print_documents(&with))
}

fn crd_json(kind: Kind) -> Json {
    serde_json::to_value(kind.crd()).expect("CRDs serialize")
}

/// The CRDs of the four kinds and of `PolicySource` (the controller's status object), as
/// `kilter crds` prints them.
pub fn crds_yaml() -> String {
    use kube_core::CustomResourceExt;
    let source = serde_json::to_value(crate::model::PolicySource::crd()).expect("CRDs serialize");
    let values: Vec<Json> = Kind::ALL
        .iter()
        .map(|k| crd_json(*k))
        .chain(std::iter::once(source))
        .collect();
    crate::syntax::emit::emit_all(&values)
}

/// The files `kilter crds --out DIR` writes: the CRDs exactly as `kilter crds` prints them,
/// and one JSON Schema per kind under `schemas/`.
pub fn crd_files() -> Vec<(String, String)> {
    let mut files = vec![(format!("{}.yaml", crate::model::GROUP), crds_yaml())];
    for k in Kind::ALL {
        let mut s = serde_json::to_string_pretty(&json_schema(k)).expect("schemas serialize");
        s.push('\n');
        files.push((format!("schemas/{}.json", k.name().to_ascii_lowercase()), s));
    }
    files
}

/// A JSON Schema (draft 2020-12) of one kind's YAML form, for editors such as
/// yaml-language-server: the CRD's schema made strict about unknown fields.
pub fn json_schema(kind: Kind) -> Json {
    let crd = crd_json(kind);
    let mut schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    editor_schema(&mut schema);
    if let Some(props) = schema.get_mut("properties").and_then(Json::as_object_mut) {
        props.insert("apiVersion".into(), json!({ "const": API_VERSION }));
        props.insert("kind".into(), json!({ "const": kind.name() }));
        props.remove("status");
        props.insert(
            "metadata".into(),
            json!({
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": { "type": "string" },
                    "namespace": { "type": "string" },
                    "labels": { "type": "object", "additionalProperties": { "type": "string" } },
                    "annotations": { "type": "object", "additionalProperties": { "type": "string" } }
                }
            }),
        );
    }
    schema["required"] = json!(["apiVersion", "kind", "metadata", "spec"]);
    let mut out = serde_json::Map::new();
    out.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    out.insert(
        "$id".into(),
        json!(format!(
            "https://kilter.dev/schemas/{}.json",
            kind.name().to_ascii_lowercase()
        )),
    );
    out.insert(
        "title".into(),
        json!(format!("{} ({API_VERSION})", kind.name())),
    );
    if let Json::Object(m) = schema {
        out.extend(m);
    }
    Json::Object(out)
}

fn editor_schema(v: &mut Json) {
    let Json::Object(m) = v else { return };
    if m.remove("x-kubernetes-int-or-string").is_some() {
        m.insert(
            "anyOf".into(),
            json!([{ "type": "integer" }, { "type": "string" }]),
        );
    }
    if m.contains_key("properties") && !m.contains_key("additionalProperties") {
        m.insert("additionalProperties".into(), json!(false));
    }
    for (_, child) in m.iter_mut() {
        match child {
            Json::Object(_) => editor_schema(child),
            Json::Array(items) => items.iter_mut().for_each(editor_schema),
            _ => {}
        }
    }
}
