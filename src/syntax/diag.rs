//! The one diagnostic type every stage reports, and its renderers
//! (human via miette, json, sarif, github workflow commands).

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::json;

use crate::syntax::source::{SourceFile, Span};

/// Every diagnostic code, in one place: the rules (`check::RULES`) and the front end use these
/// names, and `kilter lint --explain` documents each.
pub mod code {
    pub const SYNTAX: &str = "K001";
    pub const DOCUMENT_KIND: &str = "K002";
    pub const UNKNOWN_FIELD: &str = "K003";
    pub const TYPE_MISMATCH: &str = "K004";
    pub const INVALID_VALUE: &str = "K005";
    pub const NUMERIC_RANGE: &str = "K006";
    pub const ENUM_VALUE: &str = "K007";
    pub const TIME_ZONE: &str = "K008";
    pub const ONE_ACTION: &str = "K009";
    pub const PROBE_ENDPOINT: &str = "K010";
    pub const CEL_SYNTAX: &str = "K011";
    pub const CEL_VARIABLES: &str = "K012";
    pub const DUPLICATE_NAME: &str = "K013";
    pub const SINGLE_WRITER: &str = "K014";
    pub const RESIZE_TARGET_UNMATCHED: &str = "K015";
    pub const NEVER_WORKS: &str = "K016";
    pub const CEL_TYPES: &str = "K017";
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A finding at a place in a file: a stable code, a message, an optional help line and
/// secondary labels pointing at related places in the same file.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub file: Arc<SourceFile>,
    pub span: Span,
    pub label: Option<String>,
    pub related: Vec<(Span, String)>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(
        code: &'static str,
        file: &Arc<SourceFile>,
        span: Span,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            file: file.clone(),
            span,
            label: None,
            related: Vec::new(),
            help: None,
        }
    }

    pub fn warning(
        code: &'static str,
        file: &Arc<SourceFile>,
        span: Span,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, file, span, message)
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_help_opt(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    pub fn start(&self) -> (usize, usize) {
        self.file.line_col(self.span.start)
    }

    pub fn end(&self) -> (usize, usize) {
        self.file.line_col(self.span.end)
    }

    /// `file:line:column: CODE message`, for logs and events.
    pub fn one_line(&self) -> String {
        let (line, column) = self.start();
        format!(
            "{}:{line}:{column}: {} {}",
            self.file.path, self.code, self.message
        )
    }

    /// The diagnostic as `kilter lint --format json` writes it.
    pub fn to_json(&self) -> serde_json::Value {
        let (line, column) = self.start();
        let (end_line, end_column) = self.end();
        json!({
            "file": self.file.path,
            "line": line,
            "column": column,
            "end_line": end_line,
            "end_column": end_column,
            "severity": self.severity.as_str(),
            "code": self.code,
            "message": self.message,
            "help": self.help,
        })
    }

    /// Orders diagnostics by file, position, then code, so output is stable.
    pub fn sort_key(&self) -> (String, usize, usize, &'static str, String) {
        (
            self.file.path.clone(),
            self.span.start,
            self.span.end,
            self.code,
            self.message.clone(),
        )
    }
}

/// Counts shown in every output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub errors: usize,
    pub warnings: usize,
    /// Documents (and unparsable files) skipped as not kilter's.
    pub skipped: usize,
}

impl Summary {
    pub fn with_skipped(mut self, skipped: usize) -> Self {
        self.skipped = skipped;
        self
    }

    pub fn of(files: usize, diags: &[Diagnostic]) -> Self {
        let errors = diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        Summary {
            files,
            errors,
            warnings: diags.len() - errors,
            skipped: 0,
        }
    }
}

// ---------------------------------------------------------------- human (miette)

struct MietteView<'a> {
    d: &'a Diagnostic,
    src: Windowed<'a>,
    /// Whether the lines around the diagnostic are short enough to print; a minified or
    /// generated line is named by its position instead of printed in full.
    snippet: bool,
}

/// The longest line a human diagnostic prints.
const MAX_SHOWN_LINE: usize = 1000;

/// Whether every line a diagnostic would print (its spans' lines and one either side) is
/// at most [`MAX_SHOWN_LINE`] bytes long.
fn lines_short(d: &Diagnostic, starts: &[usize]) -> bool {
    let text = &d.file.text;
    let line_of = |off: usize| starts.partition_point(|&s| s <= off).max(1) - 1;
    let len = |l: usize| {
        let start = starts.get(l).copied().unwrap_or(text.len()).min(text.len());
        let end = starts
            .get(l + 1)
            .copied()
            .unwrap_or(text.len())
            .min(text.len());
        end - start
    };
    std::iter::once(d.span)
        .chain(d.related.iter().map(|(s, _)| *s))
        .all(|s| {
            let (first, last) = (line_of(s.start), line_of(s.end));
            // A span over many lines prints them all: only its ends are checked here.
            [first.saturating_sub(1), first, last, last + 1]
                .iter()
                .all(|&l| len(l) <= MAX_SHOWN_LINE + 2)
        })
}

/// A file as miette reads it, but from an index of its line starts: miette's own reader scans
/// the text from its beginning for every span, so rendering n diagnostics of one file would
/// take time proportional to n × its size. Here each span is read from a few lines before it.
struct Windowed<'a> {
    name: &'a str,
    text: &'a str,
    /// Where each line starts, with lines broken at `\n`, `\r\n` and a lone `\r` (as miette
    /// counts them).
    starts: &'a [usize],
}

/// Line starts as miette counts lines.
fn miette_line_starts(text: &str) -> Vec<usize> {
    let b = text.as_bytes();
    let mut starts = vec![0];
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\r' if b.get(i + 1) == Some(&b'\n') => {
                starts.push(i + 2);
                i += 1;
            }
            b'\r' | b'\n' => starts.push(i + 1),
            _ => {}
        }
        i += 1;
    }
    starts
}

impl miette::SourceCode for Windowed<'_> {
    fn read_span<'b>(
        &'b self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'b> + 'b>, miette::MietteError> {
        let line = self.starts.partition_point(|&s| s <= span.offset()).max(1) - 1;
        let first = line.saturating_sub(before);
        let base = self.starts[first].min(self.text.len());
        let window = &self.text.as_bytes()[base..];
        let rel = miette::SourceSpan::new((span.offset() - base).into(), span.len());
        let c = <[u8] as miette::SourceCode>::read_span(window, &rel, before, after)?;
        let data: &'b [u8] = c.data();
        let at = miette::SourceSpan::new((c.span().offset() + base).into(), c.span().len());
        // miette counts columns in bytes; editors (and kilter's other outputs) in characters.
        let line_start = self.starts[self.starts.partition_point(|&s| s <= at.offset()).max(1) - 1];
        let column = self
            .text
            .get(line_start..at.offset())
            .map_or(c.column(), |t| t.chars().count());
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.to_string(),
            data,
            at,
            c.line() + first,
            column,
            // miette counts these from the start of the file; its layout depends on it.
            c.line_count() + first,
        )))
    }
}

impl std::fmt::Debug for MietteView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.d.message)
    }
}

impl std::fmt::Display for MietteView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.d.message)?;
        if !self.snippet {
            let (line, column) = self.d.start();
            write!(
                f,
                "\n  at {}:{line}:{column} (a line longer than {MAX_SHOWN_LINE} bytes; not shown)",
                self.d.file.path
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for MietteView<'_> {}

impl miette::Diagnostic for MietteView<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.d.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.d
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.snippet.then_some(&self.src as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        if !self.snippet {
            return None;
        }
        let primary = miette::LabeledSpan::new_primary_with_span(
            Some(self.d.label.clone().unwrap_or_else(|| "here".into())),
            (self.d.span.start, self.d.span.len()),
        );
        let related =
            self.d.related.iter().map(|(s, l)| {
                miette::LabeledSpan::new_with_span(Some(l.clone()), (s.start, s.len()))
            });
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
}

/// Renders one diagnostic the way a person reads it: the source line, a caret, code and help.
pub fn render_human(d: &Diagnostic, color: bool) -> String {
    render_indexed(d, &miette_line_starts(&d.file.text), color)
}

fn render_indexed(d: &Diagnostic, starts: &[usize], color: bool) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_context_lines(1);
    let view = MietteView {
        d,
        src: Windowed {
            name: &d.file.path,
            text: &d.file.text,
            starts,
        },
        snippet: lines_short(d, starts),
    };
    let mut out = String::new();
    let _ = handler.render_report(&mut out, &view);
    out
}

pub fn render_human_all(diags: &[Diagnostic], summary: Summary, color: bool) -> String {
    let mut out = String::new();
    // Line starts are indexed once per file, so rendering is linear in the diagnostics.
    let mut index: Option<(*const SourceFile, Vec<usize>)> = None;
    for d in diags {
        let key = Arc::as_ptr(&d.file);
        if index.as_ref().is_none_or(|(k, _)| *k != key) {
            index = Some((key, miette_line_starts(&d.file.text)));
        }
        let starts = index.as_ref().map_or(&[][..], |(_, s)| s.as_slice());
        out.push_str(&render_indexed(d, starts, color));
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{} file{} linted: {} error{}, {} warning{}",
        summary.files,
        plural(summary.files),
        summary.errors,
        plural(summary.errors),
        summary.warnings,
        plural(summary.warnings)
    );
    if summary.skipped > 0 {
        out.pop();
        let _ = writeln!(
            out,
            " ({} document{} skipped: not kilter's)",
            summary.skipped,
            plural(summary.skipped)
        );
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

// ---------------------------------------------------------------- json

pub fn render_json(diags: &[Diagnostic], summary: Summary) -> String {
    let items: Vec<_> = diags.iter().map(Diagnostic::to_json).collect();
    let v = json!({
        "diagnostics": items,
        "summary": { "files": summary.files, "errors": summary.errors, "warnings": summary.warnings, "skipped": summary.skipped },
    });
    let mut s = serde_json::to_string_pretty(&v).expect("json values serialize");
    s.push('\n');
    s
}

// ---------------------------------------------------------------- sarif

/// SARIF 2.1.0 with one run, every rule of the registry described, columns in code points.
/// Where a SARIF run's files are: the repository root as an absolute `file:` URI (ending in
/// `/`), and each diagnostic file's path relative to it. Code scanning places results by
/// these; the CLI finds the root (the directory holding `.git`).
#[derive(Clone, Debug, Default)]
pub struct SarifRoot {
    pub uri: String,
    pub relative: std::collections::BTreeMap<String, String>,
}

pub fn render_sarif(diags: &[Diagnostic]) -> String {
    render_sarif_at(diags, None)
}

/// SARIF with `artifactLocation.uri` relative to the repository root and `uriBaseId`
/// `%SRCROOT%` (declared in `originalUriBaseIds` when the root is known).
pub fn render_sarif_at(diags: &[Diagnostic], root: Option<&SarifRoot>) -> String {
    let rules: Vec<_> = crate::check::RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.code,
                "name": r.name,
                "shortDescription": { "text": r.summary },
                "fullDescription": { "text": r.doc.trim() },
                "defaultConfiguration": { "level": r.severity.as_str() },
                "helpUri": format!("https://kilter.dev/rules/{}", r.code),
            })
        })
        .collect();
    let results: Vec<_> = diags
        .iter()
        .map(|d| {
            let (sl, sc) = d.start();
            let (el, ec) = d.end();
            let rule_index = crate::check::RULES.iter().position(|r| r.code == d.code);
            let mut message = d.message.clone();
            if let Some(h) = &d.help {
                message.push_str("\nhelp: ");
                message.push_str(h);
            }
            let mut r = json!({
                "ruleId": d.code,
                "level": d.severity.as_str(),
                "message": { "text": message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {
                            "uri": sarif_uri(
                                root.and_then(|r| r.relative.get(&d.file.path))
                                    .map_or(d.file.path.as_str(), String::as_str)
                            ),
                            "uriBaseId": "%SRCROOT%",
                        },
                        "region": { "startLine": sl, "startColumn": sc, "endLine": el, "endColumn": ec }
                    }
                }]
            });
            if let Some(i) = rule_index {
                r["ruleIndex"] = json!(i);
            }
            r
        })
        .collect();
    let v = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "kilter",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://kilter.dev",
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    let mut v = v;
    if let Some(r) = root {
        v["runs"][0]["originalUriBaseIds"] = json!({ "%SRCROOT%": { "uri": r.uri } });
    }
    let mut s = serde_json::to_string_pretty(&v).expect("json values serialize");
    s.push('\n');
    s
}

/// A relative URI reference for a path: `/`-separated, every byte outside RFC 3986's
/// unreserved characters percent-encoded.
pub fn sarif_uri(path: &str) -> String {
    let p = path.strip_prefix("./").unwrap_or(path).replace('\\', "/");
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

// ---------------------------------------------------------------- github

/// GitHub Actions workflow commands, so findings show up as annotations on the pull request.
pub fn render_github(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        let (line, col) = d.start();
        let (end_line, end_col) = d.end();
        let mut msg = format!("{} {}", d.code, d.message);
        if let Some(h) = &d.help {
            msg.push_str("\nhelp: ");
            msg.push_str(h);
        }
        let _ = writeln!(
            out,
            "::{} file={},line={line},col={col},endLine={end_line},endColumn={end_col},title={}::{}",
            d.severity.as_str(),
            gh_escape_prop(&d.file.path),
            gh_escape_prop(d.code),
            gh_escape_data(&msg)
        );
    }
    out
}

fn gh_escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn gh_escape_prop(s: &str) -> String {
    gh_escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
