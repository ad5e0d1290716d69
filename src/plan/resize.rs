//! Resize method: the per-node CPU market.
//!
//! Participants are containers of pods that belong to ScalingTargets selected by an active
//! resize policy. Capacity is the node's allocatable CPU minus the budget's `reserve` and the
//! requests of everything else on the node. Bids are target weight × namespace weight ×
//! demand (CEL, smoothed with last cycle's demand). Water-filling allocates within floors
//! (`min`) and caps (`max`); then each container moves toward its allocation by at most
//! `maxStep` (with `Both`, the limit moves with the request), keeping its QoS class, never removing a request or limit, and never letting the
//! node's requests pass what the market may hand out.

use serde_json::json;

use super::context::{Cx, now_value, pod_value};
use super::market::{Bidder, water_fill};
use super::{ActionType, Method, PlannedAction, Target, params};
use crate::model::{ActionKind, CpuQuantity, CpuRange, ResizePolicy, ScalingTarget};
use crate::state::{Pod, QosClass};

pub struct Resize;

/// Smoothing of demand: new = ALPHA × measured + (1 − ALPHA) × previous.
pub const DEMAND_ALPHA: f64 = 0.5;

struct Participant<'a> {
    pod: usize,
    container: usize,
    range: &'a CpuRange,
    target: &'a ScalingTarget,
    policy: usize,
    bid: f64,
    demand: f64,
}

impl Method for Resize {
    fn name(&self) -> &'static str {
        "resize"
    }

    fn plan(&self, cx: &mut Cx<'_>) {
        let policies = cx.active_of(ActionKind::Resize);
        if policies.is_empty() {
            return;
        }
        let mut applies: Vec<Vec<usize>> = vec![Vec::new(); cx.state.nodes.len()];
        for &a in &policies {
            for n in cx.nodes_for(a) {
                applies[n].push(a);
            }
        }
        let programs: Programs = cx
            .bundle
            .targets
            .iter()
            .map(|t| t.spec.demand.as_deref().map(|src| cx.bundle.program(src)))
            .collect();
        let order: Vec<usize> = cx.node_index.values().copied().collect();
        for n in order {
            if !applies[n].is_empty() {
                plan_node(cx, n, &applies[n], &programs);
            }
        }
    }
}

fn target_of<'a>(cx: &Cx<'a>, pod: &Pod) -> Option<&'a ScalingTarget> {
    let owner = pod.owner.as_ref()?;
    cx.bundle.targets.iter().find(|t| {
        t.metadata.namespace.as_deref().unwrap_or("default") == pod.namespace
            && t.spec.workload_ref.name == owner.name
            && format!("{:?}", t.spec.workload_ref.kind) == owner.kind
    })
}

fn selects(cx: &Cx<'_>, a: usize, t: &ScalingTarget) -> bool {
    let sel = &cx.active[a]
        .policy
        .spec
        .action
        .resize
        .as_ref()
        .expect("resize policy")
        .target_selector;
    crate::model::selector::matches(
        sel,
        t.metadata.labels.as_ref().unwrap_or(&Default::default()),
    )
}

/// Each target's demand program, compiled once per plan (index as in `bundle.targets`).
type Programs = Vec<Option<std::sync::Arc<Result<cel::Program, String>>>>;

fn plan_node(cx: &mut Cx<'_>, n: usize, policies: &[usize], programs: &Programs) {
    let node = cx.node(n);
    let allocatable = node.allocatable.cpu.map_or(0, |q| q.0);
    let budget = cx
        .budgets
        .iter()
        .find(|b| b.covers(n) && b.budget.spec.cpu.is_some())
        .map(|b| b.budget);
    let reserve = budget
        .and_then(|b| b.spec.cpu.as_ref()?.reserve)
        .map_or(0, |q| q.0);
    let node_value = cx.node_value(n);
    let cluster = cx.cluster.clone();
    let mut parts: Vec<Participant<'_>> = Vec::new();
    let mut others = 0i64;
    let pods = cx.pods_by_node[n].clone();
    let mut roots: std::collections::BTreeMap<usize, cel::Context<'static, 'static>> =
        Default::default();
    for i in pods {
        let pod = cx.pod(i);
        let target = target_of(cx, pod);
        let chosen = target.and_then(|t| {
            policies
                .iter()
                .copied()
                .find(|&a| selects(cx, a, t))
                .map(|a| (t, a))
        });
        let Some((t, a)) = chosen else {
            others += pod.cpu_request();
            continue;
        };
        let losers: Vec<usize> = policies
            .iter()
            .copied()
            .filter(|&b| b != a && selects(cx, b, t))
            .collect();
        for b in losers {
            let (holder, hp, mine, pb) = (
                cx.active[a].name.clone(),
                cx.active[a].priority,
                cx.active[b].priority,
                cx.active[b].name.clone(),
            );
            let r = cx.conflict_reason("pod CPU", &holder, hp, mine);
            cx.skip(
                ActionType::Resize,
                Target::pod(&pod.namespace, &pod.name),
                &pb,
                r,
            );
        }
        let policy_name = cx.active[a].name.clone();
        if pod.qos() == QosClass::BestEffort {
            cx.skip(
                ActionType::Resize,
                Target::pod(&pod.namespace, &pod.name),
                &policy_name,
                "BestEffort pod: setting CPU would change its QoS class".into(),
            );
            continue;
        }
        // Demand, smoothed.
        let ti = cx
            .bundle
            .targets
            .iter()
            .position(|x| std::ptr::eq(x, t))
            .expect("target of the bundle");
        let demand = match programs[ti].as_deref() {
            None => Ok(1.0),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(prog)) => {
                // One context per node and policy holds cluster, now and node; each pod
                // evaluates in a child scope that adds only `pod`.
                let root = roots.entry(a).or_insert_with(|| {
                    let mut ctx = crate::expr::context(&cx.env);
                    ctx.add_variable_from_value("cluster", cluster.clone());
                    ctx.add_variable_from_value("now", now_value(cx.now, cx.active[a].tz));
                    ctx.add_variable_from_value("node", node_value.clone());
                    ctx
                });
                let mut ctx = root.new_inner_scope();
                ctx.add_variable_from_value("pod", pod_value(pod));
                crate::expr::evaluate_fraction(prog, &ctx)
            }
        };
        let demand = match demand {
            Ok(d) => pod.demand.map_or(d, |prev| {
                DEMAND_ALPHA * d + (1.0 - DEMAND_ALPHA) * prev.clamp(0.0, 1.0)
            }),
            Err(e) => {
                cx.skip(
                    ActionType::Resize,
                    Target::pod(&pod.namespace, &pod.name),
                    &policy_name,
                    format!("demand failed: {e}; the pod keeps its CPU"),
                );
                others += pod.cpu_request();
                continue;
            }
        };
        let ns_weight = budget
            .and_then(|b| {
                b.spec
                    .cpu
                    .as_ref()?
                    .namespace_weights
                    .get(&pod.namespace)
                    .copied()
            })
            .unwrap_or(1.0)
            .max(0.0);
        let bid = t.spec.weight.unwrap_or(1.0).max(0.0) * ns_weight * demand;
        for (ci, c) in pod.containers.iter().enumerate() {
            match t
                .spec
                .containers
                .iter()
                .find(|cp| cp.name == c.name)
                .and_then(|cp| cp.cpu.as_ref())
            {
                Some(range) => parts.push(Participant {
                    pod: i,
                    container: ci,
                    range,
                    target: t,
                    policy: a,
                    bid,
                    demand,
                }),
                None => others += c.requests.cpu.or(c.limits.cpu).map_or(0, |q| q.0),
            }
        }
    }
    if parts.is_empty() {
        return;
    }
    let capacity = (allocatable - reserve - others).max(0);
    let bidders: Vec<Bidder> = parts
        .iter()
        .map(|p| Bidder {
            floor: p.range.min.map_or(0, |q| q.0.max(0)),
            cap: p.range.max.map_or(capacity, |q| q.0.max(0)),
            bid: p.bid,
        })
        .collect();
    let Some(alloc) = water_fill(capacity, &bidders) else {
        let floors: i64 = bidders.iter().map(|b| b.floor).sum();
        for p in &parts {
            let pod = cx.pod(p.pod);
            let c = &pod.containers[p.container];
            let policy = cx.active[p.policy].name.clone();
            cx.skip(
                ActionType::Resize,
                Target::container(&pod.namespace, &pod.name, &c.name),
                &policy,
                format!(
                    "the market cannot meet its floors: {} containers need {} in all, node {} has {} to hand out",
                    parts.len(),
                    CpuQuantity(floors),
                    cx.node(n).name,
                    CpuQuantity(capacity)
                ),
            );
        }
        return;
    };
    apply(cx, n, capacity, allocatable, &parts, &alloc);
}

/// The CPU field a container's resize moves, by policy and QoS.
#[derive(Clone, Copy, PartialEq)]
enum Field {
    Limit,
    Request,
    Both,
}

struct Change {
    part: usize,
    request: Option<i64>,
    limit: Option<i64>,
    from: (Option<i64>, Option<i64>),
}

fn apply(
    cx: &mut Cx<'_>,
    n: usize,
    capacity: i64,
    allocatable: i64,
    parts: &[Participant<'_>],
    alloc: &[i64],
) {
    let mut changes = Vec::new();
    for (k, p) in parts.iter().enumerate() {
        let pod = cx.pod(p.pod);
        let c = &pod.containers[p.container];
        let target = Target::container(&pod.namespace, &pod.name, &c.name);
        let policy = cx.active[p.policy].name.clone();
        let (req, lim) = (c.requests.cpu.map(|q| q.0), c.limits.cpu.map(|q| q.0));
        let field = if pod.qos() == QosClass::Guaranteed {
            Field::Both
        } else {
            match p.target.spec.resize_policy.unwrap_or_default() {
                ResizePolicy::Limits => Field::Limit,
                ResizePolicy::Requests => Field::Request,
                ResizePolicy::Both => Field::Both,
            }
        };
        let current = match field {
            Field::Limit => lim,
            Field::Request | Field::Both => req.or(lim),
        };
        let Some(current) = current else {
            let what = if field == Field::Limit {
                "limit"
            } else {
                "request"
            };
            cx.skip(
                ActionType::Resize,
                target,
                &policy,
                format!("the container has no CPU {what} to resize; kilter never adds one"),
            );
            continue;
        };
        if field == Field::Both
            && (req.is_none() || lim.is_none())
            && pod.qos() != QosClass::Guaranteed
        {
            cx.skip(
                ActionType::Resize,
                target,
                &policy,
                "resizePolicy Both needs a CPU request and limit; kilter never adds one".into(),
            );
            continue;
        }
        let step = p.range.max_step.map(|q| q.0.max(0));
        let delta = alloc[k] - current;
        let delta = step.map_or(delta, |s| delta.clamp(-s, s));
        if delta == 0 {
            continue;
        }
        let cooldown = [
            p.target.spec.cooldown,
            cx.active[p.policy].policy.spec.cooldown,
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(r) = cx.cooling(
            &policy,
            cooldown,
            cx.last_action(&policy, None, Some((&pod.namespace, &pod.name))),
        ) {
            cx.skip(ActionType::Resize, target, &policy, r);
            continue;
        }
        let new = (current + delta).max(1);
        let (request, limit) = match field {
            // A limit is never raised past the node's allocatable CPU.
            Field::Limit => (
                req,
                Some(
                    if new > current {
                        new.min(allocatable.max(current))
                    } else {
                        new
                    }
                    .max(req.unwrap_or(0)),
                ),
            ),
            Field::Request => (Some(lim.map_or(new, |l| new.min(l))), lim),
            Field::Both if pod.qos() == QosClass::Guaranteed => (req.map(|_| new), Some(new)),
            // The limit moves with the request, keeping the container's burst headroom.
            Field::Both => (Some(new), lim.map(|l| (l + new - current).max(new))),
        };
        changes.push(Change {
            part: k,
            request,
            limit,
            from: (req, lim),
        });
    }
    // Requests may not exceed what the market hands out: decreases first, then increases
    // while there is headroom.
    let mut total: i64 = parts
        .iter()
        .map(|p| {
            cx.pod(p.pod).containers[p.container]
                .requests
                .cpu
                .or(cx.pod(p.pod).containers[p.container].limits.cpu)
                .map_or(0, |q| q.0)
        })
        .sum();
    changes.sort_by_key(|c| (c.request.unwrap_or(0) - c.from.0.unwrap_or(0), c.part));
    for ch in changes {
        let p = &parts[ch.part];
        let pod = cx.pod(p.pod);
        let c = &pod.containers[p.container];
        let target = Target::container(&pod.namespace, &pod.name, &c.name);
        let policy = cx.active[p.policy].name.clone();
        let old_req = ch.from.0.or(ch.from.1).unwrap_or(0);
        let new_req = ch.request.or(ch.limit).unwrap_or(0);
        if new_req > old_req && total - old_req + new_req > capacity {
            cx.skip(
                ActionType::Resize,
                target,
                &policy,
                format!("would raise the node's market requests past {} (allocatable minus reserve and other pods)", CpuQuantity(capacity)),
            );
            continue;
        }
        // QoS must not change.
        let mut after = pod.clone();
        after.containers[p.container].requests.cpu = ch.request.map(CpuQuantity);
        after.containers[p.container].limits.cpu = ch.limit.map(CpuQuantity);
        if after.qos() != pod.qos() {
            cx.skip(
                ActionType::Resize,
                target,
                &policy,
                format!(
                    "would change the pod's QoS class from {:?} to {:?}",
                    pod.qos(),
                    after.qos()
                ),
            );
            continue;
        }
        total += new_req - old_req;
        let q = |v: Option<i64>| v.map(|x| json!(CpuQuantity(x).to_string()));
        let mut cpu = serde_json::Map::new();
        let mut from = serde_json::Map::new();
        if let Some(v) = q(ch.request) {
            cpu.insert("request".into(), v);
        }
        if let Some(v) = q(ch.limit) {
            cpu.insert("limit".into(), v);
        }
        if let Some(v) = q(ch.from.0) {
            from.insert("request".into(), v);
        }
        if let Some(v) = q(ch.from.1) {
            from.insert("limit".into(), v);
        }
        let act = &cx.active[p.policy];
        let reason = format!(
            "market on {}: allocation {}m of {}m (bid {:.2} = weight × namespace weight × demand {:.2}){}",
            cx.node(n).name,
            alloc[ch.part],
            capacity,
            p.bid,
            p.demand,
            p.range
                .max_step
                .map(|s| format!(", at most {s} per cycle"))
                .unwrap_or_default()
        );
        cx.act(PlannedAction {
            kind: ActionType::Resize,
            target,
            params: params(vec![
                ("cpu", serde_json::Value::Object(cpu)),
                ("from", serde_json::Value::Object(from)),
                ("allocation", json!(CpuQuantity(alloc[ch.part]).to_string())),
                ("marketCapacity", json!(CpuQuantity(capacity).to_string())),
                ("demand", json!((p.demand * 1000.0).round() / 1000.0)),
                ("node", json!(cx.node(n).name)),
            ]),
            policy,
            reason,
            enforce: act.enforce,
        });
    }
}
