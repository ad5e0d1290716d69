//! Growth with the input: each measure at 1×, 10× and 100× its base size, to show that
//! time grows about as fast as the input (never with its square). Run:
//! `cargo bench --bench scaling`, and compare the three rows of each measure.
//!
//! - diagnostics per file: one file with n unknown fields, linted and rendered for people;
//! - files: n policy files linted together;
//! - policies: n Enforce policies on distinct pools, through the single-writer check;
//! - CEL map size: a `nodeFilter` that walks a node's n labels, over one node.

mod common;

use std::sync::Arc;

use divan::counter::ItemsCount;
use kilter::syntax::source::SourceFile;

fn main() {
    divan::main();
}

const SCALES: [usize; 3] = [1, 10, 100];

/// One policy with `n` unknown fields: `n` diagnostics.
fn unknown_fields(n: usize) -> Arc<SourceFile> {
    let mut s = String::from(
        "apiVersion: kilter.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  action: {cordon: {}}\n",
    );
    for i in 0..n {
        s.push_str(&format!("  unknown{i}: {i}\n"));
    }
    SourceFile::new("many.yaml", s)
}

#[divan::bench(args = SCALES)]
fn diagnostics_per_file_200x(bencher: divan::Bencher, scale: usize) {
    let n = 200 * scale;
    let file = unknown_fields(n);
    bencher.counter(ItemsCount::new(n)).bench(|| {
        let out = kilter::lint::lint(std::slice::from_ref(&file));
        assert_eq!(out.diagnostics.len(), n);
        let summary = kilter::syntax::diag::Summary::of(1, &out.diagnostics);
        kilter::syntax::diag::render_human_all(&out.diagnostics, summary, false).len()
    });
}

fn policy(i: usize) -> String {
    format!(
        "apiVersion: kilter.dev/v1alpha1\nkind: Policy\nmetadata: {{name: p{i}}}\nspec:\n  mode: Enforce\n  nodeSelector: {{matchLabels: {{pool: pool-{i}}}}}\n  nodeFilter: 'node.cpu.utilization < 0.5'\n  action: {{governor: {{name: powersave}}}}\n"
    )
}

#[divan::bench(args = SCALES)]
fn files_10x(bencher: divan::Bencher, scale: usize) {
    let n = 10 * scale;
    let files: Vec<_> = (0..n)
        .map(|i| SourceFile::new(format!("p{i}.yaml"), policy(i)))
        .collect();
    bencher.counter(ItemsCount::new(n)).bench(|| {
        let out = kilter::lint::lint(&files);
        assert!(!out.has_errors());
        out.documents.len()
    });
}

#[divan::bench(args = SCALES)]
fn policies_in_one_file_80x(bencher: divan::Bencher, scale: usize) {
    let n = 80 * scale;
    let text: Vec<String> = (0..n).map(policy).collect();
    let file = SourceFile::new("all.yaml", text.join("---\n"));
    bencher.counter(ItemsCount::new(n)).bench(|| {
        let out = kilter::lint::lint(std::slice::from_ref(&file));
        assert!(!out.has_errors());
        out.documents.len()
    });
}

#[divan::bench(args = SCALES)]
fn cel_map_size_30x(bencher: divan::Bencher, scale: usize) {
    let n = 30 * scale;
    let labels: Vec<String> = (0..n).map(|i| format!("k{i}: v{i}")).collect();
    let state = format!(
        "nodes:\n  - {{ name: w1, labels: {{ {} }}, allocatable: {{ cpu: \"8\", memory: 32Gi }}, governor: schedutil, availableGovernors: [powersave, schedutil] }}\n",
        labels.join(", ")
    );
    let state = kilter::state::load(&SourceFile::new("s.yaml", state)).expect("the snapshot reads");
    let lint = kilter::lint::lint_text(
        "p.kilter",
        "policy p { nodeFilter: `node.labels.exists(k, k == 'absent')`\n action { governor { name: powersave } } }",
    );
    assert!(!lint.has_errors());
    let bundle = kilter::plan::Bundle::from_documents(&lint.documents);
    let now = kilter::state::parse_time("2026-11-23T12:00:00Z").unwrap();
    bencher.counter(ItemsCount::new(n)).bench(|| {
        let p = kilter::plan::plan(&bundle, &state, now);
        assert!(p.actions.is_empty());
        p.skipped.len()
    });
}
