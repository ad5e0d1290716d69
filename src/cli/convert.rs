//! `kilter convert`.

use std::path::PathBuf;

use super::{EXIT_FINDINGS, EXIT_OK, emit, fail, files};

#[derive(clap::Args)]
pub struct Args {
    /// Target form.
    #[arg(long, value_enum)]
    to: To,
    /// The file to convert.
    file: PathBuf,
    /// Write here instead of standard output.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum To {
    Yaml,
    Dsl,
}

pub fn run(a: Args) -> u8 {
    let file = match files::read(&a.file) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let out = crate::lint::lint(std::slice::from_ref(&file));
    if out.has_errors() {
        eprint!(
            "{}",
            crate::diag::render_human_all(&out.diagnostics, out.summary(), false)
        );
        return EXIT_FINDINGS;
    }
    // Nothing is dropped without a word: documents convert cannot carry fail the run.
    let foreign = out.skipped + out.skipped_files.len();
    if foreign > 0 {
        return fail_findings(format!(
            "{}: would lose {foreign} document{} that {} not kilter's (another kind, a snapshot or a policy test); convert files that hold kilter objects only",
            a.file.display(),
            if foreign == 1 { "" } else { "s" },
            if foreign == 1 { "is" } else { "are" },
        ));
    }
    let objects: Vec<_> = out
        .documents
        .into_iter()
        .filter(|d| d.valid)
        .filter_map(|d| d.object)
        .collect();
    if objects.is_empty() {
        return fail_findings(format!(
            "{}: no kilter objects to convert",
            a.file.display()
        ));
    }
    if has_comments(&file) {
        eprintln!(
            "kilter: warning: {}: comments are not carried into the converted file",
            a.file.display()
        );
    }
    let text = match a.to {
        To::Yaml => crate::convert::to_yaml(&objects),
        To::Dsl => crate::dsl::print::print(&objects),
    };
    match a.output {
        Some(p) => match std::fs::write(&p, text) {
            Ok(()) => EXIT_OK,
            Err(e) => fail(format!("{}: {e}", p.display())),
        },
        None => emit(&text).err().unwrap_or(EXIT_OK),
    }
}

fn fail_findings(msg: String) -> u8 {
    eprintln!("kilter: {msg}");
    EXIT_FINDINGS
}

/// Whether a file seems to have comments (`#` in YAML, `//` in the DSL): a line that starts
/// with one, or has one after a space (a string holding " #" also counts; it only warns).
fn has_comments(file: &crate::source::SourceFile) -> bool {
    let mark = if file.is_dsl() { "//" } else { "#" };
    let spaced = format!(" {mark}");
    file.text
        .lines()
        .any(|l| l.trim_start().starts_with(mark) || l.contains(&spaced))
}
