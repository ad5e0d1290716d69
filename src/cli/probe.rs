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
