//! Writes JSON values as block-style YAML, the way `kubectl get -o yaml` reads:
//! plain scalars where they read back as the same string, quotes otherwise.

use serde_json::Value as Json;

use crate::tree::Value;

/// One YAML document (without the `---` separator).
pub fn emit(v: &Json) -> String {
    let mut out = String::new();
    match v {
        Json::Object(m) if !m.is_empty() => map(m, 0, &mut out),
        Json::Array(a) if !a.is_empty() => seq(a, 0, &mut out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

/// Several documents separated by `---`.
pub fn emit_all(values: &[Json]) -> String {
    values.iter().map(emit).collect::<Vec<_>>().join("---\n")
}

fn pad(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn map(m: &serde_json::Map<String, Json>, indent: usize, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            pad(indent, out);
        }
        out.push_str(&string(k));
        out.push(':');
        value_after_key(v, indent, out);
    }
}

fn value_after_key(v: &Json, indent: usize, out: &mut String) {
    match v {
        Json::Object(m) if !m.is_empty() => {
            out.push('\n');
            pad(indent + 2, out);
            map(m, indent + 2, out);
        }
        Json::Array(a) if !a.is_empty() => {
            out.push('\n');
            pad(indent, out);
            seq(a, indent, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn seq(a: &[Json], indent: usize, out: &mut String) {
    for (i, v) in a.iter().enumerate() {
        if i > 0 {
            pad(indent, out);
        }
        out.push_str("- ");
        match v {
            Json::Object(m) if !m.is_empty() => map(m, indent + 2, out),
            Json::Array(inner) if !inner.is_empty() => seq(inner, indent + 2, out),
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => string(s),
        Json::Array(_) => "[]".into(),
        Json::Object(_) => "{}".into(),
    }
}

/// Whether a YAML 1.1 reader (PyYAML, older Go and Java libraries) could take the string for a
/// number or a timestamp: `1_000`, `1:20`, `1e3`, `0b101`, `0x1F`, `2026-11-26…`. Such strings
/// are quoted; quantities like `500m` or `2Gi` are not numbers to anyone and stay plain.
fn yaml11_number_like(s: &str) -> bool {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let starts_numeric = t
        .strip_prefix('.')
        .unwrap_or(t)
        .starts_with(|c: char| c.is_ascii_digit());
    if !starts_numeric {
        return false;
    }
    let radix = ["0x", "0X", "0o", "0O", "0b", "0B"]
        .iter()
        .any(|p| t.starts_with(p));
    let date =
        t.len() >= 5 && t[..4].bytes().all(|b| b.is_ascii_digit()) && t.as_bytes()[4] == b'-';
    radix || date || t.chars().all(|c| "0123456789_.:+-eE".contains(c))
}

/// Plain when safe, single-quoted when readable, JSON-style double-quoted otherwise.
fn string(s: &str) -> String {
    let safe_chars = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-' | ' '));
    let plain = !s.is_empty()
        && safe_chars
        && !s.starts_with([' ', '-', '.'])
        && !s.ends_with(' ')
        && crate::yaml::resolve_plain(s) == Value::Str(s.to_string())
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off"
        )
        && !yaml11_number_like(s);
    if plain {
        return s.to_string();
    }
    if !s.contains('\'') && !s.chars().any(char::is_control) {
        return format!("'{s}'");
    }
    serde_json::to_string(s).expect("strings serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceFile;
    use serde_json::json;

    #[test]
    fn emitted_yaml_reads_back_identically() {
        let v = json!({
            "a": "10m", "b": "2", "c": "true", "d": "x < 0.3 && y", "e": [1, 2.5, "it's", {"k": "v", "l": []}],
            "f": {}, "g": {"h": [[1, 2], "yes"]}, "i": null, "j": "line\nbreak", "k": "22:00", "l": "20%"
        });
        let text = emit(&v);
        let f = SourceFile::new("t.yaml", text.clone());
        let (docs, diags) = crate::yaml::parse(&f);
        assert!(diags.is_empty(), "{text}\n{diags:?}");
        assert_eq!(to_json(&docs[0].node), v, "{text}");
        assert!(text.contains("a: 10m\n"));
        assert!(text.contains("b: '2'\n"));
    }

    fn to_json(n: &crate::tree::Node) -> Json {
        match &n.value {
            Value::Null => Json::Null,
            Value::Bool(b) => json!(b),
            Value::Int(i) => json!(i),
            Value::Float(f) => json!(f),
            Value::Str(s) => json!(s),
            Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
            Value::Map(e) => Json::Object(
                e.iter()
                    .map(|e| (e.key.clone(), to_json(&e.value)))
                    .collect(),
            ),
        }
    }
}
