//! The phi-accrual failure detector (Hayashibara et al.; as in Akka and Cassandra): instead of
//! a fixed timeout, how suspicious the silence since the last heartbeat is, given the
//! heartbeats seen so far. φ = −log10(1 − F(t)), F the normal distribution of heartbeat
//! intervals (mean plus an acceptable pause, standard deviation at least a minimum). φ = 1 means
//! a 10% chance the probe is still alive and merely late, φ = 8 one in 10⁸. Pure: times are
//! milliseconds passed in by the caller.

use std::collections::VecDeque;

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// φ above which the probe is suspected (Akka's default: 8).
    pub threshold: f64,
    /// Intervals kept (Akka: 1000).
    pub max_samples: usize,
    /// Floor on the standard deviation, so that very regular heartbeats do not make a
    /// slightly late one look fatal (Akka: 100 ms).
    pub min_std_ms: f64,
    /// Added to the mean: a pause the detector tolerates (GC, a busy node; Akka: 3 s).
    pub acceptable_pause_ms: f64,
    /// The interval expected before any is measured (the heartbeat interval).
    pub first_interval_ms: f64,
}

impl Config {
    /// Defaults for heartbeats every `interval_ms`, suspected at `threshold`.
    pub fn new(interval_ms: f64, threshold: f64) -> Self {
        Config {
            threshold,
            max_samples: 1000,
            min_std_ms: 100.0,
            acceptable_pause_ms: 3000.0,
            first_interval_ms: interval_ms,
        }
    }

    /// How long after the last of steady heartbeats `interval_ms` apart φ passes the
    /// threshold: mean + pause + y·σ, y solving the detector's logistic approximation of the
    /// normal tail at 10^−threshold (σ at its floor: steady heartbeats vary less than it).
    pub fn time_to_suspect_ms(&self, interval_ms: f64) -> f64 {
        let target = 10f64.powf(-self.threshold);
        // Solve -log10(e/(1+e)) = threshold for y, e = exp(-y(1.5976 + 0.070566 y²)).
        let (mut lo, mut hi) = (0.0f64, 50.0f64);
        for _ in 0..100 {
            let y = (lo + hi) / 2.0;
            let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
            if e / (1.0 + e) > target {
                lo = y;
            } else {
                hi = y;
            }
        }
        interval_ms + self.acceptable_pause_ms + hi * self.min_std_ms
    }
}

#[derive(Clone, Debug)]
pub struct Detector {
    cfg: Config,
    intervals: VecDeque<f64>,
    sum: f64,
    sum_sq: f64,
    last_ms: Option<f64>,
    /// `last_ms` is when watching started, not a heartbeat.
    watching_only: bool,
}

impl Detector {
    pub fn new(cfg: Config) -> Self {
        let mut d = Detector {
            intervals: VecDeque::new(),
            sum: 0.0,
            sum_sq: 0.0,
            last_ms: None,
            watching_only: false,
            cfg,
        };
        // Seeded as Akka seeds it: the expected interval ± a quarter of it.
        let (m, s) = (d.cfg.first_interval_ms, d.cfg.first_interval_ms / 4.0);
        d.push(m - s);
        d.push(m + s);
        d
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn push(&mut self, interval: f64) {
        if self.intervals.len() >= self.cfg.max_samples.max(2)
            && let Some(old) = self.intervals.pop_front()
        {
            self.sum -= old;
            self.sum_sq -= old * old;
        }
        self.intervals.push_back(interval);
        self.sum += interval;
        self.sum_sq += interval * interval;
    }

    /// Starts watching at `now_ms` before any heartbeat: silence from then on grows φ as if
    /// a heartbeat had arrived, so a probe never heard from is suspected in the same time as
    /// one that went silent.
    pub fn watch_from(&mut self, now_ms: f64) {
        if self.last_ms.is_none() {
            self.last_ms = Some(now_ms);
            self.watching_only = true;
        }
    }

    /// A heartbeat arrived at `now_ms`.
    pub fn heartbeat(&mut self, now_ms: f64) {
        if std::mem::take(&mut self.watching_only) {
            self.last_ms = Some(now_ms);
            return;
        }
        if let Some(last) = self.last_ms {
            let dt = now_ms - last;
            if dt.is_finite() && dt >= 0.0 {
                self.push(dt);
            }
        }
        self.last_ms = Some(now_ms);
    }

    /// When the last heartbeat arrived.
    pub fn last_heartbeat_ms(&self) -> Option<f64> {
        self.last_ms.filter(|_| !self.watching_only)
    }

    /// The mean and standard deviation of the intervals seen.
    pub fn stats(&self) -> (f64, f64) {
        let n = self.intervals.len().max(1) as f64;
        let mean = self.sum / n;
        let var = (self.sum_sq / n - mean * mean).max(0.0);
        (mean, var.sqrt())
    }

    /// φ at `now_ms` (0 before the first heartbeat: nothing is known yet).
    pub fn phi(&self, now_ms: f64) -> f64 {
        let Some(last) = self.last_ms else {
            return 0.0;
        };
        let elapsed = (now_ms - last).max(0.0);
        let (mean, std) = self.stats();
        let mean = mean + self.cfg.acceptable_pause_ms;
        let std = std.max(self.cfg.min_std_ms).max(f64::MIN_POSITIVE);
        let y = (elapsed - mean) / std;
        let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
        let p = if elapsed > mean {
            e / (1.0 + e)
        } else {
            1.0 - 1.0 / (1.0 + e)
        };
        // p underflows to 0 long after any threshold: cap φ instead of returning infinity.
        (-p.max(1e-300).log10()).max(0.0)
    }

    pub fn suspected(&self, now_ms: f64) -> bool {
        self.phi(now_ms) > self.cfg.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn steady(interval: f64, beats: usize, cfg: Config) -> Detector {
        let mut d = Detector::new(cfg);
        for i in 0..beats {
            d.heartbeat(i as f64 * interval);
        }
        d
    }

    #[test]
    fn steady_heartbeats_are_not_suspected_until_the_predicted_time() {
        let cfg = Config::new(1000.0, 8.0);
        let d = steady(1000.0, 50, cfg.clone());
        let last = d.last_heartbeat_ms().unwrap();
        let t = cfg.time_to_suspect_ms(1000.0);
        // 1000 + 3000 + ~5.2 σ (σ = 100 ms).
        assert!((4500.0..4560.0).contains(&t), "{t}");
        assert!(!d.suspected(last + t - 20.0), "{}", d.phi(last + t - 20.0));
        assert!(d.suspected(last + t + 20.0), "{}", d.phi(last + t + 20.0));
        assert!(d.phi(last + 500.0) < 0.1);
    }

    #[test]
    fn nothing_is_known_before_the_first_heartbeat() {
        let d = Detector::new(Config::new(1000.0, 8.0));
        assert_eq!(d.phi(1e9), 0.0);
    }

    #[test]
    fn a_probe_never_heard_from_is_suspected_in_the_predicted_time() {
        let cfg = Config::new(1000.0, 8.0);
        let t = cfg.time_to_suspect_ms(1000.0);
        let mut d = Detector::new(cfg);
        d.watch_from(500.0);
        assert_eq!(d.last_heartbeat_ms(), None);
        // The seeded intervals (1000 ± 250 ms) give σ above the floor: later than steady ones.
        assert!(!d.suspected(500.0 + t - 20.0));
        assert!(d.suspected(500.0 + 3.0 * t));
        // The first heartbeat records no interval from the start of watching.
        d.heartbeat(600.0);
        assert_eq!(d.last_heartbeat_ms(), Some(600.0));
        assert_eq!(d.stats().0, 1000.0);
    }

    proptest! {
        /// φ never decreases while the silence grows, and a heartbeat brings it back down.
        #[test]
        fn phi_grows_with_silence(
            intervals in proptest::collection::vec(10.0f64..5000.0, 1..50),
            a in 0.0f64..100_000.0,
            b in 0.0f64..100_000.0,
        ) {
            let mut d = Detector::new(Config::new(1000.0, 8.0));
            let mut t = 0.0;
            d.heartbeat(t);
            for i in &intervals {
                t += i;
                d.heartbeat(t);
            }
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            let (p_lo, p_hi) = (d.phi(t + lo), d.phi(t + hi));
            prop_assert!(p_lo <= p_hi + 1e-9, "{p_lo} > {p_hi}");
            prop_assert!(p_hi.is_finite() && p_lo >= 0.0);
            d.heartbeat(t + hi);
            prop_assert!(d.phi(t + hi) <= p_hi + 1e-9);
        }

        /// The window never holds more than `max_samples` intervals and its stats stay sane.
        #[test]
        fn the_window_is_bounded(n in 0usize..300, max in 2usize..50) {
            let mut cfg = Config::new(100.0, 8.0);
            cfg.max_samples = max;
            let mut d = Detector::new(cfg);
            for i in 0..n {
                d.heartbeat(i as f64 * 100.0);
            }
            prop_assert!(d.intervals.len() <= max);
            let (mean, std) = d.stats();
            prop_assert!(mean.is_finite() && std.is_finite() && std >= 0.0);
        }
    }
}
