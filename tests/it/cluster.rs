//! Against the real test control plane (`scripts/testenv start`): the CRDs install, the
//! examples apply, status is a subresource, the API server enforces the schemas, and kwok
//! nodes run pods that the real controller-manager creates and the real scheduler places.
//! These tests are `#[ignore]`d unless a control plane is running; `scripts/test` starts one
//! and runs them with `--ignored`.

use std::process::{Command, Output};

pub(crate) fn kubectl(args: &[&str], stdin: Option<&str>) -> Output {
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

pub(crate) fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Installs the CRDs once per test run (tests run in parallel threads).
pub(crate) fn install_crds() {
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
                "crd/policysources.kilter.dev",
            ],
            None,
        ));
    });
}

pub(crate) fn namespace(ns: &str) {
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
        let yaml = kilter::syntax::convert::to_yaml(&objects);
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

// ------------------------------------------------------------ kilter's Kubernetes edge

pub(crate) fn fake_nodes(pool: &str, names: &[&str]) {
    for n in names {
        // A kubelet version recent enough for the API server to allow in-place resize.
        let yaml = format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: {n}\n  annotations: {{ kwok.x-k8s.io/node: fake }}\n  labels: {{ pool: {pool} }}\nstatus:\n  allocatable: {{ cpu: \"4\", memory: 8Gi, pods: \"110\" }}\n  capacity: {{ cpu: \"4\", memory: 8Gi, pods: \"110\" }}\n  nodeInfo: {{ kubeletVersion: v1.36.3 }}\n"
        );
        ok(kubectl(&["apply", "-f", "-"], Some(&yaml)));
        ok(kubectl(
            &[
                "wait",
                "--for=condition=Ready",
                "--timeout=60s",
                &format!("node/{n}"),
            ],
            None,
        ));
    }
}

pub(crate) fn deployment(ns: &str, pool: &str, replicas: u32, resources: &str) {
    let yaml = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{ name: web, namespace: {ns} }}\nspec:\n  replicas: {replicas}\n  selector: {{ matchLabels: {{ app: web }} }}\n  template:\n    metadata: {{ labels: {{ app: web }} }}\n    spec:\n      nodeSelector: {{ pool: {pool} }}\n      containers: [{{ name: app, image: fake, resources: {resources} }}]\n"
    );
    ok(kubectl(&["apply", "-f", "-"], Some(&yaml)));
    wait_ready(ns, "app=web", replicas);
}

fn wait_ready(ns: &str, selector: &str, count: u32) {
    for _ in 0..120 {
        let out = kubectl(
            &[
                "-n",
                ns,
                "get",
                "pods",
                "-l",
                selector,
                "-o",
                "jsonpath={range .items[*]}{.metadata.deletionTimestamp}|{.status.conditions[?(@.type==\"Ready\")].status} {end}",
            ],
            None,
        );
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let ready = text.split_whitespace().filter(|s| *s == "|True").count();
        let all = text.split_whitespace().count();
        if ready as u32 == count && all as u32 == count {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("pods {selector} in {ns} did not become {count} ready");
}

pub(crate) fn pod_nodes(ns: &str, selector: &str) -> Vec<String> {
    let out = ok(kubectl(
        &[
            "-n",
            ns,
            "get",
            "pods",
            "-l",
            selector,
            "-o",
            "jsonpath={.items[*].spec.nodeName}",
        ],
        None,
    ));
    let mut v: Vec<String> = out.split_whitespace().map(String::from).collect();
    v.sort();
    v
}

async fn client() -> kube::Client {
    let path = std::env::var("KUBECONFIG").expect("KUBECONFIG from scripts/testenv env");
    kilter::kube::client(Some(std::path::Path::new(&path)))
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs the test control plane: scripts/testenv start"]
async fn the_snapshot_read_from_the_cluster_matches_what_was_created() {
    namespace("obs");
    fake_nodes("obs", &["obs-1"]);
    deployment(
        "obs",
        "obs",
        2,
        "{ requests: { cpu: 500m, memory: 256Mi }, limits: { cpu: \"1\", memory: 256Mi } }",
    );
    let state = kilter::kube::observe(&client().await).await.unwrap();
    let node = state.nodes.iter().find(|n| n.name == "obs-1").unwrap();
    assert!(node.ready && !node.unschedulable);
    assert_eq!(node.allocatable.cpu, Some(kilter::model::CpuQuantity(4000)));
    assert_eq!(node.labels.get("pool").map(String::as_str), Some("obs"));
    let pods: Vec<_> = state.pods.iter().filter(|p| p.namespace == "obs").collect();
    assert_eq!(pods.len(), 2);
    for p in pods {
        assert_eq!(p.node, "obs-1");
        assert_eq!(p.phase, "Running");
        assert_eq!(
            p.owner,
            Some(kilter::state::Owner {
                kind: "Deployment".into(),
                name: "web".into()
            }),
            "ReplicaSet resolved to its Deployment"
        );
        assert_eq!(p.cpu_request(), 500);
        assert_eq!(p.qos(), kilter::state::QosClass::Burstable);
    }
    // The planner runs on what was read: a cordon policy for this pool plans one cordon
    // (within a budget of its own: other tests' nodes count against the default budget).
    let bundle = crate::plan::bundle(
        "policy c { nodeSelector { matchLabels { pool: obs } }\n action { cordon {} } }\n\
         budget obs { nodeSelector { matchLabels { pool: obs } }\n disruption { maxUnavailable: 1 } }",
    );
    let plan = kilter::plan::plan(&bundle, &state, chrono::Utc::now());
    assert_eq!(plan.actions.len(), 1, "{plan:#?}");
    assert_eq!(plan.actions[0].target().node.as_deref(), Some("obs-1"));
}

#[tokio::test]
#[ignore = "needs the test control plane: scripts/testenv start"]
async fn drain_evicts_to_other_nodes_and_leaves_daemonset_pods() {
    namespace("drn");
    fake_nodes("drn", &["drn-1", "drn-2"]);
    let ds = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: { name: agent, namespace: drn }\nspec:\n  selector: { matchLabels: { app: agent } }\n  template:\n    metadata: { labels: { app: agent } }\n    spec:\n      nodeSelector: { pool: drn }\n      containers: [{ name: agent, image: fake }]\n";
    ok(kubectl(&["apply", "-f", "-"], Some(ds)));
    wait_ready("drn", "app=agent", 2);
    deployment("drn", "drn", 2, "{ requests: { cpu: 100m } }");
    let victim = pod_nodes("drn", "app=web")[0].clone();
    let other = if victim == "drn-1" { "drn-2" } else { "drn-1" };
    let c = client().await;
    let report = kilter::kube::drain(&c, &victim, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    assert!(report.blocked.is_empty(), "{report:?}");
    assert!(!report.evicted.is_empty());
    assert!(
        report.evicted.iter().all(|p| p.starts_with("drn/web-")),
        "{report:?}"
    );
    // Other tests' DaemonSets (the probe's) may run here too: count this one's.
    assert_eq!(
        report
            .skipped
            .iter()
            .filter(|p| p.starts_with("drn/"))
            .count(),
        1,
        "the DaemonSet pod stays: {report:?}"
    );
    // The real controller-manager recreates the evicted pods; the real scheduler places them
    // on the node that is still schedulable.
    wait_ready("drn", "app=web", 2);
    assert_eq!(
        pod_nodes("drn", "app=web"),
        vec![other.to_string(), other.to_string()]
    );
    let state = kilter::kube::observe(&c).await.unwrap();
    assert!(
        state
            .nodes
            .iter()
            .find(|n| n.name == victim)
            .unwrap()
            .unschedulable
    );
    assert_eq!(pod_nodes("drn", "app=agent").len(), 2);
    kilter::kube::cordon(&c, &victim, false).await.unwrap();
    let state = kilter::kube::observe(&c).await.unwrap();
    assert!(
        !state
            .nodes
            .iter()
            .find(|n| n.name == victim)
            .unwrap()
            .unschedulable
    );
}

#[tokio::test]
#[ignore = "needs the test control plane: scripts/testenv start"]
async fn a_drain_blocked_by_a_pdb_stops_at_the_timeout_and_reports_it() {
    namespace("pdb");
    fake_nodes("pdb", &["pdb-1"]);
    deployment("pdb", "pdb", 1, "{ requests: { cpu: 100m } }");
    let pdb = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: { name: web, namespace: pdb }\nspec:\n  minAvailable: 1\n  selector: { matchLabels: { app: web } }\n";
    ok(kubectl(&["apply", "-f", "-"], Some(pdb)));
    // Let the disruption controller compute the budget's status.
    for _ in 0..60 {
        let out = ok(kubectl(
            &[
                "-n",
                "pdb",
                "get",
                "pdb",
                "web",
                "-o",
                "jsonpath={.status.expectedPods}",
            ],
            None,
        ));
        if out.trim() == "1" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let started = std::time::Instant::now();
    let report = kilter::kube::drain(&client().await, "pdb-1", std::time::Duration::from_secs(4))
        .await
        .unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the retry loop is bounded"
    );
    assert_eq!(report.blocked.len(), 1, "{report:?}");
    assert!(report.evicted.is_empty());
    let events = ok(kubectl(
        &[
            "-n",
            "default",
            "get",
            "events",
            "--field-selector",
            "reason=DrainBlocked,involvedObject.name=pdb-1",
            "-o",
            "jsonpath={.items[*].message}",
        ],
        None,
    ));
    assert!(
        events.contains("PodDisruptionBudgets refuse evicting pdb/web-"),
        "{events}"
    );
    wait_ready("pdb", "app=web", 1);
}

/// The pod of the one-replica `web` Deployment of `ns` (requests 500m/256Mi, limits 1/256Mi),
/// made resizable in place. kwok's kubelet does not report container resources, which the
/// API server takes as a node without resize support; they are reported as a resize-capable
/// kubelet does.
pub(crate) fn resize_capable(ns: &str) -> String {
    let pod = ok(kubectl(
        &[
            "-n",
            ns,
            "get",
            "pods",
            "-l",
            "app=web",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ],
        None,
    ));
    let status = r#"{"status":{"containerStatuses":[{"name":"app","ready":true,"restartCount":0,"image":"fake","imageID":"","started":true,"state":{"running":{"startedAt":"2026-11-23T10:00:00Z"}},"resources":{"requests":{"cpu":"500m","memory":"256Mi"},"limits":{"cpu":"1","memory":"256Mi"}}}]}}"#;
    ok(kubectl(
        &[
            "-n",
            ns,
            "patch",
            "pod",
            &pod,
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ],
        None,
    ));
    pod
}

/// The CPU limit of a pod's first container, as its spec has it.
pub(crate) fn cpu_limit(ns: &str, pod: &str) -> String {
    ok(kubectl(
        &[
            "-n",
            ns,
            "get",
            "pod",
            pod,
            "-o",
            "jsonpath={.spec.containers[0].resources.limits.cpu}",
        ],
        None,
    ))
}

#[tokio::test]
#[ignore = "needs the test control plane: scripts/testenv start"]
async fn resize_goes_through_the_subresource_and_a_qos_change_is_rejected() {
    namespace("rsz");
    fake_nodes("rsz", &["rsz-1"]);
    deployment(
        "rsz",
        "rsz",
        1,
        "{ requests: { cpu: 500m, memory: 256Mi }, limits: { cpu: \"1\", memory: 256Mi } }",
    );
    let pod = resize_capable("rsz");
    let c = client().await;
    let out = kilter::kube::resize(&c, "rsz", &pod, "app", Some("750m"), Some("1500m"))
        .await
        .unwrap();
    assert_eq!(out.request.as_deref(), Some("750m"));
    assert_eq!(out.limit.as_deref(), Some("1500m"));
    assert_eq!(cpu_limit("rsz", &pod), "1500m");
    // requests == limits for CPU and memory would make the pod Guaranteed: refused.
    let err = kilter::kube::resize(&c, "rsz", &pod, "app", Some("1500m"), Some("1500m"))
        .await
        .unwrap_err();
    match err {
        kilter::kube::Error::ResizeRejected { message, .. } => {
            assert!(message.to_lowercase().contains("qos"), "{message}")
        }
        other => panic!("expected a rejection, got {other}"),
    }
}

/// The probe DaemonSet in `deploy/probe/` applies on a real API server, its pods run on the
/// (kwok) nodes, and the router's discovery finds one probe per node at the pod's address,
/// with the token from the Secret the Probe object names.
#[tokio::test]
#[ignore = "needs the test control plane: scripts/testenv start"]
async fn the_probe_daemonset_applies_and_discovery_finds_a_probe_per_node() {
    namespace("kilter-system");
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: { name: kilter-probe-token, namespace: kilter-system }\nstringData: { token: disc0very }\n";
    ok(kubectl(&["apply", "-f", "-"], Some(secret)));
    fake_nodes("probe", &["kwok-probe-1", "kwok-probe-2"]);
    let ds = crate::read(&crate::root().join("deploy/probe/daemonset.yaml"));
    ok(kubectl(&["apply", "-f", "-"], Some(&ds)));
    let out = kilter::lint::lint_text(
        "probe.yaml",
        &crate::read(&crate::root().join("deploy/probe/probe.yaml")),
    );
    let probes: Vec<kilter::model::Probe> = out
        .documents
        .iter()
        .filter_map(|d| match &d.object {
            Some(kilter::model::Object::Probe(p)) => Some(p.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(probes.len(), 1);
    let client = client().await;
    let mut found = Vec::new();
    for _ in 0..120 {
        let (endpoints, _) =
            kilter::probe::discover::endpoints(&probes, Some(&client), None, "unused").await;
        found = endpoints
            .into_iter()
            .filter(|e| e.node.starts_with("kwok-probe-"))
            .collect();
        if found.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(found.len(), 2, "{found:?}");
    let ips = ok(kubectl(
        &[
            "-n",
            "kilter-system",
            "get",
            "pods",
            "-l",
            "app=kilter-probe",
            "-o",
            "jsonpath={range .items[*]}{.spec.nodeName}={.status.podIP} {end}",
        ],
        None,
    ));
    for e in &found {
        assert_eq!(e.token.as_deref(), Some("disc0very"));
        assert!(e.id.starts_with("node-probes/kilter-probe-"), "{}", e.id);
        let ip = ips
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{}=", e.node)))
            .unwrap();
        assert_eq!(e.url, format!("http://{ip}:8765/mcp"));
        assert_eq!(e.interval, std::time::Duration::from_secs(10));
        assert_eq!(e.retries, 3);
    }
}
