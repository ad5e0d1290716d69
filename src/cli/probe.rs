//! `kilter probe`: the node agent (`serve`) and a sysfs-shaped tree for trying it (`fake-sysfs`).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{EXIT_ERROR, EXIT_OK, fail};
use crate::probe::{fake, server, sysfs};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Run the node probe: an MCP server (Streamable HTTP, `/mcp`) over this node's cpufreq,
    /// RAPL and /proc/stat files, and `/healthz`.
    Serve(ServeArgs),
    /// Lay out a sysfs- and procfs-shaped tree (DIR/sys, DIR/proc) to run the probe on.
    FakeSysfs(FakeArgs),
    /// Heartbeat every probe the Probe objects in PATH name for a while, then print each
    /// probe's state, phi and last error.
    Status(StatusArgs),
    /// Call a tool on the probe of one node, through the router (timeout, retries, health).
    Call(CallArgs),
}

#[derive(clap::Args)]
struct Reach {
    /// Files or directories holding the Probe objects.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The bearer token (instead of the Secret each Probe's auth.secretRef names).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The cluster to find DaemonSet probes and token Secrets on (default: KUBECONFIG, then
    /// ~/.kube/config, then in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Namespace of the token Secret of static-endpoint probes.
    #[arg(long, default_value = "kilter-system")]
    namespace: String,
}

#[derive(clap::Args)]
struct StatusArgs {
    #[command(flatten)]
    reach: Reach,
    /// How long to send heartbeats before reporting.
    #[arg(long = "for", default_value = "3s", value_parser = duration)]
    watch: std::time::Duration,
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
}

#[derive(clap::Args)]
struct CallArgs {
    /// The node whose probe to call.
    node: String,
    /// The tool, e.g. cpufreq_status or set_governor.
    tool: String,
    /// The tool's arguments, a JSON object.
    #[arg(long, default_value = "{}")]
    args: String,
    /// Let a tool that writes (set_governor, set_frequency_limits, set_epp) write; without it
    /// the call is a dry run that shows what would be written.
    #[arg(long)]
    enforce: bool,
    #[command(flatten)]
    reach: Reach,
}

/// The probe tools that change a node.
const WRITE_TOOLS: [&str; 3] = ["set_governor", "set_frequency_limits", "set_epp"];

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Human,
    Json,
}

fn duration(s: &str) -> Result<std::time::Duration, String> {
    crate::model::Duration::parse(s).map(|d| d.0)
}

#[derive(clap::Args)]
struct ServeArgs {
    #[arg(long, default_value = "0.0.0.0:8765")]
    listen: SocketAddr,
    #[arg(long, default_value = "/sys")]
    sysfs_root: PathBuf,
    #[arg(long, default_value = "/proc")]
    proc_root: PathBuf,
    /// File holding the bearer token callers must send (required unless --insecure-no-auth).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Accept calls without a token (for a probe reachable from loopback only).
    #[arg(long, conflicts_with = "token_file")]
    insecure_no_auth: bool,
    /// The node this probe runs on.
    #[arg(long, env = "NODE_NAME")]
    node_name: Option<String>,
    /// A `Host` header value to accept (repeatable). Default: any host when a token is set,
    /// loopback only without one.
    #[arg(long = "allowed-host")]
    allowed_hosts: Vec<String>,
}

#[derive(clap::Args)]
struct FakeArgs {
    dir: PathBuf,
    #[arg(long, default_value_t = 4)]
    cpus: u32,
    /// Governors every policy offers (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "performance,powersave,schedutil"
    )]
    governors: Vec<String>,
    /// The governor every policy starts with.
    #[arg(long, default_value = "schedutil")]
    governor: String,
    /// Lay out no EPP files (a driver without energy-performance preferences).
    #[arg(long)]
    no_epp: bool,
    /// Lay out no RAPL zone.
    #[arg(long)]
    no_rapl: bool,
}

pub fn run(a: Args) -> u8 {
    match a.command {
        Command::Serve(s) => serve(s),
        Command::Status(s) => status(s),
        Command::Call(c) => call(c),
        Command::FakeSysfs(f) => {
            let mut shape = fake::Shape {
                cpus: f.cpus,
                governors: f.governors,
                governor: f.governor,
                rapl: !f.no_rapl,
                ..Default::default()
            };
            if f.no_epp {
                shape.epps.clear();
            }
            match fake::lay_out(&f.dir, &shape) {
                Ok(()) => {
                    println!(
                        "laid out {0}/sys and {0}/proc; run: kilter probe serve --sysfs-root {0}/sys --proc-root {0}/proc",
                        f.dir.display()
                    );
                    EXIT_OK
                }
                Err(e) => fail(format!("{}: {e}", f.dir.display())),
            }
        }
    }
}

fn serve(s: ServeArgs) -> u8 {
    let token = match (&s.token_file, s.insecure_no_auth) {
        (Some(f), _) => match std::fs::read_to_string(f) {
            Ok(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
            Ok(_) => return fail(format!("{}: the token file is empty", f.display())),
            Err(e) => return fail(format!("{}: {e}", f.display())),
        },
        (None, true) => None,
        (None, false) => {
            return fail(
                "--token-file is required (or --insecure-no-auth on a loopback-only probe)",
            );
        }
    };
    let Some(node_name) = s.node_name.filter(|n| !n.is_empty()) else {
        return fail("--node-name (or NODE_NAME) is required");
    };
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let opts = server::Options {
        listen: s.listen,
        roots: sysfs::Roots {
            sys: s.sysfs_root,
            proc: s.proc_root,
        },
        node_name,
        token,
        allowed_hosts: s.allowed_hosts,
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    match rt.block_on(server::serve(opts)) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_ERROR
        }
    }
}

/// Lints the paths and takes their Probe objects; exits 1 on lint errors.
fn probes(paths: &[PathBuf]) -> Result<Vec<crate::model::Probe>, u8> {
    let out = super::plan::lint_clean(paths)?;
    let probes: Vec<_> = out
        .documents
        .iter()
        .filter(|d| d.valid)
        .filter_map(|d| match &d.object {
            Some(crate::model::Object::Probe(p)) => Some(p.clone()),
            _ => None,
        })
        .collect();
    if probes.is_empty() {
        return Err(fail("no Probe objects in the given paths"));
    }
    Ok(probes)
}

/// The router over the probes `reach` names, its heartbeats running.
async fn router(reach: &Reach) -> Result<std::sync::Arc<crate::probe::router::Router>, u8> {
    let probes = probes(&reach.paths)?;
    let token = match &reach.token_file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| fail(format!("{}: {e}", f.display())))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let needs_cluster = probes
        .iter()
        .any(|p| p.spec.daemon_set.is_some() || (p.spec.auth.is_some() && token.is_none()));
    let client = if needs_cluster {
        match crate::kube::client(reach.kubeconfig.as_deref()).await {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!(
                    "kilter: warning: no cluster ({e}); DaemonSet probes and token Secrets are skipped"
                );
                None
            }
        }
    } else {
        None
    };
    let (endpoints, warnings) = crate::probe::discover::endpoints(
        &probes,
        client.as_ref(),
        token.as_deref(),
        &reach.namespace,
    )
    .await;
    for w in warnings {
        eprintln!("kilter: warning: {w}");
    }
    if endpoints.is_empty() {
        return Err(fail("no probe endpoints found"));
    }
    let router = std::sync::Arc::new(crate::probe::router::Router::new(endpoints));
    router.spawn_heartbeats();
    Ok(router)
}

fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the runtime: {e}")))
}

/// Runs `f` with the router over the probes `reach` names, on a runtime made for it.
fn with_router<F, Fut>(reach: &Reach, f: F) -> u8
where
    F: FnOnce(std::sync::Arc<crate::probe::router::Router>) -> Fut,
    Fut: std::future::Future<Output = u8>,
{
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    rt.block_on(async {
        match router(reach).await {
            Ok(r) => f(r).await,
            Err(c) => c,
        }
    })
}

fn status(a: StatusArgs) -> u8 {
    with_router(&a.reach, |router| async move {
        tokio::time::sleep(a.watch).await;
        let status = router.status();
        let text = match a.format {
            Format::Json => serde_json::to_string_pretty(&status).unwrap_or_default() + "\n",
            Format::Human => {
                let mut t = format!(
                    "{:<24} {:<20} {:<10} {:>7}  {:>10}  {}\n",
                    "PROBE", "NODE", "STATE", "PHI", "HEARTBEAT", "LAST ERROR"
                );
                for s in &status {
                    let state = serde_json::to_value(s.state)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default();
                    t.push_str(&format!(
                        "{:<24} {:<20} {:<10} {:>7.1}  {:>10}  {}\n",
                        s.id,
                        s.node,
                        state,
                        s.phi,
                        s.since_heartbeat_ms
                            .map_or("never".to_string(), |ms| format!("{ms}ms ago")),
                        s.last_error.as_deref().unwrap_or("-")
                    ));
                }
                t
            }
        };
        if let Err(c) = super::emit(&text) {
            return c;
        }
        // Findings: some probe is not healthy.
        if status
            .iter()
            .all(|s| s.state == crate::probe::router::State::Healthy)
        {
            EXIT_OK
        } else {
            super::EXIT_FINDINGS
        }
    })
}

fn call(a: CallArgs) -> u8 {
    let mut args: serde_json::Value = match serde_json::from_str(&a.args) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        Ok(_) => return fail("--args must be a JSON object"),
        Err(e) => return fail(format!("--args: {e}")),
    };
    if WRITE_TOOLS.contains(&a.tool.as_str()) && !a.enforce {
        args["dry_run"] = serde_json::Value::Bool(true);
        eprintln!("kilter: dry run: nothing is written without --enforce");
    }
    with_router(&a.reach, |router| async move {
        match router.call(&a.node, &a.tool, args).await {
            Ok(v) => super::emit(&(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"))
                .err()
                .unwrap_or(EXIT_OK),
            Err(e) => {
                eprintln!("kilter: {e}");
                super::EXIT_FINDINGS
            }
        }
    })
}
