//! The controller's metrics: every name it promises is exported, and every query of the
//! Grafana dashboard in `deploy/grafana/` names one of them.

use kilter::controller::metrics::{Metrics, NAMES};

/// Metrics with every family touched once, encoded.
fn exported() -> String {
    let m = Metrics::default();
    m.reconciled(true, 0.01);
    m.reconciled(false, 0.02);
    m.queue_depth(1);
    m.action("cordon", "p", "executed");
    m.planned(0.001);
    m.revision("main@sha1:abc");
    m.rejected();
    m.budget_power("b", 100.0);
    m.allocation("ns", "pod", "app", 250);
    m.probe_phi("n1", 0.5);
    m.encode()
}

/// The sample names of an exposition (histograms' series folded into their family).
fn sample_names(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(|n| {
            ["_bucket", "_sum", "_count", "_created"]
                .iter()
                .fold(n.to_string(), |n, s| {
                    n.strip_suffix(s).map_or(n.clone(), String::from)
                })
        })
        .collect()
}

#[test]
fn every_promised_metric_is_exported() {
    let text = exported();
    let names = sample_names(&text);
    for n in NAMES {
        assert!(names.contains(n), "{n} not in\n{text}");
    }
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    assert!(
        text.contains("kilter_actions_total{kind=\"cordon\",policy=\"p\",result=\"executed\"} 1")
    );
    assert!(
        text.contains(
            "controller_runtime_reconcile_total{controller=\"kilter\",result=\"error\"} 1"
        )
    );
}

#[test]
fn every_dashboard_query_names_an_exported_metric() {
    let names = sample_names(&exported());
    let dashboard: serde_json::Value = serde_json::from_str(&crate::read(
        &crate::root().join("deploy/grafana/kilter.json"),
    ))
    .unwrap();
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            queries += 1;
            // Identifiers in the query that are metric names (not functions or labels).
            let used: Vec<&str> = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| {
                    ["kilter_", "controller_runtime_", "workqueue_"]
                        .iter()
                        .any(|p| w.starts_with(p))
                })
                .collect();
            assert!(!used.is_empty(), "{expr} names no metric");
            for m in used {
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .fold(m, |n, s| n.strip_suffix(s).unwrap_or(n));
                assert!(
                    names.contains(family),
                    "panel {:?}: {m} is not exported",
                    panel["title"]
                );
            }
        }
    }
    assert!(queries >= 10, "{queries}");
}
