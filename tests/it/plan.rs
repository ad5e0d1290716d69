//! Planner behaviours, each test named after what it proves.

use kilter::plan::{ActionType, Bundle, Plan, plan};
use kilter::state::ClusterState;
use kilter::syntax::source::SourceFile;

pub fn bundle(dsl: &str) -> Bundle {
    let out = kilter::lint::lint_text("p.kilter", dsl);
    let errors: Vec<_> = out
        .diagnostics
        .iter()
        .filter(|d| d.severity == kilter::syntax::diag::Severity::Error)
        .map(|d| d.message.clone())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    Bundle::from_documents(&out.documents)
}

pub fn state(yaml: &str) -> ClusterState {
    kilter::state::load(&SourceFile::new("s.yaml", yaml))
        .unwrap_or_else(|d| panic!("{:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>()))
}

fn at(t: &str) -> chrono::DateTime<chrono::Utc> {
    kilter::state::parse_time(t).unwrap()
}

fn run(dsl: &str, yaml: &str, t: &str) -> Plan {
    plan(&bundle(dsl), &state(yaml), at(t))
}

fn kinds(p: &Plan, node: &str) -> Vec<ActionType> {
    p.actions
        .iter()
        .filter(|a| a.target().node.as_deref() == Some(node))
        .map(|a| a.kind())
        .collect()
}

const NOON: &str = "2026-11-23T12:00:00Z";

fn workers(n: usize, extra: &str) -> String {
    let mut s = String::from("nodes:\n");
    for i in 1..=n {
        s.push_str(&format!(
            "  - {{ name: w{i}, labels: {{ pool: w }}, allocatable: {{ cpu: \"8\", memory: 32Gi }}, governor: schedutil, availableGovernors: [performance, powersave, schedutil], cpuUtilization: 0.{i} }}\n"
        ));
    }
    s.push_str(extra);
    s
}

#[test]
fn governor_falls_back_to_what_the_node_offers() {
    let p = run(
        "policy g { mode: Enforce\n action { governor { name: ondemand, fallback: [conservative, powersave] } } }",
        &workers(1, ""),
        NOON,
    );
    assert_eq!(p.actions.len(), 1);
    assert_eq!(p.actions[0].action.params()["governor"], "powersave");
    assert!(p.actions[0].reason().contains("fallback"));
    assert!(p.actions[0].enforce);
}

#[test]
fn governor_already_set_needs_no_action() {
    let p = run(
        "policy g { action { governor { name: schedutil } } }",
        &workers(2, ""),
        NOON,
    );
    assert!(p.actions.is_empty(), "{p:#?}");
    assert!(p.skipped.is_empty(), "nothing to skip either: {p:#?}");
    // The same policy asking for another governor acts on both nodes.
    let p = run(
        "policy g { action { governor { name: powersave } } }",
        &workers(2, ""),
        NOON,
    );
    assert_eq!(kinds(&p, "w1"), vec![ActionType::SetGovernor]);
    assert_eq!(kinds(&p, "w2"), vec![ActionType::SetGovernor]);
}

#[test]
fn higher_priority_wins_and_ties_are_reported() {
    let dsl = "policy a { priority: 5\n action { governor { name: powersave } } }\n\
               policy b { priority: 9\n action { governor { name: performance } } }\n\
               policy c { priority: 9\n action { governor { name: powersave } } }";
    let p = run(dsl, &workers(1, ""), NOON);
    assert_eq!(p.actions.len(), 1);
    assert_eq!(&*p.actions[0].policy, "b");
    let reasons: Vec<_> = p
        .skipped
        .iter()
        .map(|s| (s.policy.as_str(), s.reason.as_str()))
        .collect();
    assert!(
        reasons.iter().any(|(pol, r)| *pol == "c"
            && r.contains("same priority 9")
            && r.contains("`b` wins by order")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(pol, r)| *pol == "a" && r.contains("outranks")),
        "{reasons:?}"
    );
}

#[test]
fn raising_power_is_withheld_at_critical_and_warned_over_warn() {
    let dsl = "budget b { power { maxWatts: 1000W, warnPercent: 50, criticalPercent: 90 } }\n\
               policy perf { action { governor { name: performance } } }";
    let hot = workers(1, "").replace(
        "cpuUtilization: 0.1 }",
        "cpuUtilization: 0.1, powerWatts: 950 }",
    );
    let p = run(dsl, &hot, NOON);
    assert!(p.actions.is_empty());
    assert!(
        p.skipped[0].reason.starts_with("withheld"),
        "{:?}",
        p.skipped
    );
    assert!(
        p.warnings.iter().any(|w| w.contains("95%")),
        "{:?}",
        p.warnings
    );
    let warm = workers(1, "").replace(
        "cpuUtilization: 0.1 }",
        "cpuUtilization: 0.1, powerWatts: 600 }",
    );
    let p = run(dsl, &warm, NOON);
    assert_eq!(p.actions.len(), 1);
    assert_eq!(p.warnings.len(), 1);
}

#[test]
fn schedules_follow_the_time_zone_and_run_past_midnight() {
    let dsl = "policy night { schedule { timeZone: \"Europe/Berlin\"\n windows: [{ days: [Mon], start: 22:00, end: 06:00 }] }\n action { governor { name: powersave } } }";
    // Monday 23:30 Berlin = 22:30 UTC; Tuesday 05:00 Berlin = 04:00 UTC; Tuesday 07:00 is outside.
    assert_eq!(
        run(dsl, &workers(1, ""), "2026-11-23T22:30:00Z")
            .actions
            .len(),
        1
    );
    assert_eq!(
        run(dsl, &workers(1, ""), "2026-11-24T04:00:00Z")
            .actions
            .len(),
        1
    );
    assert_eq!(
        run(dsl, &workers(1, ""), "2026-11-24T06:00:00Z")
            .actions
            .len(),
        0
    );
    assert_eq!(
        run(dsl, &workers(1, ""), "2026-11-23T20:30:00Z")
            .actions
            .len(),
        0
    );
}

#[test]
fn a_failing_expression_skips_only_its_policy() {
    // Well typed, but a division by zero when it runs.
    let dsl = "policy broken { when: `1 / (cluster.nodes.total - cluster.nodes.total) > 0`\n action { governor { name: powersave } } }\n\
               policy fine { nodeSelector { matchLabels { pool: w } }\n action { cordon {} } }\n\
               budget open { disruption { maxUnavailable: 100% } }";
    let p = run(dsl, &workers(2, ""), NOON);
    assert!(
        p.skipped
            .iter()
            .any(|s| s.policy == "broken" && s.reason.contains("`when` failed")),
        "{:?}",
        p.skipped
    );
    assert_eq!(p.actions.iter().filter(|a| &*a.policy == "fine").count(), 2);
}

#[test]
fn drain_stops_at_min_nodes() {
    let dsl = "budget b { disruption { minNodes: 3 } }\npolicy d { action { drain {} } }";
    let p = run(dsl, &workers(5, ""), NOON);
    let drained: Vec<_> = p
        .actions
        .iter()
        .filter(|a| a.kind() == ActionType::Drain)
        .collect();
    assert_eq!(drained.len(), 2);
    assert_eq!(
        p.skipped
            .iter()
            .filter(|s| s.reason.contains("under minNodes 3"))
            .count(),
        3
    );
}

#[test]
fn max_unavailable_percent_rounds_up() {
    // 20% of 6 nodes = 1.2 → 2, as Kubernetes rounds maxUnavailable.
    let dsl = "budget b { disruption { maxUnavailable: 20% } }\npolicy c { action { cordon {} } }";
    let p = run(dsl, &workers(6, ""), NOON);
    assert_eq!(p.actions.len(), 2);
    assert!(
        p.skipped
            .iter()
            .all(|s| s.reason.contains("over maxUnavailable 20%"))
    );
}

#[test]
fn drains_per_hour_count_recent_drains() {
    let dsl = "budget b { disruption { maxDrainsPerHour: 2 } }\npolicy d { action { drain {} } }";
    let recent = "recentActions:\n  - { kind: drain, policy: d, node: w9, time: \"2026-11-23T11:30:00Z\" }\n  - { kind: drain, policy: d, node: w1, time: \"2026-11-23T10:30:00Z\" }\n";
    let s = workers(4, recent).replace("nodes:\n", "nodes:\n  - { name: w9, labels: { pool: w }, allocatable: { cpu: \"8\" }, unschedulable: true }\n");
    let p = run(dsl, &s, NOON);
    assert_eq!(
        p.actions
            .iter()
            .filter(|a| a.kind() == ActionType::Drain)
            .count(),
        1,
        "{:#?}",
        p.actions
    );
}

const CONSOLIDATE: &str = "policy c { mode: Enforce\n action { consolidate { utilizationBelow: 0.5, maxNodesPerCycle: 1 } } }";

fn pod(ns: &str, name: &str, node: &str, extra: &str) -> String {
    format!(
        "  - {{ namespace: {ns}, name: {name}, node: {node}, labels: {{ app: {name} }}, owner: {{ kind: Deployment, name: {name} }}, containers: [{{ name: c, requests: {{ cpu: 500m, memory: 1Gi }} }}]{extra} }}\n"
    )
}

#[test]
fn consolidation_picks_the_emptiest_node_whose_pods_fit_elsewhere() {
    let pods = format!(
        "pods:\n{}{}",
        pod("a", "x", "w1", ""),
        pod("a", "y", "w2", "")
    );
    let p = run(CONSOLIDATE, &workers(3, &pods), NOON);
    assert_eq!(kinds(&p, "w1"), vec![ActionType::Cordon, ActionType::Drain]);
    assert_eq!(p.actions.len(), 2, "one node per cycle");
    assert!(
        p.skipped
            .iter()
            .any(|s| s.reason.contains("maxNodesPerCycle 1"))
    );
}

#[test]
fn consolidation_never_picks_protected_pods() {
    for (extra, why) in [
        (
            ", annotations: { kilter.dev/do-not-disrupt: \"true\" }",
            "do-not-disrupt",
        ),
        (", emptyDir: true", "emptyDir"),
    ] {
        let pods = format!("pods:\n{}", pod("a", "x", "w1", extra));
        let p = run(CONSOLIDATE, &workers(1, &pods).replace("nodes:\n", "nodes:\n  - { name: w0, allocatable: { cpu: \"8\", memory: 32Gi }, cpuUtilization: 0.9 }\n"), NOON);
        assert!(kinds(&p, "w1").is_empty(), "{why}");
        assert!(
            p.skipped.iter().any(|s| s.reason.contains(why)),
            "{why}: {:?}",
            p.skipped
        );
    }
    let bare = "pods:\n  - { namespace: a, name: lonely, node: w1, containers: [{ name: c }] }\n";
    let p = run(CONSOLIDATE, &workers(2, bare), NOON);
    assert!(kinds(&p, "w1").is_empty());
    assert!(p.skipped.iter().any(|s| s.reason.contains("no controller")));
}

#[test]
fn consolidation_respects_pdbs() {
    let pods = format!("pods:\n{}", pod("a", "x", "w1", ""));
    let pdb = "pdbs:\n  - { namespace: a, name: x, selector: { matchLabels: { app: x } }, minAvailable: 1, currentHealthy: 1, expectedPods: 1 }\n";
    let p = run(CONSOLIDATE, &workers(2, &(pods + pdb)), NOON);
    assert!(kinds(&p, "w1").is_empty());
    assert!(
        p.skipped
            .iter()
            .any(|s| s.reason.contains("PodDisruptionBudget a/x allows 0")),
        "{:?}",
        p.skipped
    );
}

#[test]
fn consolidation_needs_a_place_for_every_pod() {
    // The only other node is tainted and the pod does not tolerate it.
    let pods = format!("pods:\n{}", pod("a", "x", "w1", ""));
    let s = workers(1, &pods).replace(
        "nodes:\n",
        "nodes:\n  - { name: gpu, allocatable: { cpu: \"64\", memory: 256Gi }, taints: [{ key: gpu, effect: NoSchedule }], cpuUtilization: 0.9 }\n",
    );
    let p = run(CONSOLIDATE, &s, NOON);
    assert!(kinds(&p, "w1").is_empty());
    assert!(
        p.skipped
            .iter()
            .any(|s| s.reason.contains("fits on no other schedulable node")),
        "{:?}",
        p.skipped
    );
    // Tolerating the taint makes it fit.
    let p = run(
        CONSOLIDATE,
        &s.replace(
            "containers:",
            "tolerations: [{ key: gpu, operator: Exists }], containers:",
        ),
        NOON,
    );
    assert_eq!(kinds(&p, "w1"), vec![ActionType::Cordon, ActionType::Drain]);
}

#[test]
fn drain_leaves_daemonset_and_mirror_pods() {
    let pods = "pods:\n  - { namespace: k, name: ds, node: w1, owner: { kind: DaemonSet, name: ds }, containers: [{ name: c }] }\n  - { namespace: k, name: static, node: w1, mirror: true, containers: [{ name: c }] }\n"
        .to_string()
        + &pod("a", "x", "w1", "");
    let p = run(
        "policy d { nodeFilter: `node.name == 'w1'`\n action { drain { gracePeriod: 30s } } }",
        &workers(2, &pods),
        NOON,
    );
    let d = p
        .actions
        .iter()
        .find(|a| a.kind() == ActionType::Drain)
        .unwrap();
    assert_eq!(d.action.params()["evict"], serde_json::json!(["a/x"]));
    assert_eq!(
        d.action.params()["skip"],
        serde_json::json!(["k/ds (DaemonSet)", "k/static (mirror pod)"])
    );
    assert_eq!(d.action.params()["gracePeriod"], "30s");
    let kilter::plan::Action::Drain(drain) = &d.action else {
        unreachable!()
    };
    assert_eq!(drain.placements.len(), 1);
    assert_eq!(drain.placements[0].node, "w2", "the evicted pod has a home");
    assert!(!d.enforce, "DryRun by default");
}

#[test]
fn terminating_pods_are_not_evicted_again_and_a_node_left_with_only_them_is_drained() {
    let dsl = "policy d { nodeFilter: `node.name == 'w1'`\n action { drain {} } }";
    // Mid-drain: one pod already terminating, one not yet evicted.
    let pods = "pods:\n".to_string()
        + &pod("a", "x", "w1", ", terminating: true")
        + &pod("a", "y", "w1", "");
    let s = workers(2, &pods).replace(
        "cpuUtilization: 0.1 }",
        "cpuUtilization: 0.1, unschedulable: true }",
    );
    let p = run(dsl, &s, NOON);
    let d = p
        .actions
        .iter()
        .find(|a| a.kind() == ActionType::Drain)
        .expect("the pod not yet evicted is");
    assert_eq!(d.action.params()["evict"], serde_json::json!(["a/y"]));
    // Once every pod left is terminating, the drain is done: nothing is planned again.
    let s = s.replace("name: y, node: w1", "name: y, node: w1, terminating: true");
    let p = run(dsl, &s, NOON);
    assert!(kinds(&p, "w1").is_empty(), "{:?}", p.actions);
}

#[test]
fn cooldown_holds_back_a_repeat() {
    let dsl = "policy g { cooldown: 10m\n action { governor { name: powersave } } }";
    let recent = "recentActions:\n  - { kind: set_governor, policy: g, node: w1, time: \"2026-11-23T11:55:00Z\" }\n";
    let p = run(dsl, &workers(2, recent), NOON);
    assert_eq!(p.actions.len(), 1);
    assert_eq!(p.actions[0].target().node.as_deref(), Some("w2"));
    assert!(p.skipped[0].reason.starts_with("cooldown"));
}

#[test]
fn uncordon_when_a_cordon_policy_no_longer_applies() {
    let dsl = "policy maint { mode: Enforce\n nodeSelector { matchLabels { maintenance: \"true\" } }\n action { cordon {} } }";
    let recent = "recentActions:\n  - { kind: cordon, policy: maint, node: w1, time: \"2026-11-23T08:00:00Z\" }\n";
    let s = workers(1, recent).replace(
        "cpuUtilization: 0.1 }",
        "cpuUtilization: 0.1, unschedulable: true }",
    );
    let p = run(dsl, &s, NOON);
    assert_eq!(kinds(&p, "w1"), vec![ActionType::Uncordon]);
    assert!(p.actions[0].enforce);
}

const MARKET: &str = "budget b { cpu { reserve: 1 } }\n\
policy m { mode: Enforce\n action { resize { targetSelector { matchLabels { market: yes } } } } }\n\
scalingTarget a/web { metadata { labels { market: yes } }\n workloadRef { kind: Deployment, name: web }\n weight: 3\n resizePolicy: Both\n containers: [{ name: c, cpu: { min: 500m, max: 6, maxStep: 1 } }] }\n\
scalingTarget a/batch { metadata { labels { market: yes } }\n workloadRef { kind: Deployment, name: batch }\n weight: 1\n resizePolicy: Requests\n containers: [{ name: c, cpu: { min: 100m, max: 4 } }] }";

fn market_state(web: &str, batch: &str) -> String {
    format!(
        "nodes:\n  - {{ name: n1, allocatable: {{ cpu: \"8\", memory: 32Gi }} }}\npods:\n\
  - {{ namespace: a, name: web-1, node: n1, owner: {{ kind: Deployment, name: web }}, containers: [{{ name: c, {web} }}] }}\n\
  - {{ namespace: a, name: batch-1, node: n1, owner: {{ kind: Deployment, name: batch }}, containers: [{{ name: c, {batch} }}] }}\n\
  - {{ namespace: a, name: other, node: n1, owner: {{ kind: Deployment, name: other }}, containers: [{{ name: c, requests: {{ cpu: \"1\" }} }}] }}\n"
    )
}

#[test]
fn market_shares_capacity_by_weight_within_steps() {
    let s = market_state(
        "requests: { cpu: \"1\", memory: 1Gi }, limits: { cpu: \"2\", memory: 1Gi }",
        "requests: { cpu: \"1\" }, limits: { cpu: \"4\" }",
    );
    let p = run(MARKET, &s, NOON);
    // Capacity 8 - 1 reserve - 1 other = 6 cores. Floors first (500m + 100m), then the
    // remaining 5400m by bids 3:1 → web 500 + 4050, batch 100 + 1350.
    let web = p
        .actions
        .iter()
        .find(|a| a.target().pod.as_deref() == Some("web-1"))
        .unwrap();
    assert_eq!(web.action.params()["allocation"], "4550m");
    // maxStep 1: request 1 → 2, and the limit moves with it (2 → 3); QoS stays Burstable.
    assert_eq!(
        web.action.params()["cpu"],
        serde_json::json!({ "request": "2", "limit": "3" })
    );
    let batch = p
        .actions
        .iter()
        .find(|a| a.target().pod.as_deref() == Some("batch-1"))
        .unwrap();
    assert_eq!(
        batch.action.params()["cpu"],
        serde_json::json!({ "request": "1450m", "limit": "4" })
    );
}

#[test]
fn guaranteed_pods_keep_requests_equal_to_limits() {
    let s = market_state(
        "requests: { cpu: \"1\", memory: 1Gi }, limits: { cpu: \"1\", memory: 1Gi }",
        "requests: { cpu: \"1\" }, limits: { cpu: \"4\" }",
    );
    let p = run(MARKET, &s, NOON);
    let web = p
        .actions
        .iter()
        .find(|a| a.target().pod.as_deref() == Some("web-1"))
        .unwrap();
    assert_eq!(
        web.action.params()["cpu"]["request"],
        web.action.params()["cpu"]["limit"]
    );
}

#[test]
fn market_refuses_floors_it_cannot_meet() {
    let tight = market_state(
        "requests: { cpu: \"1\" }, limits: { cpu: \"2\" }",
        "requests: { cpu: \"1\" }, limits: { cpu: \"4\" }",
    )
    .replace(
        "requests: { cpu: \"1\" } }] }\n",
        "requests: { cpu: \"6900m\" } }] }\n",
    );
    let p = run(MARKET, &tight, NOON);
    assert!(p.actions.is_empty(), "{:#?}", p.actions);
    assert!(
        p.skipped
            .iter()
            .all(|s| s.reason.contains("cannot meet its floors"))
    );
}

#[test]
fn best_effort_pods_are_never_resized() {
    let s = market_state(
        "usage: { cpu: 100m }",
        "requests: { cpu: \"1\" }, limits: { cpu: \"4\" }",
    );
    let p = run(MARKET, &s, NOON);
    assert!(
        p.actions
            .iter()
            .all(|a| a.target().pod.as_deref() != Some("web-1"))
    );
    assert!(p.skipped.iter().any(|s| s.reason.contains("BestEffort")));
}

#[test]
fn the_bundled_example_plans_and_is_byte_identical_twice() {
    let root = crate::root().join("examples/lab");
    let mut files = Vec::new();
    crate::lint_rules::collect(&root, &mut files);
    let sources: Vec<_> = files
        .iter()
        .map(|p| SourceFile::new(p.display().to_string(), crate::read(p)))
        .collect();
    let out = kilter::lint::lint(&sources);
    let b = Bundle::from_documents(&out.documents);
    let s = state(&crate::read(&root.join("snapshot.yaml")));
    let t = kilter::state::parse_time(s.time.as_deref().unwrap()).unwrap();
    let one = kilter::plan::render_json(&plan(&b, &s, t));
    let two = kilter::plan::render_json(&plan(&b, &s, t));
    assert_eq!(one, two);
    let p = plan(&b, &s, t);
    assert!(
        p.actions
            .iter()
            .any(|a| a.kind() == ActionType::SetGovernor)
    );
    assert!(p.actions.iter().any(|a| a.kind() == ActionType::Resize));
    // Four governor changes and five resizes, all enforced; consolidation finds no candidate.
    let count = |k: ActionType| p.actions.iter().filter(|a| a.kind() == k).count();
    assert_eq!(count(ActionType::SetGovernor), 4, "{p:#?}");
    assert_eq!(count(ActionType::Resize), 5, "{p:#?}");
    assert_eq!(p.actions.len(), 9);
    assert!(
        p.actions
            .iter()
            .all(|a| a.enforce && !a.reason().is_empty())
    );
    assert!(p.skipped.iter().all(|s| !s.reason.is_empty()));
    // The methods' own plan passes the verifier: nothing was held back by the gate.
    let raw = kilter::plan::plan_unverified(&b, &s, t);
    assert_eq!(kilter::plan::verify(&b, &s, t, &raw), vec![]);
    assert_eq!(raw.actions.len(), p.actions.len());
}

#[test]
fn governor_changes_wait_for_an_available_probe() {
    let snapshot = "nodes:\n\
  - { name: up, allocatable: { cpu: \"8\" }, governor: schedutil, probe: { available: true } }\n\
  - { name: down, allocatable: { cpu: \"8\" }, governor: schedutil, probe: { available: false, reason: \"probe for node down unavailable (phi 9.4 > 8)\" } }\n\
  - { name: unknown, allocatable: { cpu: \"8\" }, governor: schedutil }\n";
    let p = run(
        "policy g { mode: Enforce\n action { governor { name: powersave } } }",
        snapshot,
        NOON,
    );
    assert_eq!(kinds(&p, "up"), vec![ActionType::SetGovernor]);
    assert_eq!(kinds(&p, "unknown"), vec![ActionType::SetGovernor]);
    assert!(kinds(&p, "down").is_empty());
    let s = p
        .skipped
        .iter()
        .find(|s| s.target.node.as_deref() == Some("down"))
        .unwrap();
    assert_eq!(s.cause, kilter::plan::SkipCause::ProbeUnavailable);
    assert_eq!(s.reason, "probe for node down unavailable (phi 9.4 > 8)");
    let json = serde_json::to_value(s).unwrap();
    assert_eq!(json["cause"], "probe-unavailable");
}
