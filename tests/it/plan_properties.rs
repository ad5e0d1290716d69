//! The planner's safety invariants, each checked on 10,000 generated clusters:
//! budgets (maxUnavailable, minNodes, maxDrainsPerHour), PDBs and protected pods on drains,
//! the CPU market (allocations within capacity, floors and caps, maxStep, QoS, no removed
//! requests or limits, no memory change), and byte-identical plans for identical inputs.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kilter::model::*;
use kilter::plan::{ActionType, Bundle, Plan, plan};
use kilter::state::*;
use proptest::prelude::*;

const CASES: u32 = 10_000;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
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

fn node() -> impl Strategy<Value = kilter::state::Node> {
    (
        any::<bool>(),
        1000i64..16_000,
        0.0f64..1.0,
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.9),
        50.0f64..400.0,
    )
        .prop_map(
            |(a, cpu, util, unsched, ready, watts)| kilter::state::Node {
                name: String::new(),
                labels: labels(&[("pool", if a { "a" } else { "b" })]),
                allocatable: Resources {
                    cpu: Some(CpuQuantity(cpu)),
                    memory: Some(MemoryQuantity(64 << 30)),
                },
                unschedulable: unsched,
                ready,
                governor: Some("schedutil".into()),
                available_governors: vec![
                    "performance".into(),
                    "powersave".into(),
                    "schedutil".into(),
                ],
                cpu_utilization: util,
                power_watts: watts,
                ..Default::default()
            },
        )
}

fn container(i: usize) -> impl Strategy<Value = Container> {
    (0u8..3, 50i64..3000, 0i64..3000, 0i64..2000).prop_map(move |(qos, req, extra, usage)| {
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
        0usize..8,
        0u8..10,
        0usize..3,
        prop::collection::vec(prop::bool::ANY, 1..3),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.05),
        prop::option::of(0.0f64..1.0),
    )
        .prop_flat_map(|(node, owner, app, cs, empty_dir, dnd, demand)| {
            let containers: Vec<_> = (0..cs.len()).map(container).collect();
            (Just((node, owner, app, empty_dir, dnd, demand)), containers)
        })
        .prop_map(|((node, owner, app, empty_dir, dnd, demand), containers)| {
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
                empty_dir,
                mirror: false,
                containers,
                demand,
                ..Default::default()
            }
        })
}

fn cluster() -> impl Strategy<Value = ClusterState> {
    (
        prop::collection::vec(node(), 1..8),
        prop::collection::vec(pod(), 0..30),
        prop::collection::vec((0usize..3, 0i64..3, 0i64..4), 0..3),
        prop::collection::vec((0usize..8, 0i64..120), 0..4),
    )
        .prop_map(|(mut nodes, mut pods, pdbs, drains)| {
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
                .map(|(i, (app, min, healthy))| Pdb {
                    namespace: "ns".into(),
                    name: format!("pdb{i}"),
                    selector: sel(&[("app", &format!("d{app}"))]),
                    min_available: Some(IntOrPercent::Int(min)),
                    current_healthy: healthy,
                    expected_pods: Some(healthy),
                    ..Default::default()
                })
                .collect();
            let recent_actions = drains
                .into_iter()
                .map(|(n, mins)| RecentAction {
                    kind: "drain".into(),
                    policy: "old".into(),
                    node: Some(format!("n{}", n % count)),
                    time: (now() - chrono::Duration::minutes(mins)).to_rfc3339(),
                    ..Default::default()
                })
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

fn now() -> chrono::DateTime<chrono::Utc> {
    kilter::state::parse_time("2026-11-23T12:00:00Z").unwrap()
}

fn policy(
    name: &str,
    priority: i32,
    node_selector: Option<LabelSelector>,
    action: Action,
) -> Policy {
    Policy::new(
        name,
        PolicySpec {
            priority: Some(priority),
            mode: Some(Mode::Enforce),
            node_selector,
            action,
            ..Default::default()
        },
    )
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
        any::<bool>(),
    )
        .prop_map(
            |(
                (max_unavailable, min_nodes, max_drains, reserve),
                (below, per_cycle, empty_dir),
                targets,
                scoped,
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
                        cpu: Some(CpuBudget {
                            reserve: Some(CpuQuantity(reserve)),
                            namespace_weights: [("ns".to_string(), 2.0)].into(),
                        }),
                        ..Default::default()
                    },
                );
                let policies = vec![
                    policy(
                        "consolidate",
                        30,
                        None,
                        Action {
                            consolidate: Some(ConsolidateAction {
                                utilization_below: below,
                                max_nodes_per_cycle: Some(per_cycle),
                                allow_empty_dir: Some(empty_dir),
                            }),
                            ..Default::default()
                        },
                    ),
                    policy(
                        "drain-b",
                        20,
                        Some(sel(&[("pool", "b")])),
                        Action {
                            drain: Some(DrainAction::default()),
                            ..Default::default()
                        },
                    ),
                    policy(
                        "cordon-a",
                        10,
                        Some(sel(&[("pool", "a")])),
                        Action {
                            cordon: Some(CordonAction {}),
                            ..Default::default()
                        },
                    ),
                    policy(
                        "market",
                        10,
                        None,
                        Action {
                            resize: Some(ResizeAction {
                                target_selector: sel(&[("market", "yes")]),
                            }),
                            ..Default::default()
                        },
                    ),
                ];
                let targets = targets
                    .into_iter()
                    .enumerate()
                    .map(|(i, (min, span, step, rp, weight))| {
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
                            },
                        );
                        t.metadata.namespace = Some("ns".into());
                        t.metadata.labels = Some(labels(&[("market", "yes")]));
                        t
                    })
                    .collect();
                Bundle::new(policies, vec![budget], targets)
            },
        )
}

fn unavailable(n: &kilter::state::Node) -> bool {
    n.unschedulable || !n.ready
}

fn check_budgets(b: &Bundle, s: &ClusterState, p: &Plan) -> Result<(), TestCaseError> {
    let budget = &b.budgets[0];
    let covered: Vec<&kilter::state::Node> = s
        .nodes
        .iter()
        .filter(|n| {
            budget
                .spec
                .node_selector
                .as_ref()
                .is_none_or(|sel| selector::matches(sel, &n.labels))
        })
        .collect();
    let names: BTreeSet<&str> = covered.iter().map(|n| n.name.as_str()).collect();
    let newly: BTreeSet<&str> = p
        .actions
        .iter()
        .filter(|a| matches!(a.kind, ActionType::Cordon | ActionType::Drain))
        .filter_map(|a| a.target.node.as_deref())
        .filter(|n| names.contains(n))
        .filter(|n| s.nodes.iter().any(|x| x.name == *n && !unavailable(x)))
        .collect();
    let drains = p
        .actions
        .iter()
        .filter(|a| a.kind == ActionType::Drain)
        .filter(|a| names.contains(a.target.node.as_deref().unwrap_or("")))
        .count();
    let d = budget.spec.disruption.as_ref().unwrap();
    let before = covered.iter().filter(|n| unavailable(n)).count();
    if !newly.is_empty() {
        if let Some(m) = d.max_unavailable {
            prop_assert!(
                before + newly.len() <= m.resolve(covered.len()),
                "maxUnavailable broken: {before}+{} > {m}",
                newly.len()
            );
        }
        if let Some(min) = d.min_nodes {
            let left = (covered.len() - before - newly.len()) as i64;
            prop_assert!(left >= min, "minNodes broken: {left} < {min}");
        }
    }
    if drains > 0
        && let Some(max) = d.max_drains_per_hour
    {
        let hour_ago = now() - chrono::Duration::hours(1);
        let recent = s
            .recent_actions
            .iter()
            .filter(|r| {
                r.kind == "drain"
                    && names.contains(r.node.as_deref().unwrap_or(""))
                    && r.at().unwrap() > hour_ago
            })
            .count();
        prop_assert!((recent + drains) as i64 <= max, "maxDrainsPerHour broken");
    }
    Ok(())
}

fn check_drains(s: &ClusterState, p: &Plan) -> Result<(), TestCaseError> {
    let mut per_pdb: BTreeMap<String, i64> = BTreeMap::new();
    for a in p.actions.iter().filter(|a| a.kind == ActionType::Drain) {
        let node = a.target.node.as_deref().unwrap();
        let on_node: Vec<&Pod> = s
            .pods
            .iter()
            .filter(|x| x.node == node && !x.is_terminal())
            .collect();
        prop_assert!(
            on_node.iter().all(|x| !x.do_not_disrupt()),
            "drained a node with a do-not-disrupt pod"
        );
        let evict: Vec<&str> = a.params["evict"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for x in &on_node {
            let key = x.key();
            prop_assert_eq!(
                evict.contains(&key.as_str()),
                !x.is_daemonset() && !x.mirror,
                "pod {} eviction",
                key
            );
            if evict.contains(&key.as_str()) {
                prop_assert!(x.owner.is_some(), "evicted a bare pod");
                for pdb in s.pdbs.iter().filter(|b| b.covers(x)) {
                    *per_pdb.entry(pdb.name.clone()).or_default() += 1;
                }
            }
        }
    }
    for (name, n) in per_pdb {
        let pdb = s.pdbs.iter().find(|b| b.name == name).unwrap();
        prop_assert!(
            n <= pdb.disruptions_allowed(),
            "PDB {name}: {n} evictions > {}",
            pdb.disruptions_allowed()
        );
    }
    Ok(())
}

fn q(v: &serde_json::Value) -> Option<i64> {
    v.as_str().map(|s| CpuQuantity::parse(s).unwrap().0)
}

fn check_market(b: &Bundle, s: &ClusterState, p: &Plan) -> Result<(), TestCaseError> {
    let mut alloc_per_node: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut after = s.pods.clone();
    let reserve = b.budgets[0].spec.cpu.as_ref().unwrap().reserve.unwrap().0;
    for a in p.actions.iter().filter(|a| a.kind == ActionType::Resize) {
        prop_assert!(a.params.get("memory").is_none(), "memory is never resized");
        let node = a.params["node"].as_str().unwrap().to_string();
        let cap = q(&a.params["marketCapacity"]).unwrap();
        let alloc = q(&a.params["allocation"]).unwrap();
        let e = alloc_per_node.entry(node.clone()).or_insert((0, cap));
        e.0 += alloc;
        let n = s.nodes.iter().find(|x| x.name == node).unwrap();
        let covered = b.budgets[0]
            .spec
            .node_selector
            .as_ref()
            .is_none_or(|sel| selector::matches(sel, &n.labels));
        // A reserve larger than the node leaves the market nothing (capacity 0), not less.
        let market_max = (n.allocatable.cpu.unwrap().0 - if covered { reserve } else { 0 }).max(0);
        prop_assert!(
            cap <= market_max,
            "capacity {} above allocatable − reserve {}",
            cap,
            market_max
        );
        let pi = s
            .pods
            .iter()
            .position(|x| Some(&x.name) == a.target.pod.as_ref())
            .unwrap();
        let pod = &s.pods[pi];
        let ci = pod
            .containers
            .iter()
            .position(|c| Some(&c.name) == a.target.container.as_ref())
            .unwrap();
        let t = b
            .targets
            .iter()
            .find(|t| Some(&t.spec.workload_ref.name) == pod.owner.as_ref().map(|o| &o.name))
            .unwrap();
        let range = t.spec.containers[ci].cpu.as_ref().unwrap();
        prop_assert!(
            alloc >= range.min.unwrap().0 && alloc <= range.max.unwrap().0,
            "allocation outside floor/cap"
        );
        let before = &pod.containers[ci];
        let new_req = a.params["cpu"].get("request").and_then(q);
        let new_lim = a.params["cpu"].get("limit").and_then(q);
        prop_assert_eq!(
            before.requests.cpu.is_some(),
            new_req.is_some(),
            "request removed or added"
        );
        prop_assert_eq!(
            before.limits.cpu.is_some(),
            new_lim.is_some(),
            "limit removed or added"
        );
        if let Some(step) = range.max_step {
            for (old, new) in [
                (before.requests.cpu.map(|x| x.0), new_req),
                (before.limits.cpu.map(|x| x.0), new_lim),
            ] {
                if let (Some(o), Some(n)) = (old, new) {
                    prop_assert!(
                        (n - o).abs() <= step.0,
                        "maxStep broken: {o} → {n} (step {})",
                        step.0
                    );
                }
            }
        }
        after[pi].containers[ci].requests.cpu = new_req.map(CpuQuantity);
        after[pi].containers[ci].limits.cpu = new_lim.map(CpuQuantity);
        prop_assert_eq!(after[pi].qos(), pod.qos(), "QoS changed");
    }
    for (node, (sum, cap)) in &alloc_per_node {
        prop_assert!(
            sum <= cap,
            "node {node}: allocations {sum} > capacity {cap}"
        );
    }
    // Resizes never push a node's requests past allocatable − reserve (or further past it).
    for n in &s.nodes {
        let covered = b.budgets[0]
            .spec
            .node_selector
            .as_ref()
            .is_none_or(|sel| selector::matches(sel, &n.labels));
        let limit = n.allocatable.cpu.unwrap().0 - if covered { reserve } else { 0 };
        let sum = |pods: &[Pod]| {
            pods.iter()
                .filter(|x| x.node == n.name)
                .map(Pod::cpu_request)
                .sum::<i64>()
        };
        let (b4, af) = (sum(&s.pods), sum(&after));
        prop_assert!(
            af <= b4.max(limit),
            "node {}: requests {b4} → {af} past {limit}",
            n.name
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn budgets_pdbs_and_protected_pods_hold(b in bundle(), s in cluster()) {
        let p = plan(&b, &s, now());
        check_budgets(&b, &s, &p)?;
        check_drains(&s, &p)?;
    }

    #[test]
    fn the_market_stays_within_capacity_floors_caps_steps_and_qos(b in bundle(), s in cluster()) {
        let p = plan(&b, &s, now());
        check_market(&b, &s, &p)?;
    }

    #[test]
    fn identical_inputs_give_byte_identical_plans(b in bundle(), s in cluster()) {
        let one = kilter::plan::render_json(&plan(&b, &s, now()));
        let two = kilter::plan::render_json(&plan(&b, &s, now()));
        prop_assert_eq!(one, two);
    }
}
