//! The lint engine: files in, documents and diagnostics out. Pure: the CLI reads files and
//! prints; this only computes. Files are loaded and checked in parallel when there are many.

use std::sync::Arc;

use rayon::prelude::*;

use crate::syntax::diag::{Diagnostic, Severity, Summary};
use crate::syntax::load::{Document, load_file_counted};
use crate::syntax::source::SourceFile;

pub struct LintOutput {
    pub documents: Vec<Document>,
    pub diagnostics: Vec<Diagnostic>,
    pub files: usize,
    /// Documents skipped as not kilter's (other API groups, values files, CI configs…).
    pub skipped: usize,
    /// Files skipped whole, with why: YAML that does not parse and never mentions kilter
    /// (a chart template, say).
    pub skipped_files: Vec<(String, String)>,
}

impl LintOutput {
    pub fn summary(&self) -> Summary {
        Summary::of(self.files, &self.diagnostics)
            .with_skipped(self.skipped + self.skipped_files.len())
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// Below this many files the thread pool costs more than it saves.
const PARALLEL_FROM: usize = 64;

struct FileLint {
    docs: Vec<Document>,
    diags: Vec<Diagnostic>,
    skipped: usize,
    /// Why the whole file was skipped.
    skipped_whole: Option<String>,
}

fn lint_one(file: &Arc<SourceFile>) -> FileLint {
    let (docs, mut diags, skipped) = load_file_counted(file);
    // YAML that does not parse is kilter's problem only if it is about kilter: a chart
    // template (`name: {{ .Release.Name }}`) is someone else's file.
    let broken = diags
        .iter()
        .any(|d| d.code == crate::syntax::diag::code::SYNTAX);
    if broken && !file.is_dsl() && !crate::syntax::load::mentions_kilter(&file.text) {
        let why = diags
            .iter()
            .find(|d| d.code == crate::syntax::diag::code::SYNTAX)
            .map(|d| d.message.clone())
            .unwrap_or_default();
        return FileLint {
            docs: Vec::new(),
            diags: Vec::new(),
            skipped: 0,
            skipped_whole: Some(format!(
                "not YAML kilter can read ({why}) and never mentions kilter"
            )),
        };
    }
    for d in &docs {
        crate::check::check_document(d, &mut diags);
    }
    FileLint {
        docs,
        diags,
        skipped,
        skipped_whole: None,
    }
}

/// Lints files together: per-file rules on each, then the rules that look across all of them.
pub fn lint(files: &[Arc<SourceFile>]) -> LintOutput {
    let per_file: Vec<_> = if files.len() >= PARALLEL_FROM {
        files.par_iter().map(lint_one).collect()
    } else {
        files.iter().map(lint_one).collect()
    };
    let mut documents = Vec::new();
    let mut diagnostics = Vec::new();
    let (mut skipped, mut skipped_files) = (0, Vec::new());
    for (f, r) in files.iter().zip(per_file) {
        documents.extend(r.docs);
        diagnostics.extend(r.diags);
        skipped += r.skipped;
        if let Some(why) = r.skipped_whole {
            skipped_files.push((f.path.to_string(), why));
        }
    }
    crate::check::check_bundle(&documents, &mut diagnostics);
    diagnostics.sort_by_cached_key(Diagnostic::sort_key);
    LintOutput {
        documents,
        diagnostics,
        files: files.len(),
        skipped,
        skipped_files,
    }
}

/// Lints one in-memory text, for tests and editors.
pub fn lint_text(path: &str, text: &str) -> LintOutput {
    lint(&[SourceFile::new(path, text)])
}
