//! The kilter DSL: parsing with recovery, lowering to the spanned tree, the canonical
//! formatter (`kilter fmt`) and printing a model back as DSL (`kilter convert`).

pub mod fmt;
pub mod print;

use std::sync::Arc;

use pest::Parser as _;
use pest::iterators::Pair;
use pest_derive::Parser;

use crate::model::{API_VERSION, Kind};
use crate::syntax::diag::Diagnostic;
use crate::syntax::source::{SourceFile, Span};
use crate::syntax::tree::{Entry, Node, Value};

#[derive(Parser)]
#[grammar = "../grammar/kilter.pest"]
pub struct KilterParser;

/// A piece of the file holding at most one object, with its byte offset.
#[derive(Clone, Copy, Debug)]
pub struct Chunk<'a> {
    pub start: usize,
    pub text: &'a str,
}

/// Splits a file before every line that starts (at column 0) with an object keyword,
/// keeping the comment lines directly above the keyword with it.
pub fn chunks(text: &str) -> Vec<Chunk<'_>> {
    chunks_with(text, true)
}

/// Whether a CEL expression (between backticks) is still open at the end of `line`, given
/// whether one was open at its start. Backticks inside strings and comments do not count:
/// a comment line with one backtick must not hide the object keyword below it.
fn cel_open_after(line: &str, mut in_cel: bool) -> bool {
    let mut in_string = false;
    // `//` inside a word (`a//b`) is part of it, as in the grammar.
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        let after_word = std::mem::replace(
            &mut in_word,
            c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'),
        );
        if in_cel {
            in_cel = c != '`';
        } else if in_string {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_string = false,
                _ => {}
            }
        } else {
            match c {
                '`' => in_cel = true,
                '"' => in_string = true,
                '#' => break,
                '/' if !after_word && chars.peek() == Some(&'/') => break,
                _ => {}
            }
        }
    }
    in_cel
}

/// [`chunks`]; with `track_cel` false, an object keyword starts a chunk even inside what
/// looks like a multi-line CEL expression (recovery from a lone backtick).
fn chunks_with(text: &str, track_cel: bool) -> Vec<Chunk<'_>> {
    let mut starts = vec![0];
    let mut comment_run: Option<usize> = None;
    let mut off = 0;
    let mut in_cel = false;
    for line in text.split_inclusive('\n') {
        let was_in_cel = in_cel;
        if track_cel {
            in_cel = cel_open_after(line, in_cel);
        }
        let starts_item = !was_in_cel
            && ["policy", "budget", "probe", "scalingTarget"]
                .iter()
                .any(|k| {
                    line.strip_prefix(k)
                        .is_some_and(|rest| rest.starts_with([' ', '\t']))
                });
        if starts_item && off > 0 {
            starts.push(comment_run.unwrap_or(off));
        }
        let trimmed = line.trim_start();
        if !was_in_cel
            && (trimmed.starts_with('#') || trimmed.starts_with("//"))
            && line.starts_with(['#', '/'])
        {
            comment_run.get_or_insert(off);
        } else {
            comment_run = None;
        }
        off += line.len();
    }
    starts.dedup();
    starts
        .iter()
        .enumerate()
        .map(|(i, &s)| Chunk {
            start: s,
            text: &text[s..starts.get(i + 1).copied().unwrap_or(text.len())],
        })
        .collect()
}

/// The `{` left open at the end of `text` (the outermost, as a compiler reports it), skipping
/// strings, CEL and comments.
fn unclosed_brace(text: &str) -> Option<usize> {
    let mut open = Vec::new();
    crate::syntax::limits::dsl_brackets(text, |i, b| {
        match b {
            b'{' => open.push(i),
            b'}' => {
                open.pop();
            }
            _ => {}
        }
        None::<()>
    });
    open.first().copied()
}

/// Parses one chunk; a syntax error becomes a K001 diagnostic at the right place in the file.
pub fn parse_chunk<'a>(
    file: &Arc<SourceFile>,
    chunk: Chunk<'a>,
) -> Result<Pair<'a, Rule>, Box<Diagnostic>> {
    if let Some(at) = crate::syntax::limits::dsl_too_deep(chunk.text) {
        let at = chunk.start + at;
        return Err(Box::new(
            Diagnostic::error(
                crate::syntax::diag::code::SYNTAX,
                file,
                Span::new(at, at + 1),
                format!(
                    "nesting deeper than {} levels; kilter reads no deeper",
                    crate::syntax::limits::MAX_DEPTH
                ),
            )
            .with_label("here"),
        ));
    }
    match KilterParser::parse(Rule::chunk, chunk.text) {
        Ok(mut pairs) => Ok(pairs.next().expect("chunk rule yields one pair")),
        Err(e) => Err(Box::new(syntax_error(file, chunk.start, e))),
    }
}

fn syntax_error(file: &Arc<SourceFile>, base: usize, e: pest::error::Error<Rule>) -> Diagnostic {
    let expected = match &e.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<String> = positives
                .iter()
                .filter(|r| **r != Rule::COMMENT)
                .map(rule_name)
                .collect();
            names.dedup();
            match names.len() {
                0 => "valid syntax".to_string(),
                1 => names.remove(0),
                _ => {
                    let last = names.pop().unwrap_or_default();
                    format!("{} or {last}", names.join(", "))
                }
            }
        }
        pest::error::ErrorVariant::CustomError { message } => message.clone(),
    };
    let (s, end) = match e.location {
        pest::error::InputLocation::Pos(p) => (p, p),
        pest::error::InputLocation::Span((a, b)) => (a, b),
    };
    let found = file.text[base + s..]
        .chars()
        .next()
        .map(|c| {
            if c == '\n' {
                "end of line".to_string()
            } else {
                format!("`{c}`")
            }
        })
        .unwrap_or_else(|| "end of file".to_string());
    let message = format!("expected {expected}, found {found}");
    let len = file.text[base + s..]
        .chars()
        .next()
        .map_or(0, char::len_utf8);
    let span = Span::new(base + s, base + end.max(s + len));
    let help = if found == "end of file" {
        Some("a `{`, `[` or string may be left open above".to_string())
    } else {
        None
    };
    Diagnostic::error(
        crate::syntax::diag::code::SYNTAX,
        file,
        span,
        format!("syntax error: {message}"),
    )
    .with_label("here")
    .with_help_opt(help)
}

fn rule_name(r: &Rule) -> String {
    match r {
        Rule::item | Rule::kind => "`policy`, `budget`, `probe` or `scalingTarget`",
        Rule::object_name | Rule::name_part => "an object name",
        Rule::block => "`{`",
        Rule::entry | Rule::key => "a field name",
        Rule::value => "a value",
        Rule::list => "`[`",
        Rule::ident => "a word",
        Rule::string | Rule::string_inner => "a string",
        Rule::cel | Rule::cel_inner => "a `CEL expression`",
        Rule::number => "a number",
        Rule::quantity => "a quantity",
        Rule::time => "a time",
        Rule::EOI => "end of file",
        _ => "more input",
    }
    .to_string()
}

/// Parses a DSL file into documents (one per object); every broken object is reported.
pub fn parse(file: &Arc<SourceFile>) -> (Vec<Node>, Vec<Diagnostic>) {
    let mut docs = Vec::new();
    let mut diags = Vec::new();
    for (i, chunk) in chunks(&file.text).into_iter().enumerate() {
        if i == crate::syntax::limits::MAX_DOCUMENTS {
            diags.push(crate::syntax::limits::too_many(
                file,
                chunk.start,
                "objects",
            ));
            break;
        }
        let Err(mut d) = read_chunk(file, chunk, &mut docs, &mut diags) else {
            continue;
        };
        // Parsing ran off the end of the object: say which brace is not closed, where it
        // opens, rather than "found `p`" at the next object.
        let end = chunk.start + chunk.text.trim_end().len();
        if d.span.start >= end
            && let Some(open) = unclosed_brace(chunk.text)
        {
            let at = chunk.start + open;
            d.message = "this `{` is never closed: the object ends without its `}`".into();
            d.span = Span::new(at, at + 1);
            d.help = Some("add the missing `}`".into());
        }
        // A lone backtick opens a CEL expression that swallows every later object: split again
        // without following backticks, so that the objects after it are still read and their
        // mistakes still reported. The first part holds the original mistake, reported as found.
        let parts = chunks_with(chunk.text, false);
        if parts.len() < 2 {
            diags.push(*d);
            continue;
        }
        for (k, part) in parts.into_iter().enumerate() {
            let part = Chunk {
                start: chunk.start + part.start,
                text: part.text,
            };
            if let Err(e) = read_chunk(file, part, &mut docs, &mut diags) {
                diags.push(if k == 0 { (*d).clone() } else { *e });
            }
        }
    }
    (docs, diags)
}

/// Parses one chunk and lowers its objects into `docs`; a syntax error is returned.
fn read_chunk(
    file: &Arc<SourceFile>,
    chunk: Chunk<'_>,
    docs: &mut Vec<Node>,
    diags: &mut Vec<Diagnostic>,
) -> Result<(), Box<Diagnostic>> {
    let pair = parse_chunk(file, chunk)?;
    let mut low = Lower {
        file,
        base: chunk.start,
        diags,
    };
    for p in pair.into_inner() {
        if p.as_rule() == Rule::item {
            docs.push(low.item(p));
        }
    }
    Ok(())
}

struct Lower<'a> {
    file: &'a Arc<SourceFile>,
    base: usize,
    diags: &'a mut Vec<Diagnostic>,
}

impl Lower<'_> {
    fn span(&self, p: &Pair<'_, Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.base + s.start(), self.base + s.end())
    }

    fn item(&mut self, p: Pair<'_, Rule>) -> Node {
        let span = self.span(&p);
        let mut inner = p.into_inner().filter(|p| p.as_rule() != Rule::COMMENT);
        let kw = inner.next().expect("kind");
        let name = inner.next().expect("object name");
        let block = inner.next().expect("block");
        let kind = Kind::from_keyword(kw.as_str()).expect("grammar only admits kinds");
        let kw_span = self.span(&kw);
        let name_span = self.span(&name);
        let text_node = |s: &str, span: Span| Node::new(Value::Str(s.to_string()), span);

        let mut meta = Vec::new();
        let (ns, nm) = match name.as_str().split_once('/') {
            Some((ns, nm)) => (Some(ns), nm),
            None => (None, name.as_str()),
        };
        let nm_start = name_span.end - nm.len();
        meta.push(Entry {
            key: "name".into(),
            key_span: name_span,
            value: text_node(nm, Span::new(nm_start, name_span.end)),
        });
        if let Some(ns) = ns {
            let ns_span = Span::new(name_span.start, name_span.start + ns.len());
            meta.push(Entry {
                key: "namespace".into(),
                key_span: ns_span,
                value: text_node(ns, ns_span),
            });
        }
        let block_span = self.span(&block);
        let mut spec = Vec::new();
        let mut meta_span = name_span;
        let mut status = None;
        for e in self.entries(block) {
            if e.key == "metadata" {
                meta_span = e.value.span;
                match e.value.value {
                    Value::Map(extra) => {
                        for x in extra {
                            self.insert(&mut meta, x);
                        }
                    }
                    _ => self.diags.push(Diagnostic::error(
                        crate::syntax::diag::code::TYPE_MISMATCH,
                        self.file,
                        e.value.span,
                        "`metadata` must be a block",
                    )),
                }
            } else if e.key == "status" && status.is_none() {
                // Status as `kubectl get -o yaml` shows it; kept so conversions lose nothing.
                status = Some(e);
            } else {
                spec.push(e);
            }
        }
        let mut entries = vec![
            Entry {
                key: "apiVersion".into(),
                key_span: kw_span,
                value: text_node(API_VERSION, kw_span),
            },
            Entry {
                key: "kind".into(),
                key_span: kw_span,
                value: text_node(kind.name(), kw_span),
            },
            Entry {
                key: "metadata".into(),
                key_span: name_span,
                value: Node::new(Value::Map(meta), meta_span),
            },
            Entry {
                key: "spec".into(),
                key_span: kw_span,
                value: Node::new(Value::Map(spec), block_span),
            },
        ];
        entries.extend(status);
        Node::new(Value::Map(entries), span)
    }

    fn insert(&mut self, entries: &mut Vec<Entry>, e: Entry) {
        if let Some(prev) = entries.iter().find(|x| x.key == e.key) {
            self.diags.push(
                Diagnostic::error(
                    crate::syntax::diag::code::SYNTAX,
                    self.file,
                    e.key_span,
                    format!("duplicate field `{}`", e.key),
                )
                .with_label("set again here")
                .with_related(prev.key_span, "first set here")
                .with_help("keep one of them"),
            );
            return;
        }
        entries.push(e);
    }

    fn entries(&mut self, block: Pair<'_, Rule>) -> Vec<Entry> {
        let mut out = Vec::new();
        for e in block.into_inner().filter(|p| p.as_rule() == Rule::entry) {
            let mut parts = e.into_inner().filter(|p| p.as_rule() != Rule::COMMENT);
            let key = parts.next().expect("key");
            let key_span = self.span(&key);
            let key_inner = key.into_inner().next().expect("ident or string");
            let name = match key_inner.as_rule() {
                Rule::string => unescape(key_inner.into_inner().next().map_or("", |p| p.as_str())),
                _ => key_inner.as_str().to_string(),
            };
            let v = parts.next().expect("value or block");
            let value = self.value(v);
            self.insert(
                &mut out,
                Entry {
                    key: name,
                    key_span,
                    value,
                },
            );
        }
        out
    }

    fn value(&mut self, p: Pair<'_, Rule>) -> Node {
        let p = if p.as_rule() == Rule::value {
            p.into_inner().next().expect("value has one child")
        } else {
            p
        };
        let span = self.span(&p);
        let text = p.as_str();
        let value = match p.as_rule() {
            Rule::block => Value::Map(self.entries(p)),
            Rule::list => Value::Seq(
                p.into_inner()
                    .filter(|p| p.as_rule() == Rule::value)
                    .map(|v| self.value(v))
                    .collect(),
            ),
            Rule::cel => {
                let inner = p.into_inner().next().expect("cel inner");
                let mut n = Node::new(Value::Str(inner.as_str().to_string()), span);
                n.content_start = Some(self.base + inner.as_span().start());
                return n;
            }
            Rule::string => {
                let inner = p.into_inner().next().expect("string inner");
                let raw = inner.as_str();
                let at = self.base + inner.as_span().start();
                for (offset, len, bad) in invalid_escapes(raw) {
                    self.diags.push(
                        Diagnostic::error(
                            crate::syntax::diag::code::SYNTAX,
                            self.file,
                            Span::new(at + offset, at + offset + len),
                            format!("`{bad}` is not an escape"),
                        )
                        .with_label("here")
                        .with_help(
                            "escapes are \\\", \\\\, \\n, \\t, \\r and \\u{…}; write \\\\ for a backslash",
                        ),
                    );
                }
                let s = unescape(raw);
                let direct = s == raw;
                let mut n = Node::new(Value::Str(s), span);
                if direct {
                    n.content_start = Some(self.base + inner.as_span().start());
                }
                return n;
            }
            Rule::quantity => match text.strip_suffix('W') {
                Some(w) => number(w),
                None => Value::Str(text.to_string()),
            },
            Rule::number => number(text),
            Rule::boolean => Value::Bool(text == "true"),
            Rule::null => Value::Null,
            _ => Value::Str(text.to_string()),
        };
        Node::new(value, span)
    }
}

fn number(text: &str) -> Value {
    match text.parse::<i64>() {
        Ok(i) => Value::Int(i),
        Err(_) => Value::Float(text.parse().unwrap_or(f64::NAN)),
    }
}

/// The escapes of a DSL string that are not one of `\"`, `\\`, `\n`, `\t`, `\r`, `\u{HEX}`:
/// (byte offset, byte length, the escape as written).
fn invalid_escapes(raw: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut it = raw.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c != '\\' {
            continue;
        }
        let Some((j, e)) = it.next() else {
            out.push((i, 1, "\\".to_string()));
            break;
        };
        let end = j + e.len_utf8();
        match e {
            '"' | '\\' | 'n' | 't' | 'r' => {}
            'u' => {
                let rest = &raw[end..];
                let ok = rest
                    .strip_prefix('{')
                    .and_then(|r| r.split_once('}'))
                    .filter(|(h, _)| (1..=6).contains(&h.len()))
                    .and_then(|(h, _)| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
                    .is_some();
                if !ok {
                    out.push((i, end - i, raw[i..end].to_string()));
                }
            }
            _ => out.push((i, end - i, raw[i..end].to_string())),
        }
    }
    out
}

/// Resolves `\"`, `\\`, `\n`, `\t`, `\r` and `\u{…}`; an unknown escape keeps its character
/// (and is reported where the string is read).
pub fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('u') => {
                let rest: String = chars.clone().collect();
                if let Some(hex) = rest
                    .strip_prefix('{')
                    .and_then(|r| r.split_once('}'))
                    .map(|(h, _)| h.to_string())
                    && let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                {
                    out.push(ch);
                    for _ in 0..hex.len() + 2 {
                        chars.next();
                    }
                    continue;
                }
                out.push('u');
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Escapes a string for a DSL double-quoted literal.
pub fn escape(s: &str) -> String {
    crate::syntax::emit::double_quote(s, |c| !c.is_control(), |c| format!("\\u{{{:x}}}", c as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"# night mode
policy off-peak {
  mode: Enforce
  cooldown: 10m
  nodeSelector { matchLabels { pool: workers } }
  when: `cluster.cpu.utilization < 0.30`
  action { governor { name: powersave, fallback: [schedutil, conservative] } }
}

budget workers {
  power { maxWatts: 4500W, warnPercent: 75 }
  disruption { maxUnavailable: 20% }
}
"#;

    #[test]
    fn lowers_to_the_yaml_shape() {
        let f = SourceFile::new("a.kilter", SAMPLE);
        let (docs, diags) = parse(&f);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(docs.len(), 2);
        let p = &docs[0];
        assert_eq!(p.at("kind").unwrap().as_str(), Some("Policy"));
        assert_eq!(p.at("metadata.name").unwrap().as_str(), Some("off-peak"));
        assert_eq!(p.at("spec.cooldown").unwrap().as_str(), Some("10m"));
        assert_eq!(
            p.at("spec.action.governor.fallback[1]").unwrap().as_str(),
            Some("conservative")
        );
        let when = p.at("spec.when").unwrap();
        assert_eq!(&SAMPLE[when.content_start.unwrap()..][..7], "cluster");
        let b = &docs[1];
        assert_eq!(b.at("spec.power.maxWatts").unwrap().value, Value::Int(4500));
        assert_eq!(
            b.at("spec.disruption.maxUnavailable").unwrap().as_str(),
            Some("20%")
        );
    }

    #[test]
    fn every_broken_object_is_reported() {
        let text = "policy a {\n  mode: \n}\npolicy b {\n  mode: Enforce\n}\nbudget c {\n  power { maxWatts: }\n}\n";
        let f = SourceFile::new("a.kilter", text);
        let (docs, diags) = parse(&f);
        assert_eq!(docs.len(), 1);
        assert_eq!(diags.len(), 2);
        assert_eq!(f.line_col(diags[0].span.start), (3, 1));
        assert_eq!(f.line_col(diags[1].span.start), (8, 21));
    }

    #[test]
    fn namespaced_names_split() {
        let f = SourceFile::new("a.kilter", "scalingTarget prod/web {\n  weight: 3\n}\n");
        let (docs, _) = parse(&f);
        assert_eq!(
            docs[0].at("metadata.namespace").unwrap().as_str(),
            Some("prod")
        );
        assert_eq!(docs[0].at("metadata.name").unwrap().as_str(), Some("web"));
    }

    #[test]
    fn escapes_round_trip() {
        for s in ["a\"b", "tab\there", "back\\slash", "line\nbreak", "\u{1}"] {
            let e = escape(s);
            assert_eq!(unescape(&e[1..e.len() - 1]), s);
        }
    }
}
