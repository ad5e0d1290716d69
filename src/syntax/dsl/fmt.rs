//! `kilter fmt`: the canonical layout of a DSL file. Works on the parse tree, so comments
//! survive; formatting is idempotent (tested by property tests).

use std::sync::Arc;

use pest::iterators::Pair;

use super::{Rule, chunks, parse_chunk};
use crate::syntax::diag::Diagnostic;
use crate::syntax::source::SourceFile;

const WIDTH: usize = 100;
const INDENT: &str = "  ";

/// Formats a whole file, or returns the syntax errors that prevent it.
pub fn format(file: &Arc<SourceFile>) -> Result<String, Vec<Diagnostic>> {
    let mut parts = Vec::new();
    let mut errors = Vec::new();
    for chunk in chunks(&file.text) {
        match parse_chunk(file, chunk) {
            Ok(pair) => {
                let mut lines = Vec::new();
                LINE_STARTS.with_borrow_mut(|starts| {
                    starts.clear();
                    starts.push(0);
                    starts.extend(chunk.text.match_indices('\n').map(|(i, _)| i + 1));
                });
                format_chunk(pair, &mut lines);
                if !lines.is_empty() {
                    parts.push(lines.join("\n"));
                }
            }
            Err(d) => errors.push(*d),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut out = parts.join("\n\n");
    if !out.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

thread_local! {
    /// Where each line of the chunk being formatted starts: pest's own `line_col` scans from
    /// the start of the text on every call, which made formatting quadratic in its size.
    static LINE_STARTS: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The line (0-based, within the chunk) of a byte offset.
fn line_at(pos: usize) -> usize {
    LINE_STARTS.with_borrow(|starts| starts.partition_point(|&s| s <= pos).saturating_sub(1))
}

fn line_of(p: &Pair<'_, Rule>) -> usize {
    line_at(p.as_span().start())
}

fn end_line_of(p: &Pair<'_, Rule>) -> usize {
    line_at(p.as_span().end())
}

/// Emits a comment: on the previous line when it followed code there, else on its own.
fn comment(c: &Pair<'_, Rule>, prev_end: Option<usize>, indent: usize, lines: &mut Vec<String>) {
    let text = c.as_str().trim_end();
    match (prev_end, lines.last_mut()) {
        (Some(end), Some(last)) if end == line_of(c) => {
            last.push(' ');
            last.push_str(text);
        }
        _ => lines.push(format!("{}{text}", INDENT.repeat(indent))),
    }
}

fn format_chunk(pair: Pair<'_, Rule>, lines: &mut Vec<String>) {
    let mut prev_end = None;
    // Objects that share a chunk are separated by a blank line, before their comments.
    let mut separated = true;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::COMMENT => {
                let trailing = prev_end == Some(line_of(&p));
                if !trailing && !separated {
                    lines.push(String::new());
                    separated = true;
                }
                comment(&p, prev_end, 0, lines);
            }
            Rule::item => {
                if !separated {
                    lines.push(String::new());
                }
                separated = false;
                prev_end = Some(end_line_of(&p));
                let mut inner = p.into_inner();
                let mut head = String::new();
                let mut hoisted = Vec::new();
                for q in inner.by_ref() {
                    match q.as_rule() {
                        Rule::COMMENT => hoisted.push(q.as_str().trim_end().to_string()),
                        Rule::kind => head.push_str(q.as_str()),
                        Rule::object_name => {
                            head.push(' ');
                            head.push_str(q.as_str());
                            head.push(' ');
                        }
                        Rule::block => {
                            lines.append(&mut hoisted);
                            block(q, 0, head.clone(), "", lines);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// A `{ … }` block: on one line when it holds only plain values and fits, else one entry
/// per line. `prefix` is what precedes the `{` on its line.
fn block(p: Pair<'_, Rule>, indent: usize, prefix: String, suffix: &str, lines: &mut Vec<String>) {
    if (indent > 0 || !prefix.is_empty() && !is_item_head(&prefix))
        && let Some(flat) = flat_block(&p)
        && prefix.len() + flat.len() + suffix.len() <= WIDTH
    {
        lines.push(format!("{prefix}{flat}{suffix}"));
        return;
    }
    let open_line = line_of(&p);
    let children: Vec<_> = p.into_inner().collect();
    if children.is_empty() {
        lines.push(format!("{prefix}{{}}{suffix}"));
        return;
    }
    lines.push(format!("{prefix}{{"));
    // A comment after the `{` stays on its line.
    let mut prev_end = Some(open_line);
    for c in children {
        match c.as_rule() {
            Rule::COMMENT => comment(&c, prev_end, indent + 1, lines),
            Rule::entry => {
                prev_end = Some(end_line_of(&c));
                entry(c, indent + 1, lines);
            }
            _ => {}
        }
    }
    lines.push(format!("{}}}{suffix}", INDENT.repeat(indent)));
}

fn key_text(k: Pair<'_, Rule>) -> String {
    let inner = k.into_inner().next().expect("key has one child");
    if inner.as_rule() == Rule::string {
        let s = super::unescape(inner.clone().into_inner().next().map_or("", |p| p.as_str()));
        if is_bare_key(&s) {
            return s;
        }
        return inner.as_str().to_string();
    }
    inner.as_str().to_string()
}

/// Whether a key can be written without quotes.
pub fn is_bare_key(s: &str) -> bool {
    use pest::Parser as _;
    !matches!(s, "true" | "false" | "null")
        && super::KilterParser::parse(Rule::ident, s)
            .is_ok_and(|mut p| p.next().is_some_and(|p| p.as_str() == s))
}

fn entry(p: Pair<'_, Rule>, indent: usize, lines: &mut Vec<String>) {
    let ind = INDENT.repeat(indent);
    let mut key = String::new();
    let mut prev_end = None;
    for c in p.into_inner() {
        if c.as_rule() != Rule::COMMENT && c.as_rule() != Rule::key {
            prev_end = Some(end_line_of(&c));
        }
        match c.as_rule() {
            Rule::COMMENT => comment(&c, prev_end, indent, lines),
            Rule::key => key = key_text(c),
            Rule::block => block(c, indent, format!("{ind}{key} "), "", lines),
            Rule::value => {
                let v = c.into_inner().next().expect("value has one child");
                match v.as_rule() {
                    Rule::block => block(v, indent, format!("{ind}{key} "), "", lines),
                    _ => value(v, indent, format!("{ind}{key}: "), "", lines),
                }
            }
            _ => {}
        }
    }
}

/// A value after `prefix`, inline when it has no comments and fits, else one item per line.
fn value(v: Pair<'_, Rule>, indent: usize, prefix: String, suffix: &str, lines: &mut Vec<String>) {
    if let Some(s) = inline(&v)
        && (prefix.len() + s.len() + suffix.len() <= WIDTH
            || !matches!(v.as_rule(), Rule::list | Rule::block))
    {
        lines.push(format!("{prefix}{s}{suffix}"));
        return;
    }
    match v.as_rule() {
        Rule::block => block(v, indent, prefix, suffix, lines),
        Rule::list => {
            lines.push(format!("{prefix}["));
            let mut prev_end = None;
            let ind = INDENT.repeat(indent + 1);
            for c in v.into_inner() {
                match c.as_rule() {
                    Rule::COMMENT => comment(&c, prev_end, indent + 1, lines),
                    Rule::value => {
                        prev_end = Some(end_line_of(&c));
                        let e = c.into_inner().next().expect("value has one child");
                        value(e, indent + 1, ind.clone(), ",", lines);
                    }
                    _ => {}
                }
            }
            lines.push(format!("{}]{suffix}", INDENT.repeat(indent)));
        }
        _ => lines.push(format!("{prefix}{}{suffix}", v.as_str())),
    }
}

fn is_item_head(prefix: &str) -> bool {
    !prefix.starts_with(' ')
}

/// The one-line form of a block whose values are all scalars or lists of scalars.
fn flat_block(p: &Pair<'_, Rule>) -> Option<String> {
    let nested = p
        .clone()
        .into_inner()
        .filter(|e| e.as_rule() == Rule::entry)
        .any(|e| {
            e.into_inner().any(|c| match c.as_rule() {
                Rule::block => true,
                Rule::value => c.into_inner().next().is_some_and(|v| match v.as_rule() {
                    Rule::block => true,
                    Rule::list => v.into_inner().any(|x| {
                        x.as_rule() == Rule::value
                            && x.into_inner()
                                .next()
                                .is_some_and(|y| matches!(y.as_rule(), Rule::block | Rule::list))
                    }),
                    _ => false,
                }),
                _ => false,
            })
        });
    if nested { None } else { inline(p) }
}

/// The one-line form of a value, or None when it holds comments.
fn inline(v: &Pair<'_, Rule>) -> Option<String> {
    match v.as_rule() {
        Rule::value => inline(&v.clone().into_inner().next()?),
        Rule::list => {
            let mut parts = Vec::new();
            for c in v.clone().into_inner() {
                if c.as_rule() == Rule::COMMENT {
                    return None;
                }
                parts.push(inline(&c)?);
            }
            Some(format!("[{}]", parts.join(", ")))
        }
        Rule::block => {
            let mut parts = Vec::new();
            for e in v.clone().into_inner() {
                if e.as_rule() == Rule::COMMENT {
                    return None;
                }
                let mut key = String::new();
                let mut val = String::new();
                for c in e.into_inner() {
                    match c.as_rule() {
                        Rule::COMMENT => return None,
                        Rule::key => key = key_text(c),
                        _ => val = inline(&c)?,
                    }
                }
                parts.push(format!("{key}: {val}"));
            }
            if parts.is_empty() {
                Some("{}".into())
            } else {
                Some(format!("{{ {} }}", parts.join(", ")))
            }
        }
        _ => Some(v.as_str().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(s: &str) -> String {
        format(&SourceFile::new("a.kilter", s)).expect("formats")
    }

    #[test]
    fn canonical_layout_keeps_comments() {
        let src = "# top\npolicy a { mode: Enforce # why\n  // own line\n  action { cordon {} } windows: [ {start: 1:00, end: 2:00} ] }\n";
        let out = fmt(src);
        assert_eq!(
            out,
            "# top\npolicy a {\n  mode: Enforce # why\n  // own line\n  action {\n    cordon {}\n  }\n  windows: [{ start: 1:00, end: 2:00 }]\n}\n"
        );
        assert_eq!(fmt(&out), out);
    }

    #[test]
    fn comments_inside_lists_force_one_item_per_line() {
        let src = "budget b {\n  xs: [1, # one\n  2]\n}\n";
        let out = fmt(src);
        assert_eq!(out, "budget b {\n  xs: [\n    1, # one\n    2,\n  ]\n}\n");
        assert_eq!(fmt(&out), out);
    }

    #[test]
    fn syntax_errors_block_formatting() {
        assert!(format(&SourceFile::new("a.kilter", "policy a {")).is_err());
    }
}
