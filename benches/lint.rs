//! Linting a generated repository of 10,000 policy files (half YAML, half DSL), on one thread
//! and on all cores. Run: `cargo bench --bench lint`.

mod common;

use std::sync::Arc;

use divan::counter::{BytesCount, ItemsCount};
use kilter::syntax::source::SourceFile;

const FILES: usize = 10_000;

fn yaml_policy(i: usize) -> String {
    let mode = if i.is_multiple_of(10) {
        "Enforce"
    } else {
        "DryRun"
    };
    let (team, prio, f) = (i % 17, i % 50, 1 + i % 9);
    [
        format!("# Generated policy {i}."),
        "apiVersion: kilter.dev/v1alpha1".into(),
        "kind: Policy".into(),
        "metadata:".into(),
        format!("  name: policy-{i}"),
        format!("  labels: {{ team: t{team} }}"),
        "spec:".into(),
        format!("  description: Powersave for pool {i} at night."),
        format!("  priority: {prio}"),
        format!("  mode: {mode}"),
        "  nodeSelector:".into(),
        format!("    matchLabels: {{ pool: pool-{i} }}"),
        format!(
            "  nodeFilter: 'node.cpu.utilization < 0.{f} && node.labels[\"zone\"] != \"z{i}\"'"
        ),
        "  schedule:".into(),
        "    timeZone: Europe/Berlin".into(),
        "    windows:".into(),
        "      - days: [Mon, Tue, Wed, Thu, Fri]".into(),
        "        start: \"22:00\"".into(),
        "        end: \"06:00\"".into(),
        "  when: 'cluster.cpu.utilization < 0.3'".into(),
        "  cooldown: 10m".into(),
        "  action:".into(),
        "    governor: { name: powersave, fallback: [schedutil, conservative] }".into(),
        String::new(),
    ]
    .join("\n")
}

fn dsl_policy(i: usize) -> String {
    let mode = if i.is_multiple_of(10) {
        "Enforce"
    } else {
        "DryRun"
    };
    let prio = i % 50;
    [
        format!("# Generated policy {i}."),
        format!("policy policy-{i} {{"),
        format!("  description: \"Consolidate pool {i}.\""),
        format!("  priority: {prio}"),
        format!("  mode: {mode}"),
        "  nodeSelector {".into(),
        format!("    matchLabels {{ pool: pool-{i} }}"),
        "  }".into(),
        "  when: `cluster.cpu.utilization < 0.4 && now.hour >= 1`".into(),
        "  cooldown: 30m".into(),
        "  action {".into(),
        "    consolidate { utilizationBelow: 0.25, maxNodesPerCycle: 1 }".into(),
        "  }".into(),
        "}".into(),
        String::new(),
    ]
    .join("\n")
}

fn repo() -> Vec<Arc<SourceFile>> {
    (0..FILES)
        .map(|i| {
            if i.is_multiple_of(2) {
                SourceFile::new(format!("policies/p{i}.yaml"), yaml_policy(i))
            } else {
                SourceFile::new(format!("policies/p{i}.kilter"), dsl_policy(i))
            }
        })
        .collect()
}

fn total_bytes(files: &[Arc<SourceFile>]) -> usize {
    files.iter().map(|f| f.text.len()).sum()
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn lint_10k_files_one_thread(bencher: divan::Bencher) {
    let files = repo();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    bencher
        .counter(ItemsCount::new(files.len()))
        .counter(BytesCount::new(total_bytes(&files)))
        .bench(|| {
            let out = pool.install(|| kilter::lint::lint(&files));
            assert!(
                out.diagnostics.is_empty(),
                "{:?}",
                out.diagnostics.first().map(|d| &d.message)
            );
            out.documents.len()
        });
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn lint_10k_files_all_cores(bencher: divan::Bencher) {
    let files = repo();
    bencher
        .counter(ItemsCount::new(files.len()))
        .counter(BytesCount::new(total_bytes(&files)))
        .bench(|| {
            let out = kilter::lint::lint(&files);
            assert!(out.diagnostics.is_empty());
            out.documents.len()
        });
}

fn main() {
    divan::main();
}
