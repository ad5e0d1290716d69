//! The spanned value tree both front ends produce. YAML and the DSL lower to it, one
//! decoder turns it into the model, and checks look spans up in it by path.

use crate::syntax::source::Span;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    /// The whole value as written.
    pub span: Span,
    /// For strings whose characters map one-to-one onto the source: where the content starts.
    /// Lets diagnostics point inside an embedded CEL expression.
    pub content_start: Option<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

impl Node {
    pub fn new(value: Value, span: Span) -> Self {
        Node {
            value,
            span,
            content_start: None,
        }
    }

    pub fn describe(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[Entry] {
        match &self.value {
            Value::Map(e) => e,
            _ => &[],
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries().iter().find(|e| e.key == key)
    }

    /// Looks a node up by a dotted path with list indexes, e.g. `spec.containers[0].cpu.min`.
    pub fn at(&self, path: &str) -> Option<&Node> {
        let mut node = self;
        for part in path.split('.').filter(|p| !p.is_empty()) {
            let (key, rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !key.is_empty() {
                node = node.get(key)?;
            }
            for idx in rest.split('[').filter(|s| !s.is_empty()) {
                let i: usize = idx.trim_end_matches(']').parse().ok()?;
                node = match &node.value {
                    Value::Seq(items) => items.get(i)?,
                    _ => return None,
                };
            }
        }
        Some(node)
    }

    /// The span of the key that introduces `path` (its last segment), for "this field" errors.
    pub fn key_span(&self, path: &str) -> Option<Span> {
        let (parent, last) = match path.rfind('.') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => ("", path),
        };
        let parent = if parent.is_empty() {
            Some(self)
        } else {
            self.at(parent)
        };
        parent?.entry(last).map(|e| e.key_span)
    }

    /// The value as JSON, as written (integers stay integers).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as Json;
        match &self.value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Value::Str(s) => Json::String(s.clone()),
            Value::Seq(items) => Json::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => Json::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }

    /// The best span for a path: the value if present, else the deepest existing ancestor.
    pub fn span_at(&self, path: &str) -> Span {
        let mut p = path;
        loop {
            if let Some(n) = self.at(p) {
                return n.span;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return self.span,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(a: usize) -> Span {
        Span::new(a, a + 1)
    }

    #[test]
    fn path_lookup_walks_maps_and_lists() {
        let leaf = Node::new(Value::Int(3), s(9));
        let item = Node::new(
            Value::Map(vec![Entry {
                key: "min".into(),
                key_span: s(7),
                value: leaf,
            }]),
            s(6),
        );
        let root = Node::new(
            Value::Map(vec![Entry {
                key: "containers".into(),
                key_span: s(1),
                value: Node::new(Value::Seq(vec![item]), s(5)),
            }]),
            s(0),
        );
        assert_eq!(root.at("containers[0].min").unwrap().value, Value::Int(3));
        assert_eq!(root.key_span("containers[0].min"), Some(s(7)));
        assert_eq!(root.span_at("containers[0].max"), s(6));
        assert!(root.at("containers[1]").is_none());
    }
}
