//! A/B comparison of two bundles on one trace: both run on the trace and on N copies with
//! seeded usage noise; each metric's difference (B − A) gets a bootstrap 95% confidence
//! interval and a Mann–Whitney U p-value, and a verdict. Deterministic for the seeds.

use std::fmt::Write;

use serde::Serialize;

use super::run::Report;

/// A metric both runs are judged on.
pub struct Metric {
    pub name: &'static str,
    pub unit: &'static str,
    pub lower_is_better: bool,
    pub get: fn(&Report) -> f64,
}

pub const METRICS: &[Metric] = &[
    Metric {
        name: "energy",
        unit: "kWh",
        lower_is_better: true,
        get: |r| r.energy_kwh,
    },
    Metric {
        name: "throttling",
        unit: "core-s",
        lower_is_better: true,
        get: |r| r.throttling.core_seconds,
    },
    Metric {
        name: "slo",
        unit: "% pod-min throttled",
        lower_is_better: true,
        get: |r| r.throttling.share * 100.0,
    },
    Metric {
        name: "pending",
        unit: "pod-min",
        lower_is_better: true,
        get: |r| r.pending.pod_minutes,
    },
    Metric {
        name: "critical",
        unit: "budget-min critical",
        lower_is_better: true,
        get: |r| r.budgets.iter().map(|b| b.critical_minutes).sum(),
    },
    Metric {
        name: "actions",
        unit: "actions",
        lower_is_better: true,
        get: |r| r.actions.values().sum::<usize>() as f64,
    },
    Metric {
        name: "oscillations",
        unit: "undone",
        lower_is_better: true,
        get: |r| r.oscillations as f64,
    },
    Metric {
        name: "fairness",
        unit: "Jain",
        lower_is_better: false,
        get: |r| {
            if r.fairness.is_empty() {
                1.0
            } else {
                r.fairness.iter().map(|f| f.jain).sum::<f64>() / r.fairness.len() as f64
            }
        },
    },
];

pub fn metric(name: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.name == name)
}

#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// Runs per bundle: the trace and its noisy copies.
    pub runs: usize,
    pub noise: f64,
    pub metrics: Vec<MetricComparison>,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MetricComparison {
    pub metric: &'static str,
    pub unit: &'static str,
    pub a_mean: f64,
    pub b_mean: f64,
    /// Mean of B minus mean of A, with its bootstrap 95% interval.
    pub difference: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Two-sided Mann–Whitney U test of A's runs against B's.
    pub p_value: f64,
    /// B against A: better, worse, or no significant difference.
    pub verdict: &'static str,
}

/// The significance level of verdicts.
pub const ALPHA: f64 = 0.05;
const RESAMPLES: usize = 2000;

fn round(x: f64) -> f64 {
    let r = (x * 1e4).round() / 1e4;
    if r == 0.0 { 0.0 } else { r }
}

/// Compares the runs of A and B (one report per run, same order of seeds).
pub fn compare(a: &[Report], b: &[Report], noise: f64) -> Comparison {
    let metrics = METRICS
        .iter()
        .map(|m| {
            let xa: Vec<f64> = a.iter().map(m.get).collect();
            let xb: Vec<f64> = b.iter().map(m.get).collect();
            let (ma, mb) = (mean(&xa), mean(&xb));
            let (lo, hi) = bootstrap_ci(&xa, &xb, 0x6b69_6c74);
            let p = mann_whitney_p(&xa, &xb);
            let d = mb - ma;
            let significant = p < ALPHA && (lo > 0.0 || hi < 0.0);
            let verdict = if !significant {
                "no significant difference"
            } else if (d < 0.0) == m.lower_is_better {
                "better"
            } else {
                "worse"
            };
            MetricComparison {
                metric: m.name,
                unit: m.unit,
                a_mean: round(ma),
                b_mean: round(mb),
                difference: round(d),
                ci_low: round(lo),
                ci_high: round(hi),
                p_value: round(p),
                verdict,
            }
        })
        .collect();
    Comparison {
        runs: a.len(),
        noise,
        metrics,
    }
}

fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        0.0
    } else {
        x.iter().sum::<f64>() / x.len() as f64
    }
}

/// Percentile bootstrap interval of mean(b) − mean(a), resampling each group.
pub fn bootstrap_ci(a: &[f64], b: &[f64], seed: u64) -> (f64, f64) {
    if a.is_empty() || b.is_empty() {
        return (0.0, 0.0);
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut resample =
        |x: &[f64]| (0..x.len()).map(|_| x[rng.usize(..x.len())]).sum::<f64>() / x.len() as f64;
    let mut d: Vec<f64> = (0..RESAMPLES).map(|_| resample(b) - resample(a)).collect();
    d.sort_by(f64::total_cmp);
    let at = |q: f64| d[((q * (RESAMPLES - 1) as f64).round() as usize).min(RESAMPLES - 1)];
    (at(0.025), at(0.975))
}

/// Two-sided p-value of the Mann–Whitney U test (normal approximation with tie correction
/// and continuity correction); 1 when every value is equal.
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let (mut rank_a, mut ties) = (0.0, 0.0);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        rank_a += all[i..=j].iter().filter(|x| x.1).count() as f64 * r;
        i = j + 1;
    }
    let u = rank_a - na * (na + 1.0) / 2.0;
    let nn = n as f64;
    let var = na * nb / 12.0 * ((nn + 1.0) - ties / (nn * (nn - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let z = ((u - na * nb / 2.0).abs() - 0.5).max(0.0) / var.sqrt();
    (erfc(z / std::f64::consts::SQRT_2)).clamp(0.0, 1.0)
}

/// The complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

pub fn render_human(c: &Comparison, a: &str, b: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "A: {a}\nB: {b}\n{} runs each (the trace and {} copies with {:.0}% usage noise); 95% bootstrap intervals, Mann-Whitney U p-values\n",
        c.runs,
        c.runs.saturating_sub(1),
        c.noise * 100.0
    );
    let _ = writeln!(
        o,
        "{:<13} {:>12} {:>12} {:>12} {:>26} {:>8}  verdict (B vs A)",
        "metric", "A", "B", "B - A", "95% interval", "p"
    );
    for m in &c.metrics {
        let _ = writeln!(
            o,
            "{:<13} {:>12.3} {:>12.3} {:>12.3} {:>26} {:>8.4}  {}",
            m.metric,
            m.a_mean,
            m.b_mean,
            m.difference,
            format!("[{:.3}, {:.3}]", m.ci_low, m.ci_high),
            m.p_value,
            m.verdict
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mann_whitney_matches_known_values() {
        // Fully separated groups of 5: exact two-sided p is 0.0079; the normal
        // approximation with continuity correction gives 0.0122.
        let p = mann_whitney_p(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]);
        assert!((p - 0.0122).abs() < 0.001, "{p}");
        assert_eq!(mann_whitney_p(&[1.0; 6], &[1.0; 6]), 1.0);
        let p = mann_whitney_p(&[1.0, 3.0, 5.0, 7.0], &[2.0, 4.0, 6.0, 8.0]);
        assert!(p > 0.5, "{p}");
    }

    #[test]
    fn erfc_is_accurate() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-6);
        assert!((erfc(1.0) - 0.157_299_2).abs() < 1e-6);
        assert!((erfc(-1.0) - 1.842_700_8).abs() < 1e-6);
    }

    #[test]
    fn bootstrap_interval_holds_the_difference() {
        let a: Vec<f64> = (0..10).map(|i| 10.0 + i as f64 * 0.1).collect();
        let b: Vec<f64> = a.iter().map(|x| x - 2.0).collect();
        let (lo, hi) = bootstrap_ci(&a, &b, 1);
        assert!(lo < -1.8 && hi > -2.2 && hi < 0.0, "{lo} {hi}");
        assert!(bootstrap_ci(&a, &a.clone(), 1).0 <= 0.0);
    }
}
