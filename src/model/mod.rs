//! The four kinds of `kilter.dev/v1alpha1` — Policy, Budget, Probe, ScalingTarget — with the
//! field names of the public API, as Kubernetes custom resources with generated schemas.

pub mod selector;
pub mod values;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
// The derive and the CRD types only (kube-core has no client): the model stays pure.
use kube_core::{CustomResourceExt, Resource};
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use values::{CpuQuantity, Duration, IntOrPercent, MemoryQuantity, TimeOfDay};

pub const GROUP: &str = "kilter.dev";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "kilter.dev/v1alpha1";

// ------------------------------------------------------------------ Policy

/// What to do, where and when. Exactly one action per policy.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "kilter.dev",
    version = "v1alpha1",
    kind = "Policy",
    plural = "policies",
    shortname = "kpol",
    status = "ObjectStatus",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Priority","type":"integer","jsonPath":".spec.priority"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Higher wins when two policies want the same knob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// `Enforce` or `DryRun` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    /// CEL, per node; may use `node`, `cluster`, `now`, `budget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_filter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// CEL, cluster-wide; may use `cluster`, `now`, `budget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Minimum time between two actions of this policy on one object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<Duration>,
    /// How `node.cpu.forecast` is forecast for the nodes this policy selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<Forecast>,
    pub action: Action,
}

/// A Holt-Winters forecast of CPU usage (additive seasonality): how far ahead, and the length
/// of the season (the pattern that repeats, e.g. a day).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct Forecast {
    pub horizon: Duration,
    pub season: Duration,
}

impl PolicySpec {
    pub fn mode(&self) -> Mode {
        self.mode.unwrap_or_default()
    }
    pub fn priority(&self) -> i32 {
        self.priority.unwrap_or(0)
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema, Default)]
pub enum Mode {
    Enforce,
    #[default]
    DryRun,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// IANA time zone, e.g. `Europe/Berlin`; UTC when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub windows: Vec<Window>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    /// Days the window starts on; every day when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<Weekday>,
    pub start: TimeOfDay,
    /// May be earlier than `start`: the window then runs past midnight.
    pub end: TimeOfDay,
}

impl Window {
    /// Whether the window holds at `minute` (0–1439) of a day, given that day and the one before.
    /// A window whose end is not after its start runs past midnight; `days` names the day it
    /// starts. This is the one definition of a schedule window, used by the planner and by lint.
    pub fn holds(&self, today: Weekday, minute: u16) -> bool {
        let on = |d: Weekday| self.days.is_empty() || self.days.contains(&d);
        let (start, end) = (self.start.minutes, self.end.minutes);
        if end > start {
            on(today) && minute >= start && minute < end
        } else {
            (on(today) && minute >= start) || (on(today.pred()) && minute < end)
        }
    }
}

#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// The day before.
    pub fn pred(self) -> Weekday {
        Weekday::ALL[(self as usize + 6) % 7]
    }
}

/// Exactly one of these is set.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governor: Option<GovernorAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consolidate: Option<ConsolidateAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cordon: Option<CordonAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain: Option<DrainAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<ResizeAction>,
}

/// The action kinds, in the order the API lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionKind {
    Governor,
    Consolidate,
    Cordon,
    Drain,
    Resize,
}

impl ActionKind {
    pub fn field(self) -> &'static str {
        match self {
            ActionKind::Governor => "governor",
            ActionKind::Consolidate => "consolidate",
            ActionKind::Cordon => "cordon",
            ActionKind::Drain => "drain",
            ActionKind::Resize => "resize",
        }
    }

    /// The knob an action writes; two writers of one knob on one object conflict.
    pub fn knob(self) -> &'static str {
        match self {
            ActionKind::Governor => "the CPU governor",
            ActionKind::Consolidate | ActionKind::Cordon | ActionKind::Drain => {
                "node schedulability (cordon/drain)"
            }
            ActionKind::Resize => "pod CPU resources",
        }
    }
}

impl Action {
    /// Which actions are set, in API order.
    pub fn kinds(&self) -> Vec<ActionKind> {
        let mut v = Vec::new();
        if self.governor.is_some() {
            v.push(ActionKind::Governor);
        }
        if self.consolidate.is_some() {
            v.push(ActionKind::Consolidate);
        }
        if self.cordon.is_some() {
            v.push(ActionKind::Cordon);
        }
        if self.drain.is_some() {
            v.push(ActionKind::Drain);
        }
        if self.resize.is_some() {
            v.push(ActionKind::Resize);
        }
        v
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct GovernorAction {
    /// A cpufreq governor: performance, powersave, schedutil, ondemand, conservative, userspace.
    pub name: String,
    /// Tried in order when the node does not offer `name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConsolidateAction {
    /// Nodes whose CPU utilization is below this fraction (0–1) are candidates.
    pub utilization_below: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_nodes_per_cycle: Option<i64>,
    /// Allow draining nodes whose pods use emptyDir volumes (their data is lost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_empty_dir: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
pub struct CordonAction {}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct DrainAction {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ResizeAction {
    /// Selects ScalingTargets by their labels.
    pub target_selector: LabelSelector,
}

// ------------------------------------------------------------------ Budget

/// Limits that every policy's actions must fit inside.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "kilter.dev",
    version = "v1alpha1",
    kind = "Budget",
    plural = "budgets",
    shortname = "kbudget",
    status = "ObjectStatus",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct BudgetSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<PowerBudget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disruption: Option<DisruptionBudget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuBudget>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct PowerBudget {
    pub max_watts: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_percent: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_percent: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct DisruptionBudget {
    /// Nodes cordoned or draining at once: a count or a percentage of selected nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrPercent>,
    /// Never fewer schedulable nodes than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_nodes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_drains_per_hour: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct CpuBudget {
    /// Per node, never handed to the market.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserve: Option<CpuQuantity>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub namespace_weights: BTreeMap<String, f64>,
}

// ------------------------------------------------------------------ Probe

/// Where kilter reads node metrics and sets governors.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "kilter.dev",
    version = "v1alpha1",
    kind = "Probe",
    plural = "probes",
    shortname = "kprobe",
    status = "ObjectStatus",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct ProbeSpec {
    #[serde(rename = "type")]
    pub probe_type: ProbeType,
    /// A static endpoint (with `nodeName`), for a VM or bare-metal host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// A DaemonSet of probe agents, one per node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon_set: Option<DaemonSetRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<ProbeAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<ProbeHealth>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema, Default)]
pub enum ProbeType {
    K8s,
    #[default]
    VmSystem,
    HostSystem,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSetRef {
    pub namespace: String,
    pub selector: LabelSelector,
    pub port: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProbeAuth {
    pub secret_ref: SecretKeyRef,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProbeHealth {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phi_threshold: Option<f64>,
}

// ------------------------------------------------------------------ ScalingTarget

/// A workload opted into in-place resizes; touches only pods in its own namespace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "kilter.dev",
    version = "v1alpha1",
    kind = "ScalingTarget",
    plural = "scalingtargets",
    shortname = "ktarget",
    namespaced,
    status = "ObjectStatus",
    derive = "PartialEq"
)]
#[serde(rename_all = "camelCase")]
pub struct ScalingTargetSpec {
    pub workload_ref: WorkloadRef,
    /// Budget weight in the node's CPU market.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// CEL → [0, 1]; may use `pod`, `node`, `cluster`, `now`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize_policy: Option<ResizePolicy>,
    #[serde(default)]
    pub containers: Vec<ContainerPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<Duration>,
    /// How `pod.cpu.forecast` is forecast for this workload's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<Forecast>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    pub kind: WorkloadKind,
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema, Default)]
pub enum WorkloadKind {
    #[default]
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
}

impl WorkloadKind {
    /// The kind as Kubernetes names it (and as an owner reference carries it).
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::ReplicaSet => "ReplicaSet",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema, Default)]
pub enum ResizePolicy {
    #[default]
    Limits,
    Requests,
    Both,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPolicy {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryRange>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct CpuRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<CpuQuantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<CpuQuantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_step: Option<CpuQuantity>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct MemoryRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<MemoryQuantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<MemoryQuantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_shrink: Option<bool>,
}

// ------------------------------------------------------------------ Status

/// Status shared by all kinds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The Git commit the object came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_revision: Option<String>,
    /// Most recent actions, newest first (bounded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_actions: Vec<ActionRecord>,
    /// The `reconcile.fluxcd.io/requestedAt` annotation the controller last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// Budgets: what they cover and how much of them is used, as of the last plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<BudgetUsage>,
}

/// A Budget's current use (written by the controller).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct BudgetUsage {
    /// Nodes the budget covers.
    pub nodes: i64,
    /// Watts those nodes draw now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watts: Option<i64>,
    /// ok, warning or critical.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_level: Option<String>,
    /// Nodes cordoned or draining.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drains_last_hour: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct ActionRecord {
    pub time: String,
    pub action: String,
    pub target: String,
    pub reason: String,
}

// ------------------------------------------------------------------ PolicySource

/// Where a `kilter run` controller reads its policies from (a Git repository or a
/// directory) and which revision of it is in use: the object `kubectl get policysources`
/// shows, as Flux shows a GitRepository. The controller creates and writes it; it is not a
/// policy, and `kilter lint` passes over one found in a repository.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "kilter.dev",
    version = "v1alpha1",
    kind = "PolicySource",
    plural = "policysources",
    shortname = "ksrc",
    namespaced,
    status = "PolicySourceStatus",
    derive = "PartialEq",
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".spec.url"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.lastAppliedRevision"}"#,
    printcolumn = r#"{"name":"Status","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PolicySourceSpec {
    /// `git` or `dir`.
    pub source: String,
    /// The repository's URL, or the directory's path.
    pub url: String,
    /// The branch, tag or commit followed (Git only), as `branch/main`, `tag/v1`, `commit/SHA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The folder read inside the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Whether commits must be signed by an allowed SSH key.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verify_signatures: bool,
}

/// What the controller made of its source (written by the controller).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct PolicySourceStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (the latest revision is in use) and, while a rejected revision is the latest,
    /// `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The revision in use (the last one that linted clean).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// The latest revision read, accepted or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// Why the latest revision was rejected: its errors as `file:line:column: code: message`
    /// (at most 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<String>,
}

// ------------------------------------------------------------------ any object

/// One validated object of any kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    Policy(Policy),
    Budget(Budget),
    Probe(Probe),
    ScalingTarget(ScalingTarget),
}

/// The kinds, as written in `kind:` and as DSL keywords.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Policy,
    Budget,
    Probe,
    ScalingTarget,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Policy, Kind::Budget, Kind::Probe, Kind::ScalingTarget];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Policy => "Policy",
            Kind::Budget => "Budget",
            Kind::Probe => "Probe",
            Kind::ScalingTarget => "ScalingTarget",
        }
    }

    pub fn keyword(self) -> &'static str {
        match self {
            Kind::Policy => "policy",
            Kind::Budget => "budget",
            Kind::Probe => "probe",
            Kind::ScalingTarget => "scalingTarget",
        }
    }

    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    pub fn from_keyword(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.keyword() == s)
    }

    pub fn namespaced(self) -> bool {
        self == Kind::ScalingTarget
    }

    pub fn crd(
        self,
    ) -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition
    {
        match self {
            Kind::Policy => Policy::crd(),
            Kind::Budget => Budget::crd(),
            Kind::Probe => Probe::crd(),
            Kind::ScalingTarget => ScalingTarget::crd(),
        }
    }

    pub fn plural(self) -> String {
        match self {
            Kind::Policy => Policy::plural(&()).into_owned(),
            Kind::Budget => Budget::plural(&()).into_owned(),
            Kind::Probe => Probe::plural(&()).into_owned(),
            Kind::ScalingTarget => ScalingTarget::plural(&()).into_owned(),
        }
    }
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Policy(_) => Kind::Policy,
            Object::Budget(_) => Kind::Budget,
            Object::Probe(_) => Kind::Probe,
            Object::ScalingTarget(_) => Kind::ScalingTarget,
        }
    }

    pub fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        match self {
            Object::Policy(o) => &o.metadata,
            Object::Budget(o) => &o.metadata,
            Object::Probe(o) => &o.metadata,
            Object::ScalingTarget(o) => &o.metadata,
        }
    }

    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or("")
    }

    pub fn namespace(&self) -> Option<&str> {
        self.meta().namespace.as_deref()
    }

    /// The object as a JSON value with `apiVersion` and `kind`, in API field order.
    pub fn to_json(&self) -> serde_json::Value {
        let v = match self {
            Object::Policy(o) => serde_json::to_value(o),
            Object::Budget(o) => serde_json::to_value(o),
            Object::Probe(o) => serde_json::to_value(o),
            Object::ScalingTarget(o) => serde_json::to_value(o),
        };
        v.expect("model types serialize")
    }
}
