//! The limits every reader holds to, whatever its input (`docs/limits.md`): files anyone who
//! can open a pull request controls must not make kilter hang, crash or eat the machine.

use std::sync::Arc;

use crate::syntax::diag::{Diagnostic, code};
use crate::syntax::source::{SourceFile, Span};

/// How deeply YAML collections and DSL blocks, lists and parentheses may nest. Far beyond
/// any real object (kilter's deepest field is 6 levels), far below what the parsers' and
/// decoders' recursion could hold on any thread.
pub const MAX_DEPTH: usize = 64;

/// How many nodes YAML aliases may add to one file, counting every node of every expansion
/// (hardened loaders bound alias expansion the same way: a "billion laughs" file stops here).
pub const MAX_ALIAS_NODES: usize = 100_000;

/// The largest policy, test or DSL file kilter reads.
pub const MAX_FILE_BYTES: u64 = 8 << 20;

/// The largest cluster snapshot kilter reads (a 5,000-node, 150,000-pod snapshot is ~50 MB).
pub const MAX_SNAPSHOT_BYTES: u64 = 512 << 20;

/// The longest line of a policy, test or DSL file, in bytes: far beyond any hand-written
/// line, so that no diagnostic prints megabytes of one line.
pub const MAX_LINE_BYTES: usize = 64 << 10;

/// The most documents (YAML) or objects (DSL) one file may hold.
pub const MAX_DOCUMENTS: usize = 10_000;

/// The first line longer than [`MAX_LINE_BYTES`]: its start and length, in bytes.
pub fn long_line(text: &str) -> Option<(usize, usize)> {
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let len = line.trim_end_matches(['\n', '\r']).len();
        if len > MAX_LINE_BYTES {
            return Some((start, len));
        }
        start += line.len();
    }
    None
}

/// The diagnostic for a file's first line longer than [`MAX_LINE_BYTES`], at the byte past
/// the limit.
pub fn line_too_long(file: &Arc<SourceFile>) -> Option<Diagnostic> {
    let (start, len) = long_line(&file.text)?;
    let at = start + MAX_LINE_BYTES;
    Some(
        Diagnostic::error(
            code::SYNTAX,
            file,
            Span::new(at, at + 1),
            format!("this line is {len} bytes long; kilter reads lines of at most {MAX_LINE_BYTES} bytes"),
        )
        .with_label("the limit"),
    )
}

/// The diagnostic at the first document (YAML) or object (DSL) past [`MAX_DOCUMENTS`],
/// which starts at byte `at`.
pub fn too_many(file: &Arc<SourceFile>, at: usize, what: &str) -> Diagnostic {
    let end = file.text[at..]
        .find('\n')
        .map_or(file.text.len(), |e| at + e);
    Diagnostic::error(
        code::SYNTAX,
        file,
        // At least one character wide: the caret shows even on an empty line.
        Span::new(at, end.max(at + 1).min(file.text.len())),
        format!("this file holds more than {MAX_DOCUMENTS} {what}; kilter reads no further"),
    )
    .with_label("the first one past the limit")
}

/// Where a text nests deeper than [`MAX_DEPTH`] in `{ [ (` — outside strings (`"…"` with
/// backslash escapes), CEL (between backticks) and comments (`#` or `//` to the end of the
/// line) — as a byte offset.
pub fn dsl_too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    dsl_brackets(text, |i, b| {
        if matches!(b, b'{' | b'[' | b'(') {
            depth += 1;
            if depth > MAX_DEPTH {
                return Some(i);
            }
        } else {
            depth = depth.saturating_sub(1);
        }
        None
    })
}

/// Calls `f` with the byte offset and byte of every bracket (`{[()]}`) of DSL text outside
/// strings, CEL and comments, until it returns a value.
pub fn dsl_brackets<T>(text: &str, mut f: impl FnMut(usize, u8) -> Option<T>) -> Option<T> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b @ (b'{' | b'[' | b'(' | b'}' | b']' | b')') => {
                if let Some(t) = f(i, b) {
                    return Some(t);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_found_with_their_start() {
        let long = "x".repeat(MAX_LINE_BYTES + 1);
        assert_eq!(long_line("a: 1\r\nb: 2\n"), None);
        assert_eq!(long_line(&"x".repeat(MAX_LINE_BYTES)), None);
        assert_eq!(
            long_line(&format!("a: 1\n{long}\r\n")),
            Some((5, MAX_LINE_BYTES + 1))
        );
    }

    #[test]
    fn nesting_is_counted_outside_strings_cel_and_comments() {
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert_eq!(dsl_too_deep(&deep), Some(MAX_DEPTH));
        assert_eq!(dsl_too_deep(&"[".repeat(MAX_DEPTH)), None);
        let quoted = format!("x: \"{deep}\" # {deep}\n y: `{deep}` // {deep}\n");
        assert_eq!(dsl_too_deep(&quoted), None);
        assert_eq!(dsl_too_deep("\"\\\"[[\""), None);
    }
}
