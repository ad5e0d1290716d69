//! Applying a plan to a cluster: the cluster as it is after the plan's actions (cordons,
//! drains with their placements, resizes, governor changes). Pure: the verifier checks the
//! result against the safety invariants, and the simulator steps a trace with it.
//!
//! [`After`] is a cheap overlay on the snapshot (what changed, by index); [`apply`] builds the
//! full `ClusterState` from it.

use std::collections::{BTreeMap, BTreeSet};

use foldhash::{HashMap, HashMapExt};

use crate::model::CpuQuantity;
use crate::plan::{Action, PlannedAction};
use crate::state::{ClusterState, Pod};

/// The cluster after a plan, as changes over the snapshot it was planned on.
pub struct After<'a> {
    pub state: &'a ClusterState,
    pub node_index: HashMap<&'a str, usize>,
    /// For each resize, the pod and container it resizes; for each drain, the pods it evicts
    /// (index in `state.pods`; `None` where the snapshot has no such pod on the node the action
    /// names). Indexed by action.
    pub resized: Vec<Option<(usize, usize)>>,
    pub evicted_by: BTreeMap<usize, Vec<usize>>,
    /// The node each pod runs on in the snapshot, and the running pods of each node.
    pub pod_node_before: Vec<Option<usize>>,
    pub pods_by_node: Vec<Vec<usize>>,
    /// Where the last pod lookup on each node ended.
    cursor: Vec<usize>,
    /// CPU (millicores) and memory (bytes) the snapshot's running pods request on each node.
    pub requests_before: Vec<(i64, i64)>,
    /// Whether each node takes new pods after the plan.
    pub unschedulable: Vec<bool>,
    /// Each node's governor after the plan.
    pub governor: Vec<Option<&'a str>>,
    /// The node each pod runs on after the plan (None: not on a known node, finished, or
    /// evicted with nowhere to go — it would be Pending).
    pub pod_node: Vec<Option<usize>>,
    /// CPU request and limit of the containers the plan resizes: (pod, container) → (request, limit).
    pub cpu: BTreeMap<(usize, usize), (Option<i64>, Option<i64>)>,
    /// Nodes drained by the plan.
    pub drained: BTreeSet<usize>,
    /// Pods evicted by the plan.
    pub evicted: BTreeSet<usize>,
    /// Actions that name a node, pod or container the snapshot lacks: (action, what).
    pub unknown: Vec<(usize, String)>,
}

impl<'a> After<'a> {
    /// Applies `actions` (in order) to `state`.
    pub fn new(state: &'a ClusterState, actions: &[&'a PlannedAction]) -> Self {
        let mut node_index = HashMap::with_capacity(state.nodes.len());
        for (i, n) in state.nodes.iter().enumerate() {
            node_index.insert(n.name.as_str(), i);
        }
        let mut pods_by_node = vec![Vec::new(); state.nodes.len()];
        let mut pod_node_before = Vec::with_capacity(state.pods.len());
        let mut requests_before = vec![(0i64, 0i64); state.nodes.len()];
        for (i, p) in state.pods.iter().enumerate() {
            let n = node_index.get(p.node.as_str()).copied();
            if let Some(n) = n
                && !p.is_terminal()
            {
                pods_by_node[n].push(i);
                let r = &mut requests_before[n];
                *r = (
                    r.0.saturating_add(p.cpu_request()),
                    r.1.saturating_add(p.memory_request()),
                );
            }
            pod_node_before.push(n.filter(|_| !p.is_terminal()));
        }
        let mut after = After {
            unschedulable: state.nodes.iter().map(|n| n.unschedulable).collect(),
            governor: state.nodes.iter().map(|n| n.governor.as_deref()).collect(),
            pod_node: pod_node_before.clone(),
            pod_node_before,
            pods_by_node,
            requests_before,
            cursor: vec![0; state.nodes.len()],
            cpu: BTreeMap::new(),
            drained: BTreeSet::new(),
            evicted: BTreeSet::new(),
            unknown: Vec::new(),
            resized: vec![None; actions.len()],
            evicted_by: BTreeMap::new(),
            state,
            node_index,
        };
        for (k, a) in actions.iter().enumerate() {
            after.apply(k, &a.action);
        }
        after
    }

    fn node(&mut self, k: usize, name: &str) -> Option<usize> {
        let n = self.node_index.get(name).copied();
        if n.is_none() {
            self.unknown
                .push((k, format!("node {name} is not in the snapshot")));
        }
        n
    }

    /// The pod action `k` says runs on `node`, looked up among that node's pods (an action whose
    /// pod has moved, or never was there, finds nothing and is recorded as unknown).
    fn pod(&mut self, k: usize, node: &str, namespace: &str, name: &str) -> Option<usize> {
        // Plans name a node's pods in the order the node lists them: start where the last
        // lookup on this node ended.
        let i = self.node_index.get(node).copied().and_then(|n| {
            let pods = &self.pods_by_node[n];
            let start = self.cursor[n].min(pods.len());
            let (after, before) = pods.split_at(start);
            let found = before.iter().chain(after).position(|&i| {
                let p = &self.state.pods[i];
                p.name == name && p.namespace == namespace
            })?;
            let at = (start + found) % pods.len();
            self.cursor[n] = at + 1;
            Some(pods[at])
        });
        if i.is_none() {
            self.unknown.push((
                k,
                format!("pod {namespace}/{name} is not running on node {node} in the snapshot"),
            ));
        }
        i
    }

    fn apply(&mut self, k: usize, action: &'a Action) {
        match action {
            Action::SetGovernor(g) => {
                if let Some(n) = self.node(k, &g.node) {
                    self.governor[n] = Some(g.to.as_str());
                }
            }
            Action::Cordon { node, .. } => {
                if let Some(n) = self.node(k, node) {
                    self.unschedulable[n] = true;
                }
            }
            Action::Uncordon { node } => {
                if let Some(n) = self.node(k, node) {
                    self.unschedulable[n] = false;
                }
            }
            Action::Drain(d) => {
                let Some(n) = self.node(k, &d.node) else {
                    return;
                };
                self.unschedulable[n] = true;
                self.drained.insert(n);
                for p in &d.evict {
                    let Some(i) = self.pod(k, &d.node, &p.namespace, &p.name) else {
                        continue;
                    };
                    self.evicted.insert(i);
                    self.evicted_by.entry(k).or_default().push(i);
                    let to = d.placements.iter().find(|pl| pl.pod == *p);
                    self.pod_node[i] =
                        to.and_then(|pl| self.node_index.get(pl.node.as_str()).copied());
                }
            }
            Action::Resize(r) => {
                let Some(i) = self.pod(k, &r.node, &r.namespace, &r.pod) else {
                    return;
                };
                let Some(c) = self.state.pods[i]
                    .containers
                    .iter()
                    .position(|c| c.name == r.container)
                else {
                    self.unknown.push((
                        k,
                        format!(
                            "pod {}/{} has no container {}",
                            r.namespace, r.pod, r.container
                        ),
                    ));
                    return;
                };
                self.resized[k] = Some((i, c));
                self.cpu.insert((i, c), (r.request.to, r.limit.to));
            }
        }
    }

    /// A pod as it is after the plan (its containers' CPU resized).
    pub fn pod_after(&self, i: usize) -> Pod {
        let mut p = self.state.pods[i].clone();
        for (c, container) in p.containers.iter_mut().enumerate() {
            if let Some(&(req, lim)) = self.cpu.get(&(i, c)) {
                container.requests.cpu = req.map(CpuQuantity);
                container.limits.cpu = lim.map(CpuQuantity);
            }
        }
        p
    }

    /// A pod's QoS class after the plan.
    pub fn qos_after(&self, i: usize) -> crate::state::QosClass {
        let p = &self.state.pods[i];
        crate::state::qos_class(p.containers.iter().enumerate().map(|(c, container)| {
            let (mut r, mut l) = (container.requests, container.limits);
            if let Some(&(req, lim)) = self.cpu.get(&(i, c)) {
                r.cpu = req.map(CpuQuantity);
                l.cpu = lim.map(CpuQuantity);
            }
            (r, l)
        }))
    }

    /// The full cluster after the plan.
    pub fn to_state(&self) -> ClusterState {
        let mut s = self.state.clone();
        for (n, node) in s.nodes.iter_mut().enumerate() {
            node.unschedulable = self.unschedulable[n];
            node.governor = self.governor[n].map(String::from);
        }
        let touched: BTreeSet<usize> = self
            .evicted
            .iter()
            .copied()
            .chain(self.cpu.keys().map(|&(i, _)| i))
            .collect();
        for i in touched {
            let mut p = self.pod_after(i);
            p.node = self.pod_node[i]
                .map(|n| self.state.nodes[n].name.clone())
                .unwrap_or_default();
            if p.node.is_empty() {
                p.phase = "Pending".into();
            }
            s.pods[i] = p;
        }
        s
    }
}

/// The cluster after `actions`, applied in order to `state`.
pub fn apply(state: &ClusterState, actions: &[PlannedAction]) -> ClusterState {
    let refs: Vec<&PlannedAction> = actions.iter().collect();
    After::new(state, &refs).to_state()
}
