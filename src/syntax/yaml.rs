//! YAML front end: multi-document files to spanned trees.
//!
//! Built on `saphyr-parser`'s event stream (maintained, pure Rust, YAML 1.2) rather than the
//! archived serde_yaml, so that every node keeps its span, duplicate keys are seen, and a
//! syntax error in one document does not hide the others: the file is split at `---` lines
//! and each document is parsed on its own.

use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle};

use crate::syntax::diag::Diagnostic;
use crate::syntax::source::{SourceFile, Span};
use crate::syntax::tree::{Entry, Node, Value};

/// One parsed document and where it sits in the file.
#[derive(Clone, Debug)]
pub struct Document {
    pub node: Node,
    /// The text the document was read from: from its `---` (or the start of the file) to the
    /// next document's, comments and directives included.
    pub chunk: Span,
}

/// Parses every document of a YAML file; syntax errors become K001 diagnostics.
pub fn parse(file: &Arc<SourceFile>) -> (Vec<Document>, Vec<Diagnostic>) {
    let mut docs = Vec::new();
    let mut diags = Vec::new();
    // Alias expansions are bounded per file, not per document.
    let mut alias_nodes = 0;
    for (i, (start, chunk)) in split_documents(&file.text).into_iter().enumerate() {
        if i == crate::syntax::limits::MAX_DOCUMENTS {
            diags.push(crate::syntax::limits::too_many(file, start, "documents"));
            break;
        }
        let plain = || Builder {
            file,
            base: start,
            chunk,
            text: std::borrow::Cow::Borrowed(chunk),
            char_map: (!chunk.is_ascii()).then(|| chunk.char_indices().map(|(b, _)| b).collect()),
            decoded: Vec::new(),
            double_quoted: Vec::new(),
            stack: Vec::new(),
            anchors: Vec::new(),
            alias_nodes,
            docs: Vec::new(),
            diags: Vec::new(),
        };
        // Pairs are escapes only inside double-quoted scalars: anywhere else (a plain or
        // single-quoted scalar, a comment) the text is read as written. A first reading finds
        // which decoded pairs were not inside one; a second leaves those as written.
        fn run(mut b: Builder<'_>) -> Builder<'_> {
            if let Err(d) = b.run() {
                b.diags.push(*d);
            }
            b
        }
        // Sorted: offsets are found in order.
        let mut keep: Vec<usize> = Vec::new();
        let mut decoded = None;
        for _ in 0..2 {
            let Some((text, char_map, at)) = decode_surrogate_pairs(chunk, &keep) else {
                break;
            };
            let b = run(Builder {
                text: std::borrow::Cow::Owned(text),
                char_map: Some(char_map),
                decoded: at,
                ..plain()
            });
            let outside = b.decoded_outside_double_quotes();
            if outside.is_empty() {
                decoded = Some(b);
                break;
            }
            keep.extend(outside);
        }
        let b = decoded.unwrap_or_else(|| run(plain()));
        alias_nodes = b.alias_nodes;
        docs.extend(b.docs);
        diags.extend(b.diags);
    }
    (docs, diags)
}

/// JSON writes characters beyond the Basic Multilingual Plane as UTF-16 surrogate pairs
/// (`"\ud83d\ude00"`), and YAML 1.2 reads JSON; the YAML parser refuses a surrogate on its own.
/// Returns the chunk with each pair replaced by its character, a map from each character of the
/// result to its byte offset in the chunk, and where the decoded characters are (None: no pair).
fn decode_surrogate_pairs(chunk: &str, keep: &[usize]) -> Option<(String, Vec<usize>, Vec<usize>)> {
    fn hex4(s: &str) -> Option<u32> {
        let h = s.get(..4)?;
        h.bytes()
            .all(|b| b.is_ascii_hexdigit())
            .then(|| u32::from_str_radix(h, 16).ok())?
    }
    if !chunk.contains("\\u") {
        return None;
    }
    let (mut text, mut map, mut decoded) = (String::new(), Vec::new(), Vec::new());
    let bytes = chunk.as_bytes();
    let mut i = 0;
    let mut backslashes = 0;
    while i < chunk.len() {
        let pair = (bytes[i] == b'\\' && backslashes % 2 == 0 && keep.binary_search(&i).is_err())
            .then(|| {
                let rest = &chunk[i..];
                let hi = hex4(rest.strip_prefix("\\u")?)?;
                let lo = hex4(rest.get(6..)?.strip_prefix("\\u")?)?;
                ((0xD800..0xDC00).contains(&hi) && (0xDC00..0xE000).contains(&lo))
                    .then(|| char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)))?
            })
            .flatten();
        if let Some(c) = pair {
            decoded.push(map.len());
            map.push(i);
            text.push(c);
            i += 12;
            backslashes = 0;
            continue;
        }
        let Some(c) = chunk[i..].chars().next() else {
            break;
        };
        backslashes = if c == '\\' { backslashes + 1 } else { 0 };
        map.push(i);
        text.push(c);
        i += c.len_utf8();
    }
    (!decoded.is_empty()).then_some((text, map, decoded))
}

/// How many nodes a tree holds (its depth is bounded by `limits::MAX_DEPTH`).
fn node_count(n: &Node) -> usize {
    1 + match &n.value {
        Value::Seq(items) => items.iter().map(node_count).sum(),
        Value::Map(entries) => entries.iter().map(|e| node_count(&e.value)).sum(),
        _ => 0,
    }
}

/// Splits at lines that start with `---`, returning (byte offset, text) per chunk.
pub(crate) fn split_documents(text: &str) -> Vec<(usize, &str)> {
    // Only a line that starts with a marker splits: without one the text is one chunk, found
    // without walking a large snapshot line by line.
    let may_split = ["\n---", "\n..."]
        .iter()
        .any(|m| text.starts_with(&m[1..]) || text.contains(m));
    if !may_split {
        return vec![(0, text)];
    }
    split_lines(text)
}

/// [`split_documents`], line by line.
fn split_lines(text: &str) -> Vec<(usize, &str)> {
    let marker = |line: &str, m: &str| {
        line.starts_with(m) && line[3..].chars().next().is_none_or(char::is_whitespace)
    };
    let mut starts = vec![0];
    let mut off = 0;
    // Whether the current chunk holds more than directives (`%YAML 1.2`, `%TAG`), comments
    // and blank lines: directives belong to the document their `---` starts.
    let mut content = false;
    // After a `...` end marker: where the next document starts.
    let mut ended: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let next = off + line.len();
        if marker(line, "...") {
            ended = Some(next);
            off = next;
            continue;
        }
        let start = marker(line, "---");
        let meta =
            line.starts_with('%') || line.trim_start().starts_with('#') || line.trim().is_empty();
        if start || !meta {
            if let Some(e) = ended.take() {
                if starts.last().is_some_and(|&l| e > l) {
                    starts.push(e);
                }
                content = false;
            }
            if start && content && off > 0 {
                starts.push(off);
            }
            content = true;
        }
        off = next;
    }
    starts
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            (
                s,
                &text[s..starts.get(i + 1).copied().unwrap_or(text.len())],
            )
        })
        .collect()
}

enum Frame {
    Seq {
        items: Vec<Node>,
        start: usize,
        anchor: usize,
    },
    Map {
        entries: Vec<Entry>,
        /// Keys seen (position in `entries`), kept once a mapping grows past a few keys so
        /// that finding duplicates stays linear.
        seen: foldhash::HashMap<String, usize>,
        start: usize,
        key: Option<Node>,
        anchor: usize,
    },
}

struct Builder<'a> {
    file: &'a Arc<SourceFile>,
    base: usize,
    chunk: &'a str,
    /// What the parser reads: the chunk, or the chunk with JSON surrogate pairs decoded.
    text: std::borrow::Cow<'a, str>,
    /// Byte offset in the chunk of each character of `text` (None: `text` is ASCII).
    char_map: Option<Vec<usize>>,
    /// Characters of `text` decoded from surrogate pairs, and the double-quoted scalars
    /// read (character ranges of `text`): each decoded one must be inside one.
    decoded: Vec<usize>,
    double_quoted: Vec<(usize, usize)>,
    stack: Vec<Frame>,
    /// Anchored nodes, with how many nodes each holds.
    anchors: Vec<(usize, Node, usize)>,
    /// Nodes added by alias expansions so far in this file.
    alias_nodes: usize,
    docs: Vec<Document>,
    diags: Vec<Diagnostic>,
}

impl Builder<'_> {
    fn byte(&self, char_index: usize) -> usize {
        self.base
            + match &self.char_map {
                None => char_index.min(self.chunk.len()),
                Some(m) => m.get(char_index).copied().unwrap_or(self.chunk.len()),
            }
    }

    /// Byte offsets (in the chunk) of decoded pairs that were not inside a double-quoted scalar.
    fn decoded_outside_double_quotes(&self) -> Vec<usize> {
        let map = self.char_map.as_deref().unwrap_or_default();
        self.decoded
            .iter()
            .filter(|&&c| {
                // Scalars come in document order: the last one starting before `c`.
                let k = self.double_quoted.partition_point(|&(start, _)| start < c);
                k == 0 || c >= self.double_quoted[k - 1].1
            })
            .filter_map(|&c| map.get(c).copied())
            .collect()
    }

    fn run(&mut self) -> Result<(), Box<Diagnostic>> {
        let text = self.text.clone();
        let mut parser = Parser::new_from_str(&text);
        for ev in &mut parser {
            let (event, span) = ev.map_err(|e| {
                let mut at = self.byte(e.marker().index());
                // An error found at the end of a document belongs to its last line, not to
                // the next document's `---`.
                let last = self.base + self.chunk.trim_end().len();
                if at >= last && last > self.base {
                    at = last
                        - self.chunk[..last - self.base]
                            .chars()
                            .next_back()
                            .map_or(1, char::len_utf8);
                }
                Box::new(
                    Diagnostic::error(
                        crate::syntax::diag::code::SYNTAX,
                        self.file,
                        Span::new(at, at + 1),
                        format!("YAML syntax error: {}", e.info()),
                    )
                    .with_label("here"),
                )
            })?;
            if !self.decoded.is_empty()
                && matches!(event, Event::Scalar(_, ScalarStyle::DoubleQuoted, _, _))
            {
                self.double_quoted
                    .push((span.start.index(), span.end.index()));
            }
            let mut span = Span::new(self.byte(span.start.index()), self.byte(span.end.index()));
            if let Event::Scalar(_, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted, ..) =
                &event
            {
                span.end = quoted_end(&self.file.text, span);
            }
            match event {
                Event::Scalar(text, style, anchor, tag) => {
                    // `!!str`, or the non-specific tag `!`: a string whatever it looks like.
                    let forced_str = tag.as_ref().is_some_and(|t| {
                        t.suffix == "str" || (t.handle.is_empty() && t.suffix == "!")
                    });
                    let node = self.scalar(text, style, forced_str, span);
                    self.push(node, anchor);
                }
                Event::SequenceStart(..) | Event::MappingStart(..)
                    if self.stack.len() >= crate::syntax::limits::MAX_DEPTH =>
                {
                    return Err(self.limit(
                        span,
                        format!(
                            "YAML nests deeper than {} levels; kilter reads no deeper",
                            crate::syntax::limits::MAX_DEPTH
                        ),
                    ));
                }
                Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    start: span.start,
                    anchor,
                }),
                Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    seen: Default::default(),
                    start: span.start,
                    key: None,
                    anchor,
                }),
                Event::SequenceEnd => {
                    if let Some(Frame::Seq {
                        items,
                        start,
                        anchor,
                    }) = self.stack.pop()
                    {
                        let end = items
                            .last()
                            .map_or(span.end, |n| n.span.end.max(span.start));
                        self.push(Node::new(Value::Seq(items), Span::new(start, end)), anchor);
                    }
                }
                Event::MappingEnd => {
                    if let Some(Frame::Map {
                        entries,
                        start,
                        anchor,
                        ..
                    }) = self.stack.pop()
                    {
                        let end = entries
                            .last()
                            .map_or(span.end, |e| e.value.span.end.max(span.start));
                        self.push(
                            Node::new(Value::Map(entries), Span::new(start, end)),
                            anchor,
                        );
                    }
                }
                Event::Alias(id) => {
                    let found = self.anchors.iter().rev().find(|(a, _, _)| *a == id);
                    if let Some((_, _, size)) = found {
                        self.alias_nodes += size;
                        if self.alias_nodes > crate::syntax::limits::MAX_ALIAS_NODES {
                            return Err(self.limit(
                                span,
                                format!(
                                    "YAML aliases expand to more than {} nodes; kilter stops here (a \"billion laughs\" file?)",
                                    crate::syntax::limits::MAX_ALIAS_NODES
                                ),
                            ));
                        }
                    }
                    let node = found.map(|(_, n, _)| n.clone());
                    match node {
                        Some(mut n) => {
                            n.span = span;
                            n.content_start = None;
                            self.push(n, 0);
                        }
                        None => self.diags.push(Diagnostic::error(
                            crate::syntax::diag::code::SYNTAX,
                            self.file,
                            span,
                            "YAML alias refers to an unknown anchor",
                        )),
                    }
                }
                Event::StreamStart
                | Event::StreamEnd
                | Event::DocumentStart(_)
                | Event::DocumentEnd
                | Event::Nothing => {}
            }
        }
        Ok(())
    }

    /// A limit crossed at `span`: the document is not read further.
    fn limit(&self, span: Span, message: String) -> Box<Diagnostic> {
        Box::new(
            Diagnostic::error(crate::syntax::diag::code::SYNTAX, self.file, span, message)
                .with_label("here"),
        )
    }

    fn push(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.push((anchor, node.clone(), node_count(&node)));
        }
        match self.stack.last_mut() {
            None => self.docs.push(Document {
                node,
                chunk: Span::new(self.base, self.base + self.chunk.len()),
            }),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries, key, seen, ..
            }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    let Some(name) = key_name(k.value) else {
                        self.diags.push(Diagnostic::error(
                            crate::syntax::diag::code::SYNTAX,
                            self.file,
                            k.span,
                            "mapping keys must be plain strings",
                        ));
                        return;
                    };
                    const LINEAR: usize = 16;
                    if entries.len() == LINEAR {
                        seen.extend(entries.iter().enumerate().map(|(i, e)| (e.key.clone(), i)));
                    }
                    let prev = if entries.len() < LINEAR {
                        entries.iter().find(|e| e.key == name)
                    } else {
                        seen.get(&name).map(|&i| &entries[i])
                    };
                    if let Some(prev) = prev {
                        self.diags.push(
                            Diagnostic::error(
                                crate::syntax::diag::code::SYNTAX,
                                self.file,
                                k.span,
                                format!("duplicate key `{name}`"),
                            )
                            .with_label("defined again here")
                            .with_related(prev.key_span, "first defined here")
                            .with_help("YAML keeps only one of them; remove one"),
                        );
                        return;
                    }
                    if entries.len() >= LINEAR {
                        seen.insert(name.clone(), entries.len());
                    }
                    entries.push(Entry {
                        key: name,
                        key_span: k.span,
                        value: node,
                    });
                }
            },
        }
    }

    fn scalar(
        &self,
        text: std::borrow::Cow<'_, str>,
        style: ScalarStyle,
        forced_str: bool,
        span: Span,
    ) -> Node {
        let typed = (!forced_str).then(|| plain_typed(&text, style)).flatten();
        if let Some(value) = typed {
            return Node::new(value, span);
        }
        let content_start = self.content_start(&text, style, span);
        Node {
            value: Value::Str(text.into_owned()),
            span,
            content_start,
        }
    }

    /// Where the string's characters start in the source, when they map one-to-one.
    fn content_start(&self, text: &str, style: ScalarStyle, span: Span) -> Option<usize> {
        let src = &self.file.text;
        let at = |start: usize| {
            src.get(start..start + text.len())
                .filter(|s| *s == text)
                .map(|_| start)
        };
        match style {
            ScalarStyle::Plain => at(span.start),
            ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => at(span.start + 1),
            _ => {
                let first = text.lines().next().filter(|l| !l.is_empty())?;
                let region = src.get(span.start..span.end.min(src.len()))?;
                let off = region.find(first)?;
                (text.trim_end_matches('\n').lines().count() == 1).then_some(span.start + off)
            }
        }
    }
}

/// Where a quoted scalar starting at `span.start` really ends: the parser's span runs on over
/// the blanks and comment after the closing quote.
fn quoted_end(src: &str, span: Span) -> usize {
    let b = src.as_bytes();
    let Some(&quote) = b.get(span.start) else {
        return span.end;
    };
    let mut i = span.start + 1;
    while i < span.end.min(b.len()) {
        match b[i] {
            b'\'' if quote == b'\'' && b.get(i + 1) == Some(&b'\'') => i += 2,
            b'\\' if quote == b'"' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    span.end
}

/// The name a mapping key is read by: a scalar, typed ones written out (None: a collection).
pub(crate) fn key_name(key: Value) -> Option<String> {
    match key {
        Value::Str(s) => Some(s),
        Value::Int(i) => Some(i.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Null => Some("null".into()),
        Value::Seq(_) | Value::Map(_) => None,
    }
}

/// Whether a plain scalar is a null in the YAML 1.2 core schema.
pub(crate) fn is_null_word(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

/// What a scalar of this style resolves to when it is not a string (None: a string; only a
/// plain scalar can be typed).
pub(crate) fn plain_typed(text: &str, style: ScalarStyle) -> Option<Value> {
    (style == ScalarStyle::Plain)
        .then(|| resolve_plain_typed(text))
        .flatten()
}

/// YAML 1.2 core schema resolution of a plain scalar.
pub(crate) fn resolve_plain(s: &str) -> Value {
    resolve_plain_typed(s).unwrap_or_else(|| Value::Str(s.to_string()))
}

/// What a plain scalar resolves to when it is not a string (None: a string).
pub(crate) fn resolve_plain_typed(s: &str) -> Option<Value> {
    if is_null_word(s) {
        return Some(Value::Null);
    }
    match s {
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    // Most scalars are words, and every typed form below starts with a digit, a sign or a dot.
    let first = s.as_bytes()[0];
    if first.is_ascii_alphabetic() || first == b'_' || first == b'/' {
        return None;
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = s.parse::<i64>()
    {
        return Some(Value::Int(i));
    }
    if let Some(hex) = s.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Some(Value::Int(i));
    }
    if let Some(oct) = s.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Some(Value::Int(i));
    }
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" => return Some(Value::Float(f64::INFINITY)),
        "-.inf" | "-.Inf" | "-.INF" => return Some(Value::Float(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => return Some(Value::Float(f64::NAN)),
        _ => {}
    }
    let looks_float = digits
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().any(|b| b.is_ascii_digit());
    if looks_float && let Ok(f) = s.parse::<f64>() {
        return Some(Value::Float(f));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The check that skips the line walk never changes where documents split.
        #[test]
        fn documents_split_as_the_line_walk_splits_them(
            lines in proptest::collection::vec(
                "(---|\\.\\.\\.|--|a: 1|# c|%YAML 1.2| |)( |x|\r|)",
                0..8,
            ),
            first_newline in proptest::bool::ANY,
        ) {
            let text = format!("{}{}", if first_newline { "\n" } else { "" }, lines.join("\n"));
            proptest::prop_assert_eq!(split_documents(&text), split_lines(&text));
        }
    }

    fn load(text: &str) -> (Vec<Document>, Vec<Diagnostic>) {
        parse(&SourceFile::new("t.yaml", text))
    }

    #[test]
    fn scalars_resolve_by_core_schema_and_quotes_force_strings() {
        let (docs, diags) = load("a: 10\nb: \"10\"\nc: 0.5\nd: true\ne: ~\nf: 10m\n");
        assert!(diags.is_empty());
        let n = &docs[0].node;
        assert_eq!(n.get("a").unwrap().value, Value::Int(10));
        assert_eq!(n.get("b").unwrap().value, Value::Str("10".into()));
        assert_eq!(n.get("c").unwrap().value, Value::Float(0.5));
        assert_eq!(n.get("d").unwrap().value, Value::Bool(true));
        assert_eq!(n.get("e").unwrap().value, Value::Null);
        assert_eq!(n.get("f").unwrap().value, Value::Str("10m".into()));
    }

    #[test]
    fn spans_point_at_values_in_later_documents() {
        let text = "a: 1\n---\nkind: Policy\nspec:\n  when: 'x < 1'\n";
        let f = SourceFile::new("t.yaml", text);
        let (docs, _) = parse(&f);
        assert_eq!(docs.len(), 2);
        let when = docs[1].node.at("spec.when").unwrap();
        assert_eq!(f.line_col(when.span.start), (5, 9));
        assert_eq!(&text[when.content_start.unwrap()..][..5], "x < 1");
    }

    #[test]
    fn quoted_scalars_end_at_their_closing_quote() {
        let text = "a: 'it''s' # c\nb: \"q\\\"x\"  # d\n";
        let f = SourceFile::new("t.yaml", text);
        let (docs, _) = parse(&f);
        let span = |p: &str| f.slice(docs[0].node.at(p).unwrap().span).to_string();
        assert_eq!(span("a"), "'it''s'");
        assert_eq!(span("b"), "\"q\\\"x\"");
    }

    #[test]
    fn a_broken_document_does_not_hide_the_next() {
        let (docs, diags) = load("a: [1\n---\nb: 2\n");
        assert_eq!(diags.len(), 1);
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].node.get("b").unwrap().value, Value::Int(2));
    }

    #[test]
    fn duplicate_keys_are_reported() {
        let (_, diags) = load("a: 1\na: 2\n");
        assert_eq!(diags.len(), 1);
        assert!(diags[0].message.contains("duplicate key"));
    }

    #[test]
    fn non_ascii_text_keeps_byte_spans() {
        let text = "d: \"é\"\nx: 5\n";
        let f = SourceFile::new("t.yaml", text);
        let (docs, _) = parse(&f);
        let x = docs[0].node.get("x").unwrap();
        assert_eq!(&text[x.span.start..x.span.end], "5");
    }
}
