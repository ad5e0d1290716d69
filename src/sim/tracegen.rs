//! `kilter simulate gen-trace`: a synthetic, seeded usage trace for a snapshot's pods, with a
//! diurnal and weekly pattern in the snapshot's local time zone, a traffic spike and a noisy
//! neighbour (`docs/simulate.md` describes each shape). Deterministic for a seed.

use std::fmt::Write;

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use crate::state::{ClusterState, Pod};

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenOptions {
    pub seed: u64,
    pub start: DateTime<Utc>,
    pub days: u32,
    pub step: chrono::Duration,
    /// The time zone the daily pattern follows.
    pub tz: Tz,
}

/// The usage shape of a pod, chosen by its workload's name (`docs/simulate.md`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    /// Business-hours traffic, quieter at weekends; peaks near its CPU limit, with a spike.
    Web,
    /// Nightly batch work (01:00–05:00); the `-0` replica turns noisy neighbour one weekday.
    Batch,
    /// Weekday training runs (09:00–21:00).
    Training,
    /// Flat with a little daily swing (caches, DaemonSets).
    Flat,
    /// Anything else: its snapshot usage, following the daily pattern.
    Diurnal,
}

fn shape(p: &Pod) -> Shape {
    let owner = p.owner.as_ref();
    if owner.is_some_and(|o| o.kind == "DaemonSet") {
        return Shape::Flat;
    }
    let name = owner.map_or(p.name.as_str(), |o| o.name.as_str());
    match name {
        n if n.contains("web") || n.contains("api") || n.contains("frontend") => Shape::Web,
        n if n.contains("report") || n.contains("batch") || n.contains("etl") => Shape::Batch,
        n if n.contains("train") => Shape::Training,
        n if n.contains("cache") || n.contains("redis") => Shape::Flat,
        _ => Shape::Diurnal,
    }
}

/// Daily activity, 0–1: low at night, a broad peak early afternoon.
fn daily(hour: f64) -> f64 {
    let x = (hour - 13.5) / 4.5;
    0.08 + 0.92 * (-x * x).exp()
}

fn weekend(d: Weekday) -> bool {
    matches!(d, Weekday::Sat | Weekday::Sun)
}

/// The CPU a pod wants at a local time, in millicores, before noise.
fn want(p: &Pod, s: Shape, local: &DateTime<Tz>) -> f64 {
    let h = local.hour() as f64 + local.minute() as f64 / 60.0;
    let day = local.weekday();
    let limit = p
        .containers
        .iter()
        .map(|c| c.limits.cpu.or(c.requests.cpu).map(|q| q.0 as f64))
        .sum::<Option<f64>>()
        .unwrap_or(1000.0);
    let usage: f64 = p
        .containers
        .iter()
        .filter_map(|c| c.usage.cpu)
        .map(|q| q.0 as f64)
        .sum();
    match s {
        Shape::Web => {
            let week = if weekend(day) { 0.45 } else { 1.0 };
            let spike = if day == Weekday::Wed && (14.0..14.5).contains(&h) {
                2.2
            } else {
                1.0
            };
            0.9 * limit * daily(h) * week * spike
        }
        Shape::Batch => {
            let noisy = p.name.ends_with("-0") && day == Weekday::Thu && (10.0..13.0).contains(&h);
            if noisy {
                2.5 * limit
            } else if (1.0..5.0).contains(&h) {
                0.9 * limit
            } else {
                0.1 * limit
            }
        }
        Shape::Training => {
            if !weekend(day) && (9.0..21.0).contains(&h) {
                0.75 * limit
            } else {
                0.05 * limit
            }
        }
        Shape::Flat => usage.max(5.0) * (0.8 + 0.4 * daily(h)),
        Shape::Diurnal => usage.max(10.0) * 2.0 * daily(h) * if weekend(day) { 0.6 } else { 1.0 },
    }
}

/// The usage CSV for `state`'s running pods.
pub fn generate(state: &ClusterState, o: &GenOptions) -> String {
    let mut rng = fastrand::Rng::with_seed(o.seed);
    let pods: Vec<(&Pod, Shape)> = state
        .pods
        .iter()
        .filter(|p| !p.is_terminal() && !p.node.is_empty())
        .map(|p| (p, shape(p)))
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# kilter usage trace (docs/simulate.md): kilter simulate gen-trace --seed {} --days {} --step {}s",
        o.seed,
        o.days,
        o.step.num_seconds()
    );
    out.push_str("time,namespace,pod,cpu,memory\n");
    let steps = (o.days as i64 * 86_400) / o.step.num_seconds().max(1);
    for k in 0..steps {
        let t = o.start + o.step * k as i32;
        let local = t.with_timezone(&o.tz);
        let stamp = t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        for (p, s) in &pods {
            let noise = (1.0 + 0.08 * (rng.f64() * 2.0 - 1.0) * 1.7).max(0.0);
            let cpu = (want(p, *s, &local) * noise).round().max(0.0) as i64;
            let mem: i64 = p
                .containers
                .iter()
                .filter_map(|c| c.usage.memory)
                .map(|q| q.0)
                .sum();
            let mem = (mem as f64 * (0.9 + 0.2 * daily(local.hour() as f64))) as i64 / (1 << 20);
            let _ = writeln!(out, "{stamp},{},{},{cpu}m,{mem}Mi", p.namespace, p.name);
        }
    }
    out
}
