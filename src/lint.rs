//! The lint engine: files in, documents and diagnostics out. Pure: the CLI reads files and
//! prints; this only computes. Files are loaded and checked in parallel when there are many.

use std::sync::Arc;

use rayon::prelude::*;

use crate::diag::{Diagnostic, Severity, Summary};
use crate::load::{Document, load_file};
use crate::source::SourceFile;

pub struct LintOutput {
    pub documents: Vec<Document>,
    pub diagnostics: Vec<Diagnostic>,
    pub files: usize,
}

impl LintOutput {
    pub fn summary(&self) -> Summary {
        Summary::of(self.files, &self.diagnostics)
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// Below this many files the thread pool costs more than it saves.
const PARALLEL_FROM: usize = 64;

fn lint_one(file: &Arc<SourceFile>) -> (Vec<Document>, Vec<Diagnostic>) {
    let (docs, mut diags) = load_file(file);
    for d in &docs {
        crate::check::check_document(d, &mut diags);
    }
    (docs, diags)
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
    for (docs, diags) in per_file {
        documents.extend(docs);
        diagnostics.extend(diags);
    }
    crate::check::check_bundle(&documents, &mut diagnostics);
    diagnostics.sort_by_cached_key(Diagnostic::sort_key);
    LintOutput {
        documents,
        diagnostics,
        files: files.len(),
    }
}

/// Lints one in-memory text, for tests and editors.
pub fn lint_text(path: &str, text: &str) -> LintOutput {
    lint(&[SourceFile::new(path, text)])
}
