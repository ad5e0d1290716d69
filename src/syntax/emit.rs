//! Writes JSON values as block-style YAML, the way `kubectl get -o yaml` reads:
//! plain scalars where they read back as the same string, quotes otherwise.

use serde_json::Value as Json;

use crate::syntax::comments::{Attached, Comments, Seg};
use crate::syntax::tree::Value;

/// One YAML document (without the `---` separator).
pub fn emit(v: &Json) -> String {
    emit_commented(v, None)
}

/// One YAML document with the comments of its source (see [`crate::syntax::comments`]) placed beside
/// the values they were written with.
pub fn emit_commented(v: &Json, comments: Option<&Comments>) -> String {
    let mut e = Emitter {
        out: String::new(),
        comments,
        path: Vec::new(),
    };
    match v {
        Json::Object(m) if !m.is_empty() => e.map(m, 0, None),
        Json::Array(a) if !a.is_empty() => e.seq(a, 0, false),
        other => {
            e.out.push_str(&scalar(other));
            e.out.push('\n');
        }
    }
    if let Some(c) = comments {
        for text in &c.end {
            e.comment_line(0, text);
        }
    }
    e.out
}

/// Several documents separated by `---`.
pub fn emit_all(values: &[Json]) -> String {
    values.iter().map(emit).collect::<Vec<_>>().join("---\n")
}

/// Whether YAML allows the character as written in a stream (its printable set, without the
/// byte-order mark, which readers refuse inside a document).
fn printable_char(c: char) -> bool {
    matches!(c, '\t' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fefe}' | '\u{ff00}'..='\u{fffd}')
        || c >= '\u{10000}'
}

/// A comment as YAML can hold it: characters YAML does not allow in a stream (control
/// characters, which a DSL comment may carry) become U+FFFD.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().all(printable_char) {
        return text.into();
    }
    text.chars()
        .map(|c| if printable_char(c) { c } else { '\u{fffd}' })
        .collect::<String>()
        .into()
}

/// The first key of a list item's mapping follows the dash; its comments were put above the
/// dash, or are still to place.
#[derive(Clone, Copy)]
enum Placed {
    Above,
    Inline,
}

struct Emitter<'c> {
    out: String,
    comments: Option<&'c Comments>,
    path: Vec<Seg>,
}

impl Emitter<'_> {
    fn pad(&mut self, n: usize) {
        self.out.extend(std::iter::repeat_n(' ', n));
    }

    fn attached(&self) -> Option<&Attached> {
        self.comments?.get(&self.path)
    }

    fn comment_line(&mut self, indent: usize, text: &str) {
        self.pad(indent);
        self.out.push('#');
        self.out.push_str(&printable(text));
        self.out.push('\n');
    }

    /// Own-line comments of the current path, then the indent of its line. `inline`: the line
    /// is already started after a dash; comments then break it (`-` alone on its line, the
    /// value indented below, which YAML reads the same).
    fn start_line(&mut self, indent: usize, inline: bool) {
        let before = self
            .attached()
            .map(|a| a.before.clone())
            .unwrap_or_default();
        if inline && before.is_empty() {
            return;
        }
        if inline {
            self.out.truncate(self.out.trim_end_matches(' ').len());
            self.out.push('\n');
        }
        for text in &before {
            self.comment_line(indent, text);
        }
        self.pad(indent);
    }

    /// Ends a line, with the current path's trailing comment.
    fn end_line(&mut self) {
        if let Some(text) = self.attached().and_then(|a| a.after.clone()) {
            self.out.push_str(" #");
            self.out.push_str(&printable(&text));
        }
        self.out.push('\n');
    }

    /// `first`: where the first key's line starts, when not on a line of its own.
    fn map(&mut self, m: &serde_json::Map<String, Json>, indent: usize, first: Option<Placed>) {
        for (i, (k, v)) in m.iter().enumerate() {
            self.path.push(Seg::Key(k.clone()));
            match first.filter(|_| i == 0) {
                None => self.start_line(indent, false),
                Some(Placed::Inline) => self.start_line(indent, true),
                Some(Placed::Above) => {}
            }
            let key = string(k);
            // YAML allows implicit keys of at most 1024 characters; a longer one is written
            // as an explicit key (`? key` then `: value` on the next line).
            let explicit = key.chars().count() > MAX_IMPLICIT_KEY;
            if explicit {
                self.out.push_str("? ");
                self.out.push_str(&key);
                self.out.push('\n');
                self.pad(indent);
            } else {
                self.out.push_str(&key);
            }
            self.out.push(':');
            match v {
                Json::Object(inner) if !inner.is_empty() => {
                    self.end_line();
                    self.map(inner, indent + 2, None);
                }
                Json::Array(a) if !a.is_empty() => {
                    self.end_line();
                    self.seq(a, if explicit { indent + 2 } else { indent }, false);
                }
                other => {
                    self.out.push(' ');
                    self.out.push_str(&scalar(other));
                    self.end_line();
                }
            }
            self.path.pop();
        }
    }

    fn seq(&mut self, a: &[Json], indent: usize, inline: bool) {
        for (i, v) in a.iter().enumerate() {
            self.path.push(Seg::Index(i));
            // A mapping item's first key shares the dash's line: its own-line comments go
            // above the dash.
            let mut hoisted = None;
            if let Json::Object(m) = v
                && let Some((k, _)) = m.iter().next()
                && !(inline && i == 0)
            {
                self.path.push(Seg::Key(k.clone()));
                hoisted = self.attached().map(|a| a.before.clone());
                self.path.pop();
                for text in hoisted.iter().flatten() {
                    self.comment_line(indent, text);
                }
            }
            self.start_line(indent, inline && i == 0);
            self.out.push_str("- ");
            match v {
                Json::Object(m) if !m.is_empty() => {
                    let first = hoisted.is_some().then_some(Placed::Above);
                    self.map(m, indent + 2, Some(first.unwrap_or(Placed::Inline)))
                }
                Json::Array(inner) if !inner.is_empty() => self.seq(inner, indent + 2, true),
                other => {
                    self.out.push_str(&scalar(other));
                    self.end_line();
                }
            }
            self.path.pop();
        }
    }
}

/// The longest implicit key YAML allows, in characters.
const MAX_IMPLICIT_KEY: usize = 1024;

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
        && crate::syntax::yaml::resolve_plain(s) == Value::Str(s.to_string())
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off"
        )
        && !yaml11_number_like(s);
    if plain {
        return s.to_string();
    }
    if !s.contains('\'') && s.chars().all(|c| c != '\t' && printable_char(c)) {
        return format!("'{s}'");
    }
    double_quoted(s)
}

/// A YAML double-quoted scalar: every character YAML does not allow as written is escaped.
fn double_quoted(s: &str) -> String {
    double_quote(s, printable_char, |c| {
        if (c as u32) < 0x100 {
            format!("\\x{:02x}", c as u32)
        } else {
            format!("\\u{:04x}", c as u32)
        }
    })
}

/// A double-quoted literal (YAML's or the DSL's): quotes, backslashes and line breaks
/// escaped, the characters `keep` refuses written with `code`.
pub(crate) fn double_quote(
    s: &str,
    keep: impl Fn(char) -> bool,
    code: impl Fn(char) -> String,
) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if keep(c) => out.push(c),
            c => out.push_str(&code(c)),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::source::SourceFile;
    use serde_json::json;

    #[test]
    fn emitted_yaml_reads_back_identically() {
        let v = json!({
            "a": "10m", "b": "2", "c": "true", "d": "x < 0.3 && y", "e": [1, 2.5, "it's", {"k": "v", "l": []}],
            "f": {}, "g": {"h": [[1, 2], "yes"]}, "i": null, "j": "line\nbreak", "k": "22:00", "l": "20%"
        });
        let text = emit(&v);
        let f = SourceFile::new("t.yaml", text.clone());
        let (docs, diags) = crate::syntax::yaml::parse(&f);
        assert!(diags.is_empty(), "{text}\n{diags:?}");
        assert_eq!(docs[0].node.to_json(), v, "{text}");
        assert!(text.contains("a: 10m\n"));
        assert!(text.contains("b: '2'\n"));
    }
}
