//! `kilter lint`.

use std::io::IsTerminal;
use std::path::PathBuf;

use super::{EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, emit, fail, files};
use crate::syntax::diag;

#[derive(clap::Args)]
pub struct Args {
    /// Files or directories (recursive: .yaml, .yml, .kilter). Defaults to the current directory.
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Exit 1 on warnings too.
    #[arg(long)]
    deny_warnings: bool,
    /// Print the documentation of a rule (e.g. K006) and exit.
    #[arg(long, value_name = "CODE")]
    explain: Option<String>,
    /// Colour in human output.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
    /// Leave out files matching this glob (as in .gitignore; repeatable). `.gitignore` and
    /// `.kilterignore` files are honoured too.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Also say which files were skipped whole, and why.
    #[arg(long, short)]
    verbose: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Human,
    Json,
    Sarif,
    Github,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

pub fn run(a: Args) -> u8 {
    if let Some(code) = &a.explain {
        return match crate::check::rule(code) {
            Some(r) => emit(&crate::check::explain(r)).err().unwrap_or(EXIT_OK),
            None => fail(format!("no rule `{code}`; rules are {}", rule_list())),
        };
    }
    let paths = if a.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        a.paths
    };
    let sources =
        match files::discover_excluding(&paths, &a.exclude).and_then(|p| files::read_all(&p)) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
    let out = crate::lint::lint(&sources);
    if a.verbose {
        for (file, why) in &out.skipped_files {
            eprintln!("kilter: note: {file}: skipped, {why}");
        }
    }
    let summary = out.summary();
    let text = match a.format {
        Format::Human => {
            let color = match a.color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            diag::render_human_all(&out.diagnostics, summary, color)
        }
        Format::Json => diag::render_json(&out.diagnostics, summary),
        Format::Sarif => {
            let root = files::sarif_root(out.diagnostics.iter().map(|d| d.file.path.as_str()));
            diag::render_sarif_at(&out.diagnostics, root.as_ref())
        }
        Format::Github => diag::render_github(&out.diagnostics),
    };
    if let Err(code) = emit(&text) {
        return code;
    }
    if summary.errors > 0 || (a.deny_warnings && summary.warnings > 0) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}

fn rule_list() -> String {
    let _ = EXIT_ERROR;
    crate::check::RULES
        .iter()
        .map(|r| r.code)
        .collect::<Vec<_>>()
        .join(", ")
}
