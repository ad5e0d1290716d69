//! An API server restart under a running controller (alone: it drops every client's
//! connections, so `scripts/test` runs it after the other cluster tests).

use std::time::Duration;

use crate::cluster::{kubectl, ok};
use crate::controller::{audit_records, cordoned, on_policies, target_nodes};

fn pod_names(ns: &str) -> Vec<String> {
    let out = ok(kubectl(
        &[
            "-n",
            ns,
            "get",
            "pods",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        ],
        None,
    ));
    let mut v: Vec<String> = out.split_whitespace().map(String::from).collect();
    v.sort();
    v
}

/// A drain planned, the API server restarted under it: the drain completes once, the watches
/// recover, and nothing is evicted again afterwards.
#[test]
#[ignore = "needs the test control plane, alone: scripts/testenv start"]
fn an_api_server_restart_loses_nothing_and_repeats_no_eviction() {
    let pool = "ctl-rs";
    target_nodes(pool, &[("ctl-rs-1", "drain-me"), ("ctl-rs-2", "keep")]);
    let ns = "ctl-rs";
    crate::cluster::namespace(ns);
    // A control plane reused from an earlier run: start from no pods.
    ok(kubectl(
        &[
            "-n",
            ns,
            "delete",
            "deployment",
            "web",
            "--ignore-not-found",
            "--wait",
        ],
        None,
    ));
    for _ in 0..120 {
        if pod_names(ns).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // Every replica on ctl-rs-1: ctl-rs-2 is cordoned while they are placed.
    ok(kubectl(&["cordon", "ctl-rs-2"], None));
    crate::cluster::deployment(ns, pool, 3, "{ requests: { cpu: 100m, memory: 64Mi } }");
    ok(kubectl(&["uncordon", "ctl-rs-2"], None));
    assert_eq!(crate::cluster::pod_nodes(ns, "app=web"), ["ctl-rs-1"; 3]);
    let (_dir, c, audit) = on_policies(
        "drain.yaml",
        &format!(
            "apiVersion: kilter.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: {pool}-drain\nspec:\n  mode: Enforce\n  nodeSelector:\n    matchLabels: {{ pool: {pool}, drain-me: \"yes\" }}\n  action:\n    drain: {{ timeout: 2m }}\n---\napiVersion: kilter.dev/v1alpha1\nkind: Budget\nmetadata:\n  name: {pool}\nspec:\n  nodeSelector:\n    matchLabels: {{ pool: {pool} }}\n  disruption:\n    maxUnavailable: 1\n"
        ),
    );
    // Restart as soon as the drain has begun (the node cordoned as its first step).
    c.wait_for("the drain to begin", Duration::from_secs(30), || {
        cordoned("ctl-rs-1")
    });
    ok(
        std::process::Command::new(crate::root().join("scripts/testenv"))
            .arg("restart-apiserver")
            .output()
            .unwrap(),
    );
    c.wait_for(
        "the pods to leave ctl-rs-1",
        Duration::from_secs(120),
        || crate::cluster::pod_nodes(ns, "app=web") == ["ctl-rs-2"; 3],
    );
    // The controller kept going and sees the cluster again: later cycles act on nothing more.
    let settled = pod_names(ns);
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(pod_names(ns), settled, "pods were evicted again");
    assert!(c.get("/readyz").is_some(), "{}", c.log_text());
    let drains: Vec<_> = audit_records(&audit)
        .into_iter()
        .filter(|r| r["kind"] == "drain" && r["result"] == "executed")
        .collect();
    assert!(drains.len() <= 1, "drained twice: {drains:?}");
    let log = c.log_text();
    eprintln!(
        "audit: {:?}; watch errors seen by the controller: {}",
        audit_records(&audit)
            .iter()
            .map(|r| format!("{} {} {}", r["kind"], r["target"], r["result"]))
            .collect::<Vec<_>>(),
        log.lines().filter(|l| l.contains("\"watch\"")).count()
    );
    let cycles_before = c.get("/metrics").unwrap_or_default();
    assert!(cycles_before.contains("controller_runtime_reconcile_total"));
    assert!(c.stop().success());
}
