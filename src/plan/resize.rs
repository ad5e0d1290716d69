//! Resize method: the per-node CPU market.
//!
//! Participants are containers of pods that belong to ScalingTargets selected by an active
//! resize policy. Capacity is the node's allocatable CPU minus the budget's `reserve` and the
//! requests of everything else on the node. Bids are target weight × namespace weight ×
//! demand (CEL, smoothed with last cycle's demand). Water-filling allocates within floors
//! (`min`) and caps (`max`); then each container moves toward its allocation by at most
//! `maxStep` (with `Both`, the limit moves with the request), keeping its QoS class, never removing a request or limit, and never letting the
//! node's requests pass what the market may hand out.

use super::Method;
use super::action::{
    Action, Change as Moved, ContainerNames, Reason, ResizeContainer, SkipCause, Target,
};
use super::context::Cx;
use super::cooldown::Object;
use super::market::{Bidder, water_fill};
use super::schedule::now_value;
use super::values::pod_value;
use crate::model::{ActionKind, CpuQuantity, CpuRange, ResizePolicy, ScalingTarget};
use crate::state::{Pod, QosClass, Resources};

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
        let policies = cx.active_of(&[ActionKind::Resize]);
        if policies.is_empty() {
            return;
        }
        let mut applies: Vec<Vec<usize>> = vec![Vec::new(); cx.state.nodes.len()];
        for &a in &policies {
            for n in cx.nodes_for(a) {
                applies[n].push(a);
            }
        }
        let order: Vec<usize> = cx.node_index.values().copied().collect();
        for n in order {
            if !applies[n].is_empty() {
                plan_node(cx, n, &applies[n]);
            }
        }
    }
}

/// The CEL contexts a node's demand expressions run in: one root per policy (cluster, now,
/// node), and a child scope per pod that adds only `pod`.
struct DemandScopes {
    /// The node.
    n: usize,
    roots: std::collections::BTreeMap<usize, cel::Context<'static, 'static>>,
}

impl DemandScopes {
    /// A target's demand for a pod under policy `a`, smoothed with last cycle's.
    fn demand(
        &mut self,
        cx: &Cx<'_>,
        a: usize,
        program: Option<&Result<crate::expr::Bounded, String>>,
        pod: &Pod,
    ) -> Result<f64, String> {
        let measured = match program {
            None => 1.0,
            Some(Err(e)) => return Err(e.clone()),
            Some(Ok(prog)) => {
                // With the pod's labels, the most any collection in scope holds.
                let node_labels = cx.node(self.n).labels.len();
                let range = node_labels.max(pod.labels.len()) as u64;
                if let Some(d) = prog.fast_fraction(&cx.vars(Some(self.n), Some(pod)), range) {
                    return d.map(|measured| smooth(pod, measured));
                }
                let root = self.roots.entry(a).or_insert_with(|| {
                    let mut ctx = crate::expr::context(&cx.env);
                    ctx.add_variable_from_value("cluster", cx.cluster_value());
                    ctx.add_variable_from_value("now", now_value(cx.now, cx.active[a].tz));
                    ctx.add_variable_from_value("node", cx.node_value(self.n));
                    ctx
                });
                let mut ctx = root.new_inner_scope();
                ctx.add_variable_from_value("pod", pod_value(pod));
                crate::expr::evaluate_fraction(prog, &ctx, range)?
            }
        };
        Ok(smooth(pod, measured))
    }
}

/// Demand smoothed with last cycle's.
fn smooth(pod: &Pod, measured: f64) -> f64 {
    pod.demand.map_or(measured, |prev| {
        DEMAND_ALPHA * measured + (1.0 - DEMAND_ALPHA) * prev.clamp(0.0, 1.0)
    })
}

/// The policy that resizes a pod (the first in planning order whose targetSelector selects
/// its ScalingTarget), with that target (and its index in the bundle); the others that would
/// are reported as conflicts.
fn resizing_policy<'a>(
    cx: &mut Cx<'a>,
    policies: &[usize],
    i: usize,
) -> Option<(usize, &'a ScalingTarget, usize)> {
    let (ti, t) = cx.target_of(i)?;
    let pod = cx.pod(i);
    let selects = |a: usize| cx.bundle.selects(cx.active[a].at, ti);
    let a = policies.iter().copied().find(|&a| selects(a))?;
    let losers: Vec<usize> = policies
        .iter()
        .copied()
        .filter(|&b| b != a && selects(b))
        .collect();
    for b in losers {
        let holder = super::claims::Holder {
            policy: cx.active[a].name.to_string(),
            priority: cx.active[a].priority,
        };
        let r = super::claims::conflict_reason(
            super::claims::Knob::PodCpu,
            &holder,
            cx.active[b].priority,
        );
        let pod_target = Target::pod(&pod.namespace, &pod.name);
        cx.skip_for(b, pod_target, SkipCause::Conflict, r);
    }
    Some((ti, t, a))
}

/// The market's participants on node `n`, and the CPU everything else there requests
/// (pods this plan moves onto the node included).
fn participants<'a>(
    cx: &mut Cx<'a>,
    n: usize,
    policies: &[usize],
    budget: Option<&'a crate::model::Budget>,
) -> (Vec<Participant<'a>>, i64) {
    let index = cx.index;
    let mut scopes = DemandScopes {
        n,
        roots: Default::default(),
    };
    let mut parts = Vec::new();
    let mut others = cx.ledger.placed_cpu[n];
    for i in index.pods_of(n) {
        let pod = cx.pod(i);
        let Some((ti, t, a)) = resizing_policy(cx, policies, i) else {
            others = others.saturating_add(index.pod_requests[i].0);
            continue;
        };
        let pod_target = || Target::pod(&pod.namespace, &pod.name);
        if cx.ledger.evicted.contains(&i) {
            let r = "the pod is evicted in this plan; it keeps its CPU".to_string();
            cx.skip_for(a, pod_target(), SkipCause::PodEvicted, r);
            others = others.saturating_add(index.pod_requests[i].0);
            continue;
        }
        if pod.qos() == QosClass::BestEffort {
            let r = "BestEffort pod: setting CPU would change its QoS class".to_string();
            cx.skip_for(a, pod_target(), SkipCause::QosClass, r);
            continue;
        }
        let demand = match scopes.demand(cx, a, cx.bundle.demand(ti), pod) {
            Ok(d) => d,
            Err(e) => {
                let r = format!("demand failed: {e}; the pod keeps its CPU");
                cx.skip_for(a, pod_target(), SkipCause::Expression, r);
                others = others.saturating_add(index.pod_requests[i].0);
                continue;
            }
        };
        let ns_weight = budget
            .and_then(|b| b.spec.cpu.as_ref()?.namespace_weights.get(&pod.namespace))
            .copied()
            .unwrap_or(1.0)
            .max(0.0);
        let bid = t.spec.weight.unwrap_or(1.0).max(0.0) * ns_weight * demand;
        for (ci, c) in pod.containers.iter().enumerate() {
            let range = t
                .spec
                .containers
                .iter()
                .find(|cp| cp.name == c.name)
                .and_then(|cp| cp.cpu.as_ref());
            match range {
                Some(range) => parts.push(Participant {
                    pod: i,
                    container: ci,
                    range,
                    target: t,
                    policy: a,
                    bid,
                    demand,
                }),
                None => {
                    let cpu = c.requests.cpu.or(c.limits.cpu).map_or(0, |q| q.0);
                    others = others.saturating_add(cpu);
                }
            }
        }
    }
    (parts, others)
}

fn plan_node(cx: &mut Cx<'_>, n: usize, policies: &[usize]) {
    let allocatable = cx.node(n).allocatable.cpu.map_or(0, |q| q.0);
    let budget = cx
        .budgets
        .all
        .iter()
        .find(|b| b.covers(n) && b.budget.spec.cpu.is_some())
        .map(|b| b.budget);
    let reserve = budget
        .and_then(|b| b.spec.cpu.as_ref()?.reserve)
        .map_or(0, |q| q.0);
    let (parts, others) = participants(cx, n, policies, budget);
    if parts.is_empty() {
        return;
    }
    let capacity = allocatable
        .saturating_sub(reserve)
        .saturating_sub(others)
        .max(0);
    let bidders: Vec<Bidder> = parts
        .iter()
        .map(|p| Bidder {
            floor: p.range.min.map_or(0, |q| q.0.max(0)),
            cap: p.range.max.map_or(capacity, |q| q.0.max(0)),
            bid: p.bid,
        })
        .collect();
    match water_fill(capacity, &bidders) {
        Some(alloc) => apply(cx, n, capacity, allocatable, &parts, &alloc),
        None => {
            let floors: i64 = bidders.iter().map(|b| b.floor).fold(0, i64::saturating_add);
            let r = format!(
                "the market cannot meet its floors: {} containers need {} in all, node {} has {} to hand out",
                parts.len(),
                CpuQuantity(floors),
                cx.node(n).name,
                CpuQuantity(capacity)
            );
            for p in &parts {
                let pod = cx.pod(p.pod);
                let c = &pod.containers[p.container];
                let t = Target::container(&pod.namespace, &pod.name, &c.name);
                cx.skip_for(p.policy, t, SkipCause::MarketCapacity, r.clone());
            }
        }
    }
}

/// The CPU field a container's resize moves, by policy and QoS.
#[derive(Clone, Copy, PartialEq)]
enum Field {
    Limit,
    Request,
    Both,
}

/// A container's move toward its allocation: request and limit before and after.
struct Change {
    part: usize,
    request: Option<i64>,
    limit: Option<i64>,
    from: (Option<i64>, Option<i64>),
}

impl Change {
    /// What the scheduler counts for the container before and after (request, else limit).
    fn counted(&self) -> (i64, i64) {
        (
            self.from.0.or(self.from.1).unwrap_or(0),
            self.request.or(self.limit).unwrap_or(0),
        )
    }
}

/// Each participant's move toward its allocation, by at most `maxStep`, keeping what the
/// resize policy and QoS class allow; skips (with the reason) what cannot move.
fn moves(
    cx: &mut Cx<'_>,
    allocatable: i64,
    parts: &[Participant<'_>],
    alloc: &[i64],
) -> Vec<Change> {
    let mut changes = Vec::new();
    for (k, p) in parts.iter().enumerate() {
        let pod = cx.pod(p.pod);
        let c = &pod.containers[p.container];
        let target = || Target::container(&pod.namespace, &pod.name, &c.name);
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
            let r = format!("the container has no CPU {what} to resize; kilter never adds one");
            cx.skip_for(p.policy, target(), SkipCause::NothingToResize, r);
            continue;
        };
        if field == Field::Both
            && (req.is_none() || lim.is_none())
            && pod.qos() != QosClass::Guaranteed
        {
            let r = "resizePolicy Both needs a CPU request and limit; kilter never adds one";
            cx.skip_for(p.policy, target(), SkipCause::NothingToResize, r.into());
            continue;
        }
        let step = p.range.max_step.map(|q| q.0.max(0));
        let delta = alloc[k].saturating_sub(current);
        let delta = step.map_or(delta, |s| delta.clamp(-s, s));
        if delta == 0 {
            continue;
        }
        if !cx.cooldowns.is_empty() {
            let object = Object::Pod {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
            };
            if let Some(r) = cx.cooling(p.policy, &object, p.target.spec.cooldown) {
                cx.skip_for(p.policy, target(), SkipCause::Cooldown, r);
                continue;
            }
        }
        let new = current.saturating_add(delta).max(1);
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
            Field::Both => (
                Some(new),
                lim.map(|l| l.saturating_add(new.saturating_sub(current)).max(new)),
            ),
        };
        changes.push(Change {
            part: k,
            request,
            limit,
            from: (req, lim),
        });
    }
    changes
}

/// What a market's moves need from the node it runs on.
struct Market {
    n: usize,
    capacity: i64,
}

fn apply(
    cx: &mut Cx<'_>,
    n: usize,
    capacity: i64,
    allocatable: i64,
    parts: &[Participant<'_>],
    alloc: &[i64],
) {
    let changes = moves(cx, allocatable, parts, alloc);
    // Requests may not exceed what the market hands out: decreases first, then increases
    // while there is headroom.
    let mut total: i64 = parts
        .iter()
        .map(|p| {
            let c = &cx.pod(p.pod).containers[p.container];
            c.requests.cpu.or(c.limits.cpu).map_or(0, |q| q.0)
        })
        .fold(0, i64::saturating_add);
    // Changes come in participant order, so the place breaks ties as the participant would.
    let mut order: Vec<(i64, usize)> = changes
        .iter()
        .enumerate()
        .map(|(j, c)| {
            let (from, to) = c.counted();
            (to.saturating_sub(from), j)
        })
        .collect();
    order.sort_unstable();
    // Each pod's container resources as the changes admitted so far leave them: the QoS
    // class is a property of the whole pod, so a change is checked against its sibling
    // containers' changes too. A pod's participants are adjacent in `parts`; each pod's
    // containers are copied once into one flat array, at `start[k]` for participant k.
    let mut resources: Vec<(Resources, Resources)> = Vec::new();
    let mut start = Vec::with_capacity(parts.len());
    for (k, p) in parts.iter().enumerate() {
        if k == 0 || parts[k - 1].pod != p.pod {
            let at = resources.len();
            resources.extend(
                cx.pod(p.pod)
                    .containers
                    .iter()
                    .map(|c| (c.requests, c.limits)),
            );
            start.push(at);
        } else {
            start.push(start[k - 1]);
        }
    }
    let market = Market { n, capacity };
    let mut admitted = vec![false; changes.len()];
    for (_, j) in order {
        let ch = &changes[j];
        let p = &parts[ch.part];
        let pod = cx.pod(p.pod);
        let c = &pod.containers[p.container];
        let target = || Target::container(&pod.namespace, &pod.name, &c.name);
        let (old_req, new_req) = ch.counted();
        if new_req > old_req && total.saturating_sub(old_req).saturating_add(new_req) > capacity {
            let r = format!(
                "would raise the node's market requests past {} (allocatable minus reserve and other pods)",
                CpuQuantity(capacity)
            );
            cx.skip_for(p.policy, target(), SkipCause::MarketCapacity, r);
            continue;
        }
        let next = &mut resources[start[ch.part]..start[ch.part] + pod.containers.len()];
        let kept = next[p.container];
        next[p.container].0.cpu = ch.request.map(CpuQuantity);
        next[p.container].1.cpu = ch.limit.map(CpuQuantity);
        let qos = crate::state::qos_class(next.iter().copied());
        if qos != pod.qos() {
            next[p.container] = kept;
            let r = format!(
                "would change the pod's QoS class from {:?} to {qos:?}",
                pod.qos(),
            );
            cx.skip_for(p.policy, target(), SkipCause::QosClass, r);
            continue;
        }
        total = total.saturating_sub(old_req).saturating_add(new_req);
        admitted[j] = true;
    }
    // Emitted in the node's pod order (the changes'), as the verifier reads a node's pods.
    for (ch, _) in changes.iter().zip(admitted).filter(|(_, a)| *a) {
        emit(cx, &market, &parts[ch.part], ch, alloc[ch.part]);
    }
}

fn emit(cx: &mut Cx<'_>, m: &Market, p: &Participant<'_>, ch: &Change, allocation: i64) {
    let pod = cx.pod(p.pod);
    let c = &pod.containers[p.container];
    let reason = Reason::Market {
        bid: p.bid,
        max_step: p.range.max_step,
    };
    let action = Action::Resize(ResizeContainer {
        names: ContainerNames::new(&cx.node(m.n).name, &pod.namespace, &pod.name, &c.name),
        request: Moved {
            from: ch.from.0,
            to: ch.request,
        },
        limit: Moved {
            from: ch.from.1,
            to: ch.limit,
        },
        allocation,
        market_capacity: m.capacity,
        demand: p.demand,
    });
    cx.act_for(p.policy, action, reason);
}
