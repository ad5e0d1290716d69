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
    let objects: Vec<_> = out
        .documents
        .into_iter()
        .filter(|d| d.valid)
        .filter_map(|d| d.object)
        .collect();
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
