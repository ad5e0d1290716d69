//! K006 `numeric-range`: numbers outside the range their field allows.

use crate::check::{Rule, Scope};
use crate::model::{IntOrPercent, Object};
use crate::syntax::diag::{Diagnostic, Severity};
use crate::syntax::load::Document;

pub static RULE: Rule = Rule {
    code: crate::syntax::diag::code::NUMERIC_RANGE,
    name: "numeric-range",
    summary: "A number outside the range its field allows.",
    severity: Severity::Error,
    scope: Scope::Document(check),
    doc: r#"
What it checks:
- percentages are within 0–100 (`warnPercent`, `criticalPercent`, `maxUnavailable` as a percent);
- `warnPercent` is not above `criticalPercent`;
- `min` is not above `max` for container CPU and memory;
- quantities, counts and weights are not negative (`reserve`, `minNodes`, `maxDrainsPerHour`,
  `maxStep`, `weight`, `retries`, namespace weights), and `maxWatts` is positive;
- fractions are within 0–1 (`utilizationBelow`), `maxNodesPerCycle` is at least 1, ports are 1–65535;
- a `forecast` has a season of 2m to 7d and a horizon above zero, not longer than the season;
- upper ends (`docs/limits.md`): durations at most 365 days, counts at most 100,000, CPU
  quantities at most 4096 cores, weights at most 1,000,000, `maxWatts` at most 10⁹, priority
  within ±1,000,000, `phiThreshold` at most 1000.

Why: an out-of-range number is either meaningless (a 120% threshold never fires) or unsafe (a
negative reserve hands the node's headroom to the market).

Example:

    power:
      maxWatts: 4500
      warnPercent: 95
      criticalPercent: 90   # warnPercent must not be above criticalPercent
"#,
};

struct Ctx<'a> {
    doc: &'a Document,
    out: &'a mut Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn err(&mut self, path: &str, msg: String) {
        self.out.push(
            self.doc
                .error(crate::syntax::diag::code::NUMERIC_RANGE, path, msg),
        );
    }
    fn non_negative(&mut self, path: &str, v: Option<f64>, what: &str) {
        if let Some(v) = v
            && v < 0.0
        {
            self.err(path, format!("{what} must not be negative"));
        }
    }
    fn percent(&mut self, path: &str, v: Option<i64>, what: &str) {
        if let Some(v) = v
            && !(0..=100).contains(&v)
        {
            self.err(
                path,
                format!("{what} is {v}; a percentage must be between 0 and 100"),
            );
        }
    }
}

/// The longest duration any field takes (cooldowns, grace periods, timeouts, intervals).
pub const MAX_DURATION_DAYS: u64 = 365;
/// The largest count (minNodes, maxDrainsPerHour, maxNodesPerCycle): the largest clusters
/// Kubernetes supports have 5,000 nodes.
pub const MAX_COUNT: i64 = 100_000;
/// The largest CPU quantity (reserve, min, max, maxStep), in cores.
pub const MAX_CPU_CORES: i64 = 4096;
/// The largest weight, watts and priority magnitude.
pub const MAX_WEIGHT: f64 = 1_000_000.0;
pub const MAX_WATTS: f64 = 1_000_000_000.0;
pub const MAX_PRIORITY: i32 = 1_000_000;

impl Ctx<'_> {
    fn duration(&mut self, path: &str, d: Option<crate::model::Duration>, what: &str) {
        if let Some(d) = d
            && d.0.as_secs() > MAX_DURATION_DAYS * 86_400
        {
            self.err(
                path,
                format!("{what} is {d}; durations are at most {MAX_DURATION_DAYS} days"),
            );
        }
    }
    fn count(&mut self, path: &str, v: Option<i64>, what: &str) {
        if let Some(v) = v
            && v > MAX_COUNT
        {
            self.err(
                path,
                format!("{what} is {v}; counts are at most {MAX_COUNT}"),
            );
        }
    }
    fn cores(&mut self, path: &str, q: Option<crate::model::CpuQuantity>, what: &str) {
        if let Some(q) = q
            && q.0 > MAX_CPU_CORES * 1000
        {
            self.err(
                path,
                format!("{what} is {q}; CPU quantities are at most {MAX_CPU_CORES} cores"),
            );
        }
    }
    /// A CPU quantity: not negative, at most `MAX_CPU_CORES`.
    fn cpu(&mut self, path: &str, q: Option<crate::model::CpuQuantity>, what: &str) {
        self.non_negative(path, q.map(|q| q.0 as f64), what);
        self.cores(path, q, what);
    }
    /// A count: not negative, at most `MAX_COUNT`.
    fn count_of(&mut self, path: &str, v: Option<i64>, what: &str) {
        self.non_negative(path, v.map(|v| v as f64), what);
        self.count(path, v, what);
    }
    /// A weight: not negative, finite, at most `MAX_WEIGHT`.
    fn weight(&mut self, path: &str, v: Option<f64>, what: &str) {
        self.non_negative(path, v, what);
        self.finite_at_most(path, v, MAX_WEIGHT, what);
    }
    fn finite_at_most(&mut self, path: &str, v: Option<f64>, max: f64, what: &str) {
        if let Some(v) = v
            && !(v.is_finite() && v <= max)
        {
            self.err(path, format!("{what} is {v}; it is at most {max}"));
        }
    }
}

fn check(doc: &Document, obj: &Object, out: &mut Vec<Diagnostic>) {
    let mut c = Ctx { doc, out };
    limits(&mut c, obj);
    let forecast = match obj {
        Object::Policy(p) => p.spec.forecast,
        Object::ScalingTarget(t) => t.spec.forecast,
        _ => None,
    };
    if let Some(f) = forecast {
        forecast_range(&mut c, f);
    }
    match obj {
        Object::Policy(p) => {
            if let Some(cons) = &p.spec.action.consolidate {
                let u = cons.utilization_below;
                if !(0.0..=1.0).contains(&u) {
                    c.err(
                        "spec.action.consolidate.utilizationBelow",
                        format!("utilizationBelow is {u}; it is a fraction between 0 and 1 (0.25 means 25%)"),
                    );
                }
                if let Some(n) = cons.max_nodes_per_cycle
                    && n < 1
                {
                    c.err(
                        "spec.action.consolidate.maxNodesPerCycle",
                        format!("maxNodesPerCycle is {n}; it must be at least 1"),
                    );
                }
            }
        }
        Object::Budget(b) => {
            if let Some(p) = &b.spec.power {
                if p.max_watts <= 0.0 {
                    c.err(
                        "spec.power.maxWatts",
                        "maxWatts must be greater than 0".into(),
                    );
                }
                c.percent("spec.power.warnPercent", p.warn_percent, "warnPercent");
                c.percent(
                    "spec.power.criticalPercent",
                    p.critical_percent,
                    "criticalPercent",
                );
                if let (Some(w), Some(cr)) = (p.warn_percent, p.critical_percent)
                    && w > cr
                {
                    let d = doc
                        .error(
                            crate::syntax::diag::code::NUMERIC_RANGE,
                            "spec.power.warnPercent",
                            format!("warnPercent ({w}) is above criticalPercent ({cr})"),
                        )
                        .with_related(doc.span("spec.power.criticalPercent"), "criticalPercent")
                        .with_help("the warning threshold must not be above the critical one");
                    c.out.push(d);
                }
            }
            if let Some(d) = &b.spec.disruption {
                match d.max_unavailable {
                    Some(IntOrPercent::Percent(p)) if !(0..=100).contains(&p) => c.err(
                        "spec.disruption.maxUnavailable",
                        format!("maxUnavailable is {p}%; a percentage must be between 0% and 100%"),
                    ),
                    Some(IntOrPercent::Int(n)) if n < 0 => c.err(
                        "spec.disruption.maxUnavailable",
                        "maxUnavailable must not be negative".into(),
                    ),
                    _ => {}
                }
                c.count_of("spec.disruption.minNodes", d.min_nodes, "minNodes");
                c.count_of(
                    "spec.disruption.maxDrainsPerHour",
                    d.max_drains_per_hour,
                    "maxDrainsPerHour",
                );
            }
            if let Some(cpu) = &b.spec.cpu {
                c.cpu("spec.cpu.reserve", cpu.reserve, "reserve");
                for (ns, w) in &cpu.namespace_weights {
                    let path = format!("spec.cpu.namespaceWeights.{ns}");
                    c.weight(&path, Some(*w), "a namespace weight");
                }
            }
        }
        Object::Probe(p) => {
            c.count_of("spec.retries", p.spec.retries, "retries");
            if let Some(ds) = &p.spec.daemon_set
                && !(1..=65535).contains(&ds.port)
            {
                c.err(
                    "spec.daemonSet.port",
                    format!("port {} is not between 1 and 65535", ds.port),
                );
            }
            if let Some(t) = p.spec.health.as_ref().and_then(|h| h.phi_threshold)
                && t <= 0.0
            {
                c.err(
                    "spec.health.phiThreshold",
                    "phiThreshold must be greater than 0".into(),
                );
            }
        }
        Object::ScalingTarget(t) => {
            c.weight("spec.weight", t.spec.weight, "weight");
            for (i, ctr) in t.spec.containers.iter().enumerate() {
                let base = format!("spec.containers[{i}]");
                if let Some(cpu) = &ctr.cpu {
                    for (f, q) in [
                        ("min", cpu.min),
                        ("max", cpu.max),
                        ("maxStep", cpu.max_step),
                    ] {
                        c.cpu(&format!("{base}.cpu.{f}"), q, &format!("cpu.{f}"));
                    }
                    if let (Some(lo), Some(hi)) = (cpu.min, cpu.max)
                        && lo > hi
                    {
                        min_above_max(
                            &mut c,
                            &format!("{base}.cpu"),
                            &lo.to_string(),
                            &hi.to_string(),
                        );
                    }
                }
                if let Some(mem) = &ctr.memory {
                    for (f, q) in [("min", mem.min), ("max", mem.max)] {
                        c.non_negative(
                            &format!("{base}.memory.{f}"),
                            q.map(|q| q.0 as f64),
                            &format!("memory.{f}"),
                        );
                    }
                    if let (Some(lo), Some(hi)) = (mem.min, mem.max)
                        && lo > hi
                    {
                        min_above_max(
                            &mut c,
                            &format!("{base}.memory"),
                            &lo.to_string(),
                            &hi.to_string(),
                        );
                    }
                }
            }
        }
    }
}

/// The upper ends of the fields `check` does not already bound from both sides
/// (`docs/limits.md`).
fn limits(c: &mut Ctx<'_>, obj: &Object) {
    match obj {
        Object::Policy(p) => {
            if let Some(pr) = p.spec.priority
                && pr.unsigned_abs() > MAX_PRIORITY as u32
            {
                c.err(
                    "spec.priority",
                    format!("priority is {pr}; it is between -{MAX_PRIORITY} and {MAX_PRIORITY}"),
                );
            }
            c.duration("spec.cooldown", p.spec.cooldown, "cooldown");
            if let Some(d) = &p.spec.action.drain {
                c.duration(
                    "spec.action.drain.gracePeriod",
                    d.grace_period,
                    "gracePeriod",
                );
                c.duration("spec.action.drain.timeout", d.timeout, "timeout");
            }
            if let Some(cons) = &p.spec.action.consolidate {
                c.count(
                    "spec.action.consolidate.maxNodesPerCycle",
                    cons.max_nodes_per_cycle,
                    "maxNodesPerCycle",
                );
            }
        }
        Object::Budget(b) => {
            if let Some(p) = &b.spec.power {
                c.finite_at_most(
                    "spec.power.maxWatts",
                    Some(p.max_watts),
                    MAX_WATTS,
                    "maxWatts",
                );
            }
            if let Some(IntOrPercent::Int(n)) =
                b.spec.disruption.as_ref().and_then(|d| d.max_unavailable)
            {
                c.count("spec.disruption.maxUnavailable", Some(n), "maxUnavailable");
            }
        }
        Object::Probe(p) => {
            c.duration("spec.timeout", p.spec.timeout, "timeout");
            if let Some(h) = &p.spec.health {
                c.duration("spec.health.interval", h.interval, "interval");
                c.finite_at_most(
                    "spec.health.phiThreshold",
                    h.phi_threshold,
                    1000.0,
                    "phiThreshold",
                );
            }
        }
        Object::ScalingTarget(t) => {
            c.duration("spec.cooldown", t.spec.cooldown, "cooldown");
        }
    }
}

/// A season of 2 minutes to 7 days (it is kept in at most 288 slots of at least a minute), a
/// horizon above zero and not past the season.
fn forecast_range(c: &mut Ctx<'_>, f: crate::model::Forecast) {
    let (h, s) = (f.horizon.0.as_secs(), f.season.0.as_secs());
    let season_ok = (120..=7 * 86_400).contains(&s);
    if !season_ok {
        c.err(
            "spec.forecast.season",
            format!("the season is {s}s; it must be between 2m and 7d"),
        );
    }
    // Against a season already reported, a long horizon is not a second mistake.
    if h == 0 || (season_ok && h > s) {
        c.err(
            "spec.forecast.horizon",
            "the horizon must be above zero and not longer than the season".into(),
        );
    }
}

fn min_above_max(c: &mut Ctx<'_>, base: &str, lo: &str, hi: &str) {
    let d = c
        .doc
        .error(
            crate::syntax::diag::code::NUMERIC_RANGE,
            &format!("{base}.min"),
            format!("min ({lo}) is above max ({hi})"),
        )
        .with_related(c.doc.span(&format!("{base}.max")), "max")
        .with_help("min is the floor and max the cap: min must not exceed max");
    c.out.push(d);
}
