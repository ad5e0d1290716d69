//! The rules, one per file.

pub mod cel_syntax;
pub mod cel_types;
pub mod cel_variables;
pub mod duplicate_name;
pub mod enums;
pub mod envelope;
pub mod invalid_value;
pub mod never_works;
pub mod one_action;
pub mod probe_endpoint;
pub mod ranges;
pub mod resize_target;
pub mod single_writer;
pub mod syntax;
pub mod time_zone;
pub mod types;
pub mod unknown_field;

use crate::model::Object;
use crate::syntax::load::Document;

/// Every CEL field of an object: (path, field name, expression).
pub(crate) fn cel_fields(obj: &Object) -> Vec<(&'static str, &'static str, &str)> {
    let mut v = Vec::new();
    match obj {
        Object::Policy(p) => {
            if let Some(e) = &p.spec.when {
                v.push(("spec.when", "when", e.as_str()));
            }
            if let Some(e) = &p.spec.node_filter {
                v.push(("spec.nodeFilter", "nodeFilter", e.as_str()));
            }
        }
        Object::ScalingTarget(t) => {
            if let Some(e) = &t.spec.demand {
                v.push(("spec.demand", "demand", e.as_str()));
            }
        }
        _ => {}
    }
    v
}

/// The file span of a character range inside a CEL string, or the whole value when the
/// string does not map one-to-one onto the source (escapes, folded YAML).
pub(crate) fn span_in_string(
    doc: &Document,
    path: &str,
    char_offset: usize,
    char_len: usize,
) -> crate::syntax::source::Span {
    let Some(node) = doc.node.at(path) else {
        return doc.span(path);
    };
    let (Some(start), Some(text)) = (node.content_start, node.as_str()) else {
        return node.span;
    };
    let byte = |c: usize| text.char_indices().nth(c).map_or(text.len(), |(b, _)| b);
    let s = byte(char_offset);
    let e = byte(char_offset + char_len).max(s);
    crate::syntax::source::Span::new(start + s, start + e)
}
