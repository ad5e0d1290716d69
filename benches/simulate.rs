//! The simulator: a week of the lab at 1-minute cycles, and a day of the generated
//! 5,000-node / 150,000-pod fleet (`benches/common`) at 5-minute cycles with hourly usage
//! samples. Run: `cargo bench --bench simulate` (the fleet day runs once and takes minutes;
//! `cargo bench --bench simulate -- lab` for the lab alone).

mod common;

use std::path::Path;

use kilter::sim::run::{Options, simulate};
use kilter::sim::trace::{Checked, Usage};
use kilter::syntax::source::SourceFile;

fn read(p: &Path) -> std::sync::Arc<SourceFile> {
    SourceFile::new(p.display().to_string(), std::fs::read_to_string(p).unwrap())
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn lab_week_1m_cycles(bencher: divan::Bencher) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/lab");
    let files: Vec<_> = [
        "policies.kilter",
        "budgets.yaml",
        "targets.yaml",
        "targets-batch.kilter",
        "weekend.yaml",
    ]
    .iter()
    .map(|f| read(&dir.join(f)))
    .collect();
    let bundle = kilter::plan::Bundle::from_documents(&kilter::lint::lint(&files).documents);
    let trace = kilter::sim::trace::load_manifest(&read(&dir.join("trace.yaml"))).unwrap();
    let state = kilter::state::load(&read(&dir.join("snapshot.yaml"))).unwrap();
    let usage = kilter::sim::trace::load_usage(&read(&dir.join("usage.csv"))).unwrap();
    bencher.bench(|| {
        let r = simulate(
            &bundle,
            &state,
            &usage,
            &trace,
            &Options::default(),
            &mut |_, _| {},
        );
        assert_eq!(r.cycles, 10_080);
        r
    });
}

/// Hourly samples for a day of every pod of the generated fleet, through the CSV reader.
fn fleet_usage(state: &kilter::state::ClusterState) -> Usage {
    let start = kilter::state::parse_time("2026-11-23T00:00:00Z").unwrap();
    let csv = kilter::sim::tracegen::generate(
        state,
        &kilter::sim::tracegen::GenOptions {
            seed: 1,
            start,
            days: 1,
            step: chrono::Duration::hours(1),
            tz: chrono_tz::Europe::Berlin,
        },
    );
    kilter::sim::trace::load_usage(&SourceFile::new("fleet.csv", csv)).unwrap()
}

#[divan::bench(sample_count = 1, sample_size = 1)]
fn fleet_5000_nodes_one_day_5m_cycles(bencher: divan::Bencher) {
    let bundle = common::policies();
    let state = common::cluster(5000, 30, false);
    let usage = fleet_usage(&state);
    let opts = Options {
        step: chrono::Duration::minutes(5),
        ..Default::default()
    };
    bencher.bench(|| {
        let t = std::time::Instant::now();
        let r = simulate(
            &bundle,
            &state,
            &usage,
            &Checked::default(),
            &opts,
            &mut |done, total| {
                if done % 24 == 0 {
                    eprintln!(
                        "  cycle {done}/{total} after {:.0}s",
                        t.elapsed().as_secs_f64()
                    );
                }
            },
        );
        assert_eq!(r.cycles, 288);
        r
    });
}

fn main() {
    divan::main();
}
