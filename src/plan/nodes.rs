//! Node methods: consolidate, cordon, drain (kubectl drain semantics, as planned steps) and
//! uncordon. They share the disruption budgets and the node-schedulability knob.

use serde_json::json;

use super::context::{Cx, action_type};
use super::{ActionType, Method, PlannedAction, Target, params};
use crate::model::{ActionKind, Mode};
use crate::state::{DO_NOT_DISRUPT, Pod};

const KNOB: &str = "schedulability";

pub struct Consolidate;
pub struct Cordon;
pub struct Drain;
pub struct Uncordon;

/// The pods a drain evicts and the ones it leaves (DaemonSet and mirror pods), or why the
/// node must not be drained.
struct Eviction {
    evict: Vec<usize>,
    stays: Vec<String>,
}

fn eviction(cx: &Cx<'_>, n: usize, allow_empty_dir: bool) -> Result<Eviction, String> {
    let node = cx.node(n);
    if node
        .annotations
        .get(DO_NOT_DISRUPT)
        .is_some_and(|v| v == "true")
    {
        return Err(format!("node carries {DO_NOT_DISRUPT}"));
    }
    let mut evict = Vec::new();
    let mut stays = Vec::new();
    let mut pdb_need: std::collections::BTreeMap<String, i64> = Default::default();
    for &i in &cx.pods_by_node[n] {
        let p = cx.pod(i);
        if p.do_not_disrupt() {
            return Err(format!("pod {} carries {DO_NOT_DISRUPT}", p.key()));
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
            return Err(format!(
                "pod {} has no controller; evicting it would delete it for good",
                p.key()
            ));
        }
        if p.empty_dir && !allow_empty_dir {
            return Err(format!(
                "pod {} uses emptyDir; its data would be lost (set allowEmptyDir to permit)",
                p.key()
            ));
        }
        for pdb in cx.state.pdbs.iter().filter(|b| b.covers(p)) {
            let key = format!("{}/{}", pdb.namespace, pdb.name);
            let need = pdb_need.entry(key.clone()).or_insert(0);
            *need += 1;
            let used = cx.pdb_used.get(&key).copied().unwrap_or(0);
            if used + *need > pdb.disruptions_allowed() {
                return Err(format!(
                    "PodDisruptionBudget {key} allows {} more disruption(s); evicting {} would exceed it",
                    (pdb.disruptions_allowed() - used).max(0),
                    p.key()
                ));
            }
        }
        evict.push(i);
    }
    Ok(Eviction { evict, stays })
}

fn commit_pdbs(cx: &mut Cx<'_>, evict: &[usize]) {
    for &i in evict {
        let p = cx.pod(i);
        let keys: Vec<String> = cx
            .state
            .pdbs
            .iter()
            .filter(|b| b.covers(p))
            .map(|b| format!("{}/{}", b.namespace, b.name))
            .collect();
        for k in keys {
            *cx.pdb_used.entry(k).or_insert(0) += 1;
        }
    }
}

fn tolerates_all(p: &Pod, node: &crate::state::Node) -> bool {
    node.taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|t| p.tolerations.iter().any(|tol| tol.tolerates(t)))
}

/// Simulates the scheduler placing the evicted pods elsewhere (largest first, onto the
/// schedulable node with the most free CPU that satisfies nodeSelector, taints and requests).
/// Returns the placements, or the first pod that fits nowhere.
fn place(cx: &Cx<'_>, from: usize, evict: &[usize]) -> Result<Vec<(usize, usize)>, String> {
    let nodes = &cx.state.nodes;
    let mut free_cpu: Vec<i64> = (0..nodes.len())
        .map(|j| nodes[j].allocatable.cpu.map_or(0, |q| q.0) - cx.used_cpu[j] - cx.placed_cpu[j])
        .collect();
    let mut free_mem: Vec<i64> = (0..nodes.len())
        .map(|j| {
            nodes[j].allocatable.memory.map_or(i64::MAX / 4, |q| q.0)
                - cx.used_memory[j]
                - cx.placed_memory[j]
        })
        .collect();
    let mut order = evict.to_vec();
    order.sort_by_key(|&i| (std::cmp::Reverse(cx.pod(i).cpu_request()), cx.pod(i).key()));
    let mut out = Vec::new();
    for i in order {
        let p = cx.pod(i);
        let (cpu, mem) = (p.cpu_request(), p.memory_request());
        let best = (0..nodes.len())
            .filter(|&j| {
                j != from
                    && nodes[j].ready
                    && !nodes[j].unschedulable
                    && !cx.disrupted.contains_key(&nodes[j].name)
            })
            .filter(|&j| {
                p.node_selector
                    .iter()
                    .all(|(k, v)| nodes[j].labels.get(k) == Some(v))
            })
            .filter(|&j| tolerates_all(p, &nodes[j]))
            .filter(|&j| free_cpu[j] >= cpu && free_mem[j] >= mem)
            .max_by_key(|&j| (free_cpu[j], std::cmp::Reverse(j)));
        match best {
            Some(j) => {
                free_cpu[j] -= cpu;
                free_mem[j] -= mem;
                out.push((i, j));
            }
            None => {
                return Err(format!(
                    "pod {} (requests {}m CPU) fits on no other schedulable node",
                    p.key(),
                    cpu
                ));
            }
        }
    }
    Ok(out)
}

/// Admits a node disruption against every budget that selects the node.
fn admit(cx: &mut Cx<'_>, n: usize, already: bool, drain: bool) -> Result<(), String> {
    for b in cx.budgets.iter_mut().filter(|b| b.covers(n)) {
        b.admit(already, drain)?;
    }
    for b in cx.budgets.iter_mut().filter(|b| b.covers(n)) {
        b.commit(already, drain);
    }
    Ok(())
}

struct Ask<'p> {
    name: String,
    priority: i32,
    enforce: bool,
    why: String,
    cooldown: Option<crate::model::Duration>,
    kind: ActionType,
    policy: &'p crate::model::Policy,
}

fn ask<'p>(cx: &Cx<'p>, a: usize) -> Ask<'p> {
    let act = &cx.active[a];
    Ask {
        name: act.name.clone(),
        priority: act.priority,
        enforce: act.enforce,
        why: act.why.clone(),
        cooldown: act.policy.spec.cooldown,
        kind: action_type(act.kind),
        policy: act.policy,
    }
}

/// Claim, cooldown: the common gate before a node action. Skips and returns false on failure.
fn gate(cx: &mut Cx<'_>, q: &Ask<'_>, n: usize) -> bool {
    let node = cx.node(n).name.clone();
    if let Err((holder, hp)) = cx.claim(&node, KNOB, &q.name, q.priority) {
        let r = cx.conflict_reason("node schedulability", &holder, hp, q.priority);
        cx.skip(q.kind, Target::node(&node), &q.name, r);
        return false;
    }
    if let Some(r) = cx.cooling(
        &q.name,
        q.cooldown,
        cx.last_action(&q.name, Some(&node), None),
    ) {
        cx.skip(q.kind, Target::node(&node), &q.name, r);
        return false;
    }
    true
}

fn with_why(mut reason: String, why: &str) -> String {
    if !why.is_empty() {
        reason.push_str("; ");
        reason.push_str(why);
    }
    reason
}

/// Emits cordon (when needed) and drain for a node whose eviction is admitted.
fn emit_drain(
    cx: &mut Cx<'_>,
    q: &Ask<'_>,
    n: usize,
    ev: &Eviction,
    reason: &str,
    extra: Vec<(&str, serde_json::Value)>,
) {
    let node = cx.node(n);
    let name = node.name.clone();
    if !node.unschedulable {
        cx.act(PlannedAction {
            kind: ActionType::Cordon,
            target: Target::node(&name),
            params: params(vec![("step", json!(1))]),
            policy: q.name.clone(),
            reason: format!("step 1 of 2: stop new pods before draining; {reason}"),
            enforce: q.enforce,
        });
    }
    let drain = q.policy.spec.action.drain.as_ref();
    let mut p = vec![
        (
            "evict",
            json!(
                ev.evict
                    .iter()
                    .map(|&i| cx.pod(i).key())
                    .collect::<Vec<_>>()
            ),
        ),
        ("skip", json!(ev.stays)),
        ("step", json!(if node.unschedulable { 1 } else { 2 })),
    ];
    if let Some(g) = drain.and_then(|d| d.grace_period) {
        p.push(("gracePeriod", json!(g.to_string())));
    }
    if let Some(t) = drain.and_then(|d| d.timeout) {
        p.push(("timeout", json!(t.to_string())));
    }
    p.extend(extra);
    cx.act(PlannedAction {
        kind: ActionType::Drain,
        target: Target::node(&name),
        params: params(p),
        policy: q.name.clone(),
        reason: format!(
            "evict {} pod(s) through the Eviction API; {reason}",
            ev.evict.len()
        ),
        enforce: q.enforce,
    });
    commit_pdbs(cx, &ev.evict);
    cx.disrupted.insert(name, q.name.clone());
}

impl Method for Consolidate {
    fn name(&self) -> &'static str {
        "consolidate"
    }

    fn plan(&self, cx: &mut Cx<'_>) {
        for a in cx.active_of(ActionKind::Consolidate) {
            let q = ask(cx, a);
            let c = q
                .policy
                .spec
                .action
                .consolidate
                .clone()
                .expect("consolidate policy");
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
                let node = cx.node(n).name.clone();
                if done >= max {
                    cx.skip(
                        q.kind,
                        Target::node(&node),
                        &q.name,
                        format!("maxNodesPerCycle {max} reached this cycle"),
                    );
                    continue;
                }
                if cx.disrupted.contains_key(&node) || !gate(cx, &q, n) {
                    continue;
                }
                let ev = match eviction(cx, n, c.allow_empty_dir.unwrap_or(false)) {
                    Ok(ev) => ev,
                    Err(r) => {
                        cx.skip(
                            q.kind,
                            Target::node(&node),
                            &q.name,
                            format!("not a candidate: {r}"),
                        );
                        continue;
                    }
                };
                let placements = match place(cx, n, &ev.evict) {
                    Ok(p) => p,
                    Err(r) => {
                        cx.skip(
                            q.kind,
                            Target::node(&node),
                            &q.name,
                            format!("not a candidate: {r}"),
                        );
                        continue;
                    }
                };
                if let Err(r) = admit(cx, n, false, true) {
                    cx.skip(q.kind, Target::node(&node), &q.name, r);
                    continue;
                }
                for &(i, j) in &placements {
                    cx.placed_cpu[j] += cx.pod(i).cpu_request();
                    cx.placed_memory[j] += cx.pod(i).memory_request();
                }
                let util = cx.node(n).cpu_utilization;
                let reason = with_why(
                    format!(
                        "consolidation: CPU {:.0}% is under {:.0}% and its {} pod(s) fit on other nodes",
                        util * 100.0,
                        c.utilization_below * 100.0,
                        ev.evict.len()
                    ),
                    &q.why,
                );
                let moves: Vec<String> = placements
                    .iter()
                    .map(|&(i, j)| format!("{} → {}", cx.pod(i).key(), cx.node(j).name))
                    .collect();
                emit_drain(cx, &q, n, &ev, &reason, vec![("placements", json!(moves))]);
                done += 1;
            }
        }
    }
}

impl Method for Cordon {
    fn name(&self) -> &'static str {
        "cordon"
    }

    fn plan(&self, cx: &mut Cx<'_>) {
        for a in cx.active_of(ActionKind::Cordon) {
            let q = ask(cx, a);
            for n in cx.nodes_for(a) {
                let node = cx.node(n);
                let name = node.name.clone();
                if node.unschedulable || cx.disrupted.contains_key(&name) || !gate(cx, &q, n) {
                    continue;
                }
                if let Err(r) = admit(cx, n, false, false) {
                    cx.skip(ActionType::Cordon, Target::node(&name), &q.name, r);
                    continue;
                }
                cx.act(PlannedAction {
                    kind: ActionType::Cordon,
                    target: Target::node(&name),
                    params: params(vec![]),
                    policy: q.name.clone(),
                    reason: with_why("mark unschedulable".into(), &q.why),
                    enforce: q.enforce,
                });
                cx.disrupted.insert(name, q.name.clone());
            }
        }
    }
}

impl Method for Drain {
    fn name(&self) -> &'static str {
        "drain"
    }

    fn plan(&self, cx: &mut Cx<'_>) {
        for a in cx.active_of(ActionKind::Drain) {
            let q = ask(cx, a);
            for n in cx.nodes_for(a) {
                let node = cx.node(n);
                let name = node.name.clone();
                if cx.disrupted.contains_key(&name) || !gate(cx, &q, n) {
                    continue;
                }
                let ev = match eviction(cx, n, false) {
                    Ok(ev) => ev,
                    Err(r) => {
                        cx.skip(ActionType::Drain, Target::node(&name), &q.name, r);
                        continue;
                    }
                };
                if node.unschedulable && ev.evict.is_empty() {
                    continue; // already drained
                }
                if let Err(r) = admit(cx, n, node.unschedulable, true) {
                    cx.skip(ActionType::Drain, Target::node(&name), &q.name, r);
                    continue;
                }
                let reason = with_why("drain requested".into(), &q.why);
                emit_drain(cx, &q, n, &ev, &reason, vec![]);
            }
        }
    }
}

impl Method for Uncordon {
    fn name(&self) -> &'static str {
        "uncordon"
    }

    /// Undoes kilter's own cordons whose policy no longer applies to the node.
    fn plan(&self, cx: &mut Cx<'_>) {
        let mut last: std::collections::BTreeMap<&str, &crate::state::RecentAction> =
            Default::default();
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
                || cx.disrupted.contains_key(node)
                || cx.claims.contains_key(&(node.to_string(), KNOB))
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
            let still = cx.active.iter().position(|a| a.name == r.policy);
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
                kind: ActionType::Uncordon,
                target: Target::node(node),
                params: params(vec![]),
                policy: r.policy.clone(),
                reason: format!("undo kilter's cordon of {}: {why}", r.time),
                enforce,
            });
        }
    }
}
