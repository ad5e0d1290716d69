//! The plan verifier: applies a plan to its snapshot (`sim::After`) and checks the cluster it
//! leaves against kilter's safety invariants ([`Invariant`], `docs/planner.md`).
//!
//! It is written apart from the planner's methods, from the snapshot, the bundle and the
//! plan's typed actions alone, so that it catches their mistakes: the methods decide, the
//! verifier re-checks the outcome. [`gate`] runs it on every plan; an action it rejects moves
//! to `skipped` with the invariant named (fail closed).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::action::{Action, Invariant, PlannedAction, SkipCause, Skipped};
use super::{Bundle, Plan};
use crate::model::{Budget, Mode, Policy, ScalingTarget};
use crate::sim::After;
use crate::state::{ClusterState, DO_NOT_DISRUPT, Index, Pod, Resources, qos_class};

/// One broken invariant, and the actions (indexes into the verified list) that break it.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    pub invariant: Invariant,
    pub actions: Vec<usize>,
    pub message: String,
}

/// Checks every action of a plan (Enforce and DryRun together, as planned) and, apart, the
/// Enforce actions alone (what a controller executes).
pub fn verify(
    bundle: &Bundle,
    state: &ClusterState,
    now: DateTime<Utc>,
    plan: &Plan,
) -> Vec<Violation> {
    verify_indexed(bundle, state, &Index::new(state), now, plan)
}

/// [`verify`] with the snapshot's index built by the caller.
pub fn verify_indexed(
    bundle: &Bundle,
    state: &ClusterState,
    index: &Index<'_>,
    now: DateTime<Utc>,
    plan: &Plan,
) -> Vec<Violation> {
    let all: Vec<&PlannedAction> = plan.actions.iter().collect();
    let mut out = verify_actions(bundle, state, index, now, &all);
    let enforced: Vec<usize> = (0..all.len()).filter(|&k| all[k].enforce).collect();
    if enforced.len() < all.len() && !enforced.is_empty() {
        let subset: Vec<&PlannedAction> = enforced.iter().map(|&k| all[k]).collect();
        for mut v in verify_actions(bundle, state, index, now, &subset) {
            v.actions = v.actions.iter().map(|&k| enforced[k]).collect();
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

/// Runs the verifier and moves every action it rejects (with the cordon or drain planned
/// with it) to `skipped`, until what is left passes. Each round removes at least one action.
pub fn gate(
    bundle: &Bundle,
    state: &ClusterState,
    index: &Index<'_>,
    now: DateTime<Utc>,
    plan: &mut Plan,
) {
    loop {
        let violations = verify_indexed(bundle, state, index, now, plan);
        if violations.is_empty() {
            return;
        }
        let mut rejected: BTreeMap<usize, &Violation> = BTreeMap::new();
        for v in &violations {
            for &k in &v.actions {
                rejected.entry(k).or_insert(v);
            }
        }
        // A drain and the cordon planned as its first step stand or fall together.
        let paired: Vec<(usize, &Violation)> = rejected
            .iter()
            .flat_map(|(&k, v)| partners(plan, k).into_iter().map(move |p| (p, *v)))
            .collect();
        for (k, v) in paired {
            rejected.entry(k).or_insert(v);
        }
        if rejected.is_empty() {
            // A violation no action caused (cannot happen: every check names its actions).
            return;
        }
        let mut keep = Vec::new();
        for (k, a) in std::mem::take(&mut plan.actions).into_iter().enumerate() {
            match rejected.get(&k) {
                None => keep.push(a),
                Some(v) => plan.skipped.push(Skipped {
                    kind: a.kind(),
                    target: a.target(),
                    policy: a.policy.to_string(),
                    cause: SkipCause::Invariant(v.invariant),
                    reason: format!(
                        "rejected by the plan verifier ({}): {}; not executed",
                        v.invariant, v.message
                    ),
                    enforce: a.enforce,
                }),
            }
        }
        plan.actions = keep;
    }
}

/// The cordon planned as step 1 of drain `k`, or the drain whose step 1 cordon `k` is.
pub(crate) fn partners(plan: &Plan, k: usize) -> Vec<usize> {
    let a = &plan.actions[k];
    let node = a.action.node();
    plan.actions
        .iter()
        .enumerate()
        .filter(|(j, b)| {
            *j != k
                && b.policy == a.policy
                && b.action.node() == node
                && matches!(
                    (&a.action, &b.action),
                    (
                        Action::Drain(_),
                        Action::Cordon {
                            drain_step: true,
                            ..
                        }
                    ) | (
                        Action::Cordon {
                            drain_step: true,
                            ..
                        },
                        Action::Drain(_)
                    )
                )
        })
        .map(|(j, _)| j)
        .collect()
}

/// Checks a list of actions (applied in order) against every invariant.
pub fn verify_actions(
    bundle: &Bundle,
    state: &ClusterState,
    index: &Index<'_>,
    now: DateTime<Utc>,
    actions: &[&PlannedAction],
) -> Vec<Violation> {
    let after = After::new(state, index, actions);
    let mut last_acted: BTreeMap<(&str, Acted<'_>), DateTime<Utc>> = BTreeMap::new();
    for r in &state.recent_actions {
        let Some(at) = r.at() else { continue };
        let object = match (&r.namespace, &r.pod, &r.node) {
            (Some(ns), Some(p), _) => Acted::Pod(ns, p),
            (_, None, Some(n)) => Acted::Node(n),
            _ => continue,
        };
        let e = last_acted.entry((r.policy.as_ref(), object)).or_insert(at);
        *e = (*e).max(at);
    }
    let v = Verifier {
        any_cooldown: bundle.policies.iter().any(|p| p.spec.cooldown.is_some())
            || bundle.targets.iter().any(|t| t.spec.cooldown.is_some()),
        last_acted,
        bundle,
        state,
        now,
        actions,
        workload_target: bundle.targets_of(index),
        after,
        policies: bundle
            .policies
            .iter()
            .map(|p| (p.metadata.name.as_deref().unwrap_or(""), p))
            .collect(),
    };
    let mut out = Vec::new();
    for (k, what) in &v.after.unknown {
        out.push(Violation {
            invariant: Invariant::KnownObjects,
            actions: vec![*k],
            message: format!("acts on something that does not exist: {what}"),
        });
    }
    v.mode(&mut out);
    v.evictions(&mut out);
    v.capacity(&mut out);
    v.resizes(&mut out);
    v.pdbs(&mut out);
    v.budgets(&mut out);
    v.governors(&mut out);
    v.cooldowns(&mut out);
    v.single_writer(&mut out);
    out
}

/// What a recent action acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Acted<'a> {
    Node(&'a str),
    Pod(&'a str, &'a str),
}

struct Verifier<'a> {
    /// Whether any policy or target of the bundle has a cooldown.
    any_cooldown: bool,
    /// When each policy last acted on each node or pod.
    last_acted: BTreeMap<(&'a str, Acted<'a>), DateTime<Utc>>,
    bundle: &'a Bundle,
    state: &'a ClusterState,
    now: DateTime<Utc>,
    actions: &'a [&'a PlannedAction],
    after: After<'a>,
    policies: BTreeMap<&'a str, &'a Policy>,
    /// The ScalingTarget of each workload of the snapshot, resolved here from the bundle.
    workload_target: Vec<Option<usize>>,
}

fn violation(invariant: Invariant, actions: Vec<usize>, message: String) -> Violation {
    Violation {
        invariant,
        actions,
        message,
    }
}

fn pod_key(p: &Pod) -> String {
    format!("{}/{}", p.namespace, p.name)
}

impl<'a> Verifier<'a> {
    /// The pods drain `k` evicts (those the snapshot has on its node).
    fn evicted_by(&self, k: usize) -> &[usize] {
        self.after.evicted_by.get(&k).map_or(&[], Vec::as_slice)
    }

    fn indexed(&self) -> impl Iterator<Item = (usize, &'a PlannedAction)> + '_ {
        self.actions.iter().copied().enumerate()
    }

    fn drains(&self) -> impl Iterator<Item = (usize, &'a super::DrainNode)> + '_ {
        self.indexed().filter_map(|(k, a)| match &a.action {
            Action::Drain(d) => Some((k, d)),
            _ => None,
        })
    }

    /// Enforced actions come from policies in Enforce mode (an uncordon of a policy no
    /// longer in the bundle is never enforced).
    fn mode(&self, out: &mut Vec<Violation>) {
        let mut last: Option<(&str, bool)> = None;
        for (k, a) in self.indexed().filter(|(_, a)| a.enforce) {
            let enforce = match last {
                Some((name, e)) if *name == *a.policy => e,
                _ => {
                    let e = self
                        .policies
                        .get(a.policy.as_ref())
                        .is_some_and(|p| p.spec.mode() == Mode::Enforce);
                    last = Some((a.policy.as_ref(), e));
                    e
                }
            };
            if !enforce {
                out.push(violation(
                    Invariant::EnforceMode,
                    vec![k],
                    format!("enforced, but policy `{}` is not in Enforce mode", a.policy),
                ));
            }
        }
    }

    /// Every evicted pod was on the drained node, may be evicted, and has a home after the plan.
    fn evictions(&self, out: &mut Vec<Violation>) {
        for (k, d) in self.drains() {
            let Some(&n) = self.after.index.node_index.get(d.node.as_str()) else {
                continue;
            };
            let node = &self.state.nodes[n];
            if node
                .annotations
                .get(DO_NOT_DISRUPT)
                .is_some_and(|v| v == "true")
            {
                out.push(violation(
                    Invariant::ProtectedPods,
                    vec![k],
                    format!("drains node {} which carries {DO_NOT_DISRUPT}", d.node),
                ));
            }
            let allow_empty_dir = self
                .policies
                .get(self.actions[k].policy.as_ref())
                .and_then(|p| p.spec.action.consolidate.as_ref())
                .and_then(|c| c.allow_empty_dir)
                .unwrap_or(false);
            let evicted: BTreeSet<usize> = self.evicted_by(k).iter().copied().collect();
            for i in self.after.index.pods_of(n) {
                let p = &self.state.pods[i];
                if p.terminating {
                    // Already leaving: nothing to check but that it is not evicted again.
                    if evicted.contains(&i) {
                        out.push(violation(
                            Invariant::ProtectedPods,
                            vec![k],
                            format!("evicts {}, which is already terminating", pod_key(p)),
                        ));
                    }
                    continue;
                }
                let stays = p.mirror || p.owner.as_ref().is_some_and(|o| o.kind == "DaemonSet");
                if evicted.contains(&i) && stays {
                    out.push(violation(
                        Invariant::ProtectedPods,
                        vec![k],
                        format!("evicts {}, a DaemonSet or mirror pod", pod_key(p)),
                    ));
                }
                if !stays
                    && p.annotations
                        .get(DO_NOT_DISRUPT)
                        .is_some_and(|v| v == "true")
                {
                    out.push(violation(
                        Invariant::ProtectedPods,
                        vec![k],
                        format!(
                            "drains a node running {} which carries {DO_NOT_DISRUPT}",
                            pod_key(p)
                        ),
                    ));
                }
                if !stays && p.owner.is_none() {
                    out.push(violation(
                        Invariant::ProtectedPods,
                        vec![k],
                        format!(
                            "drains a node running {} which has no controller",
                            pod_key(p)
                        ),
                    ));
                }
                if !stays && p.empty_dir && !allow_empty_dir {
                    out.push(violation(
                        Invariant::ProtectedPods,
                        vec![k],
                        format!("drains a node running {} which uses emptyDir", pod_key(p)),
                    ));
                }
                if !stays && !evicted.contains(&i) {
                    out.push(violation(
                        Invariant::EvictionHasHome,
                        vec![k],
                        format!("leaves {} on the drained node {}", pod_key(p), d.node),
                    ));
                }
            }
            for i in &evicted {
                let p = &self.state.pods[*i];
                if p.node != d.node {
                    out.push(violation(
                        Invariant::EvictionHasHome,
                        vec![k],
                        format!(
                            "evicts {} from {}, but it runs on {}",
                            pod_key(p),
                            d.node,
                            p.node
                        ),
                    ));
                    continue;
                }
                if let Err(why) = self.home(*i, d) {
                    out.push(violation(Invariant::EvictionHasHome, vec![k], why));
                }
            }
        }
    }

    /// Whether evicted pod `i` has a home after the plan.
    fn home(&self, i: usize, d: &super::DrainNode) -> Result<(), String> {
        let p = &self.state.pods[i];
        let key = pod_key(p);
        let mut to = d
            .placements
            .iter()
            .filter(|pl| pl.pod.namespace == p.namespace && pl.pod.name == p.name);
        let (Some(pl), None) = (to.next(), to.next()) else {
            return Err(format!("{key} is evicted without exactly one placement"));
        };
        let Some(&j) = self.after.index.node_index.get(pl.node.as_str()) else {
            return Err(format!(
                "{key} is placed on {}, which is not in the snapshot",
                pl.node
            ));
        };
        let node = &self.state.nodes[j];
        if pl.node == d.node || self.after.drained.contains(&j) {
            return Err(format!(
                "{key} is placed on {}, which this plan drains",
                pl.node
            ));
        }
        if self.after.unschedulable[j] || !node.ready {
            return Err(format!(
                "{key} is placed on {}, which is not schedulable after the plan",
                pl.node
            ));
        }
        if let Some((k, v)) = p
            .node_selector
            .iter()
            .find(|(k, v)| node.labels.get(k) != Some(v))
        {
            return Err(format!(
                "{key} is placed on {}, which lacks its nodeSelector {k}={v}",
                pl.node
            ));
        }
        let untolerated = node
            .taints
            .iter()
            .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            .find(|t| !p.tolerations.iter().any(|tol| tol.tolerates(t)));
        if let Some(t) = untolerated {
            return Err(format!(
                "{key} is placed on {}, whose taint {}:{} it does not tolerate",
                pl.node, t.key, t.effect
            ));
        }
        Ok(())
    }

    /// Requests fit allocatable on every node the plan adds requests to. Only the nodes the
    /// plan touches are summed: the snapshot's other nodes are as they were.
    fn capacity(&self, out: &mut Vec<Violation>) {
        // (CPU, memory) the plan adds to or removes from each node it touches.
        let mut delta: BTreeMap<usize, (i64, i64)> = BTreeMap::new();
        for (k, a) in self.indexed() {
            match &a.action {
                Action::Drain(_) => {
                    for &i in self.evicted_by(k) {
                        let (cpu, mem) = self.after.index.pod_requests[i];
                        if let Some(j) = self.after.index.node_of(i) {
                            let e = delta.entry(j).or_default();
                            *e = (e.0.saturating_sub(cpu), e.1.saturating_sub(mem));
                        }
                        if let Some(j) = self.after.pod_node(i) {
                            let e = delta.entry(j).or_default();
                            *e = (e.0.saturating_add(cpu), e.1.saturating_add(mem));
                        }
                    }
                }
                Action::Resize(r) => {
                    let Some((i, _)) = self.after.resized[k] else {
                        continue;
                    };
                    let Some(j) = self.after.pod_node(i) else {
                        continue;
                    };
                    let before = r.request.from.or(r.limit.from).unwrap_or(0);
                    let after = r.request.to.or(r.limit.to).unwrap_or(0);
                    let e = delta.entry(j).or_default();
                    e.0 = e.0.saturating_add(after.saturating_sub(before));
                }
                _ => {}
            }
        }
        for (j, (dcpu, dmem)) in delta {
            if dcpu <= 0 && dmem <= 0 {
                continue;
            }
            let node = &self.state.nodes[j];
            let (cpu_before, mem_before) = self.after.index.node_requests[j];
            let (cpu_after, mem_after) = (
                cpu_before.saturating_add(dcpu),
                mem_before.saturating_add(dmem),
            );
            let cpu_over = dcpu > 0 && node.allocatable.cpu.is_some_and(|a| cpu_after > a.0);
            let mem_over = dmem > 0 && node.allocatable.memory.is_some_and(|a| mem_after > a.0);
            if !(cpu_over || mem_over) {
                continue;
            }
            let what = if cpu_over {
                format!(
                    "{cpu_after}m CPU requested on {}m allocatable",
                    node.allocatable.cpu.map_or(0, |q| q.0)
                )
            } else {
                format!(
                    "{mem_after} bytes of memory requested on {} allocatable",
                    node.allocatable.memory.map_or(0, |q| q.0)
                )
            };
            out.push(violation(
                Invariant::NodeCapacity,
                self.adding_requests_to(j),
                format!("node {} would have {what}", node.name),
            ));
        }
    }

    /// The actions that add requests to node `j`: placements onto it, resizes that raise a
    /// request (or a limit standing in for one) of a pod on it.
    fn adding_requests_to(&self, j: usize) -> Vec<usize> {
        let name = self.state.nodes[j].name.as_str();
        self.indexed()
            .filter(|&(k, a)| match &a.action {
                Action::Drain(d) => d.placements.iter().any(|p| p.node == name),
                Action::Resize(r) => {
                    let before = r.request.from.or(r.limit.from).unwrap_or(0);
                    let after = r.request.to.or(r.limit.to).unwrap_or(0);
                    after > before
                        && self.after.resized[k]
                            .is_some_and(|(i, _)| self.after.pod_node(i) == Some(j))
                }
                _ => false,
            })
            .map(|(k, _)| k)
            .collect()
    }

    /// Resizes start from the pod's current values, keep requests and limits present or
    /// absent as they were, request ≤ limit, at most `maxStep`, and no QoS class changes.
    fn resizes(&self, out: &mut Vec<Violation>) {
        for (k, a) in self.indexed() {
            let (Action::Resize(r), Some((i, c))) = (&a.action, self.after.resized[k]) else {
                continue;
            };
            // Read from the copy the simulation took: the pod itself is far away in memory.
            let Some(before) = self
                .after
                .resized(i)
                .map(|p| self.after.resources_before(p)[c])
            else {
                continue;
            };
            self.resize_bounds(k, r, before, self.target_of(i), out);
        }
        for &p in &self.after.resized_pods {
            let before = qos_class(self.after.resources_before(p).iter().copied());
            let after = qos_class(self.after.resources_after(p).iter().copied());
            if before != after {
                let actions = (self.after.resized.iter().enumerate())
                    .filter(|(_, r)| r.is_some_and(|(i, _)| i == p.pod))
                    .map(|(k, _)| k)
                    .collect();
                out.push(violation(
                    Invariant::QosClass,
                    actions,
                    format!(
                        "pod {} would turn from {before:?} to {after:?}",
                        pod_key(&self.state.pods[p.pod])
                    ),
                ));
            }
        }
    }

    /// One resize starts from the container's current values, keeps requests and limits
    /// present or absent, keeps request ≤ limit and moves at most `maxStep`.
    fn resize_bounds(
        &self,
        k: usize,
        r: &super::ResizeContainer,
        (requests, limits): (Resources, Resources),
        target: Option<&ScalingTarget>,
        out: &mut Vec<Violation>,
    ) {
        let mut bad = Vec::new();
        let (req, lim) = (requests.cpu.map(|q| q.0), limits.cpu.map(|q| q.0));
        if r.request.from != req || r.limit.from != lim {
            bad.push("does not start from the container's current CPU".to_string());
        }
        if r.request.from.is_some() != r.request.to.is_some()
            || r.limit.from.is_some() != r.limit.to.is_some()
        {
            bad.push("adds or removes a CPU request or limit".into());
        }
        if let (Some(q), Some(l)) = (r.request.to, r.limit.to)
            && q > l
        {
            bad.push(format!("sets request {q}m above limit {l}m"));
        }
        if r.request.to.is_some_and(|v| v < 1) || r.limit.to.is_some_and(|v| v < 1) {
            bad.push("sets CPU below 1m".into());
        }
        if let Some(step) = target.and_then(|t| max_step(t, r.container())) {
            let moved = |ch: super::Change<Option<i64>>| match (ch.from, ch.to) {
                (Some(f), Some(t)) => t.saturating_sub(f).saturating_abs(),
                _ => 0,
            };
            if moved(r.request) > step || moved(r.limit) > step {
                bad.push(format!("moves more than maxStep {step}m"));
            }
        }
        for b in bad {
            out.push(violation(
                Invariant::ResizeBounds,
                vec![k],
                format!(
                    "resize of {}/{}/{} {b}",
                    r.namespace(),
                    r.pod(),
                    r.container()
                ),
            ));
        }
    }

    /// The ScalingTarget of a pod's workload (same namespace, kind and name).
    fn target_of(&self, i: usize) -> Option<&'a ScalingTarget> {
        let w = self.after.index.pod_workload[i]?;
        Some(&self.bundle.targets[self.workload_target[w as usize]?])
    }

    /// Evictions stay within every PodDisruptionBudget's allowance.
    fn pdbs(&self, out: &mut Vec<Violation>) {
        for pdb in &self.state.pdbs {
            let mut count = 0;
            let mut ks = BTreeSet::new();
            for (k, _) in self.drains() {
                for &i in self.evicted_by(k) {
                    if pdb.covers(&self.state.pods[i]) {
                        count += 1;
                        ks.insert(k);
                    }
                }
            }
            let allowed = pdb.disruptions_allowed();
            if count > allowed {
                out.push(violation(
                    Invariant::PodDisruptionBudget,
                    ks.into_iter().collect(),
                    format!(
                        "{count} eviction(s) under PodDisruptionBudget {}/{}, which allows {allowed}",
                        pdb.namespace, pdb.name
                    ),
                ));
            }
        }
    }

    /// maxUnavailable, minNodes and maxDrainsPerHour of every Budget, and of the default
    /// budget over the nodes no Budget's `disruption` covers.
    fn budgets(&self, out: &mut Vec<Violation>) {
        let covers = |b: &Budget, n: usize| super::budget::selects(b, &self.state.nodes[n].labels);
        let nodes = self.state.nodes.len();
        let mut scopes: Vec<(&Budget, Vec<usize>)> = self
            .bundle
            .budgets
            .iter()
            .map(|b| (b, (0..nodes).filter(|&n| covers(b, n)).collect()))
            .collect();
        let uncovered: Vec<usize> = (0..nodes)
            .filter(|&n| {
                !self
                    .bundle
                    .budgets
                    .iter()
                    .any(|b| b.spec.disruption.is_some() && covers(b, n))
            })
            .collect();
        scopes.push((&self.bundle.default_budget, uncovered));
        for (b, covered) in scopes {
            self.budget(b, &covered, out);
            self.power(b, &covered, out);
        }
    }

    fn budget(&self, b: &Budget, covered: &[usize], out: &mut Vec<Violation>) {
        let Some(d) = &b.spec.disruption else { return };
        let name = b.metadata.name.as_deref().unwrap_or("");
        let unavailable_before = covered
            .iter()
            .filter(|&&n| self.state.nodes[n].unschedulable || !self.state.nodes[n].ready)
            .count();
        let unavailable_after = covered
            .iter()
            .filter(|&&n| self.after.unschedulable[n] || !self.state.nodes[n].ready)
            .count();
        let names: BTreeSet<&str> = covered
            .iter()
            .map(|&n| self.state.nodes[n].name.as_str())
            .collect();
        let disrupting: Vec<usize> = self
            .indexed()
            .filter(|(_, a)| {
                matches!(a.action, Action::Cordon { .. } | Action::Drain(_))
                    && names.contains(a.action.node())
            })
            .map(|(k, _)| k)
            .collect();
        if unavailable_after > unavailable_before {
            if let Some(max) = d.max_unavailable {
                let limit = max.resolve(covered.len());
                if unavailable_after > limit {
                    out.push(violation(
                        Invariant::DisruptionBudget,
                        disrupting.clone(),
                        format!(
                            "budget `{name}`: {unavailable_after} of {} nodes unavailable, over maxUnavailable {max}",
                            covered.len()
                        ),
                    ));
                }
            }
            let schedulable = (covered.len() - unavailable_after) as i64;
            if let Some(min) = d.min_nodes
                && schedulable < min
            {
                out.push(violation(
                    Invariant::DisruptionBudget,
                    disrupting.clone(),
                    format!("budget `{name}`: {schedulable} schedulable nodes left, under minNodes {min}"),
                ));
            }
        }
        let drains: Vec<usize> = self
            .drains()
            .filter(|(_, d)| names.contains(d.node.as_str()))
            .map(|(k, _)| k)
            .collect();
        if let Some(max) = d.max_drains_per_hour
            && !drains.is_empty()
        {
            let hour_ago = self.now.checked_sub_signed(chrono::Duration::hours(1));
            let recent = self
                .state
                .recent_actions
                .iter()
                .filter(|r| {
                    r.kind == "drain" && r.node.as_deref().is_some_and(|n| names.contains(n))
                })
                .filter(|r| {
                    r.at()
                        .is_some_and(|t| hour_ago.is_none_or(|h| t > h) && t <= self.now)
                })
                .count();
            if (recent + drains.len()) as i64 > max {
                out.push(violation(
                    Invariant::DisruptionBudget,
                    drains.clone(),
                    format!(
                        "budget `{name}`: {recent} drain(s) in the last hour and {} planned, over maxDrainsPerHour {max}",
                        drains.len()
                    ),
                ));
            }
        }
    }

    /// No governor change raises power on a node whose budget is at its critical level.
    fn power(&self, b: &Budget, covered: &[usize], out: &mut Vec<Violation>) {
        let Some(p) = &b.spec.power else { return };
        if p.max_watts <= 0.0 {
            return;
        }
        let watts: f64 = covered
            .iter()
            .map(|&n| self.state.nodes[n].power_watts)
            .sum();
        let percent = watts / p.max_watts * 100.0;
        if percent < p.critical_percent.unwrap_or(100) as f64 {
            return;
        }
        let names: BTreeSet<&str> = covered
            .iter()
            .map(|&n| self.state.nodes[n].name.as_str())
            .collect();
        for (k, a) in self.indexed() {
            let Action::SetGovernor(g) = &a.action else {
                continue;
            };
            let from = g.from.as_deref().unwrap_or("");
            if names.contains(g.node.as_str())
                && super::governor::power_rank(&g.to) > super::governor::power_rank(from)
            {
                out.push(violation(
                    Invariant::PowerBudget,
                    vec![k],
                    format!(
                        "raises power on {} ({from} → {}) while budget `{}` is at {percent:.0}% of {} W",
                        g.node,
                        g.to,
                        b.metadata.name.as_deref().unwrap_or(""),
                        p.max_watts
                    ),
                ));
            }
        }
    }

    /// Governor changes start from the node's governor and set one the node offers.
    fn governors(&self, out: &mut Vec<Violation>) {
        for (k, a) in self.indexed() {
            let Action::SetGovernor(g) = &a.action else {
                continue;
            };
            let Some(&n) = self.after.index.node_index.get(g.node.as_str()) else {
                continue;
            };
            let node = &self.state.nodes[n];
            if !node.available_governors.is_empty() && !node.available_governors.contains(&g.to) {
                out.push(violation(
                    Invariant::GovernorOffered,
                    vec![k],
                    format!("node {} does not offer governor {}", g.node, g.to),
                ));
            }
            if g.from.as_deref() != node.governor.as_deref().filter(|s| !s.is_empty()) {
                out.push(violation(
                    Invariant::GovernorOffered,
                    vec![k],
                    format!(
                        "the change on {} does not start from the node's governor",
                        g.node
                    ),
                ));
            }
        }
    }

    /// No action while its policy's cooldown (or, for resizes, its target's) runs on the same
    /// node or pod. Uncordons restore kilter's own cordons and are not held back.
    fn cooldowns(&self, out: &mut Vec<Violation>) {
        if !self.any_cooldown || self.last_acted.is_empty() {
            return;
        }
        for (k, a) in self.indexed() {
            let Some(policy) = self.policies.get(a.policy.as_ref()) else {
                continue;
            };
            let (object, target_cd) = match &a.action {
                Action::Uncordon { .. } => continue,
                Action::Resize(r) => {
                    let cd =
                        self.after.resized[k].and_then(|(i, _)| self.target_of(i)?.spec.cooldown);
                    (Acted::Pod(r.namespace(), r.pod()), cd)
                }
                other => (Acted::Node(other.node()), None),
            };
            let Some(cd) = policy.spec.cooldown.into_iter().chain(target_cd).max() else {
                continue;
            };
            let Ok(cd) = chrono::TimeDelta::from_std(cd.0) else {
                continue;
            };
            let last = self.last_acted.get(&(a.policy.as_ref(), object)).copied();
            if let Some(last) = last
                && last
                    .checked_add_signed(cd)
                    .is_none_or(|until| self.now < until)
            {
                out.push(violation(
                    Invariant::Cooldown,
                    vec![k],
                    format!(
                        "`{}` acted on {} at {} and its cooldown still runs",
                        a.policy,
                        a.target(),
                        last.to_rfc3339()
                    ),
                ));
            }
        }
    }

    /// One writer per knob per object: a node's governor, a node's schedulability, a pod's CPU.
    fn single_writer(&self, out: &mut Vec<Violation>) {
        // (knob, object) → the actions writing it; objects by their index in the snapshot.
        let mut keyed: Vec<((u8, usize, usize), usize)> = self
            .indexed()
            .filter_map(|(k, a)| {
                let node = |name: &str| self.after.index.node_index.get(name).copied();
                let key = match &a.action {
                    Action::SetGovernor(g) => (0, node(&g.node)?, 0),
                    Action::Cordon { node: n, .. } | Action::Uncordon { node: n } => {
                        (1, node(n)?, 0)
                    }
                    Action::Drain(d) => (1, node(&d.node)?, 0),
                    Action::Resize(_) => {
                        let (i, c) = self.after.resized[k]?;
                        (2, i, c)
                    }
                };
                Some((key, k))
            })
            .collect();
        keyed.sort_unstable();
        // A pod's CPU is one knob: all its containers' resizes come from one policy, once each.
        for group in keyed.chunk_by(|x, y| x.0.0 == y.0.0 && x.0.1 == y.0.1) {
            if group.len() == 1 {
                continue; // one action writes the knob once
            }
            let ((knob, object, _), _) = group[0];
            let ks: Vec<usize> = group.iter().map(|&(_, k)| k).collect();
            let knob = ["governor", "schedulability", "pod CPU"][knob as usize];
            let policies: BTreeSet<&str> = ks
                .iter()
                .map(|&k| self.actions[k].policy.as_ref())
                .collect();
            let kinds: Vec<&Action> = ks.iter().map(|&k| &self.actions[k].action).collect();
            let repeated = match knob {
                "governor" => kinds.len() > 1,
                "schedulability" => {
                    let count = |f: fn(&Action) -> bool| kinds.iter().filter(|a| f(a)).count();
                    count(|a| matches!(a, Action::Drain(_))) > 1
                        || count(|a| matches!(a, Action::Cordon { .. })) > 1
                        || (count(|a| matches!(a, Action::Uncordon { .. })) > 0 && kinds.len() > 1)
                }
                _ => {
                    let mut containers: Vec<&str> = kinds
                        .iter()
                        .filter_map(|a| match a {
                            Action::Resize(r) => Some(r.container()),
                            _ => None,
                        })
                        .collect();
                    let n = containers.len();
                    containers.sort_unstable();
                    containers.dedup();
                    containers.len() < n
                }
            };
            if policies.len() > 1 || repeated {
                let object = match knob {
                    "pod CPU" => pod_key(&self.state.pods[object]),
                    _ => self.state.nodes[object].name.clone(),
                };
                out.push(violation(
                    Invariant::SingleWriter,
                    ks,
                    format!(
                        "{} write {knob} of {object}",
                        policies
                            .iter()
                            .map(|p| format!("`{p}`"))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                ));
            }
        }
    }
}

/// The `maxStep` of a container, from the ScalingTarget of its pod's workload.
fn max_step(target: &ScalingTarget, container: &str) -> Option<i64> {
    let c = target
        .spec
        .containers
        .iter()
        .find(|c| c.name == container)?;
    Some(c.cpu.as_ref()?.max_step?.0.max(0))
}
