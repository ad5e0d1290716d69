//! `ClusterState`: what the planner knows of the cluster — nodes, pods, PodDisruptionBudgets,
//! recent actions — and the snapshot file format (`docs/snapshot.md`) that carries it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{CpuQuantity, IntOrPercent, MemoryQuantity};
use crate::syntax::diag::Diagnostic;
use crate::syntax::source::SourceFile;

mod labels;
pub use labels::{LabelLookup, Labels};

/// The annotation that keeps kilter from disrupting a pod or node.
pub const DO_NOT_DISRUPT: &str = "kilter.dev/do-not-disrupt";

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterState {
    /// When the snapshot was taken (RFC 3339); `kilter plan --at` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(default)]
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub pods: Vec<Pod>,
    #[serde(default)]
    pub pdbs: Vec<Pdb>,
    #[serde(default)]
    pub recent_actions: Vec<RecentAction>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Node {
    pub name: String,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub annotations: Labels,
    #[serde(default)]
    pub taints: Vec<Taint>,
    pub allocatable: Resources,
    #[serde(default)]
    pub unschedulable: bool,
    #[serde(default = "yes")]
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governor: Option<String>,
    #[serde(default)]
    pub available_governors: Vec<String>,
    /// Fraction 0–1.
    #[serde(default)]
    pub cpu_utilization: f64,
    #[serde(default)]
    pub memory_utilization: f64,
    #[serde(default)]
    pub power_watts: f64,
    /// The CPU utilisation this node is forecast to reach (`node.cpu.forecast`; see
    /// `Pod::cpu_forecast`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_forecast: Option<f64>,
    /// The node's probe as the controller sees it; absent when the snapshot does not say
    /// (a snapshot file, `kilter plan` on a cluster without a controller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<NodeProbe>,
}

/// Whether the node's probe can carry out a governor change now.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeProbe {
    pub available: bool,
    /// Why not, e.g. `probe for node n1 unavailable (phi 9.4 > 8)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A PodDisruptionBudget's selector, its `matchLabels` read as [`Labels`] (no duplicate key).
/// Unknown fields are refused, as everywhere in a snapshot (`LabelSelectorRequirement` itself
/// would skip them).
fn unique_selector<'de, D: serde::Deserializer<'de>>(d: D) -> Result<LabelSelector, D::Error> {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Selector {
        #[serde(default)]
        match_labels: Option<Labels>,
        #[serde(default)]
        match_expressions: Option<Vec<Requirement>>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Requirement {
        key: String,
        operator: String,
        #[serde(default)]
        values: Option<Vec<String>>,
    }
    let s = Selector::deserialize(d)?;
    Ok(LabelSelector {
        match_labels: s.match_labels.map(|l| l.into_iter().collect()),
        match_expressions: s.match_expressions.map(|all| {
            all.into_iter()
                .map(|r| LabelSelectorRequirement {
                    key: r.key,
                    operator: r.operator,
                    values: r.values,
                })
                .collect()
        }),
    })
}

fn yes() -> bool {
    true
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// NoSchedule, PreferNoSchedule or NoExecute.
    pub effect: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Toleration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Equal (default) or Exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Empty matches every effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
}

impl Toleration {
    pub fn tolerates(&self, t: &Taint) -> bool {
        if let Some(e) = &self.effect
            && !e.is_empty()
            && *e != t.effect
        {
            return false;
        }
        match self.key.as_deref() {
            None | Some("") => self.operator.as_deref() == Some("Exists"),
            Some(k) if k != t.key => false,
            Some(_) => match self.operator.as_deref() {
                Some("Exists") => true,
                _ => {
                    self.value == t.value
                        || self.value.as_deref().unwrap_or("") == t.value.as_deref().unwrap_or("")
                }
            },
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuQuantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryQuantity>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    /// The node it runs on; empty when pending.
    #[serde(default)]
    pub node: String,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub annotations: Labels,
    /// The top-level controller (Deployment, StatefulSet, DaemonSet, Job, …); none for a bare pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    #[serde(default = "running")]
    pub phase: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    #[serde(default)]
    pub node_selector: Labels,
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    /// Uses an emptyDir volume (its data is lost on eviction).
    #[serde(default)]
    pub empty_dir: bool,
    /// A static (mirror) pod, managed by the kubelet.
    #[serde(default)]
    pub mirror: bool,
    /// Being deleted (its `deletionTimestamp` is set): it is leaving its node, and a drain
    /// does not evict it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub terminating: bool,
    pub containers: Vec<Container>,
    /// The CPU this pod is forecast to use, in cores (`pod.cpu.forecast`; the simulator and
    /// the controller set it from usage history; without it CEL sees the current usage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_forecast: Option<f64>,
    /// The demand kilter computed last cycle (0–1), for smoothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demand: Option<f64>,
}

fn running() -> String {
    "Running".into()
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    pub kind: String,
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Container {
    pub name: String,
    #[serde(default)]
    pub requests: Resources,
    #[serde(default)]
    pub limits: Resources,
    #[serde(default)]
    pub usage: Resources,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

/// The QoS class of a pod whose containers have these (requests, limits), as Kubernetes
/// derives it: Guaranteed when every container has CPU and memory limits equal to its
/// requests (or no requests), BestEffort when no container has any, Burstable otherwise.
pub fn qos_class(containers: impl Iterator<Item = (Resources, Resources)> + Clone) -> QosClass {
    let none = containers.clone().all(|(r, l)| {
        r.cpu.is_none() && r.memory.is_none() && l.cpu.is_none() && l.memory.is_none()
    });
    if none {
        return QosClass::BestEffort;
    }
    let guaranteed = containers.into_iter().all(|(r, l)| {
        let cpu_ok = l.cpu.is_some() && r.cpu.is_none_or(|x| Some(x) == l.cpu);
        let mem_ok = l.memory.is_some() && r.memory.is_none_or(|x| Some(x) == l.memory);
        cpu_ok && mem_ok
    });
    if guaranteed {
        QosClass::Guaranteed
    } else {
        QosClass::Burstable
    }
}

impl Pod {
    /// The Kubernetes QoS class, derived from requests and limits.
    pub fn qos(&self) -> QosClass {
        qos_class(self.containers.iter().map(|c| (c.requests, c.limits)))
    }

    /// CPU the scheduler reserves for the pod (requests, or limits when requests are unset).
    pub fn cpu_request(&self) -> i64 {
        self.containers
            .iter()
            .map(|c| c.requests.cpu.or(c.limits.cpu).map_or(0, |q| q.0))
            .fold(0, i64::saturating_add)
    }

    pub fn memory_request(&self) -> i64 {
        self.containers
            .iter()
            .map(|c| c.requests.memory.or(c.limits.memory).map_or(0, |q| q.0))
            .fold(0, i64::saturating_add)
    }

    pub fn is_daemonset(&self) -> bool {
        self.owner.as_ref().is_some_and(|o| o.kind == "DaemonSet")
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self.phase.as_str(), "Succeeded" | "Failed")
    }

    pub fn do_not_disrupt(&self) -> bool {
        self.annotations
            .get(DO_NOT_DISRUPT)
            .is_some_and(|v| v == "true")
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pdb {
    pub namespace: String,
    pub name: String,
    #[serde(default, deserialize_with = "unique_selector")]
    pub selector: LabelSelector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrPercent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrPercent>,
    pub current_healthy: i64,
    /// How many healthy pods the budget requires; computed from minAvailable/maxUnavailable
    /// and expectedPods when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_healthy: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_pods: Option<i64>,
}

impl Pdb {
    /// Evictions the budget allows now, as the disruption controller computes them.
    pub fn disruptions_allowed(&self) -> i64 {
        let expected = self.expected_pods.unwrap_or(self.current_healthy).max(0) as usize;
        let desired = self.desired_healthy.unwrap_or_else(|| {
            match (self.min_available, self.max_unavailable) {
                (Some(m), _) => m.resolve(expected) as i64,
                (None, Some(u)) => expected as i64 - u.resolve(expected) as i64,
                (None, None) => 0,
            }
        });
        (self.current_healthy - desired).max(0)
    }

    /// Whether the budget covers a pod. A selector kilter cannot read (an unknown operator,
    /// values where none belong) covers every pod of the namespace: unclear input protects.
    pub fn covers(&self, pod: &Pod) -> bool {
        pod.namespace == self.namespace
            && (crate::model::selector::validate(&self.selector).is_err()
                || crate::model::selector::matches(&self.selector, &pod.labels))
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecentAction {
    /// set_governor, cordon, uncordon, drain or resize.
    pub kind: String,
    pub policy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// RFC 3339.
    pub time: String,
}

impl RecentAction {
    pub fn at(&self) -> Option<DateTime<Utc>> {
        parse_time(&self.time)
    }
}

/// What every step derives from a snapshot the same way, built once per snapshot and shared by
/// the planner's methods and the verifier: where each pod runs and what each node's running
/// pods request. Reading it touches a few flat arrays instead of 150,000 pods.
pub struct Index<'a> {
    pub node_index: foldhash::HashMap<&'a str, usize>,
    /// The node each pod runs on (None: terminal, or on a node the snapshot lacks).
    pub pod_node: Vec<Option<u32>>,
    /// The running pods of all nodes, node by node (node `n`'s at
    /// `node_start[n]..node_start[n + 1]`), each node's in snapshot order: see [`Index::pods_of`].
    node_pods: Vec<u32>,
    /// A hash of the namespace and name of each entry of `node_pods`: finding a node's pod by
    /// name compares these contiguous keys before reading any pod's strings.
    node_pod_keys: Vec<u64>,
    node_start: Vec<u32>,
    /// CPU (millicores) and memory (bytes) each pod requests (requests, or limits without them).
    pub pod_requests: Vec<(i64, i64)>,
    /// CPU and memory the running pods of each node request.
    pub node_requests: Vec<(i64, i64)>,
    /// Each pod's workload (index in `workloads`; None: the pod has no owner).
    pub pod_workload: Vec<Option<u32>>,
    /// The distinct workloads pods belong to.
    pub workloads: Vec<Workload<'a>>,
}

/// A workload pods belong to: their namespace and top-level owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Workload<'a> {
    pub namespace: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
}

impl<'a> Index<'a> {
    pub fn new(state: &'a ClusterState) -> Self {
        let mut node_index =
            <foldhash::HashMap<&str, usize> as foldhash::HashMapExt>::with_capacity(
                state.nodes.len(),
            );
        for (i, n) in state.nodes.iter().enumerate() {
            node_index.insert(n.name.as_str(), i);
        }
        let mut node_start = vec![0u32; state.nodes.len() + 1];
        let mut node_requests = vec![(0i64, 0i64); state.nodes.len()];
        let mut pod_node = Vec::with_capacity(state.pods.len());
        let mut pod_requests = Vec::with_capacity(state.pods.len());
        let mut pod_workload = Vec::with_capacity(state.pods.len());
        let mut pod_key = Vec::with_capacity(state.pods.len());
        let mut workloads = Vec::new();
        let mut workload_ids: foldhash::HashMap<Workload<'a>, u32> = Default::default();
        // Snapshots usually list a node's pods together: reuse the last lookup.
        let mut last: Option<(&str, Option<usize>)> = None;
        for p in &state.pods {
            pod_workload.push(p.owner.as_ref().map(|o| {
                let w = Workload {
                    namespace: &p.namespace,
                    kind: &o.kind,
                    name: &o.name,
                };
                *workload_ids.entry(w).or_insert_with(|| {
                    workloads.push(w);
                    // Bounded by the pod count, itself bounded by the snapshot size limit.
                    u32::try_from(workloads.len() - 1).unwrap_or(u32::MAX)
                })
            }));
            let req = (p.cpu_request(), p.memory_request());
            pod_requests.push(req);
            pod_key.push(pod_key_hash(&p.namespace, &p.name));
            let n = match last {
                Some((name, n)) if name == p.node => n,
                _ => {
                    let n = node_index.get(p.node.as_str()).copied();
                    last = Some((p.node.as_str(), n));
                    n
                }
            };
            let n = n.filter(|_| !p.is_terminal());
            if let Some(n) = n {
                node_start[n + 1] += 1;
                let r = &mut node_requests[n];
                *r = (r.0.saturating_add(req.0), r.1.saturating_add(req.1));
            }
            // Node counts are bounded far below u32::MAX by the snapshot size limit.
            pod_node.push(n.and_then(|n| u32::try_from(n).ok()));
        }
        // Each node's pods, placed after counting them: two flat arrays instead of a list per node.
        for n in 0..state.nodes.len() {
            node_start[n + 1] += node_start[n];
        }
        let running = node_start[state.nodes.len()] as usize;
        let (mut node_pods, mut node_pod_keys) = (vec![0; running], vec![0; running]);
        let mut next = node_start.clone();
        for (i, n) in pod_node.iter().enumerate() {
            if let Some(n) = n {
                let at = &mut next[*n as usize];
                // Pods are bounded far below u32::MAX by the snapshot size limit.
                node_pods[*at as usize] = i as u32;
                node_pod_keys[*at as usize] = pod_key[i];
                *at += 1;
            }
        }
        Index {
            node_index,
            pod_node,
            node_pods,
            node_pod_keys,
            node_start,
            pod_requests,
            node_requests,
            pod_workload,
            workloads,
        }
    }

    /// The running pods of node `n` (index as in `state.nodes`), in snapshot order.
    pub fn pods_of(&self, n: usize) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.node_pods[self.range(n)].iter().map(|&i| i as usize)
    }

    /// Where node `n`'s pods are in `node_pods` and `node_pod_keys`.
    fn range(&self, n: usize) -> std::ops::Range<usize> {
        self.node_start[n] as usize..self.node_start[n + 1] as usize
    }

    /// The running pod `namespace/name` on node `n`, searched from position `from` of the
    /// node's pods (callers that name a node's pods in order resume where they left off).
    /// Returns the pod and its position.
    pub fn find_pod(
        &self,
        state: &ClusterState,
        n: usize,
        from: usize,
        namespace: &str,
        name: &str,
    ) -> Option<(usize, usize)> {
        let range = self.range(n);
        let first = range.start;
        let keys = &self.node_pod_keys[range];
        let key = pod_key_hash(namespace, name);
        let start = from.min(keys.len());
        // Equal hashes are checked by name: a collision reads on.
        let probe = |range: std::ops::Range<usize>| {
            let mut at = range.start;
            while let Some(d) = keys[at..range.end].iter().position(|&k| k == key) {
                at += d;
                let p = &state.pods[self.node_pods[first + at] as usize];
                if p.name == name && p.namespace == namespace {
                    return Some(at);
                }
                at += 1;
            }
            None
        };
        let at = probe(start..keys.len()).or_else(|| probe(0..start))?;
        Some((self.node_pods[first + at] as usize, at))
    }

    /// The node pod `i` runs on in the snapshot.
    pub fn node_of(&self, i: usize) -> Option<usize> {
        self.pod_node[i].map(|n| n as usize)
    }
}

fn pod_key_hash(namespace: &str, name: &str) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = foldhash::fast::FixedState::default().build_hasher();
    namespace.hash(&mut h);
    name.hash(&mut h);
    h.finish()
}

pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Reads a snapshot (YAML or JSON) with the same diagnostics as policy files. The document
/// may carry `apiVersion: kilter.dev/v1alpha1` and `kind: ClusterSnapshot`.
pub fn load(file: &Arc<SourceFile>) -> Result<ClusterState, Vec<Diagnostic>> {
    if let Some(state) = load_json_fast(&file.text).or_else(|| load_yaml_fast(&file.text)) {
        return Ok(state);
    }
    load_spanned(file)
}

/// The fast path for a JSON snapshot: serde_json straight into the model, no spans kept.
/// It accepts only what the spanned reader accepts, with the same model: every struct of the
/// model refuses unknown fields, label maps refuse duplicate keys, derived structs refuse a
/// field given twice, and the snapshot checks run on the result. Anything else returns `None`,
/// and the spanned reader reads the file again to say where it is wrong. JSON is YAML, so both
/// readers read the same text.
pub fn load_json_fast(text: &str) -> Option<ClusterState> {
    /// A snapshot document: the model's fields, and the `apiVersion` and `kind` the spanned
    /// reader leaves out. It takes them whatever their value; here only strings are taken, so
    /// that no duplicate key can hide in them.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Document {
        #[serde(default, rename = "apiVersion")]
        _api_version: Option<String>,
        #[serde(default, rename = "kind")]
        _kind: Option<String>,
        #[serde(default)]
        time: Option<String>,
        #[serde(default)]
        nodes: Vec<Node>,
        #[serde(default)]
        pods: Vec<Pod>,
        #[serde(default)]
        pdbs: Vec<Pdb>,
        #[serde(default)]
        recent_actions: Vec<RecentAction>,
    }
    if !text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('{')
    {
        return None;
    }
    let d: Document = serde_json::from_str(text).ok()?;
    checked(ClusterState {
        time: d.time,
        nodes: d.nodes,
        pods: d.pods,
        pdbs: d.pdbs,
        recent_actions: d.recent_actions,
    })
}

/// The fast path for a YAML snapshot: the parser's events straight into the model
/// (`syntax::yaml_fast`), no tree and no spans. Like the JSON fast path, it accepts only
/// what the spanned reader accepts, with the same model; anything else returns `None`.
pub fn load_yaml_fast(text: &str) -> Option<ClusterState> {
    crate::syntax::yaml_fast::decode(text).and_then(checked)
}

/// A snapshot read on a fast path, if the spanned reader would find nothing wrong with it.
fn checked(state: ClusterState) -> Option<ClusterState> {
    let bad_time = (state.time.as_deref()).is_some_and(|t| parse_time(t).is_none());
    (!bad_time && check(&state).is_empty()).then_some(state)
}

/// The spanned reader: every problem reported at its file, line and column.
pub fn load_spanned(file: &Arc<SourceFile>) -> Result<ClusterState, Vec<Diagnostic>> {
    let (node, state, mut diags) =
        crate::syntax::de::decode_file::<ClusterState>(file, "snapshot")?;
    if let Some(t) = state.as_ref().and_then(|s| s.time.as_deref())
        && parse_time(t).is_none()
    {
        diags.push(Diagnostic::error(
            crate::syntax::diag::code::INVALID_VALUE,
            file,
            node.span_at("time"),
            format!("`{t}` is not an RFC 3339 time like 2026-11-23T22:30:00Z"),
        ));
    }
    if let Some(s) = &state {
        for (path, message) in check(s) {
            diags.push(Diagnostic::error(
                crate::syntax::diag::code::INVALID_VALUE,
                file,
                node.span_at(&path),
                message,
            ));
        }
    }
    match state {
        Some(s) if diags.is_empty() => Ok(s),
        _ => Err(diags),
    }
}

/// The kinds a recent action may have.
pub const RECENT_ACTION_KINDS: [&str; 5] =
    ["set_governor", "cordon", "uncordon", "drain", "resize"];

/// What makes a snapshot unclear, as (path, message): duplicate nodes or pods, pods on nodes
/// the snapshot lacks, allocatable that is not positive, utilisation outside 0–1, negative
/// power or PDB counts, recent actions with an unreadable time or an unknown kind. kilter
/// refuses such a snapshot rather than guess (a dropped recent action would bypass its cooldown).
pub fn check(s: &ClusterState) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut names: foldhash::HashMap<&str, usize> =
        foldhash::HashMapExt::with_capacity(s.nodes.len());
    for (i, n) in s.nodes.iter().enumerate() {
        let at = |f: &str| format!("nodes[{i}].{f}");
        if let Some(first) = names.insert(n.name.as_str(), i) {
            out.push((
                at("name"),
                format!(
                    "node `{}` is listed twice (first as nodes[{first}])",
                    n.name
                ),
            ));
        }
        if n.name.is_empty() {
            out.push((at("name"), "a node needs a name".into()));
        }
        match n.allocatable.cpu {
            Some(q) if q.0 <= 0 => out.push((
                at("allocatable.cpu"),
                format!("allocatable CPU of node `{}` must be positive", n.name),
            )),
            _ => {}
        }
        match n.allocatable.memory {
            Some(q) if q.0 <= 0 => out.push((
                at("allocatable.memory"),
                format!("allocatable memory of node `{}` must be positive", n.name),
            )),
            _ => {}
        }
        for (f, v) in [
            ("cpuUtilization", n.cpu_utilization),
            ("memoryUtilization", n.memory_utilization),
        ] {
            if !(0.0..=1.0).contains(&v) {
                out.push((
                    at(f),
                    format!("{f} is {v}; utilisation is a fraction between 0 and 1"),
                ));
            }
        }
        if !(n.power_watts >= 0.0 && n.power_watts.is_finite()) {
            out.push((
                at("powerWatts"),
                format!("powerWatts is {}; power cannot be negative", n.power_watts),
            ));
        }
    }
    let mut pods: foldhash::HashMap<(&str, &str), usize> =
        foldhash::HashMapExt::with_capacity(s.pods.len());
    // Snapshots usually list a node's pods together: the last node found needs no lookup.
    let mut last_node = None;
    for (i, p) in s.pods.iter().enumerate() {
        let at = |f: &str| format!("pods[{i}].{f}");
        if let Some(first) = pods.insert((p.namespace.as_str(), p.name.as_str()), i) {
            out.push((
                at("name"),
                format!("pod `{}` is listed twice (first as pods[{first}])", p.key()),
            ));
        }
        let known = last_node == Some(p.node.as_str()) || names.contains_key(p.node.as_str());
        if known {
            last_node = Some(p.node.as_str());
        }
        if !p.node.is_empty() && !known {
            out.push((
                at("node"),
                format!(
                    "pod `{}` runs on node `{}`, which the snapshot does not list",
                    p.key(),
                    p.node
                ),
            ));
        }
        // Most pods have a container or two: compare names pairwise (no set to allocate)
        // up to a handful, and keep a set beyond.
        let mut containers = std::collections::BTreeSet::new();
        for (c, container) in p.containers.iter().enumerate() {
            let twice = if p.containers.len() <= 8 {
                p.containers[..c].iter().any(|o| o.name == container.name)
            } else {
                !containers.insert(container.name.as_str())
            };
            if twice {
                out.push((
                    format!("pods[{i}].containers[{c}].name"),
                    format!(
                        "container `{}` is listed twice in pod `{}`",
                        container.name,
                        p.key()
                    ),
                ));
            }
            for (f, r) in [
                ("requests", container.requests),
                ("limits", container.limits),
            ] {
                if r.cpu.is_some_and(|q| q.0 < 0) || r.memory.is_some_and(|q| q.0 < 0) {
                    out.push((
                        format!("pods[{i}].containers[{c}].{f}"),
                        format!("{f} of container `{}` cannot be negative", container.name),
                    ));
                }
            }
        }
        if let Some(d) = p.demand
            && !(0.0..=1.0).contains(&d)
        {
            out.push((
                at("demand"),
                format!("demand is {d}; it is a fraction between 0 and 1"),
            ));
        }
    }
    let mut pdbs = std::collections::BTreeSet::new();
    for (i, b) in s.pdbs.iter().enumerate() {
        let at = |f: &str| format!("pdbs[{i}].{f}");
        if !pdbs.insert((b.namespace.as_str(), b.name.as_str())) {
            out.push((
                at("name"),
                format!(
                    "PodDisruptionBudget `{}/{}` is listed twice",
                    b.namespace, b.name
                ),
            ));
        }
        for (f, v) in [
            ("currentHealthy", Some(b.current_healthy)),
            ("desiredHealthy", b.desired_healthy),
            ("expectedPods", b.expected_pods),
        ] {
            if v.is_some_and(|v| v < 0) {
                out.push((at(f), format!("{f} cannot be negative")));
            }
        }
    }
    for (i, r) in s.recent_actions.iter().enumerate() {
        let at = |f: &str| format!("recentActions[{i}].{f}");
        if r.at().is_none() {
            out.push((at("time"), format!("`{}` is not an RFC 3339 time like 2026-11-23T22:30:00Z; a recent action kilter cannot date would bypass its cooldown", r.time)));
        }
        if !RECENT_ACTION_KINDS.contains(&r.kind.as_str()) {
            out.push((
                at("kind"),
                format!(
                    "`{}` is not an action kind; kinds are {}",
                    r.kind,
                    RECENT_ACTION_KINDS.join(", ")
                ),
            ));
        }
        if r.node.is_none() && r.pod.is_none() {
            out.push((
                at("kind"),
                "a recent action names a node or a pod (namespace and pod)".into(),
            ));
        }
        if r.pod.is_some() != r.namespace.is_some() {
            out.push((
                at("pod"),
                "a recent action on a pod names both its namespace and its pod".into(),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_is_derived_like_kubernetes() {
        let c = |rc: Option<i64>, lc: Option<i64>, rm: Option<i64>, lm: Option<i64>| Container {
            name: "c".into(),
            requests: Resources {
                cpu: rc.map(CpuQuantity),
                memory: rm.map(MemoryQuantity),
            },
            limits: Resources {
                cpu: lc.map(CpuQuantity),
                memory: lm.map(MemoryQuantity),
            },
            usage: Resources::default(),
        };
        let pod = |cs| Pod {
            containers: cs,
            ..Default::default()
        };
        assert_eq!(
            pod(vec![c(None, None, None, None)]).qos(),
            QosClass::BestEffort
        );
        assert_eq!(
            pod(vec![c(Some(1), Some(1), Some(5), Some(5))]).qos(),
            QosClass::Guaranteed
        );
        assert_eq!(
            pod(vec![c(None, Some(1), None, Some(5))]).qos(),
            QosClass::Guaranteed
        );
        assert_eq!(
            pod(vec![c(Some(1), Some(2), Some(5), Some(5))]).qos(),
            QosClass::Burstable
        );
        assert_eq!(
            pod(vec![c(Some(1), None, None, None)]).qos(),
            QosClass::Burstable
        );
    }

    proptest::proptest! {
        /// The flat per-node index lists what a list per node would, and finds every
        /// running pod by name from any starting place; terminal pods, pods on unknown
        /// nodes and names not on the node are not found.
        #[test]
        fn the_index_lists_and_finds_each_nodes_pods(
            pods in proptest::collection::vec((0usize..4, 0usize..3, 0u8..3, proptest::bool::ANY), 0..40),
            from in 0usize..50,
        ) {
            let nodes = ["a", "b", "c"];
            let state = ClusterState {
                nodes: nodes
                    .iter()
                    .map(|n| Node { name: n.to_string(), ..Default::default() })
                    .collect(),
                // Names repeat across namespaces and nodes, and "d" is no node.
                pods: pods
                    .iter()
                    .enumerate()
                    .map(|(i, &(node, ns, name, done))| Pod {
                        namespace: format!("ns{ns}"),
                        name: format!("p{name}-{}", i % 5),
                        node: ["a", "b", "c", "d"][node].to_string(),
                        phase: if done { "Succeeded" } else { "Running" }.into(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            let index = Index::new(&state);
            for (n, node) in nodes.iter().enumerate() {
                let expected: Vec<usize> = (0..state.pods.len())
                    .filter(|&i| state.pods[i].node == *node && !state.pods[i].is_terminal())
                    .collect();
                proptest::prop_assert_eq!(index.pods_of(n).collect::<Vec<_>>(), expected.clone());
                for p in &state.pods {
                    let found = index.find_pod(&state, n, from, &p.namespace, &p.name);
                    // The first running pod of that name on the node, from `from` on, wrapping.
                    let at = from.min(expected.len());
                    let want = (at..expected.len())
                        .chain(0..at)
                        .find(|&k| {
                            let q = &state.pods[expected[k]];
                            q.namespace == p.namespace && q.name == p.name
                        })
                        .map(|k| (expected[k], k));
                    proptest::prop_assert_eq!(found, want);
                }
            }
        }
    }

    #[test]
    fn pdb_allowance_follows_the_disruption_controller() {
        let p = |min, max, healthy, expected| Pdb {
            min_available: min,
            max_unavailable: max,
            current_healthy: healthy,
            expected_pods: Some(expected),
            ..Default::default()
        };
        assert_eq!(
            p(Some(IntOrPercent::Int(2)), None, 3, 3).disruptions_allowed(),
            1
        );
        assert_eq!(
            p(Some(IntOrPercent::Int(3)), None, 3, 3).disruptions_allowed(),
            0
        );
        assert_eq!(
            p(None, Some(IntOrPercent::Int(1)), 3, 3).disruptions_allowed(),
            1
        );
        assert_eq!(
            p(None, Some(IntOrPercent::Percent(50)), 2, 4).disruptions_allowed(),
            0
        );
        assert_eq!(
            p(Some(IntOrPercent::Percent(50)), None, 4, 4).disruptions_allowed(),
            2
        );
    }

    #[test]
    fn check_finds_repeated_containers_and_unknown_nodes() {
        let pod = |name: &str, node: &str, containers: &[&str]| Pod {
            namespace: "ns".into(),
            name: name.into(),
            node: node.into(),
            containers: containers
                .iter()
                .map(|c| Container {
                    name: (*c).into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let many: Vec<String> = (0..12).map(|i| format!("c{}", i % 11)).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let s = ClusterState {
            nodes: vec![Node {
                name: "n1".into(),
                ..Default::default()
            }],
            pods: vec![
                pod("a", "n1", &["x", "y", "x"]),
                pod("b", "n1", &many),
                pod("c", "ghost", &["x"]),
                pod("d", "n1", &["x", "y"]),
                pod("e", "ghost", &["x"]),
            ],
            ..Default::default()
        };
        let paths: Vec<String> = check(&s).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "pods[0].containers[2].name",
                "pods[1].containers[11].name",
                "pods[2].node",
                "pods[4].node",
            ]
        );
    }

    #[test]
    fn tolerations_match_taints() {
        let t = Taint {
            key: "gpu".into(),
            value: Some("true".into()),
            effect: "NoSchedule".into(),
        };
        let tol = |k: Option<&str>, op: Option<&str>, v: Option<&str>| Toleration {
            key: k.map(Into::into),
            operator: op.map(Into::into),
            value: v.map(Into::into),
            effect: None,
        };
        assert!(tol(Some("gpu"), None, Some("true")).tolerates(&t));
        assert!(tol(Some("gpu"), Some("Exists"), None).tolerates(&t));
        assert!(tol(None, Some("Exists"), None).tolerates(&t));
        assert!(!tol(Some("gpu"), None, Some("false")).tolerates(&t));
        assert!(!tol(Some("other"), Some("Exists"), None).tolerates(&t));
    }
}
