//! The planning context: which policies are active and why, indexes over the cluster, and the
//! plan so far. The concerns it ties together live in their own modules — knob claims
//! (`claims`), budget accounting (`budget`), cooldowns (`cooldown`), the clock (`schedule`),
//! CEL variables (`values`) — and the [`Ledger`] records what earlier actions of this plan did,
//! so that later decisions see it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cel::{Env, Value as CelValue};
use chrono::{DateTime, Utc};

use super::action::{ActionType, PlannedAction, Reason, SkipCause, Skipped, Target};
use super::budget::Budgets;
use super::claims::Claims;
use super::cooldown::{Cooldowns, Object};
use super::schedule::{now_value, window_now};
use super::values::{ClusterFacts, Vars, cluster_value, node_value};
use super::{Bundle, Plan};
use crate::model::{ActionKind, Duration, Mode, Policy, ScalingTarget};
use crate::state::{ClusterState, Index, Node, Pod};

/// A policy that is active now: in a schedule window (or unscheduled) and `when` true.
pub struct Active<'a> {
    pub policy: &'a Policy,
    /// Its place in the bundle's policies.
    pub at: usize,
    pub name: Arc<str>,
    pub priority: i32,
    pub kind: ActionKind,
    pub enforce: bool,
    /// Compiled and known to be valid.
    pub node_filter: Option<Arc<Result<crate::expr::Bounded, String>>>,
    /// Why it is active, for reasons: schedule window and `when`.
    pub why: String,
    /// The time zone its schedule and `now` use.
    pub tz: chrono_tz::Tz,
}

impl Active<'_> {
    pub fn action_type(&self) -> ActionType {
        action_type(self.kind)
    }

    pub fn cooldown(&self) -> Option<Duration> {
        self.policy.spec.cooldown
    }
}

/// What the actions planned so far do to the cluster; every later decision reads it.
#[derive(Default)]
pub struct Ledger {
    /// Nodes cordoned or drained in this plan, and by which policy.
    pub disrupted: BTreeMap<String, Arc<str>>,
    /// Nodes that receive pods moved in this plan, and the policy that moves them.
    pub received: BTreeMap<usize, Arc<str>>,
    /// CPU and memory requests placed on each node by evictions planned this cycle.
    pub placed_cpu: Vec<i64>,
    pub placed_memory: Vec<i64>,
    /// Evictions planned per PodDisruptionBudget (index in the snapshot).
    pub pdb_used: BTreeMap<usize, i64>,
    /// Pods evicted in this plan (index in the snapshot).
    pub evicted: BTreeSet<usize>,
}

pub struct Cx<'a> {
    pub bundle: &'a Bundle,
    pub state: &'a ClusterState,
    pub now: DateTime<Utc>,
    pub env: Arc<Env>,
    /// `cluster`, for the fast path.
    pub facts: ClusterFacts,
    /// `cluster` as a CEL value for the interpreter, built at first use.
    cluster: std::cell::OnceCell<CelValue>,
    pub node_index: BTreeMap<&'a str, usize>,
    pub index: &'a Index<'a>,
    /// The ScalingTarget of each workload of the snapshot (index as in `index.workloads`).
    workload_target: Vec<Option<usize>>,
    /// Active policies in planning order: Enforce before DryRun, then priority, then name.
    pub active: Vec<Active<'a>>,
    pub budgets: Budgets<'a>,
    pub claims: Claims,
    pub cooldowns: Cooldowns,
    pub ledger: Ledger,
    /// `node` as a CEL value for the interpreter, built at first use.
    node_values: Vec<std::cell::OnceCell<CelValue>>,
    out: Plan,
}

/// CEL's standard environment, built once per process: building it registers every
/// standard function and costs more than planning a small cluster.
fn stdlib() -> Arc<Env> {
    static ENV: std::sync::OnceLock<Arc<Env>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| Arc::new(Env::stdlib())).clone()
}

pub fn action_type(kind: ActionKind) -> ActionType {
    match kind {
        ActionKind::Governor => ActionType::SetGovernor,
        ActionKind::Consolidate | ActionKind::Drain => ActionType::Drain,
        ActionKind::Cordon => ActionType::Cordon,
        ActionKind::Resize => ActionType::Resize,
    }
}

impl<'a> Cx<'a> {
    pub fn new(
        bundle: &'a Bundle,
        state: &'a ClusterState,
        index: &'a Index<'a>,
        now: DateTime<Utc>,
    ) -> Self {
        let node_index: BTreeMap<&str, usize> = state
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        let nodes = state.nodes.len();
        let facts = ClusterFacts::of(state);
        let mut cx = Cx {
            bundle,
            state,
            now,
            env: stdlib(),
            facts,
            cluster: std::cell::OnceCell::new(),
            node_index,
            index,
            workload_target: bundle.targets_of(index),
            active: Vec::new(),
            budgets: Budgets::new(&bundle.budgets, &bundle.default_budget, state, now),
            claims: Claims::default(),
            cooldowns: Cooldowns::new(state),
            ledger: Ledger {
                placed_cpu: vec![0; nodes],
                placed_memory: vec![0; nodes],
                ..Default::default()
            },
            node_values: vec![std::cell::OnceCell::new(); nodes],
            out: Plan::default(),
        };
        for pdb in &state.pdbs {
            if let Err(e) = crate::model::selector::validate(&pdb.selector) {
                cx.warn(format!(
                    "PodDisruptionBudget {}/{} has a selector kilter cannot read ({e}); it protects every pod in its namespace",
                    pdb.namespace, pdb.name
                ));
            }
        }
        cx.activate();
        cx
    }

    fn activate(&mut self) {
        let mut active = Vec::new();
        for (place, p) in self.bundle.policies.iter().enumerate() {
            if let Some(a) = self.activate_one(place, p) {
                active.push(a);
            }
        }
        // Enforce first, so DryRun policies never take what Enforce ones need; then highest
        // priority; ties by name, so the order is the same on every run.
        active.sort_by(|a, b| {
            b.enforce
                .cmp(&a.enforce)
                .then(b.priority.cmp(&a.priority))
                .then_with(|| a.name.cmp(&b.name))
        });
        self.active = active;
    }

    /// Whether a policy is active now (schedule window, `when`); failures are reported as skips.
    fn activate_one(&mut self, place: usize, p: &'a Policy) -> Option<Active<'a>> {
        let name = p.metadata.name.clone().unwrap_or_default();
        let kind = p.spec.action.kinds().first().copied()?;
        let at = action_type(kind);
        let enforce = p.spec.mode() == Mode::Enforce;
        let tz: chrono_tz::Tz = p
            .spec
            .schedule
            .as_ref()
            .and_then(|s| s.time_zone.as_deref())
            .and_then(|z| z.parse().ok())
            .unwrap_or(chrono_tz::UTC);
        let mut why = Vec::new();
        if let Some(s) = &p.spec.schedule {
            why.push(window_now(s, tz, self.now)?);
        }
        let fail = |cx: &mut Self, reason: String| {
            let s = Skipped {
                kind: at,
                target: Target::default(),
                policy: name.clone(),
                cause: SkipCause::Expression,
                reason,
                enforce,
            };
            cx.out.skipped.push(s);
            None
        };
        if let Some(src) = &p.spec.when {
            let compiled = self.bundle.program(src);
            let prog = match compiled.as_ref() {
                Ok(prog) => prog,
                Err(e) => return fail(self, format!("`when` cannot be evaluated: {e}")),
            };
            let holds = prog
                .fast_bool(&self.vars(None, None), 0)
                .unwrap_or_else(|| {
                    let mut ctx = crate::expr::context(&self.env);
                    ctx.add_variable_from_value("cluster", self.cluster_value());
                    ctx.add_variable_from_value("now", now_value(self.now, tz));
                    ctx.add_variable_from_value("budget", self.policy_budget(p));
                    crate::expr::evaluate_bool(prog, &ctx, 0)
                });
            match holds {
                Ok(true) => why.push(format!("when `{src}` holds")),
                Ok(false) => return None,
                Err(e) => {
                    return fail(
                        self,
                        format!("`when` failed: {e}; the policy is skipped this cycle"),
                    );
                }
            }
        }
        let node_filter = p
            .spec
            .node_filter
            .as_deref()
            .map(|src| self.bundle.program(src));
        if let Some(Err(e)) = node_filter.as_deref() {
            return fail(self, format!("`nodeFilter` cannot be evaluated: {e}"));
        }
        Some(Active {
            policy: p,
            at: place,
            name: name.as_str().into(),
            priority: p.spec.priority(),
            kind,
            enforce,
            node_filter,
            why: why.join("; "),
            tz,
        })
    }

    /// The budget a policy's `when` sees: the first (by name) whose nodes may overlap its own.
    fn policy_budget(&self, p: &Policy) -> CelValue {
        self.budgets
            .all
            .iter()
            .filter(|b| !b.is_default)
            .find(|b| {
                crate::model::selector::may_overlap(
                    b.budget.spec.node_selector.as_ref(),
                    p.spec.node_selector.as_ref(),
                )
            })
            .map_or_else(super::budget::no_budget, |b| b.cel_value())
    }

    /// `cluster` as a CEL value (the fast path reads `facts`).
    pub fn cluster_value(&self) -> CelValue {
        self.cluster
            .get_or_init(|| cluster_value(&self.facts))
            .clone()
    }

    pub fn node_value(&self, n: usize) -> CelValue {
        self.node_values[n]
            .get_or_init(|| node_value(&self.state.nodes[n], self.index.pods_of(n).len()))
            .clone()
    }

    /// The variables the fast path reads: `cluster`, node `n`'s and a pod's.
    pub fn vars<'v>(&'v self, n: Option<usize>, pod: Option<&'v Pod>) -> Vars<'v> {
        Vars {
            cluster: &self.facts,
            node: n.map(|n| (&self.state.nodes[n], self.index.pods_of(n).len())),
            pod,
        }
    }

    /// Indexes of the active policies of some action kinds, in planning order.
    pub fn active_of(&self, kinds: &[ActionKind]) -> Vec<usize> {
        (0..self.active.len())
            .filter(|&a| kinds.contains(&self.active[a].kind))
            .collect()
    }

    /// Whether an active policy applies to a node: its selector matches and its nodeFilter holds.
    pub fn applies(&mut self, a: usize, n: usize) -> Result<bool, String> {
        let node = &self.state.nodes[n];
        let policy = self.active[a].policy;
        if let Some(sel) = &policy.spec.node_selector
            && !crate::model::selector::matches(sel, &node.labels)
        {
            return Ok(false);
        }
        let Some(Ok(prog)) = self.active[a].node_filter.as_deref() else {
            return Ok(true);
        };
        let range = node.labels.len() as u64;
        let holds = prog
            .fast_bool(&self.vars(Some(n), None), range)
            .unwrap_or_else(|| {
                let mut ctx = crate::expr::context(&self.env);
                ctx.add_variable_from_value("cluster", self.cluster_value());
                ctx.add_variable_from_value("now", now_value(self.now, self.active[a].tz));
                ctx.add_variable_from_value("budget", self.budgets.node_value(n));
                ctx.add_variable_from_value("node", self.node_value(n));
                crate::expr::evaluate_bool(prog, &ctx, range)
            });
        holds.map_err(|e| format!("nodeFilter failed: {e}"))
    }

    /// Nodes an active policy applies to, by name; filter failures are reported as skipped.
    pub fn nodes_for(&mut self, a: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let by_name: Vec<usize> = self.node_index.values().copied().collect();
        for n in by_name {
            match self.applies(a, n) {
                Ok(true) => out.push(n),
                Ok(false) => {}
                Err(e) => {
                    let t = Target::node(&self.state.nodes[n].name);
                    self.skip_for(a, t, SkipCause::Expression, e)
                }
            }
        }
        out
    }

    /// `Some(reason)` while policy `a`'s cooldown (or a longer one given) runs on an object.
    pub fn cooling(&self, a: usize, object: &Object, longer: Option<Duration>) -> Option<String> {
        let act = &self.active[a];
        let cooldown = act.cooldown().into_iter().chain(longer).max();
        self.cooldowns.check(&act.name, object, cooldown, self.now)
    }

    /// Claims a knob for policy `a`; on conflict, reports the skip and returns false.
    pub fn claim(&mut self, a: usize, object: &str, knob: super::claims::Knob, t: &Target) -> bool {
        let (name, priority) = (self.active[a].name.clone(), self.active[a].priority);
        match self.claims.claim(object, knob, &name, priority) {
            Ok(()) => true,
            Err(c) => {
                self.skip_for(a, t.clone(), SkipCause::Conflict, c.to_string());
                false
            }
        }
    }

    pub fn pod(&self, i: usize) -> &'a Pod {
        &self.state.pods[i]
    }

    /// The ScalingTarget of pod `i`'s workload, with its index in the bundle's targets.
    pub fn target_of(&self, i: usize) -> Option<(usize, &'a ScalingTarget)> {
        let w = self.index.pod_workload[i]?;
        let t = self.workload_target[w as usize]?;
        Some((t, &self.bundle.targets[t]))
    }

    pub fn node(&self, i: usize) -> &'a Node {
        &self.state.nodes[i]
    }

    /// Free CPU and memory on a node after the snapshot's pods and this plan's placements.
    pub fn free(&self, n: usize) -> (i64, i64) {
        // Saturating: sums over hostile snapshots must not wrap around into room.
        let node = self.node(n);
        let cpu = node.allocatable.cpu.map_or(0, |q| q.0);
        let memory = node.allocatable.memory.map_or(i64::MAX / 4, |q| q.0);
        (
            cpu.saturating_sub(self.index.node_requests[n].0)
                .saturating_sub(self.ledger.placed_cpu[n]),
            memory
                .saturating_sub(self.index.node_requests[n].1)
                .saturating_sub(self.ledger.placed_memory[n]),
        )
    }

    /// Adds an action for active policy `a`.
    pub fn act_for(&mut self, a: usize, action: super::Action, why: impl Into<Reason>) {
        let act = &self.active[a];
        let policy = act.name.clone();
        let enforce = act.enforce;
        self.act(PlannedAction {
            action,
            policy,
            why: why.into(),
            enforce,
        });
    }

    pub fn act(&mut self, a: PlannedAction) {
        self.out.actions.push(a);
    }

    /// Reports an action of active policy `a` as skipped.
    pub fn skip_for(&mut self, a: usize, target: Target, cause: SkipCause, reason: String) {
        let act = &self.active[a];
        let s = Skipped {
            kind: act.action_type(),
            target,
            policy: act.name.to_string(),
            cause,
            reason,
            enforce: act.enforce,
        };
        self.out.skipped.push(s);
    }

    pub fn warn(&mut self, w: String) {
        self.out.warnings.push(w);
    }

    pub fn finish(mut self) -> Plan {
        for b in &self.budgets.all {
            if let Some(w) = b.power_warning() {
                self.out.warnings.push(w);
            }
            self.out.budgets.push(b.report());
        }
        self.out
    }
}
