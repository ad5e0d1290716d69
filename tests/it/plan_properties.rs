//! The planner's safety on generated clusters that combine every method: governors, cordons,
//! drains, consolidation, the CPU market, budgets (disruption and power), PDBs (some with
//! selectors kilter cannot read), DryRun and Enforce policies of random priorities, recent
//! actions and cooldowns, taints, tolerations and nodeSelectors.
//!
//! Every plan the methods make is checked by the independent verifier (before its gate, so a
//! method's mistake shows here rather than being hidden by the gate), and by the checks below,
//! written against the typed actions. The test prints how many cases had drains, placements,
//! resizes and budget-skipped actions and fails if any of them is not a real share.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kilter::model::*;
use kilter::plan::{self as planner, Bundle, Plan, SkipCause, plan, plan_unverified};
use kilter::state::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};

const CASES: u32 = 10_000;

fn labels<T: FromIterator<(String, String)>>(pairs: &[(&str, &str)]) -> T {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn sel(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels(pairs)),
        match_expressions: None,
    }
}

fn now() -> chrono::DateTime<chrono::Utc> {
    kilter::state::parse_time("2026-11-23T12:00:00Z").unwrap()
}

fn config() -> Config {
    Config {
        cases: CASES,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

const GOVERNORS: [&str; 4] = ["powersave", "schedutil", "performance", "conservative"];

fn node() -> impl Strategy<Value = kilter::state::Node> {
    (
        (any::<bool>(), 2000i64..16_000, 0.0f64..1.0),
        (
            prop::bool::weighted(0.1),
            prop::bool::weighted(0.93),
            prop::bool::weighted(0.15),
        ),
        (0usize..4, 50.0f64..400.0, prop::bool::weighted(0.5)),
    )
        .prop_map(
            |((a, cpu, util), (unsched, ready, tainted), (gov, watts, all_govs))| {
                kilter::state::Node {
                    name: String::new(),
                    labels: labels(&[("pool", if a { "a" } else { "b" })]),
                    taints: if tainted {
                        vec![Taint {
                            key: "dedicated".into(),
                            value: Some("batch".into()),
                            effect: "NoSchedule".into(),
                        }]
                    } else {
                        Vec::new()
                    },
                    allocatable: Resources {
                        cpu: Some(CpuQuantity(cpu)),
                        memory: Some(MemoryQuantity(16 << 30)),
                    },
                    unschedulable: unsched,
                    ready,
                    governor: Some(GOVERNORS[gov].into()),
                    available_governors: if all_govs {
                        GOVERNORS.iter().map(|g| g.to_string()).collect()
                    } else {
                        vec!["powersave".into(), "performance".into()]
                    },
                    cpu_utilization: util,
                    power_watts: watts,
                    ..Default::default()
                }
            },
        )
}

fn container(i: usize) -> impl Strategy<Value = Container> {
    (0u8..3, 50i64..2500, 0i64..2000, 0i64..2000).prop_map(move |(qos, req, extra, usage)| {
        let (requests, limits) = match qos {
            0 => (Resources::default(), Resources::default()),
            1 => (
                Resources {
                    cpu: Some(CpuQuantity(req)),
                    memory: Some(MemoryQuantity(1 << 30)),
                },
                Resources {
                    cpu: Some(CpuQuantity(req + extra)),
                    memory: Some(MemoryQuantity(2 << 30)),
                },
            ),
            _ => {
                let r = Resources {
                    cpu: Some(CpuQuantity(req)),
                    memory: Some(MemoryQuantity(1 << 30)),
                };
                (r, r)
            }
        };
        Container {
            name: format!("c{i}"),
            requests,
            limits,
            usage: Resources {
                cpu: Some(CpuQuantity(usage)),
                memory: None,
            },
        }
    })
}

fn pod() -> impl Strategy<Value = Pod> {
    (
        (0usize..8, 0u8..12, 0usize..3),
        prop::collection::vec(prop::bool::ANY, 1..3),
        (
            prop::bool::weighted(0.07),
            prop::bool::weighted(0.03),
            prop::option::of(0.0f64..1.0),
        ),
        (prop::bool::weighted(0.15), prop::bool::weighted(0.2)),
    )
        .prop_flat_map(|(where_, cs, flags, placement)| {
            let containers: Vec<_> = (0..cs.len()).map(container).collect();
            (Just((where_, flags, placement)), containers)
        })
        .prop_map(
            |(((node, owner, app), (empty_dir, dnd, demand), (pinned, tolerant)), containers)| {
                let owner = match owner {
                    0 => None,
                    1 => Some(Owner {
                        kind: "DaemonSet".into(),
                        name: "ds".into(),
                    }),
                    2 => Some(Owner {
                        kind: "StatefulSet".into(),
                        name: format!("s{app}"),
                    }),
                    _ => Some(Owner {
                        kind: "Deployment".into(),
                        name: format!("d{app}"),
                    }),
                };
                Pod {
                    namespace: "ns".into(),
                    name: String::new(),
                    node: format!("n{node}"),
                    labels: labels(&[("app", &format!("d{app}"))]),
                    annotations: if dnd {
                        labels(&[(DO_NOT_DISRUPT, "true")])
                    } else {
                        Default::default()
                    },
                    owner,
                    phase: "Running".into(),
                    node_selector: if pinned {
                        labels(&[("pool", "a")])
                    } else {
                        Default::default()
                    },
                    tolerations: if tolerant {
                        vec![Toleration {
                            key: Some("dedicated".into()),
                            operator: Some("Equal".into()),
                            value: Some("batch".into()),
                            effect: None,
                        }]
                    } else {
                        Vec::new()
                    },
                    empty_dir,
                    containers,
                    demand,
                    ..Default::default()
                }
            },
        )
}

/// (kind, policy, node, minutes ago) of a recent action.
type Recent = (u8, usize, i64);

fn recent(r: Recent, nodes: usize, pods: &[Pod]) -> RecentAction {
    let (kind, target, mins) = r;
    let time = (now() - chrono::Duration::minutes(mins)).to_rfc3339();
    let node = Some(format!("n{}", target % nodes));
    match kind {
        0 => RecentAction {
            kind: "drain".into(),
            policy: "old".into(),
            node,
            time,
            ..Default::default()
        },
        1 => RecentAction {
            kind: "cordon".into(),
            policy: "cordon-a".into(),
            node,
            time,
            ..Default::default()
        },
        2 => RecentAction {
            kind: "set_governor".into(),
            policy: "governor".into(),
            node,
            time,
            ..Default::default()
        },
        _ => {
            let p = pods.get(target % pods.len().max(1));
            RecentAction {
                kind: "resize".into(),
                policy: "market".into(),
                namespace: p.map(|p| p.namespace.clone()),
                pod: p.map(|p| p.name.clone()),
                time,
                ..Default::default()
            }
        }
    }
}

fn cluster() -> impl Strategy<Value = ClusterState> {
    (
        prop::collection::vec(node(), 2..8),
        prop::collection::vec(pod(), 0..30),
        prop::collection::vec(
            (0usize..3, 0i64..3, 0i64..4, prop::bool::weighted(0.15)),
            0..3,
        ),
        prop::collection::vec((0u8..4, 0usize..30, 0i64..120), 0..8),
    )
        .prop_map(|(mut nodes, mut pods, pdbs, recents)| {
            for (i, n) in nodes.iter_mut().enumerate() {
                n.name = format!("n{i}");
            }
            let count = nodes.len();
            for (i, p) in pods.iter_mut().enumerate() {
                p.name = format!("p{i}");
                let idx: usize = p.node[1..].parse().unwrap();
                p.node = format!("n{}", idx % count);
            }
            let pdbs = pdbs
                .into_iter()
                .enumerate()
                .map(|(i, (app, min, healthy, unreadable))| Pdb {
                    namespace: "ns".into(),
                    name: format!("pdb{i}"),
                    selector: if unreadable {
                        LabelSelector {
                            match_labels: None,
                            match_expressions: Some(vec![LabelSelectorRequirement {
                                key: "app".into(),
                                operator: "in".into(),
                                values: Some(vec![format!("d{app}")]),
                            }]),
                        }
                    } else {
                        sel(&[("app", &format!("d{app}"))])
                    },
                    min_available: Some(IntOrPercent::Int(min)),
                    current_healthy: healthy,
                    expected_pods: Some(healthy),
                    ..Default::default()
                })
                .collect();
            let recent_actions = recents
                .into_iter()
                .map(|r| recent(r, count, &pods))
                .collect();
            ClusterState {
                time: None,
                nodes,
                pods,
                pdbs,
                recent_actions,
            }
        })
}

/// Mode, priority and cooldown of one policy.
type Knobs = (bool, i32, bool);

fn knobs() -> impl Strategy<Value = Knobs> {
    (
        prop::bool::weighted(0.75),
        0i32..40,
        prop::bool::weighted(0.5),
    )
}

fn policy(
    name: &str,
    k: Knobs,
    node_selector: Option<LabelSelector>,
    action: kilter::model::Action,
) -> Policy {
    let (enforce, priority, cooldown) = k;
    Policy::new(
        name,
        PolicySpec {
            priority: Some(priority),
            mode: Some(if enforce { Mode::Enforce } else { Mode::DryRun }),
            node_selector,
            cooldown: cooldown.then(|| Duration::parse("30m").unwrap()),
            action,
            ..Default::default()
        },
    )
}

fn target(i: usize, t: (i64, i64, Option<i64>, u8, f64)) -> ScalingTarget {
    let (min, span, step, rp, weight) = t;
    let mut t = ScalingTarget::new(
        &format!("d{i}"),
        ScalingTargetSpec {
            workload_ref: WorkloadRef {
                kind: WorkloadKind::Deployment,
                name: format!("d{i}"),
            },
            weight: Some(weight),
            demand: Some("pod.cpu.usage / (pod.cpu.request + 0.001)".into()),
            resize_policy: Some(
                [
                    ResizePolicy::Limits,
                    ResizePolicy::Requests,
                    ResizePolicy::Both,
                ][rp as usize],
            ),
            containers: (0..2)
                .map(|c| ContainerPolicy {
                    name: format!("c{c}"),
                    cpu: Some(CpuRange {
                        min: Some(CpuQuantity(min)),
                        max: Some(CpuQuantity(min + span)),
                        max_step: step.map(CpuQuantity),
                    }),
                    memory: None,
                })
                .collect(),
            cooldown: None,
            forecast: None,
        },
    );
    t.metadata.namespace = Some("ns".into());
    t.metadata.labels = Some(labels(&[("market", "yes")]));
    t
}

fn bundle() -> impl Strategy<Value = Bundle> {
    (
        (
            prop::option::of(prop_oneof![
                (0i64..4).prop_map(IntOrPercent::Int),
                (0i64..101).prop_map(IntOrPercent::Percent)
            ]),
            prop::option::of(0i64..6),
            prop::option::of(0i64..4),
            0i64..3000,
            prop::option::of(400.0f64..3000.0),
            any::<bool>(),
        ),
        (0.0f64..1.0, 1i64..4, any::<bool>()),
        prop::collection::vec(
            (
                0i64..1500,
                0i64..5000,
                prop::option::of(1i64..1500),
                0u8..3,
                0.0f64..5.0,
            ),
            3,
        ),
        (knobs(), knobs(), knobs(), knobs(), knobs()),
        (0usize..4, any::<bool>()),
    )
        .prop_map(
            |(
                (max_unavailable, min_nodes, max_drains, reserve, max_watts, scoped),
                (below, per_cycle, empty_dir),
                targets,
                (kc, kd, ko, km, kg),
                (gov, gov_scoped),
            )| {
                let budget = Budget::new(
                    "all",
                    BudgetSpec {
                        node_selector: scoped.then(|| sel(&[("pool", "a")])),
                        disruption: Some(DisruptionBudget {
                            max_unavailable,
                            min_nodes,
                            max_drains_per_hour: max_drains,
                        }),
                        power: max_watts.map(|w| PowerBudget {
                            max_watts: w,
                            warn_percent: Some(60),
                            critical_percent: Some(80),
                        }),
                        cpu: Some(CpuBudget {
                            reserve: Some(CpuQuantity(reserve)),
                            namespace_weights: [("ns".to_string(), 2.0)].into(),
                        }),
                    },
                );
                let act = kilter::model::Action::default;
                let policies = vec![
                    policy(
                        "consolidate",
                        kc,
                        None,
                        kilter::model::Action {
                            consolidate: Some(ConsolidateAction {
                                utilization_below: below,
                                max_nodes_per_cycle: Some(per_cycle),
                                allow_empty_dir: Some(empty_dir),
                            }),
                            ..act()
                        },
                    ),
                    policy(
                        "drain-b",
                        kd,
                        Some(sel(&[("pool", "b")])),
                        kilter::model::Action {
                            drain: Some(DrainAction::default()),
                            ..act()
                        },
                    ),
                    policy(
                        "cordon-a",
                        ko,
                        Some(sel(&[("pool", "a")])),
                        kilter::model::Action {
                            cordon: Some(CordonAction {}),
                            ..act()
                        },
                    ),
                    policy(
                        "market",
                        km,
                        None,
                        kilter::model::Action {
                            resize: Some(ResizeAction {
                                target_selector: sel(&[("market", "yes")]),
                            }),
                            ..act()
                        },
                    ),
                    policy(
                        "governor",
                        kg,
                        gov_scoped.then(|| sel(&[("pool", "b")])),
                        kilter::model::Action {
                            governor: Some(GovernorAction {
                                name: GOVERNORS[gov].into(),
                                fallback: vec!["powersave".into()],
                            }),
                            ..act()
                        },
                    ),
                ];
                let targets = targets
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| target(i, t))
                    .collect();
                Bundle::new(policies, vec![budget], targets)
            },
        )
}

fn fail(msg: String) -> Result<(), TestCaseError> {
    Err(TestCaseError::fail(msg))
}

/// Independent of the verifier: the market hands out no more than its capacity per node,
/// allocations lie within floors and caps, and resizes keep QoS and never touch memory.
fn check_market(b: &Bundle, s: &ClusterState, p: &Plan) -> Result<(), TestCaseError> {
    let mut per_node: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut after = s.pods.clone();
    for a in &p.actions {
        let planner::Action::Resize(r) = &a.action else {
            continue;
        };
        let e = per_node.entry(r.node()).or_insert((0, r.market_capacity));
        e.0 += r.allocation;
        let pi = s.pods.iter().position(|x| x.name == r.pod()).unwrap();
        let pod = &s.pods[pi];
        let ci = pod
            .containers
            .iter()
            .position(|c| c.name == r.container())
            .unwrap();
        let owner = pod.owner.as_ref().unwrap();
        let t = b
            .targets
            .iter()
            .find(|t| t.spec.workload_ref.name == owner.name)
            .unwrap();
        let range = t.spec.containers[ci].cpu.as_ref().unwrap();
        if r.allocation < range.min.unwrap().0 || r.allocation > range.max.unwrap().0 {
            return fail(format!("allocation {} outside floor/cap", r.allocation));
        }
        after[pi].containers[ci].requests.cpu = r.request.to.map(CpuQuantity);
        after[pi].containers[ci].limits.cpu = r.limit.to.map(CpuQuantity);
        if after[pi].containers[ci].requests.memory != pod.containers[ci].requests.memory {
            return fail("memory resized".into());
        }
        if after[pi].qos() != pod.qos() {
            return fail(format!("QoS of {} changed", pod.name));
        }
    }
    for (node, (sum, cap)) in per_node {
        if sum > cap {
            return fail(format!("node {node}: allocations {sum} > capacity {cap}"));
        }
    }
    Ok(())
}

/// What share of the cases exercised each part of the planner.
#[derive(Default, Debug)]
struct Stats {
    cases: u32,
    drains: u32,
    placements: u32,
    resizes: u32,
    governors: u32,
    cordons: u32,
    budget_skips: u32,
    pdb_skips: u32,
    dry_run: u32,
    cooldown_skips: u32,
}

impl Stats {
    fn add(&mut self, p: &Plan) {
        let has = |f: &dyn Fn(&planner::PlannedAction) -> bool| p.actions.iter().any(f);
        let skipped = |c: SkipCause| p.skipped.iter().any(|s| s.cause == c);
        self.cases += 1;
        self.drains += has(&|a| matches!(a.action, planner::Action::Drain(_))) as u32;
        self.placements +=
            has(&|a| matches!(&a.action, planner::Action::Drain(d) if !d.placements.is_empty()))
                as u32;
        self.resizes += has(&|a| matches!(a.action, planner::Action::Resize(_))) as u32;
        self.governors += has(&|a| matches!(a.action, planner::Action::SetGovernor(_))) as u32;
        self.cordons += has(&|a| {
            matches!(
                a.action,
                planner::Action::Cordon {
                    drain_step: false,
                    ..
                }
            )
        }) as u32;
        self.dry_run += has(&|a| !a.enforce) as u32;
        self.budget_skips += skipped(SkipCause::DisruptionBudget) as u32;
        self.pdb_skips += skipped(SkipCause::PodDisruptionBudget) as u32;
        self.cooldown_skips += skipped(SkipCause::Cooldown) as u32;
    }

    fn share(&self, n: u32) -> f64 {
        n as f64 / self.cases.max(1) as f64
    }
}

#[test]
fn plans_of_combined_methods_pass_the_verifier() {
    let stats = RefCell::new(Stats::default());
    let mut runner = TestRunner::new(config());
    let result = runner.run(&(bundle(), cluster()), |(b, s)| {
        let raw = plan_unverified(&b, &s, now());
        let violations = kilter::plan::verify(&b, &s, now(), &raw);
        if !violations.is_empty() {
            return fail(format!(
                "the planner broke {} invariant(s): {violations:#?}",
                violations.len()
            ));
        }
        let gated = plan(&b, &s, now());
        if gated.actions.len() != raw.actions.len() {
            return fail("the gate removed actions from a verified plan".into());
        }
        if let Some(s) = gated
            .skipped
            .iter()
            .find(|s| matches!(s.cause, SkipCause::Invariant(_)))
        {
            return fail(format!("an invariant skip in a clean plan: {}", s.reason));
        }
        check_market(&b, &s, &gated)?;
        stats.borrow_mut().add(&gated);
        Ok(())
    });
    let st = stats.into_inner();
    println!(
        "{} cases: drains {:.1}%, placements {:.1}%, resizes {:.1}%, governor changes {:.1}%, cordons {:.1}%, dry-run actions {:.1}%, budget skips {:.1}%, PDB skips {:.1}%, cooldown skips {:.1}%; 0 invariant breaks",
        st.cases,
        st.share(st.drains) * 100.0,
        st.share(st.placements) * 100.0,
        st.share(st.resizes) * 100.0,
        st.share(st.governors) * 100.0,
        st.share(st.cordons) * 100.0,
        st.share(st.dry_run) * 100.0,
        st.share(st.budget_skips) * 100.0,
        st.share(st.pdb_skips) * 100.0,
        st.share(st.cooldown_skips) * 100.0,
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    // The generators must keep the plans interesting: each part in a real share of the cases.
    for (what, n) in [
        ("drains", st.drains),
        ("placements", st.placements),
        ("resizes", st.resizes),
        ("governor changes", st.governors),
        ("cordons", st.cordons),
        ("dry-run actions", st.dry_run),
        ("budget skips", st.budget_skips),
        ("PDB skips", st.pdb_skips),
        ("cooldown skips", st.cooldown_skips),
    ] {
        assert!(
            st.share(n) >= 0.05,
            "only {n} of {} cases had {what}",
            st.cases
        );
    }
}

#[test]
fn identical_inputs_give_byte_identical_plans() {
    let mut runner = TestRunner::new(Config {
        cases: 2_000,
        ..config()
    });
    runner
        .run(&(bundle(), cluster()), |(b, s)| {
            let one = kilter::plan::render_json(&plan(&b, &s, now()));
            let two = kilter::plan::render_json(&plan(&b, &s, now()));
            prop_assert_eq!(one, two);
            Ok(())
        })
        .unwrap();
}

/// The fast paths and the spanned reader agree on every generated cluster, written as
/// pretty and as one-line JSON and as block YAML: all accept it, with the model it was written
/// from, or all refuse it.
#[test]
fn fast_and_spanned_snapshot_readers_give_equal_models() {
    let accepted = RefCell::new(0u32);
    let mut runner = TestRunner::new(Config {
        cases: 2_000,
        ..config()
    });
    runner
        .run(&(cluster(), any::<bool>()), |(s, pretty)| {
            let json = if pretty {
                serde_json::to_string_pretty(&s).unwrap()
            } else {
                serde_json::to_string(&s).unwrap()
            };
            let yaml = kilter::syntax::emit::emit(&serde_json::to_value(&s).unwrap());
            let file = kilter::syntax::source::SourceFile::new("snapshot.json", json.clone());
            let fast = load_json_fast(&json);
            let spanned = load_spanned(&file);
            prop_assert_eq!(fast.is_some(), spanned.is_ok(), "{:?}", spanned.err());
            if let Some(fast) = fast {
                prop_assert_eq!(&fast, spanned.as_ref().unwrap());
                prop_assert_eq!(&fast, &s);
                *accepted.borrow_mut() += 1;
            }
            // JSON is YAML: the YAML fast path reads it too, flow style and all. Written as
            // block YAML, the cluster reads the same on both YAML paths as the JSON did.
            let expected = spanned.ok();
            prop_assert_eq!(&load_yaml_fast(&json), &expected);
            let file = kilter::syntax::source::SourceFile::new("snapshot.yaml", yaml.clone());
            prop_assert_eq!(&load_spanned(&file).ok(), &expected, "{}", yaml);
            prop_assert_eq!(&load_yaml_fast(&yaml), &expected, "{}", yaml);
            Ok(())
        })
        .unwrap();
    // The generator's clusters are valid snapshots: nearly all must take the fast path.
    assert!(*accepted.borrow() > 1_900, "{} accepted", accepted.borrow());
}

#[test]
fn unreadable_pdb_selectors_protect_their_namespace() {
    // Consistency between the generator's unreadable selectors and the fail-closed rule.
    let pdb = Pdb {
        namespace: "ns".into(),
        name: "x".into(),
        selector: LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "app".into(),
                operator: "in".into(),
                values: Some(vec!["other".into()]),
            }]),
        },
        current_healthy: 1,
        ..Default::default()
    };
    let pod = Pod {
        namespace: "ns".into(),
        labels: labels(&[("app", "web")]),
        ..Default::default()
    };
    assert!(pdb.covers(&pod));
    let elsewhere = Pod {
        namespace: "other".into(),
        ..pod.clone()
    };
    assert!(!pdb.covers(&elsewhere));
    let names: BTreeSet<&str> = ["In", "NotIn", "Exists", "DoesNotExist"].into();
    assert_eq!(names.len(), selector::OPERATORS.len());
}
