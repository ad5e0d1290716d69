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
            crate::syntax::diag::render_human_all(&out.diagnostics, out.summary(), false)
        );
        return EXIT_FINDINGS;
    }
    let result = match a.to {
        To::Yaml => crate::syntax::convert::file_to_yaml(&file),
        To::Dsl => crate::syntax::convert::file_to_dsl(&file),
    };
    let text = match result {
        Ok(t) => t,
        Err(crate::syntax::convert::Refused::Empty) => {
            return fail_findings(format!(
                "{}: no kilter objects to convert",
                a.file.display()
            ));
        }
        Err(crate::syntax::convert::Refused::Unreadable(why)) => {
            return fail_findings(format!("not converted: {why}"));
        }
        Err(crate::syntax::convert::Refused::Foreign(foreign)) => {
            for (line, what) in &foreign {
                eprintln!(
                    "kilter: {}:{line}: {what} is not a kilter object; the DSL holds kilter objects only (`--to yaml` keeps it)",
                    a.file.display()
                );
            }
            return fail_findings(format!(
                "{}: not converted: {} document{} would be lost",
                a.file.display(),
                foreign.len(),
                if foreign.len() == 1 { "" } else { "s" }
            ));
        }
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
