//! The planner: the CPU market on one node of 110 pods, CEL evaluation, and a full plan on a
//! generated 5,000-node / 150,000-pod cluster next to the time it takes to load that snapshot.
//! Run: `cargo bench --bench plan`. The plan benchmarks also time the methods alone and the
//! verifier alone on the same cluster, so that verification's share of planning can be read.

mod common;

use common::{cluster, policies};
use kilter::plan::plan;

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

/// The same filter as the planner evaluates it: on the fast path, reading the node in place.
/// A thousand evaluations per sample: one is near the timer's precision.
#[divan::bench(sample_size = 1000)]
fn cel_node_filter_fast_path(bencher: divan::Bencher) {
    use kilter::plan::values::{ClusterFacts, Vars};
    let prog =
        kilter::expr::compile_bounded("node.cpu.utilization < 0.5 && node.labels['zone'] != 'z3'")
            .unwrap();
    let state = kilter::state::ClusterState {
        nodes: vec![kilter::state::Node {
            name: "w1".into(),
            labels: [("zone".to_string(), "z1".to_string())].into(),
            cpu_utilization: 0.3,
            ..Default::default()
        }],
        ..Default::default()
    };
    let facts = ClusterFacts::of(&state);
    bencher.bench(|| {
        let vars = Vars {
            cluster: &facts,
            node: Some((divan::black_box(&state.nodes[0]), 1)),
            pod: None,
        };
        prog.fast_bool(&vars, 1).unwrap().unwrap()
    });
}

/// A full plan at 50, 500 and 5,000 nodes (30 pods each): the growth with the fleet.
#[divan::bench(args = [50, 500, 5000], sample_count = 5, sample_size = 1)]
fn plan_nodes_30_pods_each(bencher: divan::Bencher, nodes: usize) {
    let b = policies();
    let s = cluster(nodes, 30, false);
    bencher.bench(|| plan(&b, &s, now()));
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
        .bench(|| kilter::state::load(&file).unwrap());
}

/// The spanned reader on the same snapshot: the path a snapshot the fast reader refuses
/// takes, and the one YAML snapshots take.
#[divan::bench(sample_count = 3, sample_size = 1)]
fn load_snapshot_spanned_5000_nodes_150000_pods(bencher: divan::Bencher) {
    let text = serde_json::to_string(&cluster(5000, 30, false)).unwrap();
    let bytes = text.len();
    let file = kilter::syntax::source::SourceFile::new("snapshot.json", text);
    bencher
        .counter(divan::counter::BytesCount::new(bytes))
        .bench(|| kilter::state::load_spanned(&file).unwrap());
}

/// The same snapshot as block YAML, on the YAML fast path (`state::load` tries it after the
/// JSON one).
#[divan::bench(sample_count = 3, sample_size = 1)]
fn load_snapshot_yaml_5000_nodes_150000_pods(bencher: divan::Bencher) {
    let file = yaml_snapshot();
    bencher
        .counter(divan::counter::BytesCount::new(file.text.len()))
        .bench(|| kilter::state::load(&file).unwrap());
}

/// The YAML snapshot on the spanned reader: the path a snapshot the fast one refuses takes.
#[divan::bench(sample_count = 3, sample_size = 1)]
fn load_snapshot_yaml_spanned_5000_nodes_150000_pods(bencher: divan::Bencher) {
    let file = yaml_snapshot();
    bencher
        .counter(divan::counter::BytesCount::new(file.text.len()))
        .bench(|| kilter::state::load_spanned(&file).unwrap());
}

/// The YAML parser's events alone, read and dropped: how fast any YAML reader built on it
/// can be.
#[divan::bench(sample_count = 3, sample_size = 1)]
fn yaml_parser_events_alone_5000_nodes(bencher: divan::Bencher) {
    let file = yaml_snapshot();
    bencher
        .counter(divan::counter::BytesCount::new(file.text.len()))
        .bench(|| {
            let events = saphyr_parser::Parser::new_from_str(&file.text);
            events
                .map(|e| e.map(|_| 1usize))
                .sum::<Result<usize, _>>()
                .unwrap()
        });
}

fn yaml_snapshot() -> std::sync::Arc<kilter::syntax::source::SourceFile> {
    let json = serde_json::to_value(cluster(5000, 30, false)).unwrap();
    let text = kilter::syntax::emit::emit(&json);
    kilter::syntax::source::SourceFile::new("snapshot.yaml", text)
}

fn main() {
    divan::main();
}
