//! The controller's Prometheus metrics: controller-runtime's standard names (so existing
//! dashboards and alerts work) and kilter's own.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    reconcile: Family<Labels, Counter>,
    reconcile_errors: Family<Labels, Counter>,
    reconcile_time: Family<Labels, Histogram>,
    workqueue_depth: Family<Labels, Gauge>,
    actions: Family<Labels, Counter>,
    plan_duration: Histogram,
    revision_info: Family<Labels, Gauge>,
    revision_rejected: Counter,
    budget_power: Family<Labels, Gauge<f64, AtomicU64>>,
    market_allocation: Family<Labels, Gauge>,
    probe_phi: Family<Labels, Gauge<f64, AtomicU64>>,
}

/// Every metric name the controller exports (the Grafana dashboard may name only these).
pub const NAMES: [&str; 12] = [
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "controller_runtime_reconcile_time_seconds",
    "workqueue_depth",
    "kilter_actions_total",
    "kilter_plan_duration_seconds",
    "kilter_source_revision_info",
    "kilter_revision_rejected_total",
    "kilter_budget_power_watts",
    "kilter_market_allocation_cpu_millicores",
    "kilter_probe_phi",
    "kilter_up",
];

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let reconcile = Family::default();
        let reconcile_errors = Family::default();
        let reconcile_time = Family::new_with_constructor(histogram as fn() -> Histogram);
        let workqueue_depth = Family::default();
        let actions = Family::default();
        let plan_duration = histogram();
        let revision_info = Family::default();
        let revision_rejected = Counter::default();
        let budget_power = Family::default();
        let market_allocation = Family::default();
        let probe_phi = Family::default();
        let up: Gauge = Gauge::default();
        up.set(1);
        registry.register(
            "controller_runtime_reconcile",
            "Reconciliations (one per cycle), by result",
            reconcile.clone(),
        );
        registry.register(
            "controller_runtime_reconcile_errors",
            "Reconciliations that failed",
            reconcile_errors.clone(),
        );
        registry.register(
            "controller_runtime_reconcile_time_seconds",
            "Time per reconciliation",
            reconcile_time.clone(),
        );
        registry.register(
            "workqueue_depth",
            "Triggers waiting for the next cycle",
            workqueue_depth.clone(),
        );
        registry.register(
            "kilter_actions",
            "Actions by kind, policy and result (executed, dry-run, invalidated, failed, skipped)",
            actions.clone(),
        );
        registry.register(
            "kilter_plan_duration_seconds",
            "Time to plan and verify one cycle",
            plan_duration.clone(),
        );
        registry.register(
            "kilter_source_revision_info",
            "The revision in use (value 1)",
            revision_info.clone(),
        );
        registry.register(
            "kilter_revision_rejected",
            "Revisions rejected because they did not lint clean",
            revision_rejected.clone(),
        );
        registry.register(
            "kilter_budget_power_watts",
            "Power drawn by the nodes each power budget covers",
            budget_power.clone(),
        );
        registry.register(
            "kilter_market_allocation_cpu_millicores",
            "CPU the market allocated, per container resized in the last plan",
            market_allocation.clone(),
        );
        registry.register(
            "kilter_probe_phi",
            "Suspicion of each node probe (phi accrual)",
            probe_phi.clone(),
        );
        registry.register("kilter_up", "The controller is running", up);
        Metrics {
            registry,
            reconcile,
            reconcile_errors,
            reconcile_time,
            workqueue_depth,
            actions,
            plan_duration,
            revision_info,
            revision_rejected,
            budget_power,
            market_allocation,
            probe_phi,
        }
    }
}

const CONTROLLER: (&str, &str) = ("controller", "kilter");

impl Metrics {
    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn reconciled(&self, ok: bool, seconds: f64) {
        let result = if ok { "success" } else { "error" };
        self.reconcile
            .get_or_create(&labels(&[CONTROLLER, ("result", result)]))
            .inc();
        if !ok {
            self.reconcile_errors
                .get_or_create(&labels(&[CONTROLLER]))
                .inc();
        }
        self.reconcile_time
            .get_or_create(&labels(&[CONTROLLER]))
            .observe(seconds);
    }

    pub fn queue_depth(&self, n: usize) {
        self.workqueue_depth
            .get_or_create(&labels(&[("name", "kilter")]))
            .set(n as i64);
    }

    pub fn action(&self, kind: &str, policy: &str, result: &str) {
        self.actions
            .get_or_create(&labels(&[
                ("kind", kind),
                ("policy", policy),
                ("result", result),
            ]))
            .inc();
    }

    pub fn planned(&self, seconds: f64) {
        self.plan_duration.observe(seconds);
    }

    pub fn revision(&self, id: &str) {
        self.revision_info.clear();
        self.revision_info
            .get_or_create(&labels(&[("revision", id)]))
            .set(1);
    }

    pub fn rejected(&self) {
        self.revision_rejected.inc();
    }

    pub fn budget_power(&self, budget: &str, watts: f64) {
        self.budget_power
            .get_or_create(&labels(&[("budget", budget)]))
            .set(watts);
    }

    pub fn allocation(&self, namespace: &str, pod: &str, container: &str, millicores: i64) {
        self.market_allocation
            .get_or_create(&labels(&[
                ("namespace", namespace),
                ("pod", pod),
                ("container", container),
            ]))
            .set(millicores);
    }

    pub fn probe_phi(&self, node: &str, phi: f64) {
        self.probe_phi
            .get_or_create(&labels(&[("node", node)]))
            .set(phi);
    }
}
