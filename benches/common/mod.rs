//! The generated fleet the planner and simulation benchmarks share (`kilter::sim::fleet`).
#![allow(dead_code)]

use kilter::plan::Bundle;
pub use kilter::sim::fleet::cluster;

pub fn policies() -> Bundle {
    let out = kilter::lint::lint_text("bench.kilter", &kilter::sim::fleet::policies());
    assert!(
        !out.has_errors(),
        "{:?}",
        out.diagnostics.first().map(|d| &d.message)
    );
    Bundle::from_documents(&out.documents)
}
