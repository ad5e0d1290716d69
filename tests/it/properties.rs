//! Property tests on generated models: `convert` round-trips through YAML and the DSL,
//! and `fmt` is idempotent and meaning-preserving on arbitrary layouts.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kilter::model::*;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,10}[a-z0-9]"
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ]{0,20}",
        any::<String>().prop_map(|s| s.chars().filter(|c| *c != '\u{feff}').take(30).collect()),
        Just("quote \" back\\slash\nnew line, tab\t, colon: hash # end".to_string()),
        Just("true".to_string()),
        Just("10m".to_string()),
        Just("22:00".to_string()),
        Just("4500W".to_string()),
    ]
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1000i64..100_000).prop_map(|i| i as f64),
        -1e6f64..1e6,
        Just(0.1),
        Just(1e21)
    ]
}

fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map("[a-z]{1,5}(\\.io/[a-z]{1,4})?", "[a-z0-9]{0,6}", 0..3)
}

fn selector() -> impl Strategy<Value = LabelSelector> {
    let req = (
        "[a-z]{1,5}",
        prop::sample::select(vec!["In", "NotIn", "Exists", "DoesNotExist"]),
        prop::collection::vec("[a-z]{1,4}", 0..3),
    )
        .prop_map(|(key, op, values)| LabelSelectorRequirement {
            key,
            operator: op.into(),
            values: Some(values),
        });
    (
        prop::option::of(labels()),
        prop::option::of(prop::collection::vec(req, 0..2)),
    )
        .prop_map(|(match_labels, match_expressions)| LabelSelector {
            match_labels,
            match_expressions,
        })
}

fn duration() -> impl Strategy<Value = Duration> {
    (0u64..400_000_000).prop_map(|ms| Duration(std::time::Duration::from_millis(ms)))
}

fn cpu() -> impl Strategy<Value = CpuQuantity> {
    (-100i64..100_000).prop_map(CpuQuantity)
}

fn memory() -> impl Strategy<Value = MemoryQuantity> {
    prop_oneof![
        (0i64..1 << 40).prop_map(MemoryQuantity),
        (0i64..64).prop_map(|g| MemoryQuantity(g << 30))
    ]
}

fn cel() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "cluster.cpu.utilization < 0.3".to_string(),
        "node.labels['pool'] == \"workers\"".to_string(),
        "min(1.0, pod.cpu.usage / pod.cpu.limit)".to_string(),
        "now.hour >= 22 || now.hour < 6".to_string(),
    ])
}

fn weekday() -> impl Strategy<Value = Weekday> {
    prop::sample::select(Weekday::ALL.to_vec())
}

fn time() -> impl Strategy<Value = TimeOfDay> {
    (0u16..=1440).prop_map(|minutes| TimeOfDay { minutes })
}

fn action() -> impl Strategy<Value = Action> {
    let governor = (name(), prop::collection::vec(name(), 0..3))
        .prop_map(|(name, fallback)| GovernorAction { name, fallback });
    let consolidate = (
        number(),
        prop::option::of(-3i64..10),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(u, m, e)| ConsolidateAction {
            utilization_below: u,
            max_nodes_per_cycle: m,
            allow_empty_dir: e,
        });
    let drain = (prop::option::of(duration()), prop::option::of(duration())).prop_map(|(g, t)| {
        DrainAction {
            grace_period: g,
            timeout: t,
        }
    });
    (
        prop::option::of(governor),
        prop::option::of(consolidate),
        prop::option::of(Just(CordonAction {})),
        prop::option::of(drain),
        prop::option::of(selector().prop_map(|s| ResizeAction { target_selector: s })),
    )
        .prop_map(|(governor, consolidate, cordon, drain, resize)| Action {
            governor,
            consolidate,
            cordon,
            drain,
            resize,
        })
}

fn policy() -> impl Strategy<Value = Object> {
    let window = (prop::collection::vec(weekday(), 0..3), time(), time())
        .prop_map(|(days, start, end)| Window { days, start, end });
    let schedule = (
        prop::option::of(prop::sample::select(vec![
            "Europe/Berlin".to_string(),
            "UTC".into(),
        ])),
        prop::collection::vec(window, 0..3),
    )
        .prop_map(|(time_zone, windows)| Schedule { time_zone, windows });
    (
        name(),
        prop::option::of(labels()),
        (
            prop::option::of(text()),
            prop::option::of(-100i32..100),
            prop::option::of(prop::sample::select(vec![Mode::Enforce, Mode::DryRun])),
        ),
        prop::option::of(selector()),
        (
            prop::option::of(cel()),
            prop::option::of(schedule),
            prop::option::of(cel()),
            prop::option::of(duration()),
            prop::option::of(forecast()),
        ),
        action(),
    )
        .prop_map(
            |(
                n,
                l,
                (description, priority, mode),
                node_selector,
                (node_filter, schedule, when, cooldown, forecast),
                action,
            )| {
                let mut p = Policy::new(
                    &n,
                    PolicySpec {
                        description,
                        priority,
                        mode,
                        node_selector,
                        node_filter,
                        schedule,
                        when,
                        cooldown,
                        forecast,
                        action,
                    },
                );
                p.metadata.labels = l;
                Object::Policy(p)
            },
        )
}

fn budget() -> impl Strategy<Value = Object> {
    let power = (
        number(),
        prop::option::of(-10i64..200),
        prop::option::of(-10i64..200),
    )
        .prop_map(|(max_watts, warn_percent, critical_percent)| PowerBudget {
            max_watts,
            warn_percent,
            critical_percent,
        });
    let iop = prop_oneof![
        (-5i64..50).prop_map(IntOrPercent::Int),
        (0i64..150).prop_map(IntOrPercent::Percent)
    ];
    let disruption = (
        prop::option::of(iop),
        prop::option::of(-2i64..20),
        prop::option::of(0i64..10),
    )
        .prop_map(
            |(max_unavailable, min_nodes, max_drains_per_hour)| DisruptionBudget {
                max_unavailable,
                min_nodes,
                max_drains_per_hour,
            },
        );
    let cpu_b = (
        prop::option::of(cpu()),
        prop::collection::btree_map(name(), number(), 0..3),
    )
        .prop_map(|(reserve, namespace_weights)| CpuBudget {
            reserve,
            namespace_weights,
        });
    (
        name(),
        prop::option::of(selector()),
        prop::option::of(power),
        prop::option::of(disruption),
        prop::option::of(cpu_b),
    )
        .prop_map(|(n, node_selector, power, disruption, cpu)| {
            Object::Budget(Budget::new(
                &n,
                BudgetSpec {
                    node_selector,
                    power,
                    disruption,
                    cpu,
                },
            ))
        })
}

fn probe() -> impl Strategy<Value = Object> {
    let ds =
        (name(), selector(), 0i64..70000).prop_map(|(namespace, selector, port)| DaemonSetRef {
            namespace,
            selector,
            port,
        });
    (
        name(),
        prop::sample::select(vec![
            ProbeType::K8s,
            ProbeType::VmSystem,
            ProbeType::HostSystem,
        ]),
        prop::option::of(text()),
        prop::option::of(name()),
        prop::option::of(ds),
        prop::option::of((name(), name()).prop_map(|(name, key)| ProbeAuth {
            secret_ref: SecretKeyRef { name, key },
        })),
        (prop::option::of(duration()), prop::option::of(-1i64..10)),
        prop::option::of(
            (prop::option::of(duration()), prop::option::of(number())).prop_map(
                |(interval, phi_threshold)| ProbeHealth {
                    interval,
                    phi_threshold,
                },
            ),
        ),
    )
        .prop_map(
            |(n, probe_type, endpoint, node_name, daemon_set, auth, (timeout, retries), health)| {
                Object::Probe(Probe::new(
                    &n,
                    ProbeSpec {
                        probe_type,
                        endpoint,
                        node_name,
                        daemon_set,
                        auth,
                        timeout,
                        retries,
                        health,
                    },
                ))
            },
        )
}

fn target() -> impl Strategy<Value = Object> {
    let kind = prop::sample::select(vec![
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
        WorkloadKind::ReplicaSet,
    ]);
    let cpu_r = (
        prop::option::of(cpu()),
        prop::option::of(cpu()),
        prop::option::of(cpu()),
    )
        .prop_map(|(min, max, max_step)| CpuRange { min, max, max_step });
    let mem_r = (
        prop::option::of(memory()),
        prop::option::of(memory()),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(min, max, allow_shrink)| MemoryRange {
            min,
            max,
            allow_shrink,
        });
    let container = (name(), prop::option::of(cpu_r), prop::option::of(mem_r))
        .prop_map(|(name, cpu, memory)| ContainerPolicy { name, cpu, memory });
    (
        name(),
        name(),
        (kind, name()).prop_map(|(kind, name)| WorkloadRef { kind, name }),
        (prop::option::of(number()), prop::option::of(cel())),
        prop::option::of(prop::sample::select(vec![
            ResizePolicy::Limits,
            ResizePolicy::Requests,
            ResizePolicy::Both,
        ])),
        prop::collection::vec(container, 0..3),
        (prop::option::of(duration()), prop::option::of(forecast())),
    )
        .prop_map(
            |(
                ns,
                n,
                workload_ref,
                (weight, demand),
                resize_policy,
                containers,
                (cooldown, forecast),
            )| {
                let mut t = ScalingTarget::new(
                    &n,
                    ScalingTargetSpec {
                        workload_ref,
                        weight,
                        demand,
                        resize_policy,
                        containers,
                        cooldown,
                        forecast,
                    },
                );
                t.metadata.namespace = Some(ns);
                Object::ScalingTarget(t)
            },
        )
}

fn forecast() -> impl Strategy<Value = kilter::model::Forecast> {
    (duration(), duration())
        .prop_map(|(horizon, season)| kilter::model::Forecast { horizon, season })
}

fn object() -> impl Strategy<Value = Object> {
    prop_oneof![policy(), budget(), probe(), target()]
}

/// Spreads a formatted file over odd layouts: extra blank space, no line breaks where
/// allowed, and comments, without changing its meaning.
fn scramble(dsl: &str, seed: u64) -> String {
    let mut out = String::new();
    for (i, line) in dsl.lines().enumerate() {
        let mix = seed.wrapping_mul(31).wrapping_add(i as u64) % 4;
        match mix {
            0 => out.push_str(&format!("   {}   \n", line.trim())),
            1 => out.push_str(&format!("{line}\n\n")),
            2 if !line.trim().is_empty() => out.push_str(&format!("{line} # note {i}\n")),
            _ => out.push_str(&format!("\t{line}\n")),
        }
    }
    out
}

fn objects_of(path: &str, text: &str) -> Vec<Object> {
    crate::convert::objects(path, text)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn convert_round_trips(objs in prop::collection::vec(object(), 1..4)) {
        let dsl = kilter::syntax::dsl::print::print(&objs);
        prop_assert_eq!(&objects_of("p.kilter", &dsl), &objs, "dsl:\n{}", dsl);
        let yaml = kilter::syntax::convert::to_yaml(&objs);
        prop_assert_eq!(&objects_of("p.yaml", &yaml), &objs, "yaml:\n{}", yaml);
    }

    #[test]
    fn fmt_is_idempotent_and_keeps_meaning(objs in prop::collection::vec(object(), 1..3), seed in any::<u64>()) {
        let dsl = kilter::syntax::dsl::print::print(&objs);
        let messy = scramble(&dsl, seed);
        let once = kilter::syntax::dsl::fmt::format(&kilter::syntax::source::SourceFile::new("m.kilter", messy.clone()))
            .map_err(|e| TestCaseError::fail(format!("{:?}\n{messy}", e.iter().map(|d| &d.message).collect::<Vec<_>>())))?;
        let twice = kilter::syntax::dsl::fmt::format(&kilter::syntax::source::SourceFile::new("m.kilter", once.clone())).unwrap();
        prop_assert_eq!(&twice, &once);
        prop_assert_eq!(&objects_of("m.kilter", &once), &objs);
        // Comments survive formatting.
        prop_assert_eq!(messy.matches("# note").count(), once.matches("# note").count());
    }
}
