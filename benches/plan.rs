//! The planner: the CPU market on one node of 110 pods, CEL evaluation, and a full plan on a
//! generated 5,000-node / 150,000-pod cluster next to the time it takes to load that snapshot.
//! Run: `cargo bench --bench plan`. The plan benchmarks also time the methods alone and the
//! verifier alone on the same cluster, so that verification's share of planning can be read.

use std::fmt::Write as _;

use kilter::model::{CpuQuantity, MemoryQuantity};
use kilter::plan::{Bundle, plan};
use kilter::state::{ClusterState, Container, Node, Owner, Pod, Resources};

const TARGETS: usize = 50;

fn policies() -> Bundle {
    let mut dsl = String::from(
        "budget all { disruption { maxUnavailable: 10%, minNodes: 100, maxDrainsPerHour: 10 }\n cpu { reserve: 500m, namespaceWeights { ns0: 3, ns1: 2 } } }\n\
         policy night { priority: 10\n mode: Enforce\n nodeSelector { matchLabels { pool: a } }\n nodeFilter: `node.cpu.utilization < 0.5 && node.labels['zone'] != 'z3'`\n action { governor { name: powersave, fallback: [schedutil] } } }\n\
         policy squeeze { priority: 5\n mode: Enforce\n nodeSelector { matchLabels { pool: b } }\n action { consolidate { utilizationBelow: 0.2, maxNodesPerCycle: 3 } } }\n\
         policy market { priority: 10\n mode: Enforce\n action { resize { targetSelector { matchLabels { market: yes } } } } }\n",
    );
    for t in 0..TARGETS {
        let _ = writeln!(
            dsl,
            "scalingTarget ns{}/d{t} {{ metadata {{ labels {{ market: yes }} }}\n workloadRef {{ kind: Deployment, name: d{t} }}\n weight: {}\n demand: `min(1.0, pod.cpu.usage / (pod.cpu.limit + 0.001))`\n resizePolicy: Both\n containers: [{{ name: app, cpu: {{ min: 100m, max: 4, maxStep: 250m }} }}] }}",
            t % 10,
            1 + t % 3
        );
    }
    let out = kilter::lint::lint_text("bench.kilter", &dsl);
    assert!(
        !out.has_errors(),
        "{:?}",
        out.diagnostics.first().map(|d| &d.message)
    );
    Bundle::from_documents(&out.documents)
}

/// A deterministic pseudo-random sequence (no dependency, reproducible figures).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn cluster(nodes: usize, pods_per_node: usize, participants_only: bool) -> ClusterState {
    let mut r = Lcg(42);
    let mut s = ClusterState {
        time: Some("2026-11-23T22:30:00Z".into()),
        ..Default::default()
    };
    for i in 0..nodes {
        s.nodes.push(Node {
            name: format!("node-{i}"),
            labels: [
                (
                    "pool".to_string(),
                    if i % 2 == 0 { "a" } else { "b" }.to_string(),
                ),
                ("zone".into(), format!("z{}", i % 5)),
            ]
            .into(),
            allocatable: Resources {
                cpu: Some(CpuQuantity(64_000)),
                memory: Some(MemoryQuantity(256 << 30)),
            },
            governor: Some("schedutil".into()),
            available_governors: vec!["performance".into(), "powersave".into(), "schedutil".into()],
            cpu_utilization: (r.next() % 100) as f64 / 100.0,
            memory_utilization: 0.5,
            power_watts: 200.0,
            ready: true,
            ..Default::default()
        });
        for j in 0..pods_per_node {
            let d = if participants_only {
                j % TARGETS
            } else {
                (r.next() % 200) as usize
            };
            let daemon = !participants_only && j == 0;
            let req = 100 + (r.next() % 900) as i64;
            s.pods.push(Pod {
                namespace: if daemon {
                    "kube-system".into()
                } else {
                    format!("ns{}", d % 10)
                },
                name: format!("p-{i}-{j}"),
                node: format!("node-{i}"),
                labels: [("app".to_string(), format!("d{d}"))].into(),
                owner: Some(if daemon {
                    Owner {
                        kind: "DaemonSet".into(),
                        name: "proxy".into(),
                    }
                } else {
                    Owner {
                        kind: "Deployment".into(),
                        name: format!("d{d}"),
                    }
                }),
                phase: "Running".into(),
                containers: vec![Container {
                    name: "app".into(),
                    requests: Resources {
                        cpu: Some(CpuQuantity(req)),
                        memory: Some(MemoryQuantity(256 << 20)),
                    },
                    limits: Resources {
                        cpu: Some(CpuQuantity(req * 2)),
                        memory: Some(MemoryQuantity(512 << 20)),
                    },
                    usage: Resources {
                        cpu: Some(CpuQuantity((r.next() % 1500) as i64)),
                        memory: None,
                    },
                }],
                demand: Some(0.5),
                ..Default::default()
            });
        }
    }
    s
}

fn now() -> chrono::DateTime<chrono::Utc> {
    kilter::state::parse_time("2026-11-23T22:30:00Z").unwrap()
}

#[divan::bench]
fn market_one_node_110_pods(bencher: divan::Bencher) {
    let b = policies();
    let s = cluster(1, 110, true);
    bencher.bench(|| {
        let p = plan(&b, &s, now());
        assert!(p.actions.len() >= 100);
        p.actions.len()
    });
}

#[divan::bench]
fn water_fill_110_bidders(bencher: divan::Bencher) {
    let bidders: Vec<_> = (0..110)
        .map(|i| kilter::plan::market::Bidder {
            floor: 100,
            cap: 100 + 37 * i,
            bid: 1.0 + (i % 7) as f64,
        })
        .collect();
    bencher.bench(|| kilter::plan::market::water_fill(60_000, divan::black_box(&bidders)));
}

#[divan::bench]
fn cel_node_filter_one_evaluation(bencher: divan::Bencher) {
    let prog =
        kilter::expr::compile_bounded("node.cpu.utilization < 0.5 && node.labels['zone'] != 'z3'")
            .unwrap();
    let env = std::sync::Arc::new(cel::Env::stdlib());
    let node = kilter::expr::map_value(vec![
        (
            "cpu",
            kilter::expr::map_value(vec![("utilization", cel::Value::Float(0.3))]),
        ),
        (
            "labels",
            kilter::expr::map_value(vec![(
                "zone",
                cel::Value::String(std::sync::Arc::new("z1".into())),
            )]),
        ),
    ]);
    bencher.bench(|| {
        let mut ctx = kilter::expr::context(&env);
        ctx.add_variable_from_value("node", node.clone());
        kilter::expr::evaluate_bool(&prog, &ctx, 1).unwrap()
    });
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn plan_5000_nodes_150000_pods(bencher: divan::Bencher) {
    let b = policies();
    let s = cluster(5000, 30, false);
    bencher.bench(|| plan(&b, &s, now()).actions.len());
}

/// The methods alone, without the verifier's gate (`plan` = this + verification).
#[divan::bench(sample_count = 5, sample_size = 1)]
fn plan_methods_only_5000_nodes_150000_pods(bencher: divan::Bencher) {
    let b = policies();
    let s = cluster(5000, 30, false);
    bencher.bench(|| kilter::plan::plan_unverified(&b, &s, now()).actions.len());
}

/// The snapshot's index (where pods run, what nodes hold), built once per snapshot and read
/// by both the methods and the verifier; counted in both timings above.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn index_5000_nodes_150000_pods(bencher: divan::Bencher) {
    let s = cluster(5000, 30, false);
    bencher.bench(|| kilter::state::Index::new(&s).pod_node.len());
}

/// The verifier on the plan of the 5,000-node cluster (applies it, checks every invariant),
/// given the snapshot's index, as `plan` runs it.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn verify_5000_nodes_150000_pods(bencher: divan::Bencher) {
    let b = policies();
    let s = cluster(5000, 30, false);
    let index = kilter::state::Index::new(&s);
    let p = kilter::plan::plan_unverified_indexed(&b, &s, &index, now());
    assert!(p.actions.len() > 1000, "a plan worth verifying");
    bencher.bench(|| {
        let v = kilter::plan::verify_indexed(&b, &s, &index, now(), &p);
        assert!(v.is_empty(), "{:?}", v.first());
        v.len()
    });
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn load_snapshot_5000_nodes_150000_pods(bencher: divan::Bencher) {
    let text = serde_json::to_string(&cluster(5000, 30, false)).unwrap();
    let bytes = text.len();
    let file = kilter::syntax::source::SourceFile::new("snapshot.json", text);
    bencher
        .counter(divan::counter::BytesCount::new(bytes))
        .bench(|| kilter::state::load(&file).unwrap().pods.len());
}

fn main() {
    divan::main();
}
