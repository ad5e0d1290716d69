//! The closed loop: every cycle of trace time, the usage of the moment is laid on the
//! simulated cluster, the bundle is planned with the same planner the controller runs, and
//! the enforced actions are applied to the cluster the next cycle sees. Pure and
//! deterministic: the same inputs (and noise seed) give the same report, bit for bit.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::trace::{Checked, PowerModel, Usage};
use crate::plan::{Action, Bundle, PlannedAction};
use crate::state::{ClusterState, RecentAction};

/// How a simulation runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Trace time between two plans.
    pub step: chrono::Duration,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// An action undone within this many cycles counts as an oscillation.
    pub oscillation_cycles: usize,
    /// Multiplicative noise on every usage sample (A/B runs): seed and standard deviation.
    pub noise: Option<(u64, f64)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            step: chrono::Duration::minutes(1),
            from: None,
            to: None,
            oscillation_cycles: 10,
            noise: None,
        }
    }
}

/// What a simulation measured. Figures are rounded so that the JSON is stable.
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub from: String,
    pub to: String,
    pub step_seconds: i64,
    pub cycles: usize,
    pub energy_kwh: f64,
    pub pools: Vec<PoolReport>,
    pub budgets: Vec<BudgetMinutes>,
    pub throttling: Throttling,
    pub pending: Pending,
    /// Enforced actions applied, by kind.
    pub actions: BTreeMap<String, usize>,
    /// Actions of DryRun policies (shown, never applied), by kind.
    pub dry_run_actions: BTreeMap<String, usize>,
    /// Actions undone within `oscillationCycles` cycles.
    pub oscillations: usize,
    pub oscillation_cycles: usize,
    /// Applied resizes that changed a pod's QoS class (Kubernetes refuses them: always 0
    /// unless the planner is wrong).
    pub qos_changes: usize,
    pub fairness: Vec<Fairness>,
    /// How good `pod.cpu.forecast` and `node.cpu.forecast` were, when the bundle uses them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<ForecastError>,
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub series: Series,
}

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PoolReport {
    pub pool: String,
    pub nodes: usize,
    pub energy_kwh: f64,
    pub mean_watts: f64,
    pub peak_watts: f64,
}

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BudgetMinutes {
    pub budget: String,
    pub max_watts: f64,
    pub peak_watts: f64,
    pub warning_minutes: f64,
    pub critical_minutes: f64,
    /// The longest run of consecutive cycles above `maxWatts`.
    pub longest_over_max_cycles: usize,
}

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    /// CPU demanded and not served (above the limit, or past what the node's frequency
    /// gives), in core-seconds.
    pub core_seconds: f64,
    /// Pod-minutes with more than 1% of demand unserved.
    pub throttled_pod_minutes: f64,
    pub pod_minutes: f64,
    /// The SLO figure: throttled pod-minutes over running pod-minutes.
    pub share: f64,
    /// Unserved CPU per namespace with running pods, in core-seconds.
    pub by_namespace: BTreeMap<String, f64>,
}

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    pub pod_minutes: f64,
    pub max_pods: usize,
    /// The longest any pod stayed Pending, in cycles.
    pub longest_cycles: usize,
}

/// The CPU market's fairness under a Budget with namespace weights: each namespace's share
/// of the CPU limits on the budget's nodes against its share of the weights, and Jain's index
/// of their ratio (1 is perfectly proportional), averaged over the cycles.
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Fairness {
    pub budget: String,
    pub jain: f64,
    pub namespaces: Vec<NamespaceShare>,
}

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceShare {
    pub namespace: String,
    pub weight_share: f64,
    pub allocation_share: f64,
}

/// The mean absolute percentage error of the forecasts, each checked against the usage
/// observed when its time came.
#[derive(Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ForecastError {
    pub mape: f64,
    pub checked: usize,
}

/// Time series for the report's plots (sampled to at most [`MAX_POINTS`] points).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Hours since the start.
    pub hours: Vec<f64>,
    pub budget_watts: Vec<BudgetSeries>,
    /// Per pool: (name, watts per point).
    pub pool_watts: Vec<(String, Vec<f64>)>,
    /// Per top workload: (name, CPU limits in cores, CPU used in cores).
    pub workloads: Vec<(String, Vec<f64>, Vec<f64>)>,
    /// Unserved CPU, in cores.
    pub throttled_cores: Vec<f64>,
    pub pending_pods: Vec<f64>,
    /// Enforced actions: (hours, kind).
    pub actions: Vec<(f64, &'static str)>,
}

/// A Budget with a power limit: its name, limit, warning and critical lines, and watts per
/// point.
pub type BudgetSeries = (String, f64, Option<f64>, Option<f64>, Vec<f64>);

/// Per budget with namespace weights: the sum of Jain's index, the cycles counted, and per
/// namespace the sums of its weight share and allocation share.
type FairSums = (f64, usize, BTreeMap<String, (f64, f64)>);

pub const MAX_POINTS: usize = 1000;

/// The most cycles one simulation runs (a year of 1-minute cycles is 525,600).
pub const MAX_CYCLES: usize = 1_000_000;

/// The most pods scale events may bring the simulated cluster to.
pub const MAX_PODS: usize = 1_000_000;
const MAX_ACTION_MARKS: usize = 5000;

fn round(x: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    let r = (x * m).round() / m;
    if r == 0.0 { 0.0 } else { r }
}

/// What the simulation keeps per pod.
#[derive(Clone, Copy, Default)]
struct PodLoad {
    /// Demanded CPU (millicores) and memory (bytes; -1 unknown).
    cpu: f64,
    memory: i64,
}

/// A change to one knob, for finding oscillations: when, and the values before and after.
struct Change {
    cycle: usize,
    before: i64,
    after: i64,
}

/// Runs `bundle` over the trace. `progress(done, total)` is called every few hundred cycles.
pub fn simulate(
    bundle: &Bundle,
    start: &ClusterState,
    usage: &Usage,
    trace: &Checked,
    opts: &Options,
    progress: &mut dyn FnMut(usize, usize),
) -> Report {
    let mut report = Report {
        oscillation_cycles: opts.oscillation_cycles,
        ..Default::default()
    };
    let sample_gap = match usage.times.as_slice() {
        [a, b, ..] => *b - *a,
        _ => opts.step,
    };
    let from = opts.from.unwrap_or(usage.times[0]);
    let to = opts
        .to
        .unwrap_or(*usage.times.last().unwrap_or(&from) + sample_gap);
    let step = opts.step.max(chrono::Duration::seconds(1));
    let step_s = step.num_seconds() as f64;
    let step_min = step_s / 60.0;
    let step_h = step_s / 3600.0;
    let mut cycles =
        usize::try_from(((to - from).num_seconds() as f64 / step_s).ceil() as i64).unwrap_or(0);
    if cycles > MAX_CYCLES {
        report.warnings.push(format!(
            "the trace spans {cycles} cycles of {step_s}s; only the first {MAX_CYCLES} are simulated"
        ));
        cycles = MAX_CYCLES;
    }

    let mut state = start.clone();
    state
        .recent_actions
        .retain(|r| r.at().is_some_and(|t| t <= from));
    for p in &mut state.pods {
        p.demand = None;
    }
    let trace_pod = usage.pod_indices(start);
    let unknown: Vec<String> = usage
        .pods
        .iter()
        .zip(&trace_pod)
        .filter(|(_, i)| i.is_none())
        .map(|((ns, n), _)| format!("{ns}/{n}"))
        .collect();
    if !unknown.is_empty() {
        report.warnings.push(format!(
            "{} pod(s) of the usage file are not in the snapshot and are ignored: {}",
            unknown.len(),
            unknown
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut load: Vec<PodLoad> = state
        .pods
        .iter()
        .map(|p| PodLoad {
            cpu: p
                .containers
                .iter()
                .filter_map(|c| c.usage.cpu)
                .map(|q| q.0)
                .sum::<i64>() as f64,
            memory: p
                .containers
                .iter()
                .filter_map(|c| c.usage.memory)
                .map(|q| q.0)
                .sum(),
        })
        .collect();

    // Power models: first match wins, then a default per node. Pools are every model's and
    // `other`, so that nodes added later have theirs; pools without nodes are left out.
    let model_for = |n: &crate::state::Node| {
        trace
            .manifest
            .power
            .iter()
            .find(|m| {
                m.node_selector
                    .as_ref()
                    .is_none_or(|s| crate::model::selector::matches(s, &n.labels))
            })
            .cloned()
            .unwrap_or_else(|| {
                PowerModel::default_for(n.allocatable.cpu.map_or(1.0, |q| q.0 as f64 / 1000.0))
            })
    };
    let mut models: Vec<PowerModel> = state.nodes.iter().map(model_for).collect();
    let mut pools: Vec<String> = trace
        .manifest
        .power
        .iter()
        .map(|m| m.pool.clone())
        .chain(std::iter::once("other".to_string()))
        .collect();
    pools.sort();
    pools.dedup();
    let pool_index = |m: &PowerModel| pools.binary_search(&m.pool).unwrap_or(0);
    let mut pool_of: Vec<usize> = models.iter().map(pool_index).collect();
    let mut pool_energy = vec![0.0; pools.len()];
    let mut pool_peak = vec![0.0f64; pools.len()];
    report.pools = pools
        .iter()
        .enumerate()
        .map(|(k, p)| PoolReport {
            pool: p.clone(),
            nodes: pool_of.iter().filter(|&&x| x == k).count(),
            ..Default::default()
        })
        .collect();

    let power_budgets: Vec<&crate::model::Budget> = bundle
        .budgets
        .iter()
        .filter(|b| b.spec.power.is_some())
        .collect();
    let mut budget_minutes: Vec<BudgetMinutes> = power_budgets
        .iter()
        .map(|b| BudgetMinutes {
            budget: b.metadata.name.clone().unwrap_or_default(),
            max_watts: b.spec.power.as_ref().map_or(0.0, |p| p.max_watts),
            ..Default::default()
        })
        .collect();
    let fair_budgets: Vec<&crate::model::Budget> = bundle
        .budgets
        .iter()
        .filter(|b| {
            b.spec
                .cpu
                .as_ref()
                .is_some_and(|c| !c.namespace_weights.is_empty())
        })
        .collect();
    let mut fair_sum: Vec<FairSums> = vec![(0.0, 0, BTreeMap::new()); fair_budgets.len()];

    let every = cycles.div_ceil(MAX_POINTS).max(1);
    let mut series = Series {
        budget_watts: power_budgets
            .iter()
            .map(|b| {
                let p = b.spec.power.as_ref().expect("filtered on power");
                let pct = |x: Option<i64>| x.map(|v| p.max_watts * v as f64 / 100.0);
                (
                    b.metadata.name.clone().unwrap_or_default(),
                    p.max_watts,
                    pct(p.warn_percent),
                    pct(p.critical_percent),
                    Vec::new(),
                )
            })
            .collect(),
        pool_watts: pools.iter().map(|p| (p.clone(), Vec::new())).collect(),
        ..Default::default()
    };
    let top = top_workloads(&state, &usage.samples, &trace_pod, 4);
    series.workloads = top
        .iter()
        .map(|w| (w.clone(), Vec::new(), Vec::new()))
        .collect();

    let mut rng = opts
        .noise
        .map(|(seed, sigma)| (fastrand::Rng::with_seed(seed), sigma));
    let mut next_sample = 0usize;
    let mut next_event = 0usize;
    let mut removed: Vec<bool> = vec![false; state.nodes.len()];
    let mut knobs: foldhash::HashMap<(u8, String), Change> = Default::default();
    let mut pending_run: Vec<usize> = vec![0; state.pods.len()];
    // New pods of a scale event copy the usage of the pod they were made from.
    let mut follows: Vec<Option<usize>> = vec![None; state.pods.len()];
    let mut forecasts = super::forecast::Forecasts::default();
    let mut over_run: Vec<usize> = vec![0; power_budgets.len()];

    for cycle in 0..cycles {
        let now = from + step * cycle as i32;
        state.time = Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        // Events.
        while let Some((t, e)) = trace.events.get(next_event)
            && *t <= now
        {
            next_event += 1;
            if let Some(n) = e.remove_node.as_deref() {
                match state.nodes.iter().position(|x| x.name == n) {
                    Some(j) => {
                        removed[j] = true;
                        state.nodes[j].ready = false;
                        for p in state
                            .pods
                            .iter_mut()
                            .filter(|p| p.node == n && !p.is_daemonset())
                        {
                            p.node.clear();
                            p.phase = "Pending".into();
                        }
                    }
                    None => report
                        .warnings
                        .push(format!("event at {t}: no node {n} to remove")),
                }
            }
            if let Some(n) = &e.add_node {
                if state.nodes.iter().any(|x| x.name == n.name) {
                    report
                        .warnings
                        .push(format!("event at {t}: node {} is already there", n.name));
                } else {
                    state.nodes.push(n.clone());
                    removed.push(false);
                    let m = model_for(n);
                    pool_of.push(pool_index(&m));
                    report.pools[pool_index(&m)].nodes += 1;
                    models.push(m);
                }
            }
            if let Some(sc) = &e.scale {
                scale(
                    &mut state,
                    &mut load,
                    &mut follows,
                    &mut pending_run,
                    sc,
                    &mut report.warnings,
                    t,
                );
            }
            if let Some(n) = e.restore_node.as_deref() {
                match state.nodes.iter().position(|x| x.name == n) {
                    Some(j) => {
                        removed[j] = false;
                        state.nodes[j].ready = true;
                        state.nodes[j].unschedulable = false;
                    }
                    None => report
                        .warnings
                        .push(format!("event at {t}: no node {n} to restore")),
                }
            }
        }
        // Usage samples up to now.
        while let Some(s) = usage.samples.get(next_sample)
            && usage.times[s.time as usize] <= now
        {
            next_sample += 1;
            if let Some(i) = trace_pod[s.pod as usize] {
                let mut cpu = s.cpu as f64;
                if let Some((rng, sigma)) = rng.as_mut() {
                    cpu *= (1.0 + *sigma * gaussian(rng)).max(0.0);
                }
                load[i] = PodLoad {
                    cpu,
                    memory: s.memory,
                };
            }
        }
        for (i, f) in follows.iter().enumerate() {
            if let Some(from) = f {
                load[i] = load[*from];
            }
        }
        schedule_pending(&mut state);
        count_pdbs(&mut state, &removed);
        let served = serve(&mut state, &load, &models, &removed);
        forecasts.observe(bundle, &mut state, now);
        // Measure.
        let sample = cycle % every == 0;
        if sample {
            series
                .hours
                .push((now - from).num_seconds() as f64 / 3600.0);
        }
        let mut pool_watts = vec![0.0; pools.len()];
        for (j, n) in state.nodes.iter().enumerate() {
            pool_watts[pool_of[j]] += n.power_watts;
        }
        for (k, w) in pool_watts.iter().enumerate() {
            pool_energy[k] += w * step_h / 1000.0;
            pool_peak[k] = pool_peak[k].max(*w);
            if sample {
                series.pool_watts[k].1.push(*w);
            }
        }
        let mut throttled_cores = 0.0;
        let mut pending = 0usize;
        let mut ns_throttle: BTreeMap<&str, f64> = BTreeMap::new();
        for (i, p) in state.pods.iter().enumerate() {
            if p.is_terminal() {
                continue;
            }
            if p.node.is_empty() {
                pending += 1;
                pending_run[i] += 1;
                report.pending.longest_cycles = report.pending.longest_cycles.max(pending_run[i]);
                continue;
            }
            pending_run[i] = 0;
            let unserved = (load[i].cpu - served[i]).max(0.0);
            report.throttling.pod_minutes += step_min;
            if load[i].cpu > 0.0 && unserved > 0.01 * load[i].cpu {
                report.throttling.throttled_pod_minutes += step_min;
            }
            throttled_cores += unserved / 1000.0;
            *ns_throttle.entry(p.namespace.as_str()).or_default() += unserved / 1000.0 * step_s;
        }
        report.throttling.core_seconds += throttled_cores * step_s;
        for (ns, v) in ns_throttle {
            *report
                .throttling
                .by_namespace
                .entry(ns.to_string())
                .or_default() += v;
        }
        report.pending.pod_minutes += pending as f64 * step_min;
        report.pending.max_pods = report.pending.max_pods.max(pending);
        if sample {
            series.throttled_cores.push(throttled_cores);
            series.pending_pods.push(pending as f64);
            let mut sums = vec![(0.0, 0.0); series.workloads.len()];
            for (i, p) in state.pods.iter().enumerate() {
                if p.node.is_empty() {
                    continue;
                }
                let Some(w) = workload_name(p) else { continue };
                if let Some(k) = series.workloads.iter().position(|x| x.0 == w) {
                    sums[k].0 += p
                        .containers
                        .iter()
                        .filter_map(|c| c.limits.cpu)
                        .map(|q| q.0)
                        .sum::<i64>() as f64
                        / 1000.0;
                    sums[k].1 += served[i] / 1000.0;
                }
            }
            for ((_, limits, used), (l, u)) in series.workloads.iter_mut().zip(sums) {
                limits.push(l);
                used.push(u);
            }
        }
        for (k, b) in fair_budgets.iter().enumerate() {
            fairness_cycle(b, &state, &mut fair_sum[k]);
        }

        // One index of this cycle's cluster serves the plan and applying its actions.
        let index = crate::state::Index::new(&state);
        let plan = crate::plan::plan_indexed(bundle, &state, &index, now);
        for (k, b) in power_budgets.iter().enumerate() {
            let name = b.metadata.name.as_deref().unwrap_or_default();
            let Some(power) = plan
                .budgets
                .iter()
                .find(|r| r.name == name)
                .and_then(|r| r.power.as_ref())
            else {
                continue;
            };
            let m = &mut budget_minutes[k];
            m.peak_watts = m.peak_watts.max(power.watts);
            over_run[k] = if power.watts > m.max_watts {
                over_run[k] + 1
            } else {
                0
            };
            m.longest_over_max_cycles = m.longest_over_max_cycles.max(over_run[k]);
            match power.level {
                "warning" => m.warning_minutes += step_min,
                "critical" => m.critical_minutes += step_min,
                _ => {}
            }
            if sample {
                series.budget_watts[k].4.push(power.watts);
            }
        }
        let (enforced, shown): (Vec<&PlannedAction>, Vec<&PlannedAction>) =
            plan.actions.iter().partition(|a| a.enforce);
        for a in &shown {
            *report
                .dry_run_actions
                .entry(a.kind().as_str().into())
                .or_default() += 1;
        }
        if enforced.is_empty() {
            progress_tick(progress, cycle, cycles);
            continue;
        }
        let hours = (now - from).num_seconds() as f64 / 3600.0;
        for a in &enforced {
            *report.actions.entry(a.kind().as_str().into()).or_default() += 1;
            if series.actions.len() < MAX_ACTION_MARKS {
                series.actions.push((hours, a.kind().as_str()));
            }
            report.oscillations +=
                oscillation(&mut knobs, cycle, opts.oscillation_cycles, &a.action);
        }
        let after = super::After::new(&state, &index, &enforced);
        let mut next = after.to_state();
        // For each action, the pod it resizes (index in `state.pods`, the same in `next`).
        let resized: Vec<Option<(usize, usize)>> = after.resized.clone();
        drop(after);
        for (k, a) in enforced.iter().enumerate() {
            if let (Action::Resize(r), Some((i, _))) = (&a.action, resized[k]) {
                if next.pods[i].qos() != state.pods[i].qos() {
                    report.qos_changes += 1;
                }
                next.pods[i].demand = Some(r.demand.clamp(0.0, 1.0));
            }
            let t = a.target();
            next.recent_actions.push(RecentAction {
                kind: a.kind().as_str().into(),
                policy: a.policy.to_string(),
                node: Some(a.action.node().to_string()),
                namespace: t.namespace,
                pod: t.pod,
                time: state.time.clone().unwrap_or_default(),
            });
        }
        let horizon = now - chrono::Duration::hours(24);
        next.recent_actions
            .retain(|r| r.at().is_some_and(|t| t > horizon));
        state = next;
        progress_tick(progress, cycle, cycles);
    }
    progress(cycles, cycles);

    report.from = from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    report.to = to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    report.step_seconds = step.num_seconds();
    report.cycles = cycles;
    let hours = cycles as f64 * step_h;
    for (k, p) in report.pools.iter_mut().enumerate() {
        p.energy_kwh = round(pool_energy[k], 3);
        p.mean_watts = round(
            if hours > 0.0 {
                pool_energy[k] * 1000.0 / hours
            } else {
                0.0
            },
            1,
        );
        p.peak_watts = round(pool_peak[k], 1);
    }
    report.energy_kwh = round(pool_energy.iter().sum(), 3);
    report.pools.retain(|p| p.nodes > 0);
    for m in &mut budget_minutes {
        m.peak_watts = round(m.peak_watts, 1);
        m.warning_minutes = round(m.warning_minutes, 1);
        m.critical_minutes = round(m.critical_minutes, 1);
    }
    report.budgets = budget_minutes;
    let t = &mut report.throttling;
    t.share = round(
        if t.pod_minutes > 0.0 {
            t.throttled_pod_minutes / t.pod_minutes
        } else {
            0.0
        },
        5,
    );
    t.core_seconds = round(t.core_seconds, 1);
    t.throttled_pod_minutes = round(t.throttled_pod_minutes, 1);
    t.pod_minutes = round(t.pod_minutes, 1);
    for v in t.by_namespace.values_mut() {
        *v = round(*v, 1);
    }
    report.pending.pod_minutes = round(report.pending.pod_minutes, 1);
    report.fairness = fair_budgets
        .iter()
        .zip(fair_sum)
        .filter(|(_, (_, n, _))| *n > 0)
        .map(|(b, (jain, n, ns))| Fairness {
            budget: b.metadata.name.clone().unwrap_or_default(),
            jain: round(jain / n as f64, 4),
            namespaces: ns
                .into_iter()
                .map(|(namespace, (w, a))| NamespaceShare {
                    namespace,
                    weight_share: round(w / n as f64, 4),
                    allocation_share: round(a / n as f64, 4),
                })
                .collect(),
        })
        .collect();
    report.forecast = forecasts.mape().map(|(mape, checked)| ForecastError {
        mape: round(mape, 4),
        checked,
    });
    report.series = series;
    report
}

fn progress_tick(progress: &mut dyn FnMut(usize, usize), cycle: usize, cycles: usize) {
    if cycle.is_multiple_of(16) {
        progress(cycle, cycles);
    }
}

/// Scales a workload: new pods copy its first pod (and follow its usage) and start Pending;
/// scaling down ends the newest pods.
#[allow(clippy::too_many_arguments)]
fn scale(
    state: &mut ClusterState,
    load: &mut Vec<PodLoad>,
    follows: &mut Vec<Option<usize>>,
    pending_run: &mut Vec<usize>,
    sc: &super::trace::Scale,
    warnings: &mut Vec<String>,
    t: &DateTime<Utc>,
) {
    let of: Vec<usize> = (0..state.pods.len())
        .filter(|&i| {
            let p = &state.pods[i];
            p.namespace == sc.namespace
                && !p.is_terminal()
                && p.owner.as_ref().is_some_and(|o| o.name == sc.workload)
        })
        .collect();
    let want = sc.replicas as usize;
    let Some(&first) = of.first() else {
        warnings.push(format!(
            "event at {t}: no pods of {}/{} to scale",
            sc.namespace, sc.workload
        ));
        return;
    };
    if want < of.len() {
        for &i in of.iter().rev().take(of.len() - want) {
            state.pods[i].node.clear();
            state.pods[i].phase = "Succeeded".into();
        }
        return;
    }
    if state.pods.len() + (want - of.len()) > MAX_PODS {
        warnings.push(format!(
            "event at {t}: scaling {}/{} to {want} would pass {MAX_PODS} pods; not scaled",
            sc.namespace, sc.workload
        ));
        return;
    }
    let mut k = 0;
    for _ in of.len()..want {
        let mut p = state.pods[first].clone();
        loop {
            k += 1;
            let name = format!("{}-s{k}", sc.workload);
            if !state
                .pods
                .iter()
                .any(|q| q.namespace == p.namespace && q.name == name)
            {
                p.name = name;
                break;
            }
        }
        p.node.clear();
        p.phase = "Pending".into();
        p.demand = None;
        p.cpu_forecast = None;
        state.pods.push(p);
        load.push(load[first]);
        follows.push(Some(first));
        pending_run.push(0);
    }
}

/// Keeps each PDB's counts current: healthy pods are those running on a ready node.
fn count_pdbs(state: &mut ClusterState, removed: &[bool]) {
    if state.pdbs.is_empty() {
        return;
    }
    let ready: foldhash::HashSet<&str> = state
        .nodes
        .iter()
        .enumerate()
        .filter(|(j, n)| n.ready && !removed[*j])
        .map(|(_, n)| n.name.as_str())
        .collect();
    let counts: Vec<(i64, i64)> = state
        .pdbs
        .iter()
        .map(|b| {
            let mut expected = 0;
            let mut healthy = 0;
            for p in state
                .pods
                .iter()
                .filter(|p| !p.is_terminal() && b.covers(p))
            {
                expected += 1;
                if ready.contains(p.node.as_str()) {
                    healthy += 1;
                }
            }
            (expected, healthy)
        })
        .collect();
    for (b, (expected, healthy)) in state.pdbs.iter_mut().zip(counts) {
        b.expected_pods = Some(expected);
        b.current_healthy = healthy;
    }
}

/// A standard normal draw (Box–Muller).
fn gaussian(rng: &mut fastrand::Rng) -> f64 {
    let u1 = rng.f64().max(f64::MIN_POSITIVE);
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Places Pending pods the way the consolidation method expects the scheduler to: largest
/// request first, onto the ready, schedulable node with the most free CPU that satisfies the
/// pod's nodeSelector, taints and requests.
fn schedule_pending(state: &mut ClusterState) {
    let pending: Vec<usize> = (0..state.pods.len())
        .filter(|&i| state.pods[i].node.is_empty() && !state.pods[i].is_terminal())
        .collect();
    if pending.is_empty() {
        return;
    }
    let nodes = &state.nodes;
    let node_at: foldhash::HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(j, n)| (n.name.as_str(), j))
        .collect();
    let mut free: Vec<(i64, i64)> = nodes
        .iter()
        .map(|n| {
            (
                n.allocatable.cpu.map_or(0, |q| q.0),
                n.allocatable.memory.map_or(i64::MAX, |q| q.0),
            )
        })
        .collect();
    for p in state.pods.iter().filter(|p| !p.is_terminal()) {
        if let Some(&j) = node_at.get(p.node.as_str()) {
            free[j].0 -= p.cpu_request();
            free[j].1 = free[j].1.saturating_sub(p.memory_request());
        }
    }
    let mut order = pending;
    order.sort_by_key(|&i| {
        (
            std::cmp::Reverse(state.pods[i].cpu_request()),
            state.pods[i].key(),
        )
    });
    let mut placed = Vec::new();
    for i in order {
        let p = &state.pods[i];
        let (cpu, mem) = (p.cpu_request(), p.memory_request());
        let best = (0..nodes.len())
            .filter(|&j| nodes[j].ready && !nodes[j].unschedulable)
            .filter(|&j| {
                p.node_selector
                    .iter()
                    .all(|(k, v)| nodes[j].labels.get(k) == Some(v))
            })
            .filter(|&j| crate::plan::tolerates_all(p, &nodes[j]))
            .filter(|&j| free[j].0 >= cpu && free[j].1 >= mem)
            .max_by_key(|&j| (free[j].0, std::cmp::Reverse(j)));
        if let Some(j) = best {
            free[j].0 -= cpu;
            free[j].1 -= mem;
            placed.push((i, j));
        }
    }
    for (i, j) in placed {
        state.pods[i].node = state.nodes[j].name.clone();
        state.pods[i].phase = "Running".into();
    }
}

/// Serves each node's pods their demand, within their limits and what the node's governor
/// leaves (shared in proportion when it is short); writes usage, utilisation and power into
/// the state. Returns the CPU served to each pod, in millicores.
fn serve(
    state: &mut ClusterState,
    load: &[PodLoad],
    models: &[PowerModel],
    removed: &[bool],
) -> Vec<f64> {
    let node_at: foldhash::HashMap<String, usize> = state
        .nodes
        .iter()
        .enumerate()
        .map(|(j, n)| (n.name.clone(), j))
        .collect();
    let mut want = vec![0.0; state.pods.len()];
    let mut on_node: Vec<Vec<usize>> = vec![Vec::new(); state.nodes.len()];
    for (i, p) in state.pods.iter().enumerate() {
        if p.is_terminal() {
            continue;
        }
        let Some(&j) = node_at.get(&p.node) else {
            continue;
        };
        let limit = p
            .containers
            .iter()
            .map(|c| c.limits.cpu.map(|q| q.0 as f64))
            .sum::<Option<f64>>()
            .unwrap_or(f64::INFINITY);
        want[i] = load[i].cpu.min(limit);
        on_node[j].push(i);
    }
    let mut served = vec![0.0; state.pods.len()];
    for (j, pods) in on_node.iter().enumerate() {
        let node = &state.nodes[j];
        let alloc = node.allocatable.cpu.map_or(1000, |q| q.0).max(1) as f64;
        let factor = models[j].factor(node.governor.as_deref());
        let capacity = alloc * factor.frequency;
        let total: f64 = pods.iter().map(|&i| want[i]).sum();
        let scale = if total > capacity {
            capacity / total
        } else {
            1.0
        };
        let (mut used, mut mem) = (0.0, 0i64);
        for &i in pods {
            served[i] = want[i] * scale;
            used += served[i];
            mem = mem.saturating_add(load[i].memory.max(0));
        }
        let mem_alloc = node.allocatable.memory.map_or(0, |q| q.0);
        let node = &mut state.nodes[j];
        node.cpu_utilization = (used / alloc).clamp(0.0, 1.0);
        if mem_alloc > 0 {
            node.memory_utilization = (mem as f64 / mem_alloc as f64).clamp(0.0, 1.0);
        }
        node.power_watts = if removed[j] {
            0.0
        } else {
            models[j].watts(used / capacity, factor.power)
        };
    }
    for (j, node) in state.nodes.iter_mut().enumerate() {
        if on_node[j].is_empty() {
            node.cpu_utilization = 0.0;
            let factor = models[j].factor(node.governor.as_deref());
            node.power_watts = if removed[j] {
                0.0
            } else {
                models[j].watts(0.0, factor.power)
            };
        }
    }
    for (i, p) in state.pods.iter_mut().enumerate() {
        let n = p.containers.len().max(1) as f64;
        for c in &mut p.containers {
            c.usage.cpu = Some(crate::model::CpuQuantity((served[i] / n).round() as i64));
            if load[i].memory >= 0 {
                c.usage.memory = Some(crate::model::MemoryQuantity(load[i].memory / n as i64));
            }
        }
    }
    served
}

/// Counts an action that undoes the last change to the same knob within `window` cycles.
fn oscillation(
    knobs: &mut foldhash::HashMap<(u8, String), Change>,
    cycle: usize,
    window: usize,
    a: &Action,
) -> usize {
    let (knob, target, before, after) = match a {
        Action::SetGovernor(g) => (
            0,
            g.node.clone(),
            g.from.as_deref().map_or(-1, governor_code),
            governor_code(&g.to),
        ),
        Action::Cordon { node, .. } | Action::Drain(crate::plan::DrainNode { node, .. }) => {
            (1, node.clone(), 0, 1)
        }
        Action::Uncordon { node } => (1, node.clone(), 1, 0),
        Action::Resize(r) => (
            2,
            format!("{}/{}/{}", r.namespace(), r.pod(), r.container()),
            r.limit.from.or(r.request.from).unwrap_or(0),
            r.limit.to.or(r.request.to).unwrap_or(0),
        ),
    };
    if before == after {
        return 0;
    }
    let key = (knob, target);
    let undone = knobs.get(&key).is_some_and(|c| {
        cycle - c.cycle <= window
            && if knob == 2 {
                (after < before) != (c.after < c.before)
            } else {
                after == c.before
            }
    });
    knobs.insert(
        key,
        Change {
            cycle,
            before,
            after,
        },
    );
    usize::from(undone)
}

fn governor_code(g: &str) -> i64 {
    g.bytes()
        .fold(7i64, |h, b| h.wrapping_mul(31).wrapping_add(b as i64))
}

/// A pod's workload as `namespace/owner`.
fn workload_name(p: &crate::state::Pod) -> Option<String> {
    p.owner
        .as_ref()
        .filter(|o| o.kind != "DaemonSet")
        .map(|o| format!("{}/{}", p.namespace, o.name))
}

/// The `n` workloads with the most CPU demanded over the trace.
fn top_workloads(
    state: &ClusterState,
    samples: &[super::trace::Sample],
    trace_pod: &[Option<usize>],
    n: usize,
) -> Vec<String> {
    let mut total: BTreeMap<String, f64> = BTreeMap::new();
    for s in samples {
        if let Some(i) = trace_pod[s.pod as usize]
            && let Some(w) = workload_name(&state.pods[i])
        {
            *total.entry(w).or_default() += s.cpu as f64;
        }
    }
    let mut v: Vec<(String, f64)> = total.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().take(n).map(|(w, _)| w).collect()
}

fn fairness_cycle(b: &crate::model::Budget, state: &ClusterState, acc: &mut FairSums) {
    let Some(cpu) = &b.spec.cpu else { return };
    let nodes: foldhash::HashSet<&str> = state
        .nodes
        .iter()
        .filter(|n| {
            b.spec
                .node_selector
                .as_ref()
                .is_none_or(|s| crate::model::selector::matches(s, &n.labels))
        })
        .map(|n| n.name.as_str())
        .collect();
    let mut alloc: BTreeMap<&str, f64> = BTreeMap::new();
    for p in state
        .pods
        .iter()
        .filter(|p| nodes.contains(p.node.as_str()) && !p.is_terminal())
    {
        if cpu.namespace_weights.contains_key(&p.namespace) {
            let l: i64 = p
                .containers
                .iter()
                .filter_map(|c| c.limits.cpu.or(c.requests.cpu))
                .map(|q| q.0)
                .sum();
            *alloc.entry(p.namespace.as_str()).or_default() += l as f64;
        }
    }
    if alloc.len() < 2 {
        return;
    }
    let total: f64 = alloc.values().sum();
    let weights: f64 = alloc.keys().map(|ns| cpu.namespace_weights[*ns]).sum();
    if total <= 0.0 || weights <= 0.0 {
        return;
    }
    let xs: Vec<f64> = alloc
        .iter()
        .map(|(ns, a)| {
            let ws = cpu.namespace_weights[*ns] / weights;
            let e = acc.2.entry(ns.to_string()).or_default();
            e.0 += ws;
            e.1 += a / total;
            (a / total) / ws
        })
        .collect();
    let s: f64 = xs.iter().sum();
    let s2: f64 = xs.iter().map(|x| x * x).sum();
    acc.0 += s * s / (xs.len() as f64 * s2);
    acc.1 += 1;
}
