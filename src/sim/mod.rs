//! Applying a plan to a cluster: the cluster as it is after the plan's actions (cordons,
//! drains with their placements, resizes, governor changes). Pure: the verifier checks the
//! result against the safety invariants, and the simulator steps a trace with it.
//!
//! [`After`] is a cheap overlay on the snapshot (what changed, by index); [`apply`] builds the
//! full `ClusterState` from it.
//!
//! [`run::simulate`] is the closed loop of `kilter simulate` (`docs/simulate.md`): a trace
//! ([`trace`]) stepped through the planner, with [`report`] and the A/B statistics of
//! [`compare`]; [`tracegen`] writes the lab's synthetic trace.

pub mod compare;
pub mod fleet;
pub mod forecast;
pub mod recommend;
pub mod report;
pub mod run;
pub mod scenario;
pub mod trace;
pub mod tracegen;

use std::collections::{BTreeMap, BTreeSet};

use foldhash::{HashMap, HashMapExt};

use crate::model::CpuQuantity;
use crate::plan::{Action, PlannedAction};
use crate::state::{ClusterState, Index, Pod, Resources};

/// No slot in [`After::resized_slot`].
const NOT_RESIZED: u32 = u32::MAX;

/// A pod the plan resizes: where its containers' resources are in [`After`]'s copies.
#[derive(Clone, Copy, Debug)]
pub struct ResizedPod {
    pub pod: usize,
    start: usize,
    len: usize,
}

/// The cluster after a plan, as changes over the snapshot it was planned on.
pub struct After<'a> {
    pub state: &'a ClusterState,
    /// Where pods run and what nodes hold in the snapshot.
    pub index: &'a Index<'a>,
    /// For each resize, the pod and container it resizes (index in `state.pods`; `None` where
    /// the snapshot has no such pod on the node the action names). Indexed by action.
    pub resized: Vec<Option<(usize, usize)>>,
    /// For each drain, the pods it evicts.
    pub evicted_by: BTreeMap<usize, Vec<usize>>,
    /// Where the last pod lookup on each node ended.
    cursor: Vec<usize>,
    /// The node of the last node lookup ([`After::find_node`]).
    last_node: Option<(&'a str, usize)>,
    /// Whether each node takes new pods after the plan.
    pub unschedulable: Vec<bool>,
    /// Each node's governor after the plan.
    pub governor: Vec<Option<&'a str>>,
    /// Pods the plan moves: the node each runs on after the plan (None: evicted with nowhere
    /// to go — it would be Pending).
    pub moved: HashMap<usize, Option<usize>>,
    /// The pods the plan resizes, in the order of their first resize. Their containers'
    /// requests and limits before and after the plan are copied here at first touch, so
    /// checks read a few flat arrays instead of the pods themselves.
    pub resized_pods: Vec<ResizedPod>,
    /// Each pod's place in `resized_pods` (`NOT_RESIZED`: none), indexed by pod: plans touch
    /// pods about in snapshot order, so this stays in cache where a hash map would not.
    resized_slot: Vec<u32>,
    resources_before: Vec<(Resources, Resources)>,
    resources_after: Vec<(Resources, Resources)>,
    /// Nodes drained by the plan.
    pub drained: BTreeSet<usize>,
    /// Pods evicted by the plan.
    pub evicted: BTreeSet<usize>,
    /// Actions that name a node, pod or container the snapshot lacks: (action, what).
    pub unknown: Vec<(usize, String)>,
}

impl<'a> After<'a> {
    /// Applies `actions` (in order) to `state`, whose index is `index`.
    pub fn new(
        state: &'a ClusterState,
        index: &'a Index<'a>,
        actions: &[&'a PlannedAction],
    ) -> Self {
        let nodes = state.nodes.len();
        // Sized once for the common plan, a resize or two per pod, instead of grown by copying.
        let resizes = actions
            .iter()
            .filter(|a| matches!(a.action, Action::Resize(_)))
            .count();
        let mut after = After {
            unschedulable: state.nodes.iter().map(|n| n.unschedulable).collect(),
            governor: state.nodes.iter().map(|n| n.governor.as_deref()).collect(),
            cursor: vec![0; nodes],
            last_node: None,
            moved: HashMap::new(),
            resized_pods: Vec::with_capacity(resizes),
            resized_slot: if resizes == 0 {
                Vec::new()
            } else {
                vec![NOT_RESIZED; state.pods.len()]
            },
            resources_before: Vec::with_capacity(resizes),
            resources_after: Vec::with_capacity(resizes),
            drained: BTreeSet::new(),
            evicted: BTreeSet::new(),
            unknown: Vec::new(),
            resized: vec![None; actions.len()],
            evicted_by: BTreeMap::new(),
            state,
            index,
        };
        for (k, a) in actions.iter().enumerate() {
            after.apply(k, &a.action);
        }
        after
    }

    /// The node pod `i` runs on after the plan (None: not on a known node, finished, or
    /// evicted with nowhere to go).
    pub fn pod_node(&self, i: usize) -> Option<usize> {
        match self.moved.get(&i) {
            Some(&n) => n,
            None => self.index.node_of(i),
        }
    }

    /// Node `name`'s place in the snapshot. Actions on one node come together, so the last
    /// node found is compared before the name is hashed.
    fn find_node(&mut self, name: &str) -> Option<usize> {
        match self.last_node {
            Some((last, n)) if last == name => Some(n),
            _ => {
                let n = self.index.node_index.get(name).copied();
                if let Some(n) = n {
                    self.last_node = Some((self.state.nodes[n].name.as_str(), n));
                }
                n
            }
        }
    }

    fn node(&mut self, k: usize, name: &str) -> Option<usize> {
        let n = self.find_node(name);
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
        let i = self.find_node(node).and_then(|n| {
            let (i, at) = self
                .index
                .find_pod(self.state, n, self.cursor[n], namespace, name)?;
            self.cursor[n] = at + 1;
            Some(i)
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
                    let n = to.and_then(|pl| self.index.node_index.get(pl.node.as_str()).copied());
                    self.moved.insert(i, n);
                }
            }
            Action::Resize(r) => {
                let Some(i) = self.pod(k, r.node(), r.namespace(), r.pod()) else {
                    return;
                };
                let Some(c) = self.state.pods[i]
                    .containers
                    .iter()
                    .position(|c| c.name == r.container())
                else {
                    self.unknown.push((
                        k,
                        format!(
                            "pod {}/{} has no container {}",
                            r.namespace(),
                            r.pod(),
                            r.container()
                        ),
                    ));
                    return;
                };
                self.resized[k] = Some((i, c));
                let slot = match self.resized_slot[i] {
                    NOT_RESIZED => {
                        let containers = &self.state.pods[i].containers;
                        let start = self.resources_before.len();
                        self.resources_before
                            .extend(containers.iter().map(|c| (c.requests, c.limits)));
                        self.resources_after
                            .extend_from_slice(&self.resources_before[start..]);
                        self.resized_pods.push(ResizedPod {
                            pod: i,
                            start,
                            len: containers.len(),
                        });
                        // Resized pods are at most the pods, bounded by the snapshot size.
                        let slot = u32::try_from(self.resized_pods.len() - 1).unwrap_or(u32::MAX);
                        self.resized_slot[i] = slot;
                        slot
                    }
                    slot => slot,
                };
                let p = self.resized_pods[slot as usize];
                let after = &mut self.resources_after[p.start + c];
                after.0.cpu = r.request.to.map(CpuQuantity);
                after.1.cpu = r.limit.to.map(CpuQuantity);
            }
        }
    }

    /// Pod `i`, when the plan resizes it.
    pub fn resized(&self, i: usize) -> Option<ResizedPod> {
        match self.resized_slot.get(i).copied() {
            None | Some(NOT_RESIZED) => None,
            Some(s) => Some(self.resized_pods[s as usize]),
        }
    }

    /// Requests and limits of a resized pod's containers in the snapshot.
    pub fn resources_before(&self, p: ResizedPod) -> &[(Resources, Resources)] {
        &self.resources_before[p.start..p.start + p.len]
    }

    /// Requests and limits of a resized pod's containers after the plan.
    pub fn resources_after(&self, p: ResizedPod) -> &[(Resources, Resources)] {
        &self.resources_after[p.start..p.start + p.len]
    }

    /// A pod as it is after the plan (its containers' CPU resized).
    pub fn pod_after(&self, i: usize) -> Pod {
        let mut p = self.state.pods[i].clone();
        if let Some(r) = self.resized(i) {
            for (container, &(req, lim)) in p.containers.iter_mut().zip(self.resources_after(r)) {
                container.requests = req;
                container.limits = lim;
            }
        }
        p
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
            .chain(self.resized_pods.iter().map(|r| r.pod))
            .collect();
        for i in touched {
            let mut p = self.pod_after(i);
            p.node = self
                .pod_node(i)
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
    After::new(state, &Index::new(state), &refs).to_state()
}
