//! Comments of a source file, attached to the values they sit beside so that `kilter convert`
//! carries them into the other form. Neither parser keeps comments; they are found in the text
//! outside every key and scalar of the parsed tree, which is exactly where a comment can be.

use std::collections::HashMap;

use crate::syntax::source::Span;
use crate::syntax::tree::{Node, Value};

/// One step of a path into a document: a mapping key or a list index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// The comments that go with one value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attached {
    /// On their own lines above the value's key (or list dash).
    pub before: Vec<String>,
    /// At the end of the value's first line.
    pub after: Option<String>,
}

/// The comments of one document, by the path of the value each belongs to. Texts are what
/// follows the comment marker (`#` or `//`), trailing blanks removed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comments {
    pub at: HashMap<Vec<Seg>, Attached>,
    /// After the document's last value.
    pub end: Vec<String>,
}

impl Comments {
    pub fn get(&self, path: &[Seg]) -> Option<&Attached> {
        self.at.get(path)
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty() && self.end.is_empty()
    }

    /// Whether any comment belongs to `path` or to a value inside it.
    pub fn any_under(&self, path: &[Seg]) -> bool {
        self.at.keys().any(|p| p.starts_with(path))
    }
}

/// Finds the comments in `text[range]` and attaches each to a value of `root`, the document
/// read from that range: a comment on its own line goes above the next key or list item; one
/// after code goes with the last key or item that starts on its line. `dsl` selects the DSL's
/// markers (`#` and `//`); in YAML a `#` starts a comment only at a line start or after a blank.
pub fn attach(text: &str, range: Span, root: &Node, dsl: bool) -> Comments {
    let mut leaves = Vec::new();
    let mut anchors = Vec::new();
    walk(root, &mut Vec::new(), &mut leaves, &mut anchors);
    leaves.sort_by_key(|s: &Span| s.start);
    // Stable: a key and the first key of its value may start at one offset; the deeper wins.
    anchors.sort_by_key(|(at, _)| *at);

    let mut out = Comments::default();
    for (at, body, own_line) in scan(text, range, &leaves, dsl) {
        let body = body.to_string();
        let after = (!own_line)
            .then(|| {
                let i = anchors.partition_point(|(a, _)| *a < at);
                let (a, path) = anchors.get(i.checked_sub(1)?)?;
                (!text[*a..at].contains('\n')).then_some(path)
            })
            .flatten();
        if let Some(path) = after {
            let slot = out.at.entry(path.clone()).or_default();
            match slot.after {
                None => slot.after = Some(body),
                Some(_) => slot.before.push(body),
            }
            continue;
        }
        let i = anchors.partition_point(|(a, _)| *a <= at);
        match anchors.get(i) {
            Some((_, path)) => out.at.entry(path.clone()).or_default().before.push(body),
            None => out.end.push(body),
        }
    }
    out
}

/// Keys and scalars (where a marker is text, not a comment) and the places comments attach to.
fn walk(
    n: &Node,
    path: &mut Vec<Seg>,
    leaves: &mut Vec<Span>,
    anchors: &mut Vec<(usize, Vec<Seg>)>,
) {
    match &n.value {
        Value::Map(entries) => {
            for e in entries {
                leaves.push(e.key_span);
                path.push(Seg::Key(e.key.clone()));
                anchors.push((e.key_span.start, path.clone()));
                walk(&e.value, path, leaves, anchors);
                path.pop();
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                anchors.push((item.span.start, path.clone()));
                walk(item, path, leaves, anchors);
                path.pop();
            }
        }
        _ => leaves.push(n.span),
    }
}

/// (offset, text after the marker, alone on its line) of each comment in `range`.
fn scan<'t>(text: &'t str, range: Span, leaves: &[Span], dsl: bool) -> Vec<(usize, &'t str, bool)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut leaf = 0;
    let mut i = range.start;
    while i < range.end {
        while leaf < leaves.len() && leaves[leaf].end <= i {
            leaf += 1;
        }
        if let Some(l) = leaves.get(leaf)
            && l.start <= i
        {
            i = l.end;
            continue;
        }
        let marker = match bytes[i] {
            b'#' if dsl || i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b'\n' | b'\r') => 1,
            b'/' if dsl && bytes.get(i + 1) == Some(&b'/') => 2,
            _ => 0,
        };
        if marker == 0 {
            i += 1;
            continue;
        }
        let end = text[i..range.end].find('\n').map_or(range.end, |n| i + n);
        let line_start = text[..i].rfind('\n').map_or(0, |n| n + 1);
        let own_line = text[line_start..i].trim().is_empty();
        found.push((i, text[i + marker..end].trim_end(), own_line));
        i = end;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::source::SourceFile;

    fn key(k: &str) -> Seg {
        Seg::Key(k.into())
    }

    #[test]
    fn yaml_comments_attach_to_the_next_key_or_their_line() {
        let text = "# top\napiVersion: v1 # version\nspec:\n  # the list\n  items:\n  - a # first\n  # second\n  - 'b # not a comment'\n  url: http://x#y\n# tail\n";
        let f = SourceFile::new("t.yaml", text);
        let (docs, d) = crate::syntax::yaml::parse(&f);
        assert!(d.is_empty());
        let c = attach(&f.text, docs[0].chunk, &docs[0].node, false);
        let at = |p: &[Seg]| c.get(p).cloned().unwrap_or_default();
        assert_eq!(at(&[key("apiVersion")]).before, [" top"]);
        assert_eq!(at(&[key("apiVersion")]).after.as_deref(), Some(" version"));
        assert_eq!(at(&[key("spec"), key("items")]).before, [" the list"]);
        let item = |i| [key("spec"), key("items"), Seg::Index(i)];
        assert_eq!(at(&item(0)).after.as_deref(), Some(" first"));
        assert_eq!(at(&item(1)).before, [" second"]);
        assert_eq!(c.end, [" tail"]);
        assert_eq!(c.at.len(), 4, "{c:?}");
    }

    #[test]
    fn block_scalars_and_dsl_strings_hold_no_comments() {
        let text = "a: |\n  # text\n  more\nb: 1\n";
        let f = SourceFile::new("t.yaml", text);
        let (docs, _) = crate::syntax::yaml::parse(&f);
        assert!(attach(&f.text, docs[0].chunk, &docs[0].node, false).is_empty());

        let text = "// head\npolicy p { # header\n  description: \"a # b // c\"\n  when: `x // y`\n  mode: Enforce // mode\n}\n";
        let f = SourceFile::new("t.kilter", text);
        let (nodes, d) = crate::syntax::dsl::parse(&f);
        assert!(d.is_empty(), "{d:?}");
        let c = attach(&f.text, Span::new(0, text.len()), &nodes[0], true);
        let mode = [key("spec"), key("mode")];
        assert_eq!(c.get(&mode).unwrap().after.as_deref(), Some(" mode"));
        let all: Vec<_> =
            c.at.values()
                .flat_map(|a| a.before.iter().chain(&a.after))
                .collect();
        assert_eq!(all.len(), 3, "{c:?}");
    }
}
