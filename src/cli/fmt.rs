//! `kilter fmt`.

use std::path::PathBuf;

use super::{EXIT_FINDINGS, EXIT_OK, emit, fail, files};

#[derive(clap::Args)]
pub struct Args {
    /// DSL files or directories (only `.kilter` files are formatted).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Don't print or write; exit 1 if any file is not in canonical form.
    #[arg(long)]
    check: bool,
    /// Rewrite the files in place instead of printing them.
    #[arg(long, short = 'w', conflicts_with = "check")]
    write: bool,
}

pub fn run(a: Args) -> u8 {
    let paths = match files::discover(&a.paths) {
        Ok(p) => p
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "kilter"))
            .collect::<Vec<_>>(),
        Err(e) => return fail(e),
    };
    let mut code = EXIT_OK;
    for path in paths {
        let file = match files::read(&path) {
            Ok(f) => f,
            Err(e) => return fail(e),
        };
        match crate::syntax::dsl::fmt::format(&file) {
            Err(diags) => {
                for d in &diags {
                    eprint!("{}", crate::syntax::diag::render_human(d, false));
                }
                code = EXIT_FINDINGS;
            }
            Ok(formatted) => {
                if a.check {
                    if formatted != *file.text {
                        eprintln!("{} is not formatted", file.path);
                        code = EXIT_FINDINGS;
                    }
                } else if a.write {
                    if formatted != *file.text
                        && let Err(e) = std::fs::write(&path, formatted)
                    {
                        return fail(format!("{}: {e}", path.display()));
                    }
                } else if let Err(c) = emit(&formatted) {
                    return c;
                }
            }
        }
    }
    code
}
