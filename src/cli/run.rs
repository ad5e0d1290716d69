//! `kilter run`: the controller.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{EXIT_ERROR, EXIT_OK, fail};
use crate::model::Duration;
use crate::sync::git::{Reference, Source};

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("source").args(["dir", "git"]))]
pub struct Args {
    /// Read policies from this directory and re-plan within a second of every edit. With
    /// neither --dir nor --git, the kilter objects applied to the cluster are the only source
    /// (they are always read).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Read policies from this Git repository (a path or file:// URL; see docs/controller.md
    /// for remote URLs), fetched every --interval.
    #[arg(long)]
    git: Option<String>,
    /// With --git: the branch to follow (default: main).
    #[arg(long, requires = "git", conflicts_with_all = ["tag", "commit"])]
    branch: Option<String>,
    /// With --git: a tag to follow.
    #[arg(long, requires = "git", conflicts_with = "commit")]
    tag: Option<String>,
    /// With --git: one commit (full SHA).
    #[arg(long, requires = "git")]
    commit: Option<String>,
    /// With --git: the folder inside the repository that holds the policies.
    #[arg(long, requires = "git")]
    path: Option<PathBuf>,
    /// With --git: use only commits signed (SSH signatures) by a key in this file, in git's
    /// allowed_signers format; an unsigned or wrongly signed commit is rejected.
    #[arg(long, requires = "git")]
    verify_signatures: Option<PathBuf>,
    /// With --git: a directory holding the credentials for a remote repository, as the keys
    /// of a mounted Secret: `username` and `password` (HTTPS; a token goes in `password`), or
    /// `identity` (an SSH private key) and `known_hosts`.
    #[arg(long, requires = "git")]
    git_secret: Option<PathBuf>,
    /// With --git: how often to fetch (e.g. 30s, 1m).
    #[arg(long, default_value = "1m", value_parser = duration)]
    interval: Duration,
    /// With --git: where the clone and checked-out revisions are kept (default: a folder
    /// under the system's temporary directory, one per URL).
    #[arg(long, requires = "git")]
    git_cache: Option<PathBuf>,
    /// How often to re-plan when nothing changed.
    #[arg(long, default_value = "30s", value_parser = duration)]
    resync: Duration,
    /// Plan and report every cycle, never act, whatever the policies' modes.
    #[arg(long)]
    dry_run: bool,
    /// Address of /metrics, /healthz, /readyz and the read-only API.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// The kubeconfig to use (default: KUBECONFIG, then ~/.kube/config, then the in-cluster
    /// service account).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Append every action executed (or tried) to this file as JSON lines; read back at
    /// start so cooldowns and drains-per-hour budgets survive restarts.
    #[arg(long)]
    audit_log: Option<PathBuf>,
    /// How long a drain waits for PodDisruptionBudgets before giving up (when the policy
    /// does not say).
    #[arg(long, default_value = "5m", value_parser = duration)]
    drain_timeout: Duration,
    /// Nodes acted on at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// File holding the bearer token of the node probes (default: each Probe's Secret).
    #[arg(long)]
    probe_token_file: Option<PathBuf>,
    /// Namespace of the token Secret of static-endpoint probes.
    #[arg(long, default_value = "kilter-system")]
    probe_namespace: String,
    /// Read only the kilter objects in the cluster whose labels match this selector (as
    /// `kubectl get -l`), e.g. to run one controller per team.
    #[arg(long)]
    object_selector: Option<String>,
    /// Run several replicas: the one holding the Lease acts, the others only plan.
    #[arg(long)]
    leader_elect: bool,
    /// The Lease's namespace (default: POD_NAMESPACE, else kilter-system).
    #[arg(long, env = "POD_NAMESPACE", default_value = "kilter-system")]
    lease_namespace: String,
    #[arg(long, default_value = "kilter-controller")]
    lease_name: String,
    /// How long a leader that stops renewing keeps the Lease (seconds).
    #[arg(long, default_value_t = 15)]
    lease_duration: u64,
    /// This replica's name in the Lease (default: POD_NAME or the host name, and a random suffix).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// The PolicySource, in the Lease's namespace, where the leader writes which revision of
    /// --git or --dir is in use and why the latest was rejected (`Ready=False` with its
    /// diagnostics). An empty name writes none.
    #[arg(long, default_value = "kilter")]
    source_name: String,
}

fn duration(s: &str) -> Result<Duration, String> {
    Duration::parse(s)
}

pub fn run(a: Args) -> u8 {
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube=warn".into()),
        )
        .init();
    let signers = match &a.verify_signatures {
        Some(f) => match std::fs::read_to_string(f)
            .map_err(|e| e.to_string())
            .and_then(|t| crate::sync::signature::AllowedSigners::parse(&t))
        {
            Ok(s) => Some(s),
            Err(e) => return fail(format!("{}: {e}", f.display())),
        },
        None => None,
    };
    let credentials = match &a.git_secret {
        Some(d) => match crate::sync::git::Credentials::read(d) {
            Ok(c) => Some(c),
            Err(e) => return fail(e),
        },
        None => None,
    };
    let git = a.git.map(|url| {
        let reference = match (a.branch, a.tag, a.commit) {
            (_, Some(t), _) => Reference::Tag(t),
            (_, _, Some(c)) => Reference::Commit(c),
            (b, _, _) => Reference::Branch(b.unwrap_or_else(|| "main".into())),
        };
        let cache = a.git_cache.unwrap_or_else(|| {
            std::env::temp_dir().join(format!(
                "kilter-git-{:016x}",
                crate::sync::fnv([url.as_bytes()])
            ))
        });
        Source {
            url,
            reference,
            path: a.path,
            cache,
            signers,
            credentials,
        }
    });
    let probe_token = match &a.probe_token_file {
        Some(f) => match std::fs::read_to_string(f) {
            Ok(t) => Some(t.trim().to_string()),
            Err(e) => return fail(format!("{}: {e}", f.display())),
        },
        None => None,
    };
    let opts = crate::controller::Options {
        dir: a.dir,
        git,
        interval: a.interval.0,
        resync: a.resync.0,
        dry_run: a.dry_run,
        listen: a.listen,
        kubeconfig: a.kubeconfig,
        audit_log: a.audit_log,
        drain_timeout: a.drain_timeout.0,
        concurrency: a.concurrency,
        probe_token,
        probe_namespace: a.probe_namespace,
        object_selector: a.object_selector,
        pod: std::env::var("POD_NAME")
            .ok()
            .filter(|n| !n.is_empty())
            .map(|n| (a.lease_namespace.clone(), n)),
        policy_source: (!a.source_name.is_empty())
            .then(|| (a.lease_namespace.clone(), a.source_name.clone())),
        leader_election: a.leader_elect.then(|| {
            let base = a.identity.clone().unwrap_or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .map(|h| h.trim().to_string())
                    .unwrap_or_else(|_| "kilter".into())
            });
            let id = if a.identity.is_some() {
                base
            } else {
                format!("{base}-{:08x}", fastrand::u32(..))
            };
            (a.lease_namespace, a.lease_name, id, a.lease_duration.max(2))
        }),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    match rt.block_on(crate::controller::run(opts)) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            tracing::error!(error = %e, "kilter run stopped");
            eprintln!("kilter: {e}");
            EXIT_ERROR
        }
    }
}
