//! Prints objects as DSL (for `kilter convert --to dsl`), in the formatter's canonical layout.

use pest::Parser as _;
use serde_json::Value as Json;

use super::{KilterParser, Rule, escape};
use crate::model::Object;
use crate::source::SourceFile;

/// Fields that hold CEL; printed between backticks.
const CEL_FIELDS: [&str; 3] = ["when", "nodeFilter", "demand"];

/// Prints objects as one DSL file.
pub fn print(objects: &[Object]) -> String {
    let mut out = String::new();
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&object(o));
    }
    let file = SourceFile::new("<convert>", out);
    super::fmt::format(&file).unwrap_or_else(|_| file.text.to_string())
}

fn object(o: &Object) -> String {
    let json = o.to_json();
    let mut s = String::new();
    s.push_str(o.kind().keyword());
    s.push(' ');
    if let Some(ns) = o.namespace() {
        s.push_str(ns);
        s.push('/');
    }
    s.push_str(o.name());
    s.push_str(" {\n");
    if let Some(Json::Object(meta)) = json.get("metadata") {
        let rest: serde_json::Map<_, _> = meta
            .iter()
            .filter(|(k, _)| *k != "name" && *k != "namespace")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !rest.is_empty() {
            s.push_str("metadata ");
            value("metadata", &Json::Object(rest), &mut s);
            s.push('\n');
        }
    }
    if let Some(Json::Object(spec)) = json.get("spec") {
        for (k, v) in spec {
            entry(k, v, &mut s);
        }
    }
    s.push_str("}\n");
    s
}

fn entry(k: &str, v: &Json, s: &mut String) {
    s.push_str(&key(k));
    if !v.is_object() {
        s.push(':');
    }
    s.push(' ');
    value(k, v, s);
    s.push('\n');
}

fn key(k: &str) -> String {
    if super::fmt::is_bare_key(k) {
        k.to_string()
    } else {
        escape(k)
    }
}

fn value(field: &str, v: &Json, s: &mut String) {
    match v {
        Json::Null => s.push_str("null"),
        Json::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => {
            match n.as_f64() {
                // 4500.0 reads back as the same f64 when written 4500.
                Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => {
                    s.push_str(&(f as i64).to_string())
                }
                _ => s.push_str(&n.to_string()),
            }
            if field == "maxWatts"
                && !s.ends_with(|c: char| c.is_ascii_alphabetic() || c == '+')
                && !n.to_string().contains(['e', 'E'])
            {
                s.push('W');
            }
        }
        Json::String(t) => s.push_str(&string(field, t)),
        Json::Array(items) => {
            s.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                value(field, item, s);
            }
            s.push(']');
        }
        Json::Object(map) => {
            s.push_str("{\n");
            for (k, v) in map {
                entry(k, v, s);
            }
            s.push('}');
        }
    }
}

/// The shortest form that reads back as the same string.
fn string(field: &str, t: &str) -> String {
    if CEL_FIELDS.contains(&field) && !t.contains('`') {
        return format!("`{t}`");
    }
    if reads_back_as_bare(t) {
        return t.to_string();
    }
    escape(t)
}

fn reads_back_as_bare(t: &str) -> bool {
    if matches!(t, "true" | "false" | "null") || t.ends_with('W') {
        return false;
    }
    KilterParser::parse(Rule::bare_value, t).is_ok()
}
