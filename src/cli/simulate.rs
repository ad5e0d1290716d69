//! `kilter simulate`: a bundle run closed-loop over a trace (`docs/simulate.md`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, emit, fail, files};
use crate::sim::run::{Options, Report};
use crate::sim::trace::{Checked, Usage};
use crate::state::ClusterState;
use crate::syntax::source::SourceFile;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Policy files or directories (YAML and DSL).
    #[arg(required_unless_present_any = ["compare", "scenario"])]
    paths: Vec<PathBuf>,
    /// The trace manifest (`kind: Trace`; see docs/simulate.md).
    #[arg(long, required_unless_present = "scenario")]
    trace: Option<PathBuf>,
    /// Run scenario files (`kind: Scenario`) instead: each names its trace and policies and
    /// the outcomes to check; exit 1 when one is not met.
    #[arg(long, num_args = 1.., conflicts_with_all = ["paths", "trace", "compare"])]
    scenario: Vec<PathBuf>,
    /// Start here instead of at the trace's first sample (RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// End here instead of after the trace's last sample (RFC 3339).
    #[arg(long)]
    to: Option<String>,
    /// Trace time between two plans.
    #[arg(long, default_value = "1m")]
    step: String,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Also write a self-contained HTML report with plots to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Compare two bundles (directories or files) on the trace instead of running one.
    #[arg(long, num_args = 2, value_names = ["A", "B"], conflicts_with = "paths")]
    compare: Option<Vec<PathBuf>>,
    /// With --compare: how many noisy copies of the trace each bundle also runs on.
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// With --compare: the standard deviation of the multiplicative usage noise.
    #[arg(long, default_value_t = 0.1)]
    noise: f64,
    /// With --compare: exit 1 when B is significantly worse than A on one of these metrics
    /// (comma-separated: energy, throttling, slo, pending, critical, actions, oscillations,
    /// fairness).
    #[arg(long, value_delimiter = ',')]
    fail_if_worse: Vec<String>,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Write a synthetic usage trace for a snapshot's pods (diurnal and weekly pattern, a
    /// spike, a noisy neighbour), deterministic for a seed.
    GenTrace(GenArgs),
    /// Write a generated fleet (a JSON snapshot and a bundle of policies, optionally
    /// Kubernetes manifests for fake kwok nodes), for benchmarks and scale runs.
    GenFleet(FleetArgs),
}

#[derive(clap::Args)]
struct FleetArgs {
    /// How many nodes.
    #[arg(long)]
    nodes: usize,
    #[arg(long, default_value_t = 30)]
    pods_per_node: usize,
    /// The directory to write `snapshot.json` and `policies.kilter` into.
    #[arg(long)]
    out: PathBuf,
    /// Also write `manifests.yaml`: namespaces, kwok Nodes and Pods bound to them.
    #[arg(long)]
    manifests: bool,
    /// Also write `snapshot.yaml`: the same snapshot as block YAML.
    #[arg(long)]
    yaml: bool,
}

#[derive(clap::Args)]
struct GenArgs {
    /// The snapshot whose pods the trace covers.
    #[arg(long)]
    snapshot: PathBuf,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The first sample (RFC 3339).
    #[arg(long)]
    start: String,
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Time between samples.
    #[arg(long, default_value = "5m")]
    step: String,
    /// The time zone the daily pattern follows.
    #[arg(long, default_value = "Europe/Berlin")]
    tz: String,
    /// Where to write the CSV (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Format {
    Human,
    Json,
}

fn duration(s: &str) -> Result<chrono::Duration, u8> {
    crate::model::Duration::parse(s)
        .map(crate::sim::trace::chrono_duration)
        .map_err(fail)
}

fn time(s: &Option<String>) -> Result<Option<chrono::DateTime<chrono::Utc>>, u8> {
    match s {
        None => Ok(None),
        Some(t) => crate::state::parse_time(t).map(Some).ok_or_else(|| {
            fail(format!(
                "`{t}` is not an RFC 3339 time like 2026-11-23T22:30:00Z"
            ))
        }),
    }
}

/// Prints diagnostics and fails with exit 1.
fn refused(diags: Vec<crate::syntax::diag::Diagnostic>) -> u8 {
    for d in &diags {
        eprint!("{}", crate::syntax::diag::render_human(d, false));
    }
    EXIT_FINDINGS
}

pub(crate) struct Loaded {
    pub state: ClusterState,
    pub usage: Usage,
    pub trace: Checked,
}

fn read(path: &Path, max: u64) -> Result<Arc<SourceFile>, u8> {
    files::read_limited(path, max).map_err(fail)
}

pub(crate) fn load_trace(manifest: &Path) -> Result<Loaded, u8> {
    let file = read(manifest, crate::syntax::limits::MAX_FILE_BYTES)?;
    let trace = crate::sim::trace::load_manifest(&file).map_err(refused)?;
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let snapshot = read(
        &dir.join(&trace.manifest.snapshot),
        crate::syntax::limits::MAX_SNAPSHOT_BYTES,
    )?;
    let state = crate::state::load(&snapshot).map_err(refused)?;
    let usage = read(
        &dir.join(&trace.manifest.usage),
        crate::sim::trace::MAX_USAGE_BYTES,
    )?;
    let usage = crate::sim::trace::load_usage(&usage).map_err(refused)?;
    Ok(Loaded {
        state,
        usage,
        trace,
    })
}

/// A progress bar on a terminal for runs past a second; nothing otherwise.
fn progress_bar(label: &str) -> (indicatif::ProgressBar, std::time::Instant) {
    use std::io::IsTerminal;
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::hidden();
        b.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} cycles ({eta})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b.set_message(label.to_string());
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    (bar, std::time::Instant::now())
}

fn run_one(bundle: &crate::plan::Bundle, l: &Loaded, opts: &Options, label: &str) -> Report {
    use std::io::IsTerminal;
    let (bar, started) = progress_bar(label);
    let tty = std::io::stderr().is_terminal();
    let mut shown = false;
    let report = crate::sim::run::simulate(
        bundle,
        &l.state,
        &l.usage,
        &l.trace,
        opts,
        &mut |done, total| {
            if tty && !shown && started.elapsed() > std::time::Duration::from_secs(1) {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                shown = true;
            }
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    );
    bar.finish_and_clear();
    report
}

pub fn run(a: Args) -> u8 {
    match a.command {
        Some(Sub::GenTrace(g)) => return gen_trace(g),
        Some(Sub::GenFleet(f)) => return gen_fleet(f),
        None => {}
    }
    if !a.scenario.is_empty() {
        return scenarios(&a.scenario);
    }
    let Some(trace) = a.trace.as_deref() else {
        return fail("--trace is required");
    };
    let loaded = match load_trace(trace) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let opts = match (duration(&a.step), time(&a.from), time(&a.to)) {
        (Ok(step), Ok(from), Ok(to)) => Options {
            step,
            from,
            to,
            ..Default::default()
        },
        (Err(c), ..) | (_, Err(c), _) | (.., Err(c)) => return c,
    };
    if opts.step < chrono::Duration::seconds(1) {
        return fail("--step must be at least 1s");
    }
    if let Some(pair) = &a.compare {
        return compare(&pair[0], &pair[1], &loaded, &opts, &a);
    }
    let bundle = match super::plan::lint_clean(&a.paths) {
        Ok(out) => crate::plan::Bundle::from_documents(&out.documents),
        Err(code) => return code,
    };
    let report = run_one(&bundle, &loaded, &opts, "simulating");
    if let Some(path) = &a.report {
        let title = format!(
            "kilter simulate: {}",
            a.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        if let Err(e) = std::fs::write(path, crate::sim::report::render_html(&report, &title)) {
            return fail(format!("{}: {e}", path.display()));
        }
    }
    let text = match a.format {
        Format::Human => crate::sim::report::render_human(&report),
        Format::Json => crate::sim::report::render_json(&report),
    };
    emit(&text).err().unwrap_or(EXIT_OK)
}

fn compare(pa: &Path, pb: &Path, l: &Loaded, opts: &Options, a: &Args) -> u8 {
    for m in &a.fail_if_worse {
        if crate::sim::compare::metric(m).is_none() {
            return fail(format!("--fail-if-worse: no metric `{m}`"));
        }
    }
    if !(0.0..=1.0).contains(&a.noise) {
        return fail("--noise must be between 0 and 1");
    }
    let bundle = |p: &Path| {
        super::plan::lint_clean(&[p.to_path_buf()])
            .map(|out| crate::plan::Bundle::from_documents(&out.documents))
    };
    let (ba, bb) = match (bundle(pa), bundle(pb)) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(c), _) | (_, Err(c)) => return c,
    };
    // Run 0 is the trace itself; runs 1..=seeds add noise with seed k.
    let runs: Vec<Options> = (0..=a.seeds)
        .map(|k| Options {
            noise: (k > 0).then_some((k, a.noise)),
            ..opts.clone()
        })
        .collect();
    use rayon::prelude::*;
    let all: Vec<(Report, Report)> = runs
        .par_iter()
        .map(|o| {
            let none = &mut |_, _| {};
            (
                crate::sim::run::simulate(&ba, &l.state, &l.usage, &l.trace, o, none),
                crate::sim::run::simulate(&bb, &l.state, &l.usage, &l.trace, o, none),
            )
        })
        .collect();
    let (ra, rb): (Vec<Report>, Vec<Report>) = all.into_iter().unzip();
    let c = crate::sim::compare::compare(&ra, &rb, a.noise);
    let text = match a.format {
        Format::Human => crate::sim::compare::render_human(
            &c,
            &pa.display().to_string(),
            &pb.display().to_string(),
        ),
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&c).expect("serialises")
        ),
    };
    if let Err(code) = emit(&text) {
        return code;
    }
    let worse = c
        .metrics
        .iter()
        .any(|m| m.verdict == "worse" && a.fail_if_worse.iter().any(|f| f == m.metric));
    if worse { EXIT_FINDINGS } else { EXIT_OK }
}

/// Runs each scenario and checks its expectations.
fn scenarios(paths: &[PathBuf]) -> u8 {
    let mut failed = 0;
    for path in paths {
        let file = match read(path, crate::syntax::limits::MAX_FILE_BYTES) {
            Ok(f) => f,
            Err(c) => return c,
        };
        let s = match crate::sim::scenario::load(&file) {
            Ok(s) => s,
            Err(d) => return refused(d),
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let loaded = match load_trace(&dir.join(&s.trace)) {
            Ok(l) => l,
            Err(c) => return c,
        };
        let policies: Vec<PathBuf> = if s.policies.is_empty() {
            vec![dir.to_path_buf()]
        } else {
            s.policies.iter().map(|p| dir.join(p)).collect()
        };
        let bundle = match super::plan::lint_clean(&policies) {
            Ok(out) => crate::plan::Bundle::from_documents(&out.documents),
            Err(code) => return code,
        };
        let opts = match (time(&s.from), time(&s.to)) {
            (Ok(from), Ok(to)) => Options {
                step: s.step.map_or(
                    chrono::Duration::minutes(1),
                    crate::sim::trace::chrono_duration,
                ),
                from,
                to,
                ..Default::default()
            },
            (Err(c), _) | (_, Err(c)) => return c,
        };
        let report = run_one(&bundle, &loaded, &opts, "simulating");
        let broken = crate::sim::scenario::check(&s, &report);
        let mut text = String::new();
        if broken.is_empty() {
            text.push_str(&format!(
                "ok      {} ({} expectations)\n",
                path.display(),
                s.expect.len()
            ));
        } else {
            failed += 1;
            text.push_str(&format!(
                "FAILED  {}: {}\n",
                path.display(),
                s.description.trim()
            ));
            for b in &broken {
                text.push_str(&format!("  - {b}\n"));
            }
            text.push_str(&crate::sim::report::render_human(&report));
        }
        if let Err(code) = emit(&text) {
            return code;
        }
    }
    if failed > 0 { EXIT_FINDINGS } else { EXIT_OK }
}

fn gen_fleet(f: FleetArgs) -> u8 {
    const MAX_NODES: usize = 100_000;
    if f.nodes == 0 || f.nodes > MAX_NODES || f.pods_per_node > 1_000 {
        return fail(format!(
            "--nodes must be 1 to {MAX_NODES} and --pods-per-node at most 1000"
        ));
    }
    let state = crate::sim::fleet::cluster(f.nodes, f.pods_per_node, false);
    let write = |name: &str, text: &[u8]| {
        std::fs::write(f.out.join(name), text).map_err(|e| {
            eprintln!("error: cannot write {}: {e}", f.out.join(name).display());
            EXIT_ERROR
        })
    };
    let written = std::fs::create_dir_all(&f.out)
        .map_err(|e| {
            eprintln!("error: cannot create {}: {e}", f.out.display());
            EXIT_ERROR
        })
        .and_then(|()| {
            write(
                "snapshot.json",
                &serde_json::to_vec(&state).expect("a snapshot serializes"),
            )
        })
        .and_then(|()| write("policies.kilter", crate::sim::fleet::policies().as_bytes()))
        .and_then(|()| {
            if f.yaml {
                let json = serde_json::to_value(&state).expect("a snapshot serializes");
                write("snapshot.yaml", crate::syntax::emit::emit(&json).as_bytes())
            } else {
                Ok(())
            }
        })
        .and_then(|()| {
            if f.manifests {
                write(
                    "manifests.yaml",
                    crate::sim::fleet::manifests(&state).as_bytes(),
                )
            } else {
                Ok(())
            }
        });
    match written {
        Ok(()) => {
            println!(
                "wrote {} nodes and {} pods to {}",
                state.nodes.len(),
                state.pods.len(),
                f.out.display()
            );
            EXIT_OK
        }
        Err(code) => code,
    }
}

fn gen_trace(g: GenArgs) -> u8 {
    let snapshot = match read(&g.snapshot, crate::syntax::limits::MAX_SNAPSHOT_BYTES) {
        Ok(f) => f,
        Err(c) => return c,
    };
    let state = match crate::state::load(&snapshot) {
        Ok(s) => s,
        Err(d) => return refused(d),
    };
    let step = match duration(&g.step) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let Some(start) = crate::state::parse_time(&g.start) else {
        return fail(format!(
            "`{}` is not an RFC 3339 time like 2026-11-23T00:00:00Z",
            g.start
        ));
    };
    if step < chrono::Duration::seconds(1) {
        return fail("--step must be at least 1s");
    }
    let Ok(tz) = g.tz.parse::<chrono_tz::Tz>() else {
        return fail(format!(
            "`{}` is not an IANA time zone like Europe/Berlin",
            g.tz
        ));
    };
    let text = crate::sim::tracegen::generate(
        &state,
        &crate::sim::tracegen::GenOptions {
            seed: g.seed,
            start,
            days: g.days.min(366),
            step,
            tz,
        },
    );
    match &g.out {
        Some(p) => match std::fs::write(p, text) {
            Ok(()) => EXIT_OK,
            Err(e) => fail(format!("{}: {e}", p.display())),
        },
        None => emit(&text).err().unwrap_or(EXIT_OK),
    }
}
