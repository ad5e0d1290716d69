//! The command line: one file per subcommand, each thin over the library.

mod convert;
mod crds;
use crate::sync::files;
mod fmt;
mod lint;
mod plan;
mod probe;
mod recommend;
mod rollback;
mod run;
mod simulate;
mod test;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes, stable: 0 clean, 1 findings, 2 usage or I/O error.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

#[derive(Parser)]
#[command(
    name = "kilter",
    version,
    about = "Power, consolidation and in-place resizes for Kubernetes, declared in Git"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate policies, budgets, probes and scaling targets (YAML or DSL).
    Lint(lint::Args),
    /// Print DSL files in canonical form, or check that they are.
    Fmt(fmt::Args),
    /// Convert objects between YAML and the DSL.
    Convert(convert::Args),
    /// Print (or write) the CustomResourceDefinitions and JSON Schemas of the kinds.
    Crds(crds::Args),
    /// Plan the actions the policies call for on a cluster snapshot (changes nothing).
    Plan(plan::Args),
    /// Run policy tests: plans on snapshots checked against expected actions.
    Test(test::Args),
    /// Run policies closed-loop over a usage trace: energy, throttling, actions (changes nothing).
    Simulate(Box<simulate::Args>),
    /// The node probe: serve a node's CPU governors over MCP, or lay out a sysfs to try it on.
    Probe(probe::Args),
    /// The controller: reconcile policies from a directory or Git into actions, continuously.
    Run(Box<run::Args>),
    /// Right-size workloads from a usage trace: requests at p95, limits at p99 + headroom.
    Recommend(recommend::Args),
    /// Undo what the controller did since a revision or a time (plan only without --enforce).
    Rollback(rollback::Args),
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let code = match cli.command {
        Command::Lint(a) => lint::run(a),
        Command::Fmt(a) => fmt::run(a),
        Command::Convert(a) => convert::run(a),
        Command::Crds(a) => crds::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Test(a) => test::run(a),
        Command::Simulate(a) => simulate::run(*a),
        Command::Probe(a) => probe::run(a),
        Command::Run(a) => run::run(*a),
        Command::Rollback(a) => rollback::run(a),
        Command::Recommend(a) => recommend::run(a),
    };
    ExitCode::from(code)
}

/// Writes to stdout; a closed pipe (`kilter lint | head`) is not an error.
pub(crate) fn emit(text: &str) -> Result<(), u8> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(EXIT_OK),
        Err(e) => {
            eprintln!("kilter: cannot write output: {e}");
            Err(EXIT_ERROR)
        }
    }
}

pub(crate) fn fail(msg: impl std::fmt::Display) -> u8 {
    eprintln!("kilter: {msg}");
    EXIT_ERROR
}
