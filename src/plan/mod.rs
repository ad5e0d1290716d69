//! The planner: `plan(bundle, state, now) -> Plan`, pure and deterministic.
//!
//! Methods — one per way of acting — are registered in priority order in [`METHODS`]; each
//! looks at the active policies of its kind and proposes actions, which are checked against
//! budgets, cooldowns and the one-writer-per-knob rule before they enter the plan. Every
//! action and every skipped action carries its policy and a reason a person can read.

mod budget;
mod context;
mod governor;
pub mod market;
mod nodes;
mod render;
mod resize;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value as Json;

use crate::load::Document;
use crate::model::{Budget, Object, Policy, ScalingTarget};
use crate::state::ClusterState;

pub use context::Cx;
pub use render::{render_human, render_json};

/// The validated objects a plan is made from, with their CEL compiled once.
#[derive(Clone, Debug, Default)]
pub struct Bundle {
    pub policies: Vec<Policy>,
    pub budgets: Vec<Budget>,
    pub targets: Vec<ScalingTarget>,
    programs: BTreeMap<String, Arc<Result<cel::Program, String>>>,
}

impl Bundle {
    /// Builds a bundle and compiles every expression in it (sorting objects by name).
    pub fn new(
        mut policies: Vec<Policy>,
        mut budgets: Vec<Budget>,
        mut targets: Vec<ScalingTarget>,
    ) -> Bundle {
        let name = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            (m.namespace.clone(), m.name.clone())
        };
        policies.sort_by_key(|p| name(&p.metadata));
        budgets.sort_by_key(|p| name(&p.metadata));
        targets.sort_by_key(|p| name(&p.metadata));
        let sources = policies
            .iter()
            .flat_map(|p| [p.spec.when.as_deref(), p.spec.node_filter.as_deref()])
            .chain(targets.iter().map(|t| t.spec.demand.as_deref()))
            .flatten();
        let mut programs = BTreeMap::new();
        for src in sources {
            programs
                .entry(src.to_string())
                .or_insert_with(|| Arc::new(crate::expr::compile_bounded(src)));
        }
        Bundle {
            policies,
            budgets,
            targets,
            programs,
        }
    }

    /// The compiled program of an expression of this bundle.
    pub fn program(&self, src: &str) -> Arc<Result<cel::Program, String>> {
        self.programs
            .get(src)
            .cloned()
            .unwrap_or_else(|| Arc::new(crate::expr::compile_bounded(src)))
    }

    /// Takes the valid objects of linted documents, in a stable order (by name).
    pub fn from_documents(docs: &[Document]) -> Bundle {
        let (mut policies, mut budgets, mut targets) = (Vec::new(), Vec::new(), Vec::new());
        for d in docs.iter().filter(|d| d.valid) {
            match &d.object {
                Some(Object::Policy(p)) => policies.push(p.clone()),
                Some(Object::Budget(x)) => budgets.push(x.clone()),
                Some(Object::ScalingTarget(t)) => targets.push(t.clone()),
                _ => {}
            }
        }
        Bundle::new(policies, budgets, targets)
    }
}

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

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct PlannedAction {
    pub kind: ActionType,
    pub target: Target,
    pub params: serde_json::Map<String, Json>,
    pub policy: String,
    pub reason: String,
    /// False when the policy is DryRun: the action is shown, never applied.
    pub enforce: bool,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Skipped {
    pub kind: ActionType,
    pub target: Target,
    pub policy: String,
    pub reason: String,
}

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BudgetReport {
    pub name: String,
    pub nodes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub power: Option<PowerReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disruption: Option<DisruptionReport>,
}

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PowerReport {
    pub watts: f64,
    pub max_watts: f64,
    pub percent: f64,
    /// ok, warning or critical.
    pub level: &'static str,
}

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DisruptionReport {
    pub unavailable: usize,
    pub planned: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<usize>,
    pub schedulable: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_nodes: Option<i64>,
    pub drains_last_hour: usize,
    pub planned_drains: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_drains_per_hour: Option<i64>,
}

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub actions: Vec<PlannedAction>,
    pub skipped: Vec<Skipped>,
    pub budgets: Vec<BudgetReport>,
    pub warnings: Vec<String>,
}

/// One way of acting (Karpenter's disruption methods are the model).
pub trait Method: Sync {
    fn name(&self) -> &'static str;
    fn plan(&self, cx: &mut Cx<'_>);
}

/// The methods, in the order they claim knobs: governors, then consolidation, cordons and
/// drains (which share the disruption budget, most deliberate first), then resizes.
pub static METHODS: &[&dyn Method] = &[
    &governor::Governor,
    &nodes::Consolidate,
    &nodes::Cordon,
    &nodes::Drain,
    &nodes::Uncordon,
    &resize::Resize,
];

/// Plans the actions that bring the cluster in line with the bundle at `now`.
pub fn plan(bundle: &Bundle, state: &ClusterState, now: DateTime<Utc>) -> Plan {
    let mut cx = Cx::new(bundle, state, now);
    for m in METHODS {
        m.plan(&mut cx);
    }
    cx.finish()
}

/// Sorted, deduplicated map helper for params.
pub(crate) fn params(pairs: Vec<(&str, Json)>) -> serde_json::Map<String, Json> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect()
}
