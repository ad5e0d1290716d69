//! CPU forecasts for CEL (`pod.cpu.forecast`, `node.cpu.forecast`): Holt-Winters with additive
//! seasonality over usage history kept in memory, per pod of a ScalingTarget with `forecast`
//! and per node of a Policy with `forecast`. The simulator feeds it the trace, the controller
//! what it observes; both write the forecasts into the state the planner reads. Pure.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use crate::model::Forecast;
use crate::plan::Bundle;
use crate::state::{ClusterState, Index};

/// A season is kept in at most this many slots (a day in 5-minute slots): memory per
/// forecast series stays bounded whatever the cycle length.
pub const MAX_SLOTS: usize = 288;

/// Smoothing of level, trend and season.
const ALPHA: f64 = 0.3;
const BETA: f64 = 0.01;
const GAMMA: f64 = 0.3;

/// Holt-Winters, additive seasonality, season of `m` observations.
#[derive(Clone, Debug)]
pub struct HoltWinters {
    m: usize,
    level: f64,
    trend: f64,
    season: Vec<f64>,
    /// The first season, collected to start from.
    warm: Vec<f64>,
    /// Observations seen.
    t: usize,
}

impl HoltWinters {
    pub fn new(m: usize) -> Self {
        let m = m.max(2);
        HoltWinters {
            m,
            level: 0.0,
            trend: 0.0,
            season: vec![0.0; m],
            warm: Vec::with_capacity(m),
            t: 0,
        }
    }

    pub fn update(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        if self.warm.len() < self.m {
            self.warm.push(x);
            if self.warm.len() == self.m {
                self.level = self.warm.iter().sum::<f64>() / self.m as f64;
                for (s, w) in self.season.iter_mut().zip(&self.warm) {
                    *s = w - self.level;
                }
            }
            self.t += 1;
            return;
        }
        let k = self.t % self.m;
        let prev = self.level;
        self.level = ALPHA * (x - self.season[k]) + (1.0 - ALPHA) * (self.level + self.trend);
        self.trend = BETA * (self.level - prev) + (1.0 - BETA) * self.trend;
        self.season[k] = GAMMA * (x - self.level) + (1.0 - GAMMA) * self.season[k];
        self.t += 1;
    }

    /// The value `h` observations ahead (h ≥ 1); before a full season has been seen, the last
    /// observation.
    pub fn forecast(&self, h: usize) -> Option<f64> {
        if self.warm.len() < self.m {
            return self.warm.last().copied();
        }
        let h = h.max(1);
        Some(self.level + h as f64 * self.trend + self.season[(self.t + h - 1) % self.m])
    }
}

/// One forecast series: observations averaged per slot, the model, and the predictions
/// waiting for their slot to come (to measure the error).
#[derive(Clone, Debug)]
struct Series {
    slot_seconds: i64,
    horizon: usize,
    hw: HoltWinters,
    slot: Option<i64>,
    sum: f64,
    n: usize,
    pending: VecDeque<(i64, f64)>,
}

impl Series {
    fn new(f: &Forecast) -> Self {
        let season = f.season.0.as_secs().max(120) as i64;
        // Slots of at least a minute, at most MAX_SLOTS per season.
        let slot_seconds = (season / MAX_SLOTS as i64).max(60);
        let m = (season / slot_seconds).max(2) as usize;
        let horizon = f.horizon.0.as_secs().div_ceil(slot_seconds as u64).max(1) as usize;
        Series {
            slot_seconds,
            horizon,
            hw: HoltWinters::new(m),
            slot: None,
            sum: 0.0,
            n: 0,
            pending: VecDeque::new(),
        }
    }

    /// Adds an observation at `now`; closes the slot before it when `now` is past it.
    fn observe(&mut self, now: DateTime<Utc>, x: f64, err: &mut Error) {
        let slot = now.timestamp().div_euclid(self.slot_seconds);
        if let Some(cur) = self.slot
            && slot != cur
            && self.n > 0
        {
            let value = self.sum / self.n as f64;
            while let Some(&(at, predicted)) = self.pending.front() {
                if at > cur {
                    break;
                }
                self.pending.pop_front();
                if at == cur && value.abs() > 1e-6 {
                    err.sum += ((value - predicted) / value).abs();
                    err.n += 1;
                }
            }
            self.hw.update(value);
            if let Some(p) = self.hw.forecast(self.horizon) {
                self.pending.push_back((cur + self.horizon as i64, p));
            }
            self.sum = 0.0;
            self.n = 0;
        }
        self.slot = Some(slot);
        self.sum += x;
        self.n += 1;
    }

    fn value(&self) -> Option<f64> {
        self.hw.forecast(self.horizon).map(|v| v.max(0.0))
    }
}

/// Mean absolute percentage error of the forecasts whose time has come.
#[derive(Clone, Copy, Debug, Default)]
struct Error {
    sum: f64,
    n: usize,
}

/// The forecasts of a running bundle, keyed by pod and node name.
#[derive(Clone, Debug, Default)]
pub struct Forecasts {
    pods: foldhash::HashMap<(String, String), Series>,
    nodes: foldhash::HashMap<String, Series>,
    error: Error,
}

impl Forecasts {
    /// Records the state's usage at `now` and writes each forecast into it: pods of
    /// ScalingTargets with `forecast` get `cpu_forecast` (cores), nodes selected by a Policy
    /// with `forecast` (the first in planning order) get theirs (utilisation).
    pub fn observe(&mut self, bundle: &Bundle, state: &mut ClusterState, now: DateTime<Utc>) {
        let with_pods = bundle.targets.iter().any(|t| t.spec.forecast.is_some());
        let with_nodes = bundle.policies.iter().any(|p| p.spec.forecast.is_some());
        if !with_pods && !with_nodes {
            return;
        }
        let mut pod_spec: Vec<Option<Forecast>> = vec![None; state.pods.len()];
        if with_pods {
            let index = Index::new(state);
            let targets = bundle.targets_of(&index);
            for (i, w) in index.pod_workload.iter().enumerate() {
                pod_spec[i] = w
                    .and_then(|w| targets[w as usize])
                    .and_then(|t| bundle.targets[t].spec.forecast);
            }
        }
        let mut alive: foldhash::HashSet<(String, String)> = Default::default();
        for (i, p) in state.pods.iter_mut().enumerate() {
            let Some(f) = pod_spec[i] else {
                p.cpu_forecast = None;
                continue;
            };
            if p.node.is_empty() || p.is_terminal() {
                continue;
            }
            let key = (p.namespace.clone(), p.name.clone());
            let usage = p
                .containers
                .iter()
                .filter_map(|c| c.usage.cpu)
                .map(|q| q.0)
                .sum::<i64>() as f64
                / 1000.0;
            let s = self
                .pods
                .entry(key.clone())
                .or_insert_with(|| Series::new(&f));
            s.observe(now, usage, &mut self.error);
            p.cpu_forecast = s.value();
            alive.insert(key);
        }
        self.pods.retain(|k, _| alive.contains(k));
        if with_nodes {
            let mut order: Vec<&crate::model::Policy> = bundle
                .policies
                .iter()
                .filter(|p| p.spec.forecast.is_some())
                .collect();
            order.sort_by_key(|p| std::cmp::Reverse(p.spec.priority()));
            for n in &mut state.nodes {
                let spec = order
                    .iter()
                    .find(|p| {
                        p.spec
                            .node_selector
                            .as_ref()
                            .is_none_or(|s| crate::model::selector::matches(s, &n.labels))
                    })
                    .and_then(|p| p.spec.forecast);
                let Some(f) = spec else {
                    n.cpu_forecast = None;
                    continue;
                };
                let s = self
                    .nodes
                    .entry(n.name.clone())
                    .or_insert_with(|| Series::new(&f));
                s.observe(now, n.cpu_utilization, &mut self.error);
                n.cpu_forecast = s.value().map(|v| v.min(1.0));
            }
        }
    }

    /// The mean absolute percentage error of the forecasts checked so far, and their number.
    pub fn mape(&self) -> Option<(f64, usize)> {
        (self.error.n > 0).then(|| (self.error.sum / self.error.n as f64, self.error.n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pure_season_is_forecast_exactly() {
        // A square wave of period 4: after one season, the forecast repeats it.
        let wave = [1.0, 1.0, 3.0, 3.0];
        let mut hw = HoltWinters::new(4);
        for k in 0..40 {
            hw.update(wave[k % 4]);
        }
        for h in 1..=8 {
            let f = hw.forecast(h).unwrap();
            assert!((f - wave[(40 + h - 1) % 4]).abs() < 1e-9, "h={h}: {f}");
        }
    }

    #[test]
    fn a_trend_is_followed() {
        let mut hw = HoltWinters::new(3);
        for k in 0..300 {
            hw.update(10.0 + 0.5 * k as f64 + [0.0, 2.0, -2.0][k % 3]);
        }
        let f = hw.forecast(3).unwrap();
        let truth = 10.0 + 0.5 * 302.0 + [0.0, 2.0, -2.0][302 % 3];
        assert!((f - truth).abs() < 1.0, "{f} vs {truth}");
    }

    #[test]
    fn before_a_season_the_last_value_is_the_forecast() {
        let mut hw = HoltWinters::new(10);
        assert_eq!(hw.forecast(1), None);
        hw.update(4.0);
        hw.update(5.0);
        assert_eq!(hw.forecast(3), Some(5.0));
    }
}
