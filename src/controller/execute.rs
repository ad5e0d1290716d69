//! Carrying out a verified plan: each disruptive action is checked again against the cluster
//! as the API server has it right now (not the watch cache), then executed through the
//! Kubernetes edge or the probe router, a few nodes at a time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use kube::Client;
use serde_json::{Value as Json, json};

use crate::model::CpuQuantity;
use crate::plan::{Action, Bundle, Plan, PlannedAction};
use crate::probe::router::Router;
use crate::state::{ClusterState, Index};

/// What became of one action.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub action: PlannedAction,
    /// executed, failed or invalidated.
    pub result: &'static str,
    pub message: String,
    pub before: Json,
    pub after: Json,
}

pub struct Executor {
    pub client: Client,
    /// The watches' view, which a re-check refreshes around the nodes acted on.
    pub cache: super::cache::Cache,
    pub router: Option<Arc<Router>>,
    pub drain_timeout: Duration,
    /// Nodes acted on at once.
    pub concurrency: usize,
    /// Set on shutdown: actions not yet started are abandoned.
    pub stop: Arc<AtomicBool>,
    /// With leader election: each action waits for proof that this replica still leads.
    pub leader: Option<Arc<super::leader::Leader>>,
}

/// How a fresh reading of the cluster is prepared as the cycle's was (recent actions, probe
/// availability), so that the re-check sees what the planner saw, only newer.
pub type Prepare = Arc<dyn Fn(&mut ClusterState) + Send + Sync>;

/// Indexes of the actions that stand or fall together: a drain and the cordon planned as its
/// first step; otherwise one action each. Grouped by node, in plan order.
pub fn units(plan: &Plan, wanted: &[usize]) -> BTreeMap<String, Vec<Vec<usize>>> {
    let mut by_node: BTreeMap<String, Vec<Vec<usize>>> = BTreeMap::new();
    let mut taken = vec![false; plan.actions.len()];
    for &k in wanted {
        if taken[k] {
            continue;
        }
        let a = &plan.actions[k];
        // The verifier's pairing: what it rejects together is executed together.
        let mut unit: Vec<usize> = std::iter::once(k)
            .chain(
                crate::plan::verify::partners(plan, k)
                    .into_iter()
                    .filter(|j| !taken[*j] && wanted.contains(j)),
            )
            .collect();
        unit.sort_unstable();
        for &j in &unit {
            taken[j] = true;
        }
        by_node
            .entry(a.action.node().to_string())
            .or_default()
            .push(unit);
    }
    by_node
}

fn disruptive(a: &Action) -> bool {
    matches!(
        a,
        Action::Cordon { .. } | Action::Drain(_) | Action::Resize(_)
    )
}

impl Executor {
    /// Executes the plan's actions at `wanted`, calling `record` as each finishes.
    pub async fn run(
        &self,
        bundle: &Bundle,
        plan: &Plan,
        wanted: &[usize],
        now: DateTime<Utc>,
        prepare: Prepare,
        mut record: impl FnMut(Outcome),
    ) {
        let groups = units(plan, wanted);
        let mut stream = futures::stream::iter(groups.into_values().map(|units| {
            let prepare = prepare.clone();
            async move {
                let mut out = Vec::new();
                for unit in units {
                    let actions: Vec<&PlannedAction> =
                        unit.iter().map(|&k| &plan.actions[k]).collect();
                    out.extend(self.unit(bundle, &actions, now, &prepare).await);
                }
                out
            }
        }))
        .buffer_unordered(self.concurrency.max(1));
        while let Some(outcomes) = stream.next().await {
            for o in outcomes {
                record(o);
            }
        }
    }

    async fn unit(
        &self,
        bundle: &Bundle,
        actions: &[&PlannedAction],
        now: DateTime<Utc>,
        prepare: &Prepare,
    ) -> Vec<Outcome> {
        let skip = |result: &'static str, message: String| {
            actions
                .iter()
                .map(|a| Outcome {
                    action: (*a).clone(),
                    result,
                    message: message.clone(),
                    before: Json::Null,
                    after: Json::Null,
                })
                .collect()
        };
        if self.stop.load(Ordering::SeqCst) {
            return skip("abandoned", "the controller is shutting down".into());
        }
        if actions.iter().any(|a| disruptive(&a.action))
            && let Err(why) = self.recheck(bundle, actions, now, prepare).await
        {
            return skip("invalidated", why);
        }
        let mut out = Vec::new();
        for a in actions {
            if let Some(l) = &self.leader
                && !l.holds().await
            {
                for rest in &actions[out.len()..] {
                    out.push(Outcome {
                        action: (*rest).clone(),
                        result: "abandoned",
                        message: "this replica no longer holds the lease".into(),
                        before: Json::Null,
                        after: Json::Null,
                    });
                }
                break;
            }
            let o = self.execute(a).await;
            let failed = o.result != "executed";
            out.push(o);
            if failed {
                // The drain of a node whose cordon failed is not attempted.
                for rest in &actions[out.len()..] {
                    out.push(Outcome {
                        action: (*rest).clone(),
                        result: "abandoned",
                        message: "an earlier step failed".into(),
                        before: Json::Null,
                        after: Json::Null,
                    });
                }
                break;
            }
        }
        out
    }

    /// Reads the nodes acted on, their pods and the PDBs from the API server again and runs
    /// the plan verifier on the actions alone: PDBs, placements, capacity, budgets and
    /// cooldowns as they are now.
    async fn recheck(
        &self,
        bundle: &Bundle,
        actions: &[&PlannedAction],
        now: DateTime<Utc>,
        prepare: &Prepare,
    ) -> Result<(), String> {
        let mut targets: Vec<&str> = actions.iter().map(|a| a.action.node()).collect();
        targets.sort_unstable();
        targets.dedup();
        let mut fresh = self
            .cache
            .reread(&self.client, &targets)
            .await
            .map_err(|e| format!("cannot read the cluster again before acting: {e}"))?;
        prepare(&mut fresh);
        let index = Index::new(&fresh);
        let violations = crate::plan::verify::verify_actions(bundle, &fresh, &index, now, actions);
        if violations.is_empty() {
            return Ok(());
        }
        Err(format!(
            "no longer safe: {}",
            violations
                .iter()
                .map(|v| format!("{} ({})", v.message, v.invariant))
                .collect::<Vec<_>>()
                .join("; ")
        ))
    }

    async fn execute(&self, a: &PlannedAction) -> Outcome {
        let done = |result: Result<(Json, Json), String>| match result {
            Ok((before, after)) => Outcome {
                action: a.clone(),
                result: "executed",
                message: String::new(),
                before,
                after,
            },
            Err(message) => Outcome {
                action: a.clone(),
                result: "failed",
                message,
                before: Json::Null,
                after: Json::Null,
            },
        };
        let c = &self.client;
        done(match &a.action {
            Action::SetGovernor(g) => match &self.router {
                None => Err(format!("no probe serves node {}", g.node)),
                Some(r) => r
                    .call(&g.node, "set_governor", json!({ "governor": g.to }))
                    .await
                    .map(|_| (json!({ "governor": g.from }), json!({ "governor": g.to })))
                    .map_err(|e| e.to_string()),
            },
            Action::Cordon { node, .. } => crate::kube::cordon(c, node, true)
                .await
                .map(|()| {
                    (
                        json!({ "unschedulable": false }),
                        json!({ "unschedulable": true }),
                    )
                })
                .map_err(|e| e.to_string()),
            Action::Uncordon { node } => crate::kube::cordon(c, node, false)
                .await
                .map(|()| {
                    (
                        json!({ "unschedulable": true }),
                        json!({ "unschedulable": false }),
                    )
                })
                .map_err(|e| e.to_string()),
            Action::Drain(d) => {
                let timeout = d.timeout.map_or(self.drain_timeout, |t| t.0);
                match crate::kube::drain(c, &d.node, timeout).await {
                    Ok(r) if r.blocked.is_empty() => Ok((
                        json!({ "pods": d.evict.iter().map(ToString::to_string).collect::<Vec<_>>() }),
                        json!({ "evicted": r.evicted }),
                    )),
                    Ok(r) => Err(format!(
                        "evicted {}; still blocked by PodDisruptionBudgets: {}",
                        r.evicted.len(),
                        r.blocked.join(", ")
                    )),
                    Err(e) => Err(e.to_string()),
                }
            }
            Action::Resize(r) => {
                let q = |v: Option<i64>| v.map(|v| CpuQuantity(v).to_string());
                let pair = |req: Option<i64>, lim: Option<i64>| json!({ "request": q(req), "limit": q(lim) });
                crate::kube::resize(
                    c,
                    r.namespace(),
                    r.pod(),
                    r.container(),
                    q(r.request.to).as_deref(),
                    q(r.limit.to).as_deref(),
                )
                .await
                .map(|_| {
                    (
                        pair(r.request.from, r.limit.from),
                        pair(r.request.to, r.limit.to),
                    )
                })
                .map_err(|e| e.to_string())
            }
        })
    }
}
