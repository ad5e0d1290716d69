//! Output forms of the model: YAML documents, CRDs and JSON Schemas for editors.

use serde_json::{Value as Json, json};

use crate::model::{API_VERSION, Kind, Object};

/// Objects as multi-document YAML, `kubectl apply`-able.
pub fn to_yaml(objects: &[Object]) -> String {
    let values: Vec<Json> = objects.iter().map(Object::to_json).collect();
    crate::yaml_emit::emit_all(&values)
}

fn crd_json(kind: Kind) -> Json {
    serde_json::to_value(kind.crd()).expect("CRDs serialize")
}

/// All four CRDs, as `kilter crds` prints them.
pub fn crds_yaml() -> String {
    let values: Vec<Json> = Kind::ALL.iter().map(|k| crd_json(*k)).collect();
    crate::yaml_emit::emit_all(&values)
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
