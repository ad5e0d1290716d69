//! Against the real test control plane (`scripts/testenv start`): the CRDs install, the
//! examples apply, status is a subresource, the API server enforces the schemas, and kwok
//! nodes run pods that the real controller-manager creates and the real scheduler places.
//! These tests are `#[ignore]`d unless a control plane is running; `scripts/test` starts one
//! and runs them with `--ignored`.

use std::process::{Command, Output};

fn kubectl(args: &[&str], stdin: Option<&str>) -> Output {
    let bin = std::env::var("KILTER_KUBECTL").expect("run `eval \"$(scripts/testenv env)\"` first");
    let mut cmd = Command::new(bin);
    cmd.args(args).current_dir(crate::root());
    match stdin {
        None => cmd.output().unwrap(),
        Some(text) => {
            use std::io::Write;
            let mut child = cmd
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        }
    }
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Installs the CRDs once per test run (tests run in parallel threads).
fn install_crds() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        ok(kubectl(
            &["apply", "--server-side", "-f", "crds/kilter.dev.yaml"],
            None,
        ));
        ok(kubectl(
            &[
                "wait",
                "--for",
                "condition=established",
                "--timeout=60s",
                "crd/policies.kilter.dev",
                "crd/budgets.kilter.dev",
                "crd/probes.kilter.dev",
                "crd/scalingtargets.kilter.dev",
            ],
            None,
        ));
    });
}

fn namespace(ns: &str) {
    let yaml = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{ name: {ns} }}\n");
    ok(kubectl(&["apply", "-f", "-"], Some(&yaml)));
}

#[test]
#[ignore = "needs the test control plane: scripts/testenv start"]
fn crds_and_every_example_apply_on_a_real_api_server() {
    install_crds();
    for ns in ["prod", "batch", "shop"] {
        namespace(ns);
    }
    let mut files = Vec::new();
    crate::lint_rules::collect(&crate::root().join("examples"), &mut files);
    crate::lint_rules::collect(&crate::root().join("policies"), &mut files);
    let mut applied = 0;
    for p in files {
        let objects = crate::convert::objects(&p.display().to_string(), &crate::read(&p));
        if objects.is_empty() {
            continue; // snapshots and policy tests are not cluster objects
        }
        // DSL files go through `kilter convert`'s YAML; YAML files apply as written.
        let yaml = kilter::convert::to_yaml(&objects);
        let out = ok(kubectl(
            &["apply", "--validate=strict", "-f", "-"],
            Some(&yaml),
        ));
        applied += out.lines().count();
    }
    assert!(applied >= 15, "applied {applied} objects");
    let listed = ok(kubectl(&["get", "policies.kilter.dev", "-o", "name"], None));
    assert!(
        listed.contains("policy.kilter.dev/off-peak-powersave"),
        "{listed}"
    );
    assert!(
        listed.contains("policy.kilter.dev/night-powersave"),
        "{listed}"
    );
}

#[test]
#[ignore = "needs the test control plane: scripts/testenv start"]
fn status_is_a_subresource() {
    install_crds();
    let policy = "apiVersion: kilter.dev/v1alpha1\nkind: Policy\nmetadata: { name: status-probe }\nspec: { action: { cordon: {} } }\n";
    ok(kubectl(&["apply", "-f", "-"], Some(policy)));
    let patch = r#"{"status":{"observedGeneration":1,"sourceRevision":"abc123","conditions":[{"type":"Valid","status":"True","reason":"Linted","message":"ok","lastTransitionTime":"2026-11-23T10:00:00Z"}]},"spec":{"priority":99}}"#;
    ok(kubectl(
        &[
            "patch",
            "policies.kilter.dev",
            "status-probe",
            "--subresource=status",
            "--type=merge",
            "-p",
            patch,
        ],
        None,
    ));
    let got: serde_json::Value = serde_json::from_str(&ok(kubectl(
        &["get", "policies.kilter.dev", "status-probe", "-o", "json"],
        None,
    )))
    .unwrap();
    assert_eq!(got["status"]["sourceRevision"], "abc123");
    assert_eq!(got["status"]["conditions"][0]["type"], "Valid");
    assert!(
        got["spec"].get("priority").is_none(),
        "the status subresource must not change spec: {}",
        got["spec"]
    );
    // And a plain update does not change status.
    ok(kubectl(
        &[
            "patch",
            "policies.kilter.dev",
            "status-probe",
            "--type=merge",
            "-p",
            r#"{"status":{"sourceRevision":"zzz"}}"#,
        ],
        None,
    ));
    let got: serde_json::Value = serde_json::from_str(&ok(kubectl(
        &["get", "policies.kilter.dev", "status-probe", "-o", "json"],
        None,
    )))
    .unwrap();
    assert_eq!(got["status"]["sourceRevision"], "abc123");
}

#[test]
#[ignore = "needs the test control plane: scripts/testenv start"]
fn the_api_server_enforces_the_generated_schemas() {
    install_crds();
    for bad in [
        "spec: { mode: Enforc, action: { cordon: {} } }",
        "spec: { bogus: 1, action: { cordon: {} } }",
        "spec: { schedule: { windows: [ { start: \"25:00\", end: \"06:00\" } ] }, action: { cordon: {} } }",
    ] {
        let doc = format!(
            "apiVersion: kilter.dev/v1alpha1\nkind: Policy\nmetadata: {{ name: bad-policy }}\n{bad}\n"
        );
        let out = kubectl(&["apply", "--validate=strict", "-f", "-"], Some(&doc));
        assert!(!out.status.success(), "the API server accepted: {bad}");
        // kilter's own lint reports the same document, with a position.
        assert!(
            kilter::lint::lint_text("bad.yaml", &doc).has_errors(),
            "{bad}"
        );
    }
}

#[test]
#[ignore = "needs the test control plane: scripts/testenv start"]
fn kwok_nodes_run_pods_placed_by_the_real_scheduler() {
    namespace("kwok-check");
    let manifests = r#"apiVersion: v1
kind: Node
metadata:
  name: kwok-check-1
  annotations: { kwok.x-k8s.io/node: fake }
  labels: { pool: check }
status:
  allocatable: { cpu: "4", memory: 8Gi, pods: "110" }
  capacity: { cpu: "4", memory: 8Gi, pods: "110" }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: kwok-check }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      nodeSelector: { pool: check }
      containers: [{ name: app, image: fake, resources: { requests: { cpu: 500m } } }]
"#;
    ok(kubectl(&["apply", "-f", "-"], Some(manifests)));
    ok(kubectl(
        &[
            "wait",
            "--for=condition=Ready",
            "--timeout=60s",
            "node/kwok-check-1",
        ],
        None,
    ));
    // The ReplicaSet controller creates the pods, the scheduler binds them, kwok runs them.
    ok(kubectl(
        &[
            "-n",
            "kwok-check",
            "wait",
            "--for=condition=Ready",
            "--timeout=60s",
            "pod",
            "-l",
            "app=web",
        ],
        None,
    ));
    let nodes = ok(kubectl(
        &[
            "-n",
            "kwok-check",
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[*].spec.nodeName}",
        ],
        None,
    ));
    assert_eq!(
        nodes.split_whitespace().collect::<Vec<_>>(),
        vec!["kwok-check-1", "kwok-check-1"]
    );
}
