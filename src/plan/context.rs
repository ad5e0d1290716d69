//! The planning context: indexes over the cluster state, which policies are active and why,
//! CEL variables, budget accounting, knob claims, and the plan being built.

use std::collections::BTreeMap;
use std::sync::Arc;

use cel::{Env, Program, Value as CelValue};
use chrono::{DateTime, Datelike, Timelike, Utc};

use super::budget::BudgetState;
use super::{ActionType, Plan, PlannedAction, Skipped, Target};
use crate::expr::map_value;
use crate::model::{ActionKind, Mode, Policy, Schedule, Weekday};
use crate::state::{ClusterState, Node, Pod};

/// A policy that is active now: in a schedule window (or unscheduled) and `when` true.
pub struct Active<'a> {
    pub policy: &'a Policy,
    pub name: String,
    pub priority: i32,
    pub kind: ActionKind,
    pub enforce: bool,
    /// Compiled and known to be valid.
    pub node_filter: Option<Arc<Result<Program, String>>>,
    /// Why it is active, for reasons: schedule window and `when`.
    pub why: String,
    /// The time zone its schedule and `now` use.
    pub tz: chrono_tz::Tz,
}

pub struct Cx<'a> {
    pub bundle: &'a super::Bundle,
    pub state: &'a ClusterState,
    pub now: DateTime<Utc>,
    pub env: Arc<Env>,
    pub cluster: CelValue,
    pub node_index: BTreeMap<&'a str, usize>,
    pub pods_by_node: Vec<Vec<usize>>,
    pub active: Vec<Active<'a>>,
    pub budgets: Vec<BudgetState<'a>>,
    /// (node, knob) → (policy, priority): one writer per knob per object.
    pub claims: BTreeMap<(String, &'static str), (String, i32)>,
    /// Nodes cordoned or drained in this plan.
    pub disrupted: BTreeMap<String, String>,
    /// CPU and memory requests of the pods on each node.
    pub used_cpu: Vec<i64>,
    pub used_memory: Vec<i64>,
    /// CPU and memory requests placed on each node by evictions planned this cycle.
    pub placed_cpu: Vec<i64>,
    pub placed_memory: Vec<i64>,
    /// Evictions planned per PodDisruptionBudget (namespace/name) this cycle.
    pub pdb_used: BTreeMap<String, i64>,
    node_values: Vec<Option<CelValue>>,
    out: Plan,
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
    pub fn new(bundle: &'a super::Bundle, state: &'a ClusterState, now: DateTime<Utc>) -> Self {
        let node_index: BTreeMap<&str, usize> = state
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        let mut pods_by_node = vec![Vec::new(); state.nodes.len()];
        for (i, p) in state.pods.iter().enumerate() {
            if let Some(&n) = node_index.get(p.node.as_str())
                && !p.is_terminal()
            {
                pods_by_node[n].push(i);
            }
        }
        let used = |f: fn(&Pod) -> i64| -> Vec<i64> {
            pods_by_node
                .iter()
                .map(|ps| ps.iter().map(|&i| f(&state.pods[i])).sum())
                .collect()
        };
        let (used_cpu, used_memory) = (used(Pod::cpu_request), used(Pod::memory_request));
        let budgets = bundle
            .budgets
            .iter()
            .map(|b| BudgetState::new(b, state, now))
            .collect();
        let mut cx = Cx {
            bundle,
            state,
            now,
            env: Arc::new(Env::stdlib()),
            cluster: cluster_value(state),
            node_index,
            pods_by_node,
            active: Vec::new(),
            budgets,
            claims: BTreeMap::new(),
            disrupted: BTreeMap::new(),
            used_cpu,
            used_memory,
            placed_cpu: vec![0; state.nodes.len()],
            placed_memory: vec![0; state.nodes.len()],
            pdb_used: BTreeMap::new(),
            node_values: vec![None; state.nodes.len()],
            out: Plan::default(),
        };
        cx.activate();
        cx
    }

    fn activate(&mut self) {
        let mut active = Vec::new();
        for p in &self.bundle.policies {
            let name = p.metadata.name.clone().unwrap_or_default();
            let Some(kind) = p.spec.action.kinds().first().copied() else {
                continue;
            };
            let at = action_type(kind);
            let tz: chrono_tz::Tz = p
                .spec
                .schedule
                .as_ref()
                .and_then(|s| s.time_zone.as_deref())
                .and_then(|z| z.parse().ok())
                .unwrap_or(chrono_tz::UTC);
            let mut why = Vec::new();
            if let Some(s) = &p.spec.schedule {
                match window_now(s, tz, self.now) {
                    Some(w) => why.push(w),
                    None => continue,
                }
            }
            if let Some(src) = &p.spec.when {
                let compiled = self.bundle.program(src);
                let prog = match compiled.as_ref() {
                    Ok(prog) => prog,
                    Err(e) => {
                        self.skip(
                            at,
                            Target::default(),
                            &name,
                            format!("`when` cannot be evaluated: {e}"),
                        );
                        continue;
                    }
                };
                let budget = self.policy_budget(p);
                let mut ctx = crate::expr::context(&self.env);
                ctx.add_variable_from_value("cluster", self.cluster.clone());
                ctx.add_variable_from_value("now", now_value(self.now, tz));
                ctx.add_variable_from_value("budget", budget);
                match crate::expr::evaluate_bool(prog, &ctx) {
                    Ok(true) => why.push(format!("when `{src}` holds")),
                    Ok(false) => continue,
                    Err(e) => {
                        self.skip(
                            at,
                            Target::default(),
                            &name,
                            format!("`when` failed: {e}; the policy is skipped this cycle"),
                        );
                        continue;
                    }
                }
            }
            let node_filter = p
                .spec
                .node_filter
                .as_deref()
                .map(|src| self.bundle.program(src));
            match node_filter.as_deref() {
                None | Some(Ok(_)) => {}
                Some(Err(e)) => {
                    self.skip(
                        at,
                        Target::default(),
                        &name,
                        format!("`nodeFilter` cannot be evaluated: {e}"),
                    );
                    continue;
                }
            };
            active.push(Active {
                policy: p,
                name,
                priority: p.spec.priority(),
                kind,
                enforce: p.spec.mode() == Mode::Enforce,
                node_filter,
                why: why.join("; "),
                tz,
            });
        }
        // Highest priority first; ties by name, so the order is the same on every run.
        active.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        self.active = active;
    }

    /// The budget a policy's `when` sees: the first (by name) whose nodes may overlap its own.
    fn policy_budget(&self, p: &Policy) -> CelValue {
        self.budgets
            .iter()
            .find(|b| {
                crate::model::selector::may_overlap(
                    b.budget.spec.node_selector.as_ref(),
                    p.spec.node_selector.as_ref(),
                )
            })
            .map_or_else(super::budget::no_budget, BudgetState::cel_value)
    }

    /// The budget a node's expressions see: the first (by name) that selects the node.
    pub fn node_budget_value(&self, node: usize) -> CelValue {
        self.budgets
            .iter()
            .find(|b| b.covers(node))
            .map_or_else(super::budget::no_budget, BudgetState::cel_value)
    }

    pub fn node_value(&mut self, n: usize) -> CelValue {
        if let Some(v) = &self.node_values[n] {
            return v.clone();
        }
        let v = node_value(&self.state.nodes[n], self.pods_by_node[n].len());
        self.node_values[n] = Some(v.clone());
        v
    }

    /// Indexes of the active policies of one action kind, highest priority first.
    pub fn active_of(&self, kind: ActionKind) -> Vec<usize> {
        (0..self.active.len())
            .filter(|&a| self.active[a].kind == kind)
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
        if self.active[a].node_filter.is_none() {
            return Ok(true);
        }
        let node_v = self.node_value(n);
        let budget = self.node_budget_value(n);
        let a = &self.active[a];
        let mut ctx = crate::expr::context(&self.env);
        ctx.add_variable_from_value("cluster", self.cluster.clone());
        ctx.add_variable_from_value("now", now_value(self.now, a.tz));
        ctx.add_variable_from_value("budget", budget);
        ctx.add_variable_from_value("node", node_v);
        let Some(Ok(prog)) = a.node_filter.as_deref() else {
            return Ok(true);
        };
        crate::expr::evaluate_bool(prog, &ctx).map_err(|e| format!("nodeFilter failed: {e}"))
    }

    /// Nodes an active policy applies to, by name; filter failures are reported as skipped.
    pub fn nodes_for(&mut self, a: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let names: Vec<(usize, String)> = self
            .node_index
            .iter()
            .map(|(k, v)| (*v, k.to_string()))
            .collect();
        for (n, name) in names {
            match self.applies(a, n) {
                Ok(true) => out.push(n),
                Ok(false) => {}
                Err(e) => {
                    let (kind, policy) = (
                        action_type(self.active[a].kind),
                        self.active[a].name.clone(),
                    );
                    self.skip(kind, Target::node(&name), &policy, e);
                }
            }
        }
        out
    }

    /// Claims a knob on an object for a policy; on conflict returns the holder.
    pub fn claim(
        &mut self,
        object: &str,
        knob: &'static str,
        policy: &str,
        priority: i32,
    ) -> Result<(), (String, i32)> {
        let key = (object.to_string(), knob);
        match self.claims.get(&key) {
            Some((holder, p)) if holder != policy => Err((holder.clone(), *p)),
            _ => {
                self.claims.insert(key, (policy.to_string(), priority));
                Ok(())
            }
        }
    }

    /// The conflict reason for a policy that lost a knob to another.
    pub fn conflict_reason(
        &self,
        knob: &str,
        holder: &str,
        holder_priority: i32,
        priority: i32,
    ) -> String {
        if holder_priority == priority {
            format!(
                "conflict: `{holder}` also writes {knob} here with the same priority {priority}; `{holder}` wins by name order"
            )
        } else {
            format!(
                "conflict: `{holder}` (priority {holder_priority}) writes {knob} here and outranks this policy ({priority})"
            )
        }
    }

    /// When this policy last acted on a node or pod (from the snapshot's recent actions).
    pub fn last_action(
        &self,
        policy: &str,
        node: Option<&str>,
        pod: Option<(&str, &str)>,
    ) -> Option<DateTime<Utc>> {
        self.state
            .recent_actions
            .iter()
            .filter(|r| r.policy == policy)
            .filter(|r| node.is_none_or(|n| r.node.as_deref() == Some(n)))
            .filter(|r| {
                pod.is_none_or(|(ns, p)| {
                    r.namespace.as_deref() == Some(ns) && r.pod.as_deref() == Some(p)
                })
            })
            .filter_map(|r| r.at())
            .max()
    }

    /// `Some(reason)` when a cooldown still runs.
    pub fn cooling(
        &self,
        policy: &str,
        cooldown: Option<crate::model::Duration>,
        last: Option<DateTime<Utc>>,
    ) -> Option<String> {
        let (cd, last) = (cooldown?, last?);
        let until = last + chrono::Duration::from_std(cd.0).ok()?;
        (self.now < until).then(|| {
            format!(
                "cooldown: `{policy}` acted here at {} and waits {cd} (until {})",
                last.to_rfc3339(),
                until.to_rfc3339()
            )
        })
    }

    pub fn pod(&self, i: usize) -> &'a Pod {
        &self.state.pods[i]
    }

    pub fn node(&self, i: usize) -> &'a Node {
        &self.state.nodes[i]
    }

    pub fn act(&mut self, a: PlannedAction) {
        self.out.actions.push(a);
    }

    pub fn skip(&mut self, kind: ActionType, target: Target, policy: &str, reason: String) {
        self.out.skipped.push(Skipped {
            kind,
            target,
            policy: policy.to_string(),
            reason,
        });
    }

    pub fn warn(&mut self, w: String) {
        self.out.warnings.push(w);
    }

    pub fn finish(mut self) -> Plan {
        for b in &self.budgets {
            if let Some(w) = b.power_warning() {
                self.out.warnings.push(w);
            }
            self.out.budgets.push(b.report());
        }
        let key = |t: &Target| {
            (
                t.node.clone(),
                t.namespace.clone(),
                t.pod.clone(),
                t.container.clone(),
            )
        };
        self.out.actions.sort_by(|a, b| {
            key(&a.target)
                .cmp(&key(&b.target))
                .then(a.kind.cmp(&b.kind))
                .then(a.policy.cmp(&b.policy))
        });
        self.out.skipped.sort_by(|a, b| {
            key(&a.target)
                .cmp(&key(&b.target))
                .then(a.kind.cmp(&b.kind))
                .then(a.policy.cmp(&b.policy))
                .then(a.reason.cmp(&b.reason))
        });
        self.out.skipped.dedup();
        self.out
    }
}

fn weekday_of(d: chrono::Weekday) -> Weekday {
    match d {
        chrono::Weekday::Mon => Weekday::Mon,
        chrono::Weekday::Tue => Weekday::Tue,
        chrono::Weekday::Wed => Weekday::Wed,
        chrono::Weekday::Thu => Weekday::Thu,
        chrono::Weekday::Fri => Weekday::Fri,
        chrono::Weekday::Sat => Weekday::Sat,
        chrono::Weekday::Sun => Weekday::Sun,
    }
}

/// The window of a schedule that contains `now`, described; None outside every window.
pub fn window_now(s: &Schedule, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Option<String> {
    let local = now.with_timezone(&tz);
    let minute = (local.hour() * 60 + local.minute()) as u16;
    let today = weekday_of(local.weekday());
    let yesterday = weekday_of(local.weekday().pred());
    let on = |days: &[Weekday], d: Weekday| days.is_empty() || days.contains(&d);
    for w in &s.windows {
        let (start, end) = (w.start.minutes, w.end.minutes);
        let inside = if end > start {
            on(&w.days, today) && minute >= start && minute < end
        } else {
            (on(&w.days, today) && minute >= start) || (on(&w.days, yesterday) && minute < end)
        };
        if inside {
            let days = if w.days.is_empty() {
                "every day".to_string()
            } else {
                w.days
                    .iter()
                    .map(|d| format!("{d:?}"))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            return Some(format!("in window {}–{} {days} ({tz})", w.start, w.end));
        }
    }
    None
}

fn f(v: f64) -> CelValue {
    CelValue::Float(v)
}

fn cluster_value(state: &ClusterState) -> CelValue {
    let ready: Vec<&Node> = state.nodes.iter().filter(|n| n.ready).collect();
    let avg = |g: fn(&Node) -> f64| {
        if ready.is_empty() {
            0.0
        } else {
            ready.iter().map(|n| g(n)).sum::<f64>() / ready.len() as f64
        }
    };
    map_value(vec![
        (
            "cpu",
            map_value(vec![("utilization", f(avg(|n| n.cpu_utilization)))]),
        ),
        (
            "memory",
            map_value(vec![("utilization", f(avg(|n| n.memory_utilization)))]),
        ),
        (
            "power",
            map_value(vec![(
                "watts",
                f(state.nodes.iter().map(|n| n.power_watts).sum()),
            )]),
        ),
        (
            "nodes",
            map_value(vec![
                ("total", CelValue::Int(state.nodes.len() as i64)),
                ("ready", CelValue::Int(ready.len() as i64)),
                (
                    "schedulable",
                    CelValue::Int(
                        state
                            .nodes
                            .iter()
                            .filter(|n| n.ready && !n.unschedulable)
                            .count() as i64,
                    ),
                ),
                (
                    "cordoned",
                    CelValue::Int(state.nodes.iter().filter(|n| n.unschedulable).count() as i64),
                ),
            ]),
        ),
    ])
}

fn labels_value(l: &crate::state::Labels) -> CelValue {
    let m: std::collections::HashMap<cel::objects::Key, CelValue> = l
        .iter()
        .map(|(k, v)| {
            (
                cel::objects::Key::from(k.clone()),
                CelValue::String(Arc::new(v.clone())),
            )
        })
        .collect();
    CelValue::Map(cel::objects::Map { map: Arc::new(m) })
}

fn node_value(n: &Node, pods: usize) -> CelValue {
    map_value(vec![
        ("name", CelValue::String(Arc::new(n.name.clone()))),
        ("labels", labels_value(&n.labels)),
        (
            "cpu",
            map_value(vec![("utilization", f(n.cpu_utilization))]),
        ),
        (
            "memory",
            map_value(vec![("utilization", f(n.memory_utilization))]),
        ),
        (
            "governor",
            CelValue::String(Arc::new(n.governor.clone().unwrap_or_default())),
        ),
        ("powerWatts", f(n.power_watts)),
        ("pods", CelValue::Int(pods as i64)),
    ])
}

/// `pod` for demand expressions: CPU in cores, memory in bytes, as numbers.
pub fn pod_value(p: &Pod) -> CelValue {
    let sum = |g: &dyn Fn(&crate::state::Container) -> Option<i64>| {
        p.containers.iter().filter_map(g).sum::<i64>() as f64
    };
    map_value(vec![
        ("namespace", CelValue::String(Arc::new(p.namespace.clone()))),
        ("name", CelValue::String(Arc::new(p.name.clone()))),
        ("labels", labels_value(&p.labels)),
        (
            "cpu",
            map_value(vec![
                ("usage", f(sum(&|c| c.usage.cpu.map(|q| q.0)) / 1000.0)),
                ("request", f(sum(&|c| c.requests.cpu.map(|q| q.0)) / 1000.0)),
                ("limit", f(sum(&|c| c.limits.cpu.map(|q| q.0)) / 1000.0)),
            ]),
        ),
        (
            "memory",
            map_value(vec![
                ("usage", f(sum(&|c| c.usage.memory.map(|q| q.0)))),
                ("request", f(sum(&|c| c.requests.memory.map(|q| q.0)))),
                ("limit", f(sum(&|c| c.limits.memory.map(|q| q.0)))),
            ]),
        ),
    ])
}

pub fn now_value(now: DateTime<Utc>, tz: chrono_tz::Tz) -> CelValue {
    let local = now.with_timezone(&tz);
    map_value(vec![
        ("timestamp", CelValue::Int(now.timestamp())),
        ("hour", CelValue::Int(local.hour() as i64)),
        ("minute", CelValue::Int(local.minute() as i64)),
        (
            "weekday",
            CelValue::String(Arc::new(format!("{:?}", weekday_of(local.weekday())))),
        ),
    ])
}
