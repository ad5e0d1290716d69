//! The planner: `plan(bundle, state, now) -> Plan`, pure and deterministic.
//!
//! Methods — one per way of acting — are registered in priority order in [`METHODS`]; each
//! looks at the active policies of its kind and proposes actions, which are checked against
//! budgets, cooldowns and the one-writer-per-knob rule before they enter the plan. Every
//! action and every skipped action carries its policy and a reason a person can read.

pub mod action;
pub mod budget;
pub mod claims;
mod context;
pub mod cooldown;
mod governor;
pub mod market;
mod nodes;
mod render;
mod resize;
pub mod schedule;
pub mod values;
pub mod verify;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{Budget, Object, Policy, ScalingTarget};
use crate::state::{ClusterState, Index};
use crate::syntax::load::Document;

pub use action::{
    Action, ActionType, Change, ContainerNames, DrainNode, GovernorChange, Invariant, Placement,
    PlannedAction, PodRef, Reason, ResizeContainer, SkipCause, Skipped, Target,
};
pub use context::Cx;
pub(crate) use nodes::tolerates_all;
pub use render::{render_human, render_json};
pub use verify::{Violation, verify, verify_indexed};

/// The validated objects a plan is made from, with their CEL compiled once. Built by
/// [`Bundle::new`], which also works out what every plan reads the same way (targets by
/// workload, what each resize policy selects): the objects are not changed afterwards.
#[derive(Clone, Debug)]
pub struct Bundle {
    pub policies: Vec<Policy>,
    pub budgets: Vec<Budget>,
    pub targets: Vec<ScalingTarget>,
    /// The disruption budget of nodes no Budget's `disruption` covers.
    pub default_budget: Budget,
    /// ScalingTargets by workload name (index in `targets`).
    targets_by_workload: foldhash::HashMap<String, Vec<usize>>,
    programs: BTreeMap<String, Arc<Result<crate::expr::Bounded, String>>>,
    /// Each target's compiled `demand` (index as in `targets`).
    demands: Vec<Option<Arc<Result<crate::expr::Bounded, String>>>>,
    /// For each policy (index as in `policies`), the targets its resize `targetSelector`
    /// selects, a bit per target (empty for a policy that does not resize).
    selects: Vec<Vec<u64>>,
}

impl Default for Bundle {
    fn default() -> Self {
        Bundle::new(Vec::new(), Vec::new(), Vec::new())
    }
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
        let demands = targets
            .iter()
            .map(|t| t.spec.demand.as_deref().map(|src| programs[src].clone()))
            .collect();
        let selects = policies
            .iter()
            .map(|p| {
                let Some(r) = &p.spec.action.resize else {
                    return Vec::new();
                };
                let mut bits = vec![0u64; targets.len().div_ceil(64)];
                for (ti, t) in targets.iter().enumerate() {
                    let labels = t.metadata.labels.as_ref();
                    if crate::model::selector::matches(
                        &r.target_selector,
                        labels.unwrap_or(&Default::default()),
                    ) {
                        bits[ti / 64] |= 1 << (ti % 64);
                    }
                }
                bits
            })
            .collect();
        let mut targets_by_workload: foldhash::HashMap<String, Vec<usize>> = Default::default();
        for (i, t) in targets.iter().enumerate() {
            targets_by_workload
                .entry(t.spec.workload_ref.name.clone())
                .or_default()
                .push(i);
        }
        Bundle {
            policies,
            budgets,
            targets,
            default_budget: budget::default_budget(),
            targets_by_workload,
            programs,
            demands,
            selects,
        }
    }

    /// The compiled `demand` of target `ti` (index in `targets`).
    pub fn demand(&self, ti: usize) -> Option<&Result<crate::expr::Bounded, String>> {
        self.demands[ti].as_deref()
    }

    /// Whether policy `p`'s resize `targetSelector` selects target `ti` (indexes in
    /// `policies` and `targets`).
    pub fn selects(&self, p: usize, ti: usize) -> bool {
        self.selects[p]
            .get(ti / 64)
            .is_some_and(|w| w & (1 << (ti % 64)) != 0)
    }

    /// The ScalingTarget (index in `targets`) of a workload: same namespace, kind and name as
    /// its pods' top-level owner.
    pub fn target_for(&self, w: &crate::state::Workload<'_>) -> Option<usize> {
        self.targets_by_workload
            .get(w.name)?
            .iter()
            .copied()
            .find(|&i| {
                let t = &self.targets[i];
                t.metadata.namespace.as_deref().unwrap_or("default") == w.namespace
                    && t.spec.workload_ref.kind.as_str() == w.kind
            })
    }

    /// The ScalingTarget of each workload of a snapshot (index as in `index.workloads`).
    pub fn targets_of(&self, index: &Index<'_>) -> Vec<Option<usize>> {
        index.workloads.iter().map(|w| self.target_for(w)).collect()
    }

    /// The compiled program of an expression of this bundle.
    pub fn program(&self, src: &str) -> Arc<Result<crate::expr::Bounded, String>> {
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

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BudgetReport {
    pub name: String,
    /// The default disruption budget (nodes no Budget's `disruption` covers).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
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

/// The methods, in the order they claim knobs: governors; then node disruptions
/// (consolidation, cordons and drains, one method so that every policy that disrupts nodes
/// takes its turn in planning order and sees what earlier ones did); kilter's own uncordons;
/// and last the CPU market, which sees pods placed and evicted by the disruptions.
pub static METHODS: &[&dyn Method] = &[
    &governor::Governor,
    &nodes::Disrupt,
    &nodes::Uncordon,
    &resize::Resize,
];

/// Plans the actions that bring the cluster in line with the bundle at `now`, then gates
/// them through the verifier: an action that would break a safety invariant on the cluster
/// the plan leaves is moved to `skipped` with the invariant named.
pub fn plan(bundle: &Bundle, state: &ClusterState, now: DateTime<Utc>) -> Plan {
    plan_indexed(bundle, state, &Index::new(state), now)
}

/// [`plan`] with the snapshot's index built by the caller (a controller keeps one per snapshot).
pub fn plan_indexed(
    bundle: &Bundle,
    state: &ClusterState,
    index: &Index<'_>,
    now: DateTime<Utc>,
) -> Plan {
    let mut plan = plan_unverified_indexed(bundle, state, index, now);
    verify::gate(bundle, state, index, now, &mut plan);
    plan.sort();
    plan
}

/// The methods' plan, before the verifier has seen it (for tests of the verifier itself).
pub fn plan_unverified(bundle: &Bundle, state: &ClusterState, now: DateTime<Utc>) -> Plan {
    plan_unverified_indexed(bundle, state, &Index::new(state), now)
}

pub fn plan_unverified_indexed(
    bundle: &Bundle,
    state: &ClusterState,
    index: &Index<'_>,
    now: DateTime<Utc>,
) -> Plan {
    let mut cx = Cx::new(bundle, state, index, now);
    for m in METHODS {
        m.plan(&mut cx);
    }
    cx.finish()
}

impl Plan {
    /// Puts actions and skips in their stable output order (by target, kind, policy).
    pub fn sort(&mut self) {
        // Keys borrowed from the actions: a plan holds tens of thousands of them. Each key's
        // first bytes, packed in an integer, settle most comparisons without reading a name.
        let mut order: Vec<(u128, _, usize)> = self
            .actions
            .iter()
            .enumerate()
            .map(|(k, a)| {
                let target = a.action.target_key();
                (
                    key_prefix(&target),
                    (target, a.kind(), a.policy.as_ref()),
                    k,
                )
            })
            .collect();
        order.sort_unstable();
        let mut order: Vec<usize> = order.into_iter().map(|(_, _, k)| k).collect();
        // Moved in place, one cycle of the permutation at a time: no second vector of actions.
        for start in 0..order.len() {
            let mut j = start;
            while order[j] != usize::MAX {
                let k = std::mem::replace(&mut order[j], usize::MAX);
                if k == start {
                    break;
                }
                self.actions.swap(j, k);
                j = k;
            }
        }
        self.skipped.sort_by(|a, b| {
            a.target
                .key()
                .cmp(&b.target.key())
                .then(a.kind.cmp(&b.kind))
                .then(a.policy.cmp(&b.policy))
                .then(a.reason.cmp(&b.reason))
        });
        self.skipped.dedup();
    }
}

/// The first 16 bytes of an order-preserving encoding of `key`, as a big-endian integer:
/// `None` is 0; `Some(s)` is 1, then `s` with each 0 byte written 0 255, then 0 1. The
/// encoding of a key is never a prefix of another's, and its bytes order as the keys do, so
/// `key_prefix(a) < key_prefix(b)` implies `a < b`; equal prefixes say nothing.
fn key_prefix(key: &[Option<&str>]) -> u128 {
    let mut out = [0u8; 16];
    let mut at = 0;
    // Writes a byte; true once the prefix is full, when the rest of the key cannot matter.
    let mut put = |b: u8| {
        out[at] = b;
        at += 1;
        at == 16
    };
    'key: for part in key {
        match part {
            None => {
                if put(0) {
                    break;
                }
            }
            Some(s) => {
                if put(1) {
                    break;
                }
                for &b in s.as_bytes() {
                    if put(b) || (b == 0 && put(255)) {
                        break 'key;
                    }
                }
                if put(0) || put(1) {
                    break;
                }
            }
        }
    }
    u128::from_be_bytes(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn part() -> impl Strategy<Value = Option<String>> {
        // Names over small alphabets with NUL, so that keys often share prefixes: short ones
        // that end inside the prefix, long ones that run past it.
        proptest::option::of(prop_oneof!["[a\\x00\\x01]{0,4}", "[ab\\x00\\u{e9}]{0,20}"])
    }

    proptest! {
        #[test]
        fn key_prefixes_order_as_the_keys_do(
            a in proptest::collection::vec(part(), 4),
            b in proptest::collection::vec(part(), 4),
        ) {
            let a: Vec<Option<&str>> = a.iter().map(|s| s.as_deref()).collect();
            let b: Vec<Option<&str>> = b.iter().map(|s| s.as_deref()).collect();
            let (pa, pb) = (key_prefix(&a), key_prefix(&b));
            if pa != pb {
                prop_assert_eq!(pa.cmp(&pb), a.cmp(&b));
            }
            if a == b {
                prop_assert_eq!(pa, pb);
            }
        }

        #[test]
        fn sorting_a_plan_orders_its_actions_and_keeps_every_one(
            actions in proptest::collection::vec(action(), 0..40),
        ) {
            let mut p = Plan {
                actions: actions.clone(),
                skipped: Vec::new(),
                budgets: Vec::new(),
                warnings: Vec::new(),
            };
            p.sort();
            let key = |a: &PlannedAction| {
                (a.action.target_key().map(|s| s.map(str::to_owned)), a.kind(), a.policy.clone())
            };
            let keys: Vec<_> = p.actions.iter().map(key).collect();
            prop_assert!(keys.is_sorted());
            let mut before: Vec<String> = actions.iter().map(|a| format!("{a:?}")).collect();
            let mut after: Vec<String> = p.actions.iter().map(|a| format!("{a:?}")).collect();
            before.sort();
            after.sort();
            prop_assert_eq!(before, after);
        }
    }

    /// Actions on a few nodes and pods with names that share long prefixes.
    fn action() -> impl Strategy<Value = PlannedAction> {
        let name = || prop_oneof!["[ab]{0,3}", "node-with-a-long-name-[ab]{0,2}"];
        let action = prop_oneof![
            name().prop_map(|node| Action::Uncordon { node }),
            (name(), any::<bool>())
                .prop_map(|(node, drain_step)| Action::Cordon { node, drain_step }),
            (name(), name(), name(), 0..3i64).prop_map(|(ns, pod, c, to)| {
                Action::Resize(ResizeContainer {
                    names: ContainerNames::new("n", &ns, &pod, &c),
                    request: Change {
                        from: Some(1),
                        to: Some(to),
                    },
                    limit: Change {
                        from: None,
                        to: None,
                    },
                    allocation: to,
                    market_capacity: 1,
                    demand: 1.0,
                })
            }),
        ];
        (action, prop_oneof![Just("p1"), Just("p2")], 0..3u8).prop_map(|(action, policy, n)| {
            PlannedAction {
                action,
                policy: policy.into(),
                why: Reason::Text(format!("reason {n}")),
                enforce: n == 0,
            }
        })
    }
}
