//! Prints objects as DSL (for `kilter convert --to dsl`), in the formatter's canonical layout.

use pest::Parser as _;
use serde_json::Value as Json;

use super::{KilterParser, Rule, escape};
use crate::model::{Kind, Object};
use crate::syntax::comments::{Attached, Comments, Seg};
use crate::syntax::source::SourceFile;

/// Fields that hold CEL; printed between backticks.
const CEL_FIELDS: [&str; 3] = ["when", "nodeFilter", "demand"];

/// Prints objects as one DSL file.
pub fn print(objects: &[Object]) -> String {
    let docs: Vec<Json> = objects.iter().map(Object::to_json).collect();
    let with: Vec<_> = docs.iter().map(|d| (d, None)).collect();
    print_documents(&with)
}

/// Prints documents (the JSON of valid kilter objects, as written) as one DSL file, each with
/// the comments of its source beside the values they were written with. `status` is printed
/// as a `status { … }` block.
pub fn print_documents(docs: &[(&Json, Option<&Comments>)]) -> String {
    let mut out = String::new();
    for (i, (doc, comments)) in docs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut p = Printer {
            s: String::new(),
            comments: *comments,
            path: Vec::new(),
        };
        p.object(doc);
        out.push_str(&p.s);
    }
    let file = SourceFile::new("<convert>", out);
    super::fmt::format(&file).unwrap_or_else(|_| file.text.to_string())
}

struct Printer<'c> {
    s: String,
    comments: Option<&'c Comments>,
    path: Vec<Seg>,
}

fn key_path(keys: &[&str]) -> Vec<Seg> {
    keys.iter().map(|k| Seg::Key(k.to_string())).collect()
}

impl Printer<'_> {
    fn attached(&self, path: &[Seg]) -> Attached {
        self.comments
            .and_then(|c| c.get(path))
            .cloned()
            .unwrap_or_default()
    }

    fn comment_line(&mut self, text: &str) {
        self.s.push('#');
        self.s.push_str(text);
        self.s.push('\n');
    }

    fn trailing(&mut self, text: Option<&str>) {
        if let Some(t) = text {
            self.s.push_str(" #");
            self.s.push_str(t);
        }
    }

    fn object(&mut self, json: &Json) {
        let kind = json.get("kind").and_then(Json::as_str).unwrap_or_default();
        let meta = json.get("metadata").and_then(Json::as_object);
        let field = |k: &str| meta.and_then(|m| m.get(k)).and_then(Json::as_str);
        let rest: serde_json::Map<_, _> = meta
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k != "name" && *k != "namespace")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // The header stands for apiVersion, kind, the name and the `spec:` line: their
        // comments go with it.
        let mut header = vec![vec![], key_path(&["apiVersion"]), key_path(&["kind"])];
        if rest.is_empty() {
            header.push(key_path(&["metadata"]));
        }
        header.extend([
            key_path(&["metadata", "name"]),
            key_path(&["metadata", "namespace"]),
            key_path(&["spec"]),
        ]);
        let mut afters = Vec::new();
        for p in &header {
            let a = self.attached(p);
            for t in &a.before {
                self.comment_line(t);
            }
            afters.extend(a.after);
        }
        self.s.push_str(
            &Kind::from_name(kind)
                .map_or_else(|| kind.to_ascii_lowercase(), |k| k.keyword().into()),
        );
        self.s.push(' ');
        if let Some(ns) = field("namespace") {
            self.s.push_str(ns);
            self.s.push('/');
        }
        self.s.push_str(field("name").unwrap_or_default());
        self.s.push_str(" {");
        let mut afters = afters.into_iter();
        self.trailing(afters.next().as_deref());
        self.s.push('\n');
        for t in afters {
            self.comment_line(&t);
        }
        if !rest.is_empty() {
            self.entry("metadata", &Json::Object(rest));
        }
        if let Some(Json::Object(spec)) = json.get("spec") {
            self.path.push(Seg::Key("spec".into()));
            for (k, v) in spec {
                self.entry(k, v);
            }
            self.path.pop();
        }
        if let Some(status) = json.get("status") {
            self.entry("status", status);
        }
        let end = self.comments.map(|c| c.end.clone()).unwrap_or_default();
        for t in &end {
            self.comment_line(t);
        }
        self.s.push_str("}\n");
    }

    fn entry(&mut self, k: &str, v: &Json) {
        self.path.push(Seg::Key(k.to_string()));
        let a = self.attached(&self.path);
        for t in &a.before {
            self.comment_line(t);
        }
        self.s.push_str(&key(k));
        if !v.is_object() {
            self.s.push(':');
        }
        self.s.push(' ');
        if !self.value(k, v, a.after.as_deref()) {
            self.trailing(a.after.as_deref());
        }
        self.s.push('\n');
        self.path.pop();
    }

    /// Writes a value; a block or a list written one item per line takes `after` (the
    /// comment of its first line) after its opening bracket and returns true.
    fn value(&mut self, field: &str, v: &Json, after: Option<&str>) -> bool {
        match v {
            Json::Array(items)
                if self
                    .comments
                    .is_some_and(|c| c.any_under(&self.path) && !items.is_empty()) =>
            {
                self.s.push('[');
                self.trailing(after);
                self.s.push('\n');
                for (i, item) in items.iter().enumerate() {
                    self.path.push(Seg::Index(i));
                    let a = self.attached(&self.path);
                    for t in &a.before {
                        self.comment_line(t);
                    }
                    if !self.value(field, item, a.after.as_deref()) {
                        self.s.push(',');
                        self.trailing(a.after.as_deref());
                    } else {
                        self.s.push(',');
                    }
                    self.s.push('\n');
                    self.path.pop();
                }
                self.s.push(']');
                true
            }
            Json::Array(items) => {
                self.s.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.s.push_str(", ");
                    }
                    self.value(field, item, None);
                }
                self.s.push(']');
                false
            }
            Json::Object(map) => {
                self.s.push('{');
                self.trailing(after);
                self.s.push('\n');
                for (k, v) in map {
                    self.entry(k, v);
                }
                self.s.push('}');
                true
            }
            other => {
                scalar(field, other, &mut self.s);
                false
            }
        }
    }
}

fn key(k: &str) -> String {
    if super::fmt::is_bare_key(k) {
        k.to_string()
    } else {
        escape(k)
    }
}

fn scalar(field: &str, v: &Json, s: &mut String) {
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
        Json::Array(_) | Json::Object(_) => {}
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
