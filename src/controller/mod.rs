//! `kilter run`: the reconciler. Sources (a directory, a Git repository) give revisions;
//! each is linted as `kilter lint` does and only a clean one replaces the last good one. Every
//! cycle plans with the last good bundle against the cluster the watches hold, executes the
//! verified Enforce actions (each disruptive one checked again against the API server just
//! before), and records what it did: audit log, metrics, logs and an event stream.

pub mod audit;
pub mod cache;
pub mod combine;
pub mod execute;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod objects;
pub mod rollback;
pub mod source;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value as Json, json};
use tokio::sync::{broadcast, mpsc};

use crate::model::Probe;
use crate::plan::{Action, Bundle, Plan};
use crate::probe::router::Router;
use crate::state::{ClusterState, NodeProbe};
use crate::sync::Revision;
use crate::syntax::diag::{Diagnostic, Severity};

pub struct Options {
    pub dir: Option<PathBuf>,
    pub git: Option<crate::sync::git::Source>,
    /// How often the Git source is fetched.
    pub interval: Duration,
    /// How often a cycle runs when nothing changes.
    pub resync: Duration,
    /// Plan and report, never act.
    pub dry_run: bool,
    pub listen: SocketAddr,
    pub kubeconfig: Option<PathBuf>,
    pub audit_log: Option<PathBuf>,
    pub drain_timeout: Duration,
    /// Nodes acted on at once.
    pub concurrency: usize,
    /// Bearer token for the node probes (else each Probe's Secret).
    pub probe_token: Option<String>,
    /// Namespace of the token Secret of static-endpoint probes.
    pub probe_namespace: String,
    /// The controller's own pod (namespace, name), which carries the events of rejected
    /// revisions (they have no object in the cluster of their own).
    pub pod: Option<(String, String)>,
    /// Only cluster objects whose labels match this selector are read.
    pub object_selector: Option<String>,
    /// Leader election: (namespace, lease name, identity, lease seconds). None: act alone.
    pub leader_election: Option<(String, String, String, u64)>,
    /// The PolicySource (namespace, name) that shows which revision is in use and why the
    /// latest was rejected. None: not written.
    pub policy_source: Option<(String, String)>,
}

/// What the HTTP listener shows.
pub struct Shared {
    pub metrics: metrics::Metrics,
    /// The JSON of the current plan (empty before the first).
    pub plan: Mutex<String>,
    pub revisions: Mutex<VecDeque<RevisionRecord>>,
    pub ready: AtomicBool,
    pub events: broadcast::Sender<String>,
    /// Usage history for `pod.cpu.forecast` and `node.cpu.forecast`, in memory.
    pub forecasts: Mutex<crate::sim::forecast::Forecasts>,
}

/// One revision the controller read, and whether it was accepted.
#[derive(Serialize, Clone, Debug)]
pub struct RevisionRecord {
    pub id: String,
    pub time: String,
    pub accepted: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<Json>,
}

const REVISIONS_KEPT: usize = 50;

impl Shared {
    fn new() -> Shared {
        Shared {
            metrics: metrics::Metrics::default(),
            plan: Mutex::new(String::new()),
            revisions: Mutex::new(VecDeque::new()),
            ready: AtomicBool::new(false),
            events: broadcast::channel(1024).0,
            forecasts: Mutex::new(Default::default()),
        }
    }

    /// Sends a decision to `/api/v1/events` readers.
    fn event(&self, v: Json) {
        let _ = self.events.send(v.to_string());
    }

    fn revision(&self, r: RevisionRecord) {
        if let Ok(mut list) = self.revisions.lock() {
            list.push_back(r);
            while list.len() > REVISIONS_KEPT {
                list.pop_front();
            }
        }
    }
}

/// The revision in use: its id and its valid documents.
struct Accepted {
    id: String,
    documents: Vec<crate::syntax::load::Document>,
}

enum Trigger {
    Source,
    Cluster,
    Stop,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Runs until SIGTERM or Ctrl-C.
pub async fn run(o: Options) -> Result<(), String> {
    let client = crate::kube::client(o.kubeconfig.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let shared = Arc::new(Shared::new());
    let listener = tokio::net::TcpListener::bind(o.listen)
        .await
        .map_err(|e| format!("--listen {}: {e}", o.listen))?;
    tracing::info!(listen = %o.listen, dry_run = o.dry_run, "kilter run: serving /metrics, /healthz, /readyz and /api/v1");
    let app = http::router(shared.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP listener stopped");
        }
    });

    let (tx, mut rx) = mpsc::unbounded_channel::<Trigger>();
    let stop = Arc::new(AtomicBool::new(false));
    spawn_signals(tx.clone(), stop.clone());
    let _watcher = match &o.dir {
        Some(d) => {
            let tx = tx.clone();
            Some(crate::sync::dir::watch(
                d,
                Duration::from_millis(100),
                move || {
                    let _ = tx.send(Trigger::Source);
                },
            )?)
        }
        None => None,
    };
    if o.git.is_some() {
        let tx = tx.clone();
        let every = o.interval;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if tx.send(Trigger::Source).is_err() {
                    return;
                }
            }
        });
    }
    let cache = {
        let tx = tx.clone();
        cache::Cache::start(&client, move || {
            let _ = tx.send(Trigger::Cluster);
        })
    };
    cache.ready().await?;
    tracing::info!("cluster watches ready");
    let objects = {
        let tx = tx.clone();
        objects::Objects::start(&client, o.object_selector.as_deref(), move || {
            let _ = tx.send(Trigger::Cluster);
        })
    };

    let leader = match &o.leader_election {
        Some((ns, name, identity, seconds)) => {
            // A new leader plans and acts at once rather than at the next resync.
            let changed = {
                let tx = tx.clone();
                move |leads: bool| {
                    tracing::info!(leader = leads, "leadership changed");
                    let _ = tx.send(Trigger::Cluster);
                }
            };
            let l = leader::Leader::start(&client, ns, name, identity.clone(), *seconds, changed)
                .await?;
            tracing::info!(lease = %format!("{ns}/{name}"), identity = %identity, "joined the leader election");
            Some(Arc::new(l))
        }
        None => None,
    };
    let mut audit = audit::Audit::open(o.audit_log.as_deref())?;
    // Without a directory or Git, the cluster's objects are the only source.
    let mut good: Option<Accepted> = (o.dir.is_none() && o.git.is_none()).then(|| Accepted {
        id: "cluster".into(),
        documents: Vec::new(),
    });
    let mut combined: Option<(u64, combine::Combined)> = None;
    let mut written: BTreeMap<String, Json> = BTreeMap::new();
    // The last plan's budget reports, for the Budgets' status.
    let mut budgets: Vec<crate::plan::BudgetReport> = Vec::new();
    let mut seen: Option<String> = None;
    // What the PolicySource should say.
    let mut source_status = source::Tracker::default();
    let mut router: Option<Arc<Router>> = None;
    let mut resync = tokio::time::interval(o.resync);
    let mut source_dirty = true;
    let mut last_cycle: Option<Instant> = None;
    loop {
        // Cycles are at least this far apart: a busy cluster's watches do not spin the loop.
        if let Some(t) = last_cycle {
            let gap = Duration::from_millis(300);
            if t.elapsed() < gap {
                tokio::time::sleep(gap - t.elapsed()).await;
            }
        }
        if last_cycle.is_some() {
            tokio::select! {
                t = rx.recv() => match t {
                    Some(Trigger::Source) => source_dirty = true,
                    Some(Trigger::Cluster) => {}
                    Some(Trigger::Stop) | None => break,
                },
                _ = resync.tick() => {}
            }
        }
        let mut depth = 0;
        while let Ok(t) = rx.try_recv() {
            depth += 1;
            match t {
                Trigger::Source => source_dirty = true,
                Trigger::Cluster => {}
                Trigger::Stop => stop.store(true, Ordering::SeqCst),
            }
        }
        shared.metrics.queue_depth(depth);
        if stop.load(Ordering::SeqCst) {
            break;
        }
        last_cycle = Some(Instant::now());
        if source_dirty {
            source_dirty = false;
            match read_source(&o).await {
                Ok(rev) if seen.as_deref() != Some(&rev.id) => {
                    seen = Some(rev.id.clone());
                    let id = rev.id.clone();
                    let verdict = consider(&shared, rev);
                    let (applied, errors) = match &verdict {
                        Ok(acc) => (Some(acc.id.as_str()), Vec::new()),
                        Err(why) => (
                            good.as_ref().map(|g| g.id.as_str()),
                            why.lines().map(str::to_string).collect(),
                        ),
                    };
                    source_status.revision(&id, applied, errors, &now_rfc3339());
                    match verdict {
                        Ok(acc) => good = Some(acc),
                        Err(why) => {
                            if let Some((ns, pod)) = &o.pod {
                                let regarding = crate::kube::status::Regarding::pod(ns, pod);
                                let message = format!(
                                    "revision {id} rejected; still running {}: {why}",
                                    good.as_ref().map_or("no revision", |g| g.id.as_str())
                                );
                                if let Err(e) = crate::kube::status::event(
                                    &client,
                                    &regarding,
                                    true,
                                    "RevisionRejected",
                                    &message,
                                )
                                .await
                                {
                                    tracing::warn!(error = %e, "event");
                                }
                            }
                        }
                    }
                }
                Ok(_) => source_status.fetched(&now_rfc3339()),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the source; keeping the last good revision");
                    source_status.fetch_failed(&e, &now_rfc3339());
                }
            }
        }
        // The leader shows the source's state on its PolicySource (retried until written).
        if let (Some(status), Some((ns, name)), Some(spec)) =
            (&source_status.pending, &o.policy_source, source::spec(&o))
            && leader.as_ref().is_none_or(|l| l.is_leader())
        {
            match source::write(&client, ns, name, &spec, status).await {
                Ok(()) => source_status.written(),
                Err(e) => tracing::warn!(error = %e, "cannot write the PolicySource"),
            }
        }
        let Some(acc) = &good else {
            continue;
        };
        // The bundle: the revision's objects and the cluster's valid ones, re-linted only
        // when either changed.
        let cluster = objects.list();
        let key = crate::sync::fnv(
            std::iter::once(acc.id.clone())
                .chain(cluster.iter().map(|c| format!("{}\n{}", c.path(), c.text))),
        );
        if combined.as_ref().is_none_or(|(k, _)| *k != key) {
            let c = combine::combine(&acc.documents, &acc.id, cluster.clone());
            if combined
                .as_ref()
                .is_none_or(|(_, old)| old.probes != c.probes)
            {
                router = probe_router(&client, &c.probes, &o).await;
            }
            combined = Some((key, c));
        }
        let Some((_, now_combined)) = &combined else {
            continue;
        };
        // A replica that does not lead plans (its API shows the plan) but writes and acts on
        // nothing.
        let follower = leader.as_ref().is_some_and(|l| !l.is_leader());
        if !follower {
            write_statuses(
                &client,
                &shared,
                &cluster,
                now_combined,
                &audit,
                &budgets,
                &mut written,
            )
            .await;
        }
        let bundle = &now_combined.bundle;
        let executor = execute::Executor {
            client: client.clone(),
            cache: cache.clone(),
            router: router.clone(),
            drain_timeout: o.drain_timeout,
            concurrency: o.concurrency,
            stop: stop.clone(),
            leader: leader.clone(),
        };
        let started = Instant::now();
        let (ok, reports) = cycle(
            &shared, &cache, &client, bundle, &acc.id, &executor, &mut audit, o.dry_run, follower,
        )
        .await;
        budgets = reports;
        shared
            .metrics
            .reconciled(ok, started.elapsed().as_secs_f64());
        shared.ready.store(true, Ordering::SeqCst);
    }
    if let Some(l) = leader.and_then(|l| Arc::try_unwrap(l).ok()) {
        l.release().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM and Ctrl-C: actions not yet started are abandoned, the one in flight finishes.
fn spawn_signals(tx: mpsc::UnboundedSender<Trigger>, stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing the action in flight");
        stop.store(true, Ordering::SeqCst);
        let _ = tx.send(Trigger::Stop);
    });
}

async fn read_source(o: &Options) -> Result<Revision, String> {
    let dir = o.dir.clone();
    let git = o.git.clone();
    tokio::task::spawn_blocking(move || match (dir, git) {
        (Some(d), _) => crate::sync::dir::read(&d),
        (None, Some(g)) => g.revision(),
        (None, None) => Ok(Revision {
            id: "cluster".into(),
            files: Vec::new(),
            refused: None,
        }),
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Lints a revision; a clean one becomes the revision in use, one with errors is rejected
/// whole (Err: its errors, one per line) and the last good one keeps running.
fn consider(shared: &Shared, rev: Revision) -> Result<Accepted, String> {
    let out = crate::lint::lint(&rev.files);
    let refused = rev.refused.iter().map(|why| {
        json!({ "file": null, "line": null, "column": null, "code": "signature", "severity": "error", "message": why })
    });
    let diagnostics: Vec<Json> = refused
        .chain(out.diagnostics.iter().map(Diagnostic::to_json))
        .collect();
    let accepted = !out.has_errors() && rev.refused.is_none();
    shared.revision(RevisionRecord {
        id: rev.id.clone(),
        time: now_rfc3339(),
        accepted,
        diagnostics: diagnostics.clone(),
    });
    if !accepted {
        shared.metrics.rejected();
        let errors: Vec<String> = rev
            .refused
            .iter()
            .cloned()
            .chain(
                out.diagnostics
                    .iter()
                    .filter(|d| d.severity == Severity::Error)
                    .map(Diagnostic::one_line),
            )
            .collect();
        if let Some(why) = &rev.refused {
            tracing::warn!(revision = %rev.id, message = %why, "revision rejected");
        }
        for d in out
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
        {
            let (line, column) = d.start();
            tracing::warn!(
                revision = %rev.id,
                file = %d.file.path,
                line,
                column,
                code = d.code,
                message = %d.message,
                "revision rejected"
            );
        }
        shared.event(
            json!({ "type": "revision-rejected", "revision": rev.id, "diagnostics": diagnostics }),
        );
        return Err(errors.join("\n"));
    }
    tracing::info!(revision = %rev.id, files = rev.files.len(), documents = out.documents.len(), "revision accepted");
    shared.metrics.revision(&rev.id);
    shared.event(json!({ "type": "revision-accepted", "revision": rev.id }));
    Ok(Accepted {
        id: rev.id,
        documents: out.documents.into_iter().filter(|d| d.valid).collect(),
    })
}

/// The router over the bundle's probes, heartbeats running (None: no probe to reach).
async fn probe_router(client: &kube::Client, probes: &[Probe], o: &Options) -> Option<Arc<Router>> {
    if probes.is_empty() {
        return None;
    }
    let (endpoints, warnings) = crate::probe::discover::endpoints(
        probes,
        Some(client),
        o.probe_token.as_deref(),
        &o.probe_namespace,
    )
    .await;
    for w in warnings {
        tracing::warn!(warning = %w, "probes");
    }
    if endpoints.is_empty() {
        return None;
    }
    let r = Arc::new(Router::new(endpoints));
    r.spawn_heartbeats();
    Some(r)
}

/// Whether each node's probe can carry out a governor change now.
fn probe_availability(router: Option<&Router>) -> BTreeMap<String, NodeProbe> {
    router
        .map(|r| r.status())
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            let reason = s.unavailable_reason();
            (
                s.node.clone(),
                NodeProbe {
                    available: reason.is_none(),
                    reason,
                },
            )
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn cycle(
    shared: &Shared,
    cache: &cache::Cache,
    client: &kube::Client,
    bundle: &Bundle,
    revision: &str,
    executor: &execute::Executor,
    audit: &mut audit::Audit,
    dry_run: bool,
    follower: bool,
) -> (bool, Vec<crate::plan::BudgetReport>) {
    let now = chrono::Utc::now();
    let mut state = cache.state();
    // Usage as read at the start of the cycle, for its plan and the re-checks before actions.
    let usage = match crate::kube::metrics(client).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "metrics.k8s.io");
            None
        }
    };
    if let Some(m) = &usage {
        crate::kube::apply_metrics(&mut state, m);
    }
    let recent = audit.recent(now);
    let probes = probe_availability(executor.router.as_deref());
    for s in executor.router.iter().flat_map(|r| r.status()) {
        shared.metrics.probe_phi(&s.node, s.phi);
    }
    // Forecasts from this cycle's observation; a re-check before an action sees the same ones.
    if let Ok(mut f) = shared.forecasts.lock() {
        f.observe(bundle, &mut state, now);
    }
    let pod_forecast: foldhash::HashMap<(String, String), f64> = state
        .pods
        .iter()
        .filter_map(|p| Some(((p.namespace.clone(), p.name.clone()), p.cpu_forecast?)))
        .collect();
    let node_forecast: foldhash::HashMap<String, f64> = state
        .nodes
        .iter()
        .filter_map(|n| Some((n.name.clone(), n.cpu_forecast?)))
        .collect();
    let prepare: execute::Prepare = Arc::new(move |s: &mut ClusterState| {
        for p in &mut s.pods {
            p.cpu_forecast = pod_forecast
                .get(&(p.namespace.clone(), p.name.clone()))
                .copied();
        }
        for n in &mut s.nodes {
            n.cpu_forecast = node_forecast.get(&n.name).copied();
        }
        s.recent_actions = recent.clone();
        for n in &mut s.nodes {
            n.probe = Some(probes.get(&n.name).cloned().unwrap_or_else(|| NodeProbe {
                available: false,
                reason: Some(format!("no probe serves node {}", n.name)),
            }));
        }
    });
    prepare(&mut state);
    // A re-check's fresh reading gets this cycle's usage too (the cycle's state has it).
    let recheck: execute::Prepare = Arc::new(move |s: &mut ClusterState| {
        if let Some(m) = &usage {
            crate::kube::apply_metrics(s, m);
        }
        prepare(s);
    });
    let t = Instant::now();
    let plan = crate::plan::plan(bundle, &state, now);
    shared.metrics.planned(t.elapsed().as_secs_f64());
    publish(shared, &plan);

    if follower {
        return (true, plan.budgets);
    }
    let mut wanted = Vec::new();
    for (k, a) in plan.actions.iter().enumerate() {
        if a.enforce && !dry_run {
            wanted.push(k);
        } else {
            shared
                .metrics
                .action(a.kind().as_str(), &a.policy, "dry-run");
        }
    }
    if wanted.is_empty() {
        return (true, plan.budgets);
    }
    let mut ok = true;
    let revision = revision.to_string();
    executor
        .run(bundle, &plan, &wanted, now, recheck, |o| {
            let a = &o.action;
            let target = serde_json::to_value(a.target()).unwrap_or_default();
            match o.result {
                "executed" => tracing::info!(kind = a.kind().as_str(), policy = %a.policy, target = %target, reason = %a.reason(), "action executed"),
                _ => tracing::warn!(kind = a.kind().as_str(), policy = %a.policy, target = %target, result = o.result, message = %o.message, "action not executed"),
            }
            ok &= o.result != "failed";
            shared.metrics.action(a.kind().as_str(), &a.policy, o.result);
            let record = audit::Record {
                time: now_rfc3339(),
                revision: revision.clone(),
                policy: a.policy.to_string(),
                kind: a.kind().as_str().to_string(),
                target,
                before: o.before,
                after: o.after,
                result: o.result.to_string(),
                message: o.message,
            };
            shared.event(json!({ "type": "action", "record": record }));
            action_event(executor.client.clone(), a, &record.result, &record.message);
            if let Err(e) = audit.append(record) {
                tracing::error!(error = %e, "audit log");
                ok = false;
            }
        })
        .await;
    (ok, plan.budgets)
}

/// The plan for `/api/v1/plan` and the gauges it feeds.
fn publish(shared: &Shared, plan: &Plan) {
    if let Ok(mut p) = shared.plan.lock() {
        *p = crate::plan::render_json(plan);
    }
    for b in &plan.budgets {
        if let Some(p) = &b.power {
            shared.metrics.budget_power(&b.name, p.watts);
        }
    }
    for a in &plan.actions {
        if let Action::Resize(r) = &a.action {
            shared
                .metrics
                .allocation(r.namespace(), r.pod(), r.container(), r.allocation);
        }
    }
}

/// The last actions of a policy or target, newest first, for its status.
fn last_actions(audit: &audit::Audit, o: &objects::ClusterObject) -> Vec<Json> {
    if !matches!(o.kind, crate::model::Kind::Policy) {
        return Vec::new();
    }
    audit
        .records()
        .iter()
        .rev()
        .filter(|r| r.policy == o.name)
        .take(5)
        .map(|r| {
            json!({
                "time": r.time,
                "action": r.kind,
                "target": r.target.as_object().map(|t| {
                    t.values().filter_map(Json::as_str).collect::<Vec<_>>().join("/")
                }).unwrap_or_default(),
                "reason": if r.message.is_empty() { r.result.clone() } else { format!("{}: {}", r.result, r.message) },
            })
        })
        .collect()
}

/// Writes each cluster object's status when it changed, with an Event when its verdict does.
async fn write_statuses(
    client: &kube::Client,
    shared: &Shared,
    cluster: &[objects::ClusterObject],
    combined: &combine::Combined,
    audit: &audit::Audit,
    budgets: &[crate::plan::BudgetReport],
    written: &mut BTreeMap<String, Json>,
) {
    let now = now_rfc3339();
    for (o, verdict) in &combined.verdicts {
        let Some(current) = cluster.iter().find(|c| c.path() == o.path()) else {
            continue;
        };
        let usage = (o.kind == crate::model::Kind::Budget)
            .then(|| budgets.iter().find(|b| b.name == o.name && !b.default))
            .flatten()
            .map(combine::usage);
        let want = combine::status(current, verdict, last_actions(audit, current), usage, &now);
        let path = o.path();
        if combine::same(&want, &current.status)
            || written.get(&path).is_some_and(|w| combine::same(w, &want))
        {
            continue;
        }
        let was_used = current.status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        match crate::kube::status::apply_status(
            client,
            o.kind,
            o.namespace.as_deref(),
            &o.name,
            &want,
        )
        .await
        {
            Ok(()) => {
                written.insert(path.clone(), want);
            }
            Err(e) => {
                tracing::warn!(object = %path, error = %e, "status");
                continue;
            }
        }
        let regarding =
            crate::kube::status::Regarding::object(o.kind, o.namespace.as_deref(), &o.name);
        let event = match verdict {
            combine::Verdict::Used if !was_used => {
                Some((false, "Accepted", "in use by the controller".to_string()))
            }
            combine::Verdict::Invalid(m) => Some((true, "LintFailed", m.clone())),
            combine::Verdict::Conflict(m) => Some((true, "Conflict", m.clone())),
            combine::Verdict::Used => None,
        };
        if let Some((warning, reason, message)) = event {
            shared.event(
                json!({ "type": "object", "object": path, "reason": reason, "message": message }),
            );
            if let Err(e) =
                crate::kube::status::event(client, &regarding, warning, reason, &message).await
            {
                tracing::warn!(object = %path, error = %e, "event");
            }
        }
    }
}

/// A Kubernetes Event on the node or pod an action touched.
fn action_event(client: kube::Client, a: &crate::plan::PlannedAction, result: &str, message: &str) {
    use crate::kube::status::Regarding;
    let regarding = match &a.action {
        Action::Resize(r) => Regarding::pod(r.namespace(), r.pod()),
        other => Regarding::node(other.node()),
    };
    let warning = result != "executed";
    let reason = match (a.kind().as_str(), warning) {
        ("set_governor", false) => "GovernorSet",
        ("cordon", false) => "Cordoned",
        ("uncordon", false) => "Uncordoned",
        ("drain", false) => "Drained",
        ("resize", false) => "Resized",
        _ => "ActionNotExecuted",
    };
    let text = if warning {
        format!(
            "{} by policy {} {result}: {message}",
            a.kind().as_str(),
            a.policy
        )
    } else {
        format!("policy {}: {}", a.policy, a.reason())
    };
    let reason = reason.to_string();
    tokio::spawn(async move {
        if let Err(e) =
            crate::kube::status::event(&client, &regarding, warning, &reason, &text).await
        {
            tracing::warn!(error = %e, "event");
        }
    });
}
