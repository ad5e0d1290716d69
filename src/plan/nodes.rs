//! Node methods: consolidation, cordon and drain (kubectl drain semantics, as planned steps),
//! planned as one method so that every policy that disrupts nodes takes its turn in planning
//! order and sees the nodes and pods earlier ones took; and uncordon of kilter's own cordons.

use std::collections::BTreeMap;

use super::action::{Action, DrainNode, Placement, PodRef, Reason, SkipCause, Target};
use super::claims::Knob;
use super::context::Cx;
use super::cooldown::Object;
use super::{Method, PlannedAction};
use crate::model::{ActionKind, Mode};
use crate::state::{DO_NOT_DISRUPT, Pod};

/// Consolidation, cordons and drains.
pub struct Disrupt;
pub struct Uncordon;

/// Why a node's pods may not be evicted.
#[derive(Debug, thiserror::Error)]
enum Blocked {
    #[error("{0}")]
    Protected(String),
    #[error("{0}")]
    Pdb(String),
}

impl Blocked {
    fn cause(&self) -> SkipCause {
        match self {
            Blocked::Protected(_) => SkipCause::Protected,
            Blocked::Pdb(_) => SkipCause::PodDisruptionBudget,
        }
    }
}

/// An evicted pod that fits on no other node.
#[derive(Debug, thiserror::Error)]
#[error("pod {pod} (requests {cpu}m CPU) fits on no other schedulable node")]
struct NoRoom {
    pod: String,
    cpu: i64,
}

/// The pods a drain evicts and the ones it leaves (DaemonSet and mirror pods).
struct Eviction {
    evict: Vec<usize>,
    stays: Vec<String>,
}

fn eviction(cx: &Cx<'_>, n: usize, allow_empty_dir: bool) -> Result<Eviction, Blocked> {
    let node = cx.node(n);
    if node
        .annotations
        .get(DO_NOT_DISRUPT)
        .is_some_and(|v| v == "true")
    {
        return Err(Blocked::Protected(format!("node carries {DO_NOT_DISRUPT}")));
    }
    let mut evict = Vec::new();
    let mut stays = Vec::new();
    let mut pdb_need: BTreeMap<usize, i64> = BTreeMap::new();
    for i in cx.index.pods_of(n) {
        let p = cx.pod(i);
        if p.terminating {
            continue; // already leaving: an earlier drain or its owner deleted it
        }
        if p.do_not_disrupt() {
            return Err(Blocked::Protected(format!(
                "pod {} carries {DO_NOT_DISRUPT}",
                p.key()
            )));
        }
        if p.mirror {
            stays.push(format!("{} (mirror pod)", p.key()));
            continue;
        }
        if p.is_daemonset() {
            stays.push(format!("{} (DaemonSet)", p.key()));
            continue;
        }
        if p.owner.is_none() {
            return Err(Blocked::Protected(format!(
                "pod {} has no controller; evicting it would delete it for good",
                p.key()
            )));
        }
        if p.empty_dir && !allow_empty_dir {
            return Err(Blocked::Protected(format!(
                "pod {} uses emptyDir; its data would be lost (set allowEmptyDir to permit)",
                p.key()
            )));
        }
        for (k, pdb) in cx.state.pdbs.iter().enumerate() {
            if !pdb.covers(p) {
                continue;
            }
            let need = pdb_need.entry(k).or_insert(0);
            *need += 1;
            let used = cx.ledger.pdb_used.get(&k).copied().unwrap_or(0);
            if used + *need > pdb.disruptions_allowed() {
                return Err(Blocked::Pdb(format!(
                    "PodDisruptionBudget {}/{} allows {} more disruption(s); evicting {} would exceed it",
                    pdb.namespace,
                    pdb.name,
                    (pdb.disruptions_allowed() - used).max(0),
                    p.key()
                )));
            }
        }
        evict.push(i);
    }
    Ok(Eviction { evict, stays })
}

pub(crate) fn tolerates_all(p: &Pod, node: &crate::state::Node) -> bool {
    node.taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|t| p.tolerations.iter().any(|tol| tol.tolerates(t)))
}

/// Simulates the scheduler placing the evicted pods elsewhere (largest first, onto the
/// schedulable node with the most free CPU that satisfies nodeSelector, taints and requests,
/// after everything this plan placed, cordoned and drained so far). Returns the placements,
/// or the first pod that fits nowhere.
fn place(cx: &Cx<'_>, from: usize, evict: &[usize]) -> Result<Vec<(usize, usize)>, NoRoom> {
    let nodes = &cx.state.nodes;
    let (mut free_cpu, mut free_mem): (Vec<i64>, Vec<i64>) =
        (0..nodes.len()).map(|j| cx.free(j)).unzip();
    // What does not depend on the pod, once per drain rather than once per pod and node.
    let open: Vec<usize> = (0..nodes.len())
        .filter(|&j| {
            j != from
                && nodes[j].ready
                && !nodes[j].unschedulable
                && !cx.ledger.disrupted.contains_key(&nodes[j].name)
        })
        .collect();
    let mut order = evict.to_vec();
    order.sort_by_key(|&i| {
        (
            std::cmp::Reverse(cx.index.pod_requests[i].0),
            cx.pod(i).key(),
        )
    });
    let mut out = Vec::new();
    for i in order {
        let p = cx.pod(i);
        let (cpu, mem) = cx.index.pod_requests[i];
        let best = open
            .iter()
            .copied()
            .filter(|&j| {
                p.node_selector
                    .iter()
                    .all(|(k, v)| nodes[j].labels.get(k) == Some(v))
            })
            .filter(|&j| tolerates_all(p, &nodes[j]))
            .filter(|&j| free_cpu[j] >= cpu && free_mem[j] >= mem)
            .max_by_key(|&j| (free_cpu[j], std::cmp::Reverse(j)));
        let Some(j) = best else {
            return Err(NoRoom { pod: p.key(), cpu });
        };
        free_cpu[j] = free_cpu[j].saturating_sub(cpu);
        free_mem[j] = free_mem[j].saturating_sub(mem);
        out.push((i, j));
    }
    Ok(out)
}

fn with_why(mut reason: String, why: &str) -> String {
    if !why.is_empty() {
        reason.push_str("; ");
        reason.push_str(why);
    }
    reason
}

/// The checks every node disruption passes before anything else: the node is not already
/// disrupted by this plan and takes no pods moved in it; the policy holds the node's
/// schedulability; its cooldown has run out. Skips (with the reason) and returns false on failure.
fn gate(cx: &mut Cx<'_>, a: usize, n: usize) -> bool {
    let node = cx.node(n).name.clone();
    let target = Target::node(&node);
    if let Some(by) = cx.ledger.disrupted.get(&node) {
        if *by != cx.active[a].name {
            let r = format!("node is already cordoned or drained by `{by}` in this plan");
            cx.skip_for(a, target, SkipCause::PlanOrder, r);
        }
        return false;
    }
    if let Some(by) = cx.ledger.received.get(&n) {
        let r = format!(
            "node receives pods moved by `{by}` in this plan; it cannot also be taken out of service"
        );
        cx.skip_for(a, target, SkipCause::PlanOrder, r);
        return false;
    }
    if !cx.claim(a, &node, Knob::Schedulability, &target) {
        return false;
    }
    if let Some(r) = cx.cooling(a, &Object::Node(node), None) {
        cx.skip_for(a, target, SkipCause::Cooldown, r);
        return false;
    }
    true
}

/// A drain that passed its checks: which pods go, where to, and why.
struct PlannedDrain<'e> {
    n: usize,
    ev: &'e Eviction,
    placements: Vec<(usize, usize)>,
    reason: String,
}

/// Emits cordon (when needed) and drain, and records them in the ledger.
fn emit_drain(cx: &mut Cx<'_>, a: usize, d: PlannedDrain<'_>) {
    let node = cx.node(d.n);
    let name = node.name.clone();
    if !node.unschedulable {
        let reason = format!("step 1 of 2: stop new pods before draining; {}", d.reason);
        let cordon = Action::Cordon {
            node: name.clone(),
            drain_step: true,
        };
        cx.act_for(a, cordon, reason);
    }
    let spec = cx.active[a].policy.spec.action.drain.as_ref();
    let pod_ref = |i: usize| PodRef {
        namespace: cx.pod(i).namespace.clone(),
        name: cx.pod(i).name.clone(),
    };
    let drain = DrainNode {
        node: name.clone(),
        evict: d.ev.evict.iter().map(|&i| pod_ref(i)).collect(),
        stays: d.ev.stays.clone(),
        placements: d
            .placements
            .iter()
            .map(|&(i, j)| Placement {
                pod: pod_ref(i),
                node: cx.node(j).name.clone(),
            })
            .collect(),
        grace_period: spec.and_then(|s| s.grace_period),
        timeout: spec.and_then(|s| s.timeout),
        step: if node.unschedulable { 1 } else { 2 },
    };
    let reason = format!(
        "evict {} pod(s) through the Eviction API; {}",
        d.ev.evict.len(),
        d.reason
    );
    cx.act_for(a, Action::Drain(drain), reason);
    let policy = cx.active[a].name.clone();
    for &(i, j) in &d.placements {
        let (cpu, mem) = cx.index.pod_requests[i];
        cx.ledger.placed_cpu[j] = cx.ledger.placed_cpu[j].saturating_add(cpu);
        cx.ledger.placed_memory[j] = cx.ledger.placed_memory[j].saturating_add(mem);
        cx.ledger
            .received
            .entry(j)
            .or_insert_with(|| policy.clone());
    }
    for &i in &d.ev.evict {
        cx.ledger.evicted.insert(i);
        let p = cx.pod(i);
        for (k, pdb) in cx.state.pdbs.iter().enumerate() {
            if pdb.covers(p) {
                *cx.ledger.pdb_used.entry(k).or_insert(0) += 1;
            }
        }
    }
    cx.ledger.disrupted.insert(name, policy);
}

/// Checks a drain of node `n` for policy `a` and plans it; skips with the reason otherwise.
fn try_drain(cx: &mut Cx<'_>, a: usize, n: usize, allow_empty_dir: bool, reason: &str) -> bool {
    let node = cx.node(n);
    let target = Target::node(&node.name);
    let ev = match eviction(cx, n, allow_empty_dir) {
        Ok(ev) => ev,
        Err(b) => {
            cx.skip_for(a, target, b.cause(), b.to_string());
            return false;
        }
    };
    if node.unschedulable && ev.evict.is_empty() {
        return false; // already drained
    }
    // The budget first: it is cheap, and placing the pods costs a pass over every node per
    // pod (a fleet whose budget is spent would otherwise pay that for every candidate).
    if let Err(r) = cx.budgets.check(n, node.unschedulable, true) {
        cx.skip_for(a, target, SkipCause::DisruptionBudget, r.to_string());
        return false;
    }
    let placements = match place(cx, n, &ev.evict) {
        Ok(p) => p,
        Err(r) => {
            cx.skip_for(a, target, SkipCause::NoPlacement, r.to_string());
            return false;
        }
    };
    if let Err(r) = cx.budgets.admit(n, node.unschedulable, true) {
        cx.skip_for(a, target, SkipCause::DisruptionBudget, r.to_string());
        return false;
    }
    let reason = reason.to_string();
    emit_drain(
        cx,
        a,
        PlannedDrain {
            n,
            ev: &ev,
            placements,
            reason,
        },
    );
    true
}

impl Method for Disrupt {
    fn name(&self) -> &'static str {
        "disrupt"
    }

    fn plan(&self, cx: &mut Cx<'_>) {
        let kinds = [
            ActionKind::Consolidate,
            ActionKind::Cordon,
            ActionKind::Drain,
        ];
        for a in cx.active_of(&kinds) {
            match cx.active[a].kind {
                ActionKind::Consolidate => consolidate(cx, a),
                ActionKind::Cordon => cordon(cx, a),
                _ => drain(cx, a),
            }
        }
    }
}

fn consolidate(cx: &mut Cx<'_>, a: usize) {
    let Some(c) = cx.active[a].policy.spec.action.consolidate.clone() else {
        return;
    };
    let max = c.max_nodes_per_cycle.unwrap_or(1).max(0) as usize;
    let mut candidates: Vec<usize> = cx
        .nodes_for(a)
        .into_iter()
        .filter(|&n| {
            let node = cx.node(n);
            node.ready && !node.unschedulable && node.cpu_utilization < c.utilization_below
        })
        .collect();
    candidates.sort_by(|&x, &y| {
        cx.node(x)
            .cpu_utilization
            .total_cmp(&cx.node(y).cpu_utilization)
            .then_with(|| cx.node(x).name.cmp(&cx.node(y).name))
    });
    let mut done = 0;
    for n in candidates {
        if done >= max {
            let r = format!("maxNodesPerCycle {max} reached this cycle");
            let target = Target::node(&cx.node(n).name);
            cx.skip_for(a, target, SkipCause::PerCycleLimit, r);
            continue;
        }
        if !gate(cx, a, n) {
            continue;
        }
        let node = cx.node(n);
        let reason = with_why(
            format!(
                "consolidation: CPU {:.0}% is under {:.0}% and its pods fit on other nodes",
                node.cpu_utilization * 100.0,
                c.utilization_below * 100.0,
            ),
            &cx.active[a].why,
        );
        if try_drain(cx, a, n, c.allow_empty_dir.unwrap_or(false), &reason) {
            done += 1;
        }
    }
}

fn cordon(cx: &mut Cx<'_>, a: usize) {
    for n in cx.nodes_for(a) {
        let node = cx.node(n);
        if node.unschedulable || !gate(cx, a, n) {
            continue;
        }
        let name = node.name.clone();
        if let Err(r) = cx.budgets.admit(n, false, false) {
            let r = r.to_string();
            cx.skip_for(a, Target::node(&name), SkipCause::DisruptionBudget, r);
            continue;
        }
        let reason = with_why("mark unschedulable".into(), &cx.active[a].why);
        let action = Action::Cordon {
            node: name.clone(),
            drain_step: false,
        };
        cx.act_for(a, action, reason);
        let policy = cx.active[a].name.clone();
        cx.ledger.disrupted.insert(name, policy);
    }
}

fn drain(cx: &mut Cx<'_>, a: usize) {
    for n in cx.nodes_for(a) {
        if !gate(cx, a, n) {
            continue;
        }
        let reason = with_why("drain requested".into(), &cx.active[a].why);
        try_drain(cx, a, n, false, &reason);
    }
}

impl Method for Uncordon {
    fn name(&self) -> &'static str {
        "uncordon"
    }

    /// Undoes kilter's own cordons whose policy no longer applies to the node.
    fn plan(&self, cx: &mut Cx<'_>) {
        let mut last: BTreeMap<&str, &crate::state::RecentAction> = BTreeMap::new();
        for r in &cx.state.recent_actions {
            if let (Some(node), "cordon" | "uncordon") = (r.node.as_deref(), r.kind.as_str()) {
                match last.get(node) {
                    Some(prev) if prev.at() >= r.at() => {}
                    _ => {
                        last.insert(node, r);
                    }
                }
            }
        }
        for (node, r) in last {
            if r.kind != "cordon" {
                continue;
            }
            let Some(&n) = cx.node_index.get(node) else {
                continue;
            };
            if !cx.node(n).unschedulable
                || cx.ledger.disrupted.contains_key(node)
                || cx.claims.holder(node, Knob::Schedulability).is_some()
            {
                continue;
            }
            let policy = cx
                .bundle
                .policies
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(r.policy.as_str()));
            if policy.is_some_and(|p| p.spec.action.cordon.is_none()) {
                continue; // cordoned as part of a drain or consolidation: the node is meant to go
            }
            let still = cx.active.iter().position(|a| *a.name == *r.policy);
            if let Some(a) = still
                && cx.applies(a, n).unwrap_or(true)
            {
                continue;
            }
            let (enforce, why) = match policy {
                Some(p) => (
                    p.spec.mode() == Mode::Enforce,
                    format!("`{}` no longer applies to this node", r.policy),
                ),
                None => (
                    false,
                    format!(
                        "`{}` is no longer in the bundle (dry-run until confirmed)",
                        r.policy
                    ),
                ),
            };
            cx.act(PlannedAction {
                action: Action::Uncordon {
                    node: node.to_string(),
                },
                policy: r.policy.as_str().into(),
                why: Reason::Text(format!("undo kilter's cordon of {}: {why}", r.time)),
                enforce,
            });
        }
    }
}
