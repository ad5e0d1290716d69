//! Safe plans: one regression test per unsafe shape the planner used to produce (fixtures in
//! `tests/fixtures/safety/`), and for every invariant of the verifier a hand-broken plan that
//! it must reject, and that the gate must move to `skipped` with the invariant named.

use std::path::Path;

use kilter::plan::{
    Action, Bundle, Change, ContainerNames, DrainNode, GovernorChange, Invariant, Placement, Plan,
    PlannedAction, PodRef, ResizeContainer, SkipCause, plan, verify,
};
use kilter::state::ClusterState;
use kilter::syntax::source::SourceFile;

fn dir(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/safety")
        .join(name)
}

fn fixture(name: &str) -> (Bundle, ClusterState) {
    let text = std::fs::read_to_string(dir(name).join("policies.kilter")).unwrap();
    let out = kilter::lint::lint_text("policies.kilter", &text);
    assert!(!out.has_errors(), "{:?}", out.diagnostics);
    let bundle = Bundle::from_documents(&out.documents);
    (bundle, snapshot(name, "snapshot.yaml").unwrap())
}

fn snapshot(name: &str, file: &str) -> Result<ClusterState, Vec<kilter::syntax::diag::Diagnostic>> {
    let text = std::fs::read_to_string(dir(name).join(file)).unwrap();
    kilter::state::load(&SourceFile::new(file, text.as_str()))
}

fn now() -> chrono::DateTime<chrono::Utc> {
    kilter::state::parse_time("2026-11-23T12:00:00Z").unwrap()
}

fn run(name: &str) -> (Bundle, ClusterState, Plan) {
    let (b, s) = fixture(name);
    let p = plan(&b, &s, now());
    (b, s, p)
}

fn drained(p: &Plan) -> Vec<&DrainNode> {
    p.actions
        .iter()
        .filter_map(|a| match &a.action {
            Action::Drain(d) => Some(d),
            _ => None,
        })
        .collect()
}

fn resizes(p: &Plan) -> Vec<&ResizeContainer> {
    p.actions
        .iter()
        .filter_map(|a| match &a.action {
            Action::Resize(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn act(policy: &str, enforce: bool, action: Action) -> PlannedAction {
    PlannedAction {
        action,
        policy: policy.into(),
        why: "by hand".into(),
        enforce,
    }
}

fn pod(ns: &str, name: &str) -> PodRef {
    PodRef {
        namespace: ns.into(),
        name: name.into(),
    }
}

fn drain(node: &str, evict: &[(&str, &str, &str)]) -> Action {
    Action::Drain(DrainNode {
        node: node.into(),
        evict: evict.iter().map(|(ns, p, _)| pod(ns, p)).collect(),
        stays: Vec::new(),
        placements: evict
            .iter()
            .map(|(ns, p, to)| Placement {
                pod: pod(ns, p),
                node: to.to_string(),
            })
            .collect(),
        grace_period: None,
        timeout: None,
        step: 2,
    })
}

fn cordon(node: &str, drain_step: bool) -> Action {
    Action::Cordon {
        node: node.into(),
        drain_step,
    }
}

fn governor(node: &str, from: &str, to: &str) -> Action {
    Action::SetGovernor(GovernorChange {
        node: node.into(),
        from: Some(from.into()),
        to: to.into(),
    })
}

fn resize(pod: &str, container: &str, request: (i64, i64), limit: (i64, i64)) -> Action {
    Action::Resize(ResizeContainer {
        names: ContainerNames::new("a", "app", pod, container),
        request: Change {
            from: Some(request.0),
            to: Some(request.1),
        },
        limit: Change {
            from: Some(limit.0),
            to: Some(limit.1),
        },
        allocation: request.1,
        market_capacity: 8000,
        demand: 1.0,
    })
}

/// Verifies a hand-made plan: the invariants it breaks, and what the gate leaves of it.
fn broken(b: &Bundle, s: &ClusterState, actions: Vec<PlannedAction>) -> (Vec<Invariant>, Plan) {
    let mut p = Plan {
        actions,
        ..Default::default()
    };
    let found: Vec<Invariant> = verify(b, s, now(), &p)
        .into_iter()
        .map(|v| v.invariant)
        .collect();
    kilter::plan::verify::gate(b, s, &kilter::state::Index::new(s), now(), &mut p);
    assert!(
        verify_clean(b, s, &p),
        "what the gate left still breaks something: {p:#?}"
    );
    (found, p)
}

/// A hand-made plan the verifier must reject for `inv`, and the gate skip for it.
fn rejects(b: &Bundle, s: &ClusterState, actions: Vec<PlannedAction>, inv: Invariant) {
    let (found, gated) = broken(b, s, actions);
    assert_rejected(&found, &gated, inv);
}

fn assert_rejected(found: &[Invariant], gated: &Plan, inv: Invariant) {
    assert!(found.contains(&inv), "{inv} not found in {found:?}");
    assert!(
        gated
            .skipped
            .iter()
            .any(|s| s.cause == SkipCause::Invariant(inv) && s.reason.contains(inv.as_str())),
        "the gate did not skip for {inv}: {:?}",
        gated.skipped
    );
}

/// What the gate leaves of a broken plan passes the verifier.
fn verify_clean(b: &Bundle, s: &ClusterState, p: &Plan) -> bool {
    verify(b, s, now(), p).is_empty()
}

// ---------------------------------------------------------------- the seven shapes

#[test]
fn consolidation_never_drains_a_node_it_moves_pods_onto() {
    let (_, _, p) = run("chain");
    let d = drained(&p);
    assert_eq!(d.len(), 1, "{p:#?}");
    assert_eq!(d[0].node, "a");
    assert_eq!(d[0].placements[0].node, "b");
    let skip = p
        .skipped
        .iter()
        .find(|s| s.target.node.as_deref() == Some("b"));
    assert_eq!(skip.map(|s| s.cause), Some(SkipCause::PlanOrder), "{p:#?}");
}

#[test]
fn no_placement_on_a_node_a_higher_priority_policy_cordons() {
    let (_, _, p) = run("cordon-then-place");
    assert!(drained(&p).is_empty(), "{p:#?}");
    assert!(p.actions.iter().any(|a| &*a.policy == "retire-spare"));
    let skip = p.skipped.iter().find(|s| s.policy == "squeeze").unwrap();
    assert_eq!(skip.cause, SkipCause::NoPlacement);
}

#[test]
fn the_market_counts_pods_moved_onto_its_node() {
    let (_, s, p) = run("market-after-move");
    let d = drained(&p);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].placements[0].node, "a");
    let r = resizes(&p);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].market_capacity, 4000, "8 CPU minus the 4 moved in");
    let after = kilter::sim::apply(&s, &p.actions);
    let on_a: i64 = after
        .pods
        .iter()
        .filter(|x| x.node == "a")
        .map(|x| x.cpu_request())
        .sum();
    assert!(on_a <= 8000, "{on_a}m requested on 8 CPU");
}

#[test]
fn the_qos_class_is_checked_across_all_containers_of_a_pod() {
    let (_, s, p) = run("qos-across-containers");
    assert_eq!(resizes(&p).len(), 1, "{p:#?}");
    assert!(p.skipped.iter().any(|x| x.cause == SkipCause::QosClass));
    let after = kilter::sim::apply(&s, &p.actions);
    assert_eq!(after.pods[0].qos(), s.pods[0].qos());
}

#[test]
fn selectors_that_cannot_be_read_protect_instead_of_matching_nothing() {
    let (_, _, p) = run("unreadable-pdb");
    assert!(drained(&p).is_empty(), "{p:#?}");
    assert_eq!(p.skipped[0].cause, SkipCause::PodDisruptionBudget);
    assert!(p.warnings.iter().any(|w| w.contains("cannot read")));
    // In policies, the same operator is a lint error with a suggestion.
    let out = kilter::lint::lint_text(
        "b.yaml",
        "apiVersion: kilter.dev/v1alpha1\nkind: Budget\nmetadata: { name: gpu }\nspec:\n  nodeSelector:\n    matchExpressions: [{ key: pool, operator: in, values: [gpu] }]\n",
    );
    let d = out.diagnostics.iter().find(|d| d.code == "K007").unwrap();
    assert_eq!(d.help.as_deref(), Some("did you mean `In`?"));
}

#[test]
fn dry_run_never_takes_the_budget_enforce_needs() {
    let (_, _, p) = run("dry-run-budget");
    let cordon = p
        .actions
        .iter()
        .find(|a| &*a.policy == "retire-spare")
        .unwrap();
    assert!(cordon.enforce);
    let skip = p
        .skipped
        .iter()
        .find(|s| s.policy == "try-squeeze")
        .unwrap();
    assert!(!skip.enforce);
    assert_eq!(skip.cause, SkipCause::DisruptionBudget);
}

#[test]
fn unclear_snapshots_are_refused_with_their_place() {
    let errs = snapshot("unclear-input", "snapshot.yaml").unwrap_err();
    let at = |needle: &str| {
        errs.iter()
            .find(|d| d.message.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in {errs:?}"))
    };
    let dup = at("listed twice");
    let time = at("not an RFC 3339 time");
    let line = |d: &kilter::syntax::diag::Diagnostic| d.file.line_col(d.span.start).0;
    assert_eq!(line(dup), 6);
    assert_eq!(line(time), 8);
}

#[test]
fn a_cooldown_past_the_end_of_time_holds_instead_of_panicking() {
    // Lint refuses it (K006); a bundle built without lint must still plan, holding the action.
    let s = snapshot("unclear-input", "valid-snapshot.yaml").unwrap();
    let mut policy = kilter::model::Policy::new(
        "g",
        kilter::model::PolicySpec {
            mode: Some(kilter::model::Mode::Enforce),
            cooldown: Some(kilter::model::Duration(std::time::Duration::from_secs(
                u64::MAX / 2,
            ))),
            ..Default::default()
        },
    );
    policy.spec.action.governor = Some(kilter::model::GovernorAction {
        name: "powersave".into(),
        fallback: vec![],
    });
    let b = Bundle::new(vec![policy], vec![], vec![]);
    let p = plan(&b, &s, now());
    assert!(p.actions.is_empty());
    assert_eq!(p.skipped[0].cause, SkipCause::Cooldown);
    let out = kilter::lint::lint_text(
        "p.kilter",
        "policy g { cooldown: 2400000000000h\n action { governor { name: powersave } } }",
    );
    assert!(out.diagnostics.iter().any(|d| d.code == "K006"));
}

// ---------------------------------------------------------------- the verifier

#[test]
fn verifier_rejects_an_eviction_onto_a_node_the_plan_drains() {
    let (b, s) = fixture("chain");
    rejects(
        &b,
        &s,
        vec![
            act("squeeze", true, cordon("a", true)),
            act("squeeze", true, drain("a", &[("app", "pa", "b")])),
            act("squeeze", true, cordon("b", true)),
            act("squeeze", true, drain("b", &[("app", "pb", "c")])),
        ],
        Invariant::EvictionHasHome,
    );
}

#[test]
fn verifier_rejects_an_eviction_with_no_placement_or_onto_a_tainted_node() {
    let (b, mut s) = fixture("chain");
    let mut d = drain("a", &[("app", "pa", "c")]);
    if let Action::Drain(x) = &mut d {
        x.placements.clear();
    }
    rejects(
        &b,
        &s,
        vec![act("squeeze", true, d)],
        Invariant::EvictionHasHome,
    );
    s.nodes[2].taints.push(kilter::state::Taint {
        key: "gpu".into(),
        value: None,
        effect: "NoSchedule".into(),
    });
    rejects(
        &b,
        &s,
        vec![act("squeeze", true, drain("a", &[("app", "pa", "c")]))],
        Invariant::EvictionHasHome,
    );
}

#[test]
fn verifier_rejects_evicting_a_protected_pod() {
    let (b, mut s) = fixture("chain");
    s.pods[0]
        .annotations
        .insert(kilter::state::DO_NOT_DISRUPT.into(), "true".into());
    rejects(
        &b,
        &s,
        vec![act("squeeze", true, drain("a", &[("app", "pa", "c")]))],
        Invariant::ProtectedPods,
    );
}

#[test]
fn verifier_rejects_requests_past_allocatable() {
    let (b, s) = fixture("market-after-move");
    rejects(
        &b,
        &s,
        vec![
            act("squeeze", true, drain("b", &[("app", "batch-0", "a")])),
            act("market", true, resize_req("web-0", "app", 500, 8000, 8000)),
        ],
        Invariant::NodeCapacity,
    );
}

fn resize_req(pod: &str, container: &str, from: i64, to: i64, limit: i64) -> Action {
    resize(pod, container, (from, to), (limit, limit))
}

#[test]
fn verifier_rejects_a_qos_change_across_containers() {
    let (b, s) = fixture("qos-across-containers");
    rejects(
        &b,
        &s,
        vec![
            act("market", true, resize_req("web-0", "one", 500, 1000, 1000)),
            act("market", true, resize_req("web-0", "two", 500, 1000, 1000)),
        ],
        Invariant::QosClass,
    );
}

#[test]
fn verifier_rejects_resizes_out_of_bounds() {
    let (b, s) = fixture("qos-across-containers");
    // Request above limit, and a resize that does not start from the container's CPU.
    rejects(
        &b,
        &s,
        vec![act(
            "market",
            true,
            resize_req("web-0", "one", 500, 2000, 1000),
        )],
        Invariant::ResizeBounds,
    );
    rejects(
        &b,
        &s,
        vec![act(
            "market",
            true,
            resize_req("web-0", "one", 700, 800, 1000),
        )],
        Invariant::ResizeBounds,
    );
}

#[test]
fn verifier_rejects_evictions_past_a_pdb() {
    let (b, s) = fixture("unreadable-pdb");
    rejects(
        &b,
        &s,
        vec![act("drain-a", true, drain("a", &[("app", "db-0", "b")]))],
        Invariant::PodDisruptionBudget,
    );
}

#[test]
fn verifier_rejects_plans_past_a_disruption_budget() {
    let (b, s) = fixture("dry-run-budget");
    let (found, gated) = broken(
        &b,
        &s,
        vec![
            act("try-squeeze", false, cordon("a", true)),
            act("try-squeeze", false, drain("a", &[("app", "pa", "b")])),
            act("retire-spare", true, cordon("c", false)),
        ],
    );
    assert_rejected(&found, &gated, Invariant::DisruptionBudget);
    // The drain and the cordon planned as its first step go together.
    let skipped_a: Vec<_> = gated
        .skipped
        .iter()
        .filter(|x| x.target.node.as_deref() == Some("a"))
        .collect();
    assert!(skipped_a.len() == 2, "{skipped_a:?}");
}

fn governor_fixture(extra_dsl: &str, node: &str) -> (Bundle, ClusterState) {
    let out = kilter::lint::lint_text(
        "p.kilter",
        &format!(
            "policy g {{ mode: Enforce\n cooldown: 1h\n action {{ governor {{ name: performance }} }} }}\n{extra_dsl}"
        ),
    );
    assert!(!out.has_errors(), "{:?}", out.diagnostics);
    let text = format!(
        "time: \"2026-11-23T12:00:00Z\"\nnodes:\n  - {node}\nrecentActions:\n  - {{ kind: set_governor, policy: g, node: a, time: \"2026-11-23T11:30:00Z\" }}\n"
    );
    let s = kilter::state::load(&SourceFile::new("s.yaml", text.as_str())).unwrap();
    (Bundle::from_documents(&out.documents), s)
}

/// A raise from powersave to performance on node `a` by policy `g`, rejected for `inv`.
fn governor_raise_rejected(extra_dsl: &str, node: &str, inv: Invariant) {
    let (b, s) = governor_fixture(extra_dsl, node);
    let raise = act("g", true, governor("a", "powersave", "performance"));
    rejects(&b, &s, vec![raise], inv);
}

#[test]
fn verifier_rejects_raising_power_at_the_critical_level() {
    governor_raise_rejected(
        "budget p { power { maxWatts: 100, criticalPercent: 90 } }",
        "{ name: a, allocatable: { cpu: \"4\" }, governor: powersave, powerWatts: 95 }",
        Invariant::PowerBudget,
    );
}

#[test]
fn verifier_rejects_a_governor_the_node_does_not_offer() {
    governor_raise_rejected(
        "",
        "{ name: a, allocatable: { cpu: \"4\" }, governor: powersave, availableGovernors: [powersave] }",
        Invariant::GovernorOffered,
    );
}

#[test]
fn verifier_rejects_an_action_inside_its_cooldown() {
    // `g` set a governor on `a` 30 minutes ago and waits an hour.
    governor_raise_rejected(
        "",
        "{ name: a, allocatable: { cpu: \"4\" }, governor: powersave }",
        Invariant::Cooldown,
    );
}

#[test]
fn verifier_rejects_two_writers_of_one_knob() {
    let (b, s) = governor_fixture(
        "policy h { priority: 5\n mode: Enforce\n action { governor { name: powersave } } }",
        "{ name: b, allocatable: { cpu: \"4\" }, governor: schedutil }",
    );
    rejects(
        &b,
        &s,
        vec![
            act("h", true, governor("b", "schedutil", "powersave")),
            act("g", true, governor("b", "schedutil", "performance")),
        ],
        Invariant::SingleWriter,
    );
}

#[test]
fn verifier_rejects_enforcing_a_dry_run_policy_and_unknown_objects() {
    let (b, s) = fixture("dry-run-budget");
    rejects(
        &b,
        &s,
        vec![act("try-squeeze", true, cordon("b", false))],
        Invariant::EnforceMode,
    );
    rejects(
        &b,
        &s,
        vec![act("retire-spare", true, cordon("zz", false))],
        Invariant::KnownObjects,
    );
}

#[test]
fn the_verifier_passes_every_fixture_plan_and_the_lab() {
    for name in [
        "chain",
        "cordon-then-place",
        "market-after-move",
        "qos-across-containers",
        "unreadable-pdb",
        "dry-run-budget",
    ] {
        let (b, s) = fixture(name);
        let raw = kilter::plan::plan_unverified(&b, &s, now());
        assert_eq!(verify(&b, &s, now(), &raw), vec![], "{name}");
    }
}

// ---------------------------------------------------------------- the JSON plan format

fn plan_schema() -> jsonschema::Validator {
    let path = crate::root().join("docs/plan-format.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&crate::read(&path)).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn plans_validate_against_the_committed_schema() {
    let validator = plan_schema();
    let mut kinds = std::collections::BTreeSet::new();
    let mut plans: Vec<Plan> = [
        "chain",
        "cordon-then-place",
        "market-after-move",
        "qos-across-containers",
        "unreadable-pdb",
        "dry-run-budget",
    ]
    .into_iter()
    .map(|name| run(name).2)
    .collect();
    // A plan with a verifier skip in it, and the lab.
    let (b, s) = fixture("chain");
    plans.push(
        broken(
            &b,
            &s,
            vec![act("squeeze", true, drain("a", &[("app", "pa", "a")]))],
        )
        .1,
    );
    for p in &plans {
        let json: serde_json::Value = serde_json::from_str(&kilter::plan::render_json(p)).unwrap();
        let errors: Vec<_> = validator
            .iter_errors(&json)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{json:#}");
        for a in json["actions"].as_array().unwrap() {
            kinds.insert(a["kind"].as_str().unwrap().to_string());
        }
        for sk in json["skipped"].as_array().unwrap() {
            kinds.insert(format!("skip:{}", sk["cause"].as_str().unwrap()));
        }
    }
    for k in [
        "cordon",
        "drain",
        "resize",
        "skip:invariant",
        "skip:plan-order",
    ] {
        assert!(kinds.contains(k), "no {k} among {kinds:?}");
    }
}

#[test]
fn the_plan_schema_rejects_what_kilter_never_writes() {
    let validator = plan_schema();
    let (_, _, p) = run("market-after-move");
    let mut json: serde_json::Value = serde_json::from_str(&kilter::plan::render_json(&p)).unwrap();
    assert!(validator.is_valid(&json));
    json["actions"][0]["params"]["memory"] = serde_json::json!("1Gi");
    assert!(!validator.is_valid(&json), "unknown params are refused");
    let mut json: serde_json::Value = serde_json::from_str(&kilter::plan::render_json(&p)).unwrap();
    json["actions"][0]["kind"] = serde_json::json!("reboot");
    assert!(!validator.is_valid(&json), "unknown kinds are refused");
}
