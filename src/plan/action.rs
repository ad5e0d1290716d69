//! What a plan holds: typed actions (one variant per kind, with the fields an executor needs)
//! and typed skip reasons. The JSON form (`docs/plan-format.md`) is rendered from these fields
//! at output time; nothing inside kilter reads an action back from JSON.

use serde::Serialize;
use serde::ser::SerializeStruct;
use serde_json::{Value as Json, json};

use crate::model::{CpuQuantity, Duration};

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    SetGovernor,
    Cordon,
    Uncordon,
    Drain,
    Resize,
}

impl ActionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::SetGovernor => "set_governor",
            ActionType::Cordon => "cordon",
            ActionType::Uncordon => "uncordon",
            ActionType::Drain => "drain",
            ActionType::Resize => "resize",
        }
    }
}

/// What an action touches: a node, or one container of one pod.
#[derive(Serialize, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

impl Target {
    pub fn node(n: &str) -> Self {
        Target {
            node: Some(n.into()),
            ..Default::default()
        }
    }
    pub fn container(ns: &str, pod: &str, c: &str) -> Self {
        Target {
            namespace: Some(ns.into()),
            pod: Some(pod.into()),
            container: Some(c.into()),
            ..Default::default()
        }
    }
    pub fn pod(ns: &str, pod: &str) -> Self {
        Target {
            namespace: Some(ns.into()),
            pod: Some(pod.into()),
            ..Default::default()
        }
    }
}

impl Target {
    /// The fields in output order, borrowed (for sorting without copying).
    pub fn key(&self) -> [Option<&str>; 4] {
        [
            self.node.as_deref(),
            self.namespace.as_deref(),
            self.pod.as_deref(),
            self.container.as_deref(),
        ]
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.node, &self.namespace, &self.pod, &self.container) {
            (Some(n), _, _, _) => write!(f, "node {n}"),
            (None, Some(ns), Some(p), Some(c)) => write!(f, "{ns}/{p}/{c}"),
            (None, Some(ns), Some(p), None) => write!(f, "{ns}/{p}"),
            _ => f.write_str("cluster"),
        }
    }
}

/// A pod, by namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for PodRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Where the scheduler is expected to put an evicted pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub pod: PodRef,
    pub node: String,
}

/// A value before and after an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change<T> {
    pub from: T,
    pub to: T,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GovernorChange {
    pub node: String,
    /// The governor the node runs now (None when unknown).
    pub from: Option<String>,
    pub to: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DrainNode {
    pub node: String,
    pub evict: Vec<PodRef>,
    /// Pods the drain leaves in place (DaemonSet and mirror pods), with why.
    pub stays: Vec<String>,
    /// Where each evicted pod goes (one per pod in `evict`).
    pub placements: Vec<Placement>,
    pub grace_period: Option<Duration>,
    pub timeout: Option<Duration>,
    /// 2 when the plan cordons the node first, 1 when it is already cordoned.
    pub step: u8,
}

/// A container's node, namespace, pod and container names, held in one allocation: a fleet's
/// plan holds a resize per container, and four strings each cost four allocations.
#[derive(Clone, PartialEq, Eq)]
pub struct ContainerNames {
    /// The four names one after another.
    text: Box<str>,
    /// Where the namespace, the pod and the container name start in `text`.
    starts: [u32; 3],
}

impl ContainerNames {
    /// # Panics
    /// If the names together are 4 GiB or longer.
    pub fn new(node: &str, namespace: &str, pod: &str, container: &str) -> Self {
        let mut text =
            String::with_capacity(node.len() + namespace.len() + pod.len() + container.len());
        let mut starts = [0u32; 3];
        text.push_str(node);
        for (start, part) in starts.iter_mut().zip([namespace, pod, container]) {
            *start = u32::try_from(text.len()).expect("names shorter than 4 GiB");
            text.push_str(part);
        }
        ContainerNames {
            text: text.into_boxed_str(),
            starts,
        }
    }

    fn part(&self, k: usize) -> &str {
        let at = |k: usize| match k {
            0 => 0,
            1..=3 => self.starts[k - 1] as usize,
            _ => self.text.len(),
        };
        &self.text[at(k)..at(k + 1)]
    }
}

impl std::fmt::Debug for ContainerNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerNames")
            .field("node", &self.part(0))
            .field("namespace", &self.part(1))
            .field("pod", &self.part(2))
            .field("container", &self.part(3))
            .finish()
    }
}

/// One container's CPU, in millicores; `None` is an unset request or limit.
#[derive(Clone, Debug, PartialEq)]
pub struct ResizeContainer {
    pub names: ContainerNames,
    pub request: Change<Option<i64>>,
    pub limit: Change<Option<i64>>,
    /// The market's allocation and what it had to hand out on the node.
    pub allocation: i64,
    pub market_capacity: i64,
    pub demand: f64,
}

impl ResizeContainer {
    pub fn node(&self) -> &str {
        self.names.part(0)
    }
    pub fn namespace(&self) -> &str {
        self.names.part(1)
    }
    pub fn pod(&self) -> &str {
        self.names.part(2)
    }
    pub fn container(&self) -> &str {
        self.names.part(3)
    }
}

/// One action, with the fields an executor needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    SetGovernor(GovernorChange),
    /// `drain_step`: the cordon is step 1 of a drain planned with it.
    Cordon {
        node: String,
        drain_step: bool,
    },
    Uncordon {
        node: String,
    },
    Drain(DrainNode),
    Resize(ResizeContainer),
}

impl Action {
    pub fn kind(&self) -> ActionType {
        match self {
            Action::SetGovernor(_) => ActionType::SetGovernor,
            Action::Cordon { .. } => ActionType::Cordon,
            Action::Uncordon { .. } => ActionType::Uncordon,
            Action::Drain(_) => ActionType::Drain,
            Action::Resize(_) => ActionType::Resize,
        }
    }

    /// The node the action runs on.
    pub fn node(&self) -> &str {
        match self {
            Action::SetGovernor(g) => &g.node,
            Action::Cordon { node, .. } | Action::Uncordon { node } => node,
            Action::Drain(d) => &d.node,
            Action::Resize(r) => r.node(),
        }
    }

    pub fn target(&self) -> Target {
        match self {
            Action::Resize(r) => Target::container(r.namespace(), r.pod(), r.container()),
            _ => Target::node(self.node()),
        }
    }

    /// [`Target::key`] of [`Action::target`], without building the target.
    pub fn target_key(&self) -> [Option<&str>; 4] {
        match self {
            Action::Resize(r) => [
                None,
                Some(r.namespace()),
                Some(r.pod()),
                Some(r.container()),
            ],
            _ => [Some(self.node()), None, None, None],
        }
    }

    /// The kind-specific fields as JSON (the `params` of the plan format).
    pub fn params(&self) -> serde_json::Map<String, Json> {
        let q = |v: i64| json!(CpuQuantity(v).to_string());
        let v = match self {
            Action::SetGovernor(g) => {
                json!({ "from": g.from.clone().unwrap_or_default(), "governor": g.to })
            }
            Action::Cordon { drain_step, .. } => {
                if *drain_step {
                    json!({ "step": 1 })
                } else {
                    json!({})
                }
            }
            Action::Uncordon { .. } => json!({}),
            Action::Drain(d) => {
                let mut m = json!({
                    "evict": d.evict.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "placements": d.placements.iter()
                        .map(|p| json!({ "pod": p.pod.to_string(), "node": p.node }))
                        .collect::<Vec<_>>(),
                    "skip": d.stays,
                    "step": d.step,
                });
                if let Some(g) = d.grace_period {
                    m["gracePeriod"] = json!(g.to_string());
                }
                if let Some(t) = d.timeout {
                    m["timeout"] = json!(t.to_string());
                }
                m
            }
            Action::Resize(r) => {
                let pair = |req: Option<i64>, lim: Option<i64>| {
                    let mut m = serde_json::Map::new();
                    if let Some(v) = req {
                        m.insert("request".into(), q(v));
                    }
                    if let Some(v) = lim {
                        m.insert("limit".into(), q(v));
                    }
                    Json::Object(m)
                };
                json!({
                    "allocation": q(r.allocation),
                    "cpu": pair(r.request.to, r.limit.to),
                    "demand": (r.demand * 1000.0).round() / 1000.0,
                    "from": pair(r.request.from, r.limit.from),
                    "marketCapacity": q(r.market_capacity),
                    "node": r.node(),
                })
            }
        };
        match v {
            Json::Object(m) => {
                let mut sorted: Vec<_> = m.into_iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                sorted.into_iter().collect()
            }
            _ => serde_json::Map::new(),
        }
    }
}

/// Why an action is planned. Most reasons are text; a market resize keeps its figures and
/// is worded when shown ([`PlannedAction::reason`]): a large fleet's plan holds tens of
/// thousands of them, and formatting their numbers up front was a sixth of planning.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    Text(String),
    /// The bid and the step limit; the rest is in the [`ResizeContainer`] it explains.
    Market {
        bid: f64,
        max_step: Option<CpuQuantity>,
    },
}

impl From<String> for Reason {
    fn from(s: String) -> Self {
        Reason::Text(s)
    }
}

impl From<&str> for Reason {
    fn from(s: &str) -> Self {
        Reason::Text(s.to_string())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlannedAction {
    pub action: Action,
    /// Shared by every action of the policy: a fleet's plan holds tens of thousands.
    pub policy: std::sync::Arc<str>,
    pub why: Reason,
    /// False when the policy is DryRun: the action is shown, never applied.
    pub enforce: bool,
}

impl PlannedAction {
    /// The reason as shown in plans and events.
    pub fn reason(&self) -> std::borrow::Cow<'_, str> {
        match (&self.why, &self.action) {
            (Reason::Text(s), _) => std::borrow::Cow::Borrowed(s),
            (Reason::Market { bid, max_step }, Action::Resize(r)) => format!(
                "market on {}: allocation {}m of {}m (bid {bid:.2} = weight × namespace weight × demand {:.2}){}",
                r.node(),
                r.allocation,
                r.market_capacity,
                r.demand,
                max_step
                    .map(|s| format!(", at most {s} per cycle"))
                    .unwrap_or_default()
            )
            .into(),
            (Reason::Market { .. }, a) => format!("market ({})", a.kind().as_str()).into(),
        }
    }
    pub fn kind(&self) -> ActionType {
        self.action.kind()
    }
    pub fn target(&self) -> Target {
        self.action.target()
    }
}

impl Serialize for PlannedAction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("PlannedAction", 6)?;
        st.serialize_field("kind", &self.kind())?;
        st.serialize_field("target", &self.target())?;
        st.serialize_field("params", &self.action.params())?;
        st.serialize_field("policy", &*self.policy)?;
        st.serialize_field("reason", &self.reason())?;
        st.serialize_field("enforce", &self.enforce)?;
        st.end()
    }
}

/// A safety invariant the verifier checks on the cluster a plan leaves (`docs/planner.md`).
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Invariant {
    /// Only policies in Enforce mode have enforced actions.
    EnforceMode,
    /// Every action names a node, pod and container the snapshot has.
    KnownObjects,
    /// Every evicted pod has a placement on a node that is schedulable after the plan,
    /// matches its nodeSelector, and whose taints it tolerates.
    EvictionHasHome,
    /// No eviction of a protected pod (do-not-disrupt, no controller, emptyDir unless allowed),
    /// none of a DaemonSet or mirror pod, and no drain of a do-not-disrupt node.
    ProtectedPods,
    /// CPU and memory requests fit allocatable on every node the plan adds requests to.
    NodeCapacity,
    /// No pod's QoS class changes.
    QosClass,
    /// No resize removes or adds a request or limit, sets a request above its limit, or moves
    /// more than `maxStep`.
    ResizeBounds,
    /// Evictions stay within every PodDisruptionBudget.
    PodDisruptionBudget,
    /// maxUnavailable, minNodes and maxDrainsPerHour of every Budget (and the default budget).
    DisruptionBudget,
    /// No governor change that raises power while a covering budget is at its critical level.
    PowerBudget,
    /// The governor is one the node offers.
    GovernorOffered,
    /// No action while its policy's cooldown runs on the same object.
    Cooldown,
    /// One writer per knob per object.
    SingleWriter,
}

impl Invariant {
    pub fn as_str(self) -> &'static str {
        match self {
            Invariant::EnforceMode => "enforce-mode",
            Invariant::KnownObjects => "known-objects",
            Invariant::EvictionHasHome => "eviction-has-home",
            Invariant::ProtectedPods => "protected-pods",
            Invariant::NodeCapacity => "node-capacity",
            Invariant::QosClass => "qos-class",
            Invariant::ResizeBounds => "resize-bounds",
            Invariant::PodDisruptionBudget => "pod-disruption-budget",
            Invariant::DisruptionBudget => "disruption-budget",
            Invariant::PowerBudget => "power-budget",
            Invariant::GovernorOffered => "governor-offered",
            Invariant::Cooldown => "cooldown",
            Invariant::SingleWriter => "single-writer",
        }
    }
}

impl std::fmt::Display for Invariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an action was not planned.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case", tag = "cause", content = "invariant")]
pub enum SkipCause {
    /// Another policy writes the same knob and outranks this one.
    Conflict,
    /// The policy's (or target's) cooldown still runs.
    Cooldown,
    /// A Budget's (or the default budget's) disruption limits.
    DisruptionBudget,
    /// Power at or over a budget's critical level.
    PowerBudget,
    /// A PodDisruptionBudget allows no more evictions.
    PodDisruptionBudget,
    /// A pod or node kilter must not disrupt.
    Protected,
    /// Some evicted pod would have nowhere to go.
    NoPlacement,
    /// The node receives pods moved in this plan, or is already disrupted by it.
    PlanOrder,
    /// `when`, `nodeFilter` or `demand` failed to evaluate.
    Expression,
    /// The node offers none of the governors asked for.
    GovernorUnavailable,
    /// The node's probe is suspected, failing or absent: the change cannot be carried out.
    ProbeUnavailable,
    /// `maxNodesPerCycle` reached.
    PerCycleLimit,
    /// The market cannot meet its floors, or has no room for an increase.
    MarketCapacity,
    /// The change would alter the pod's QoS class.
    QosClass,
    /// The container lacks the request or limit the policy would move.
    NothingToResize,
    /// The pod is evicted in this plan.
    PodEvicted,
    /// The verifier found the action breaks a safety invariant (a planner bug, failed closed).
    Invariant(Invariant),
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Skipped {
    pub kind: ActionType,
    pub target: Target,
    pub policy: String,
    #[serde(flatten)]
    pub cause: SkipCause,
    pub reason: String,
    /// False when the policy is DryRun.
    pub enforce: bool,
}
