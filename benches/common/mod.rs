//! The generated fleet the planner and simulation benchmarks share (`kilter::sim::fleet`), and
//! the allocator every benchmark runs with.
#![allow(dead_code)]

use kilter::plan::Bundle;

// The allocator `kilter` itself runs with (src/main.rs), so the figures are what it sees.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[allow(unused_imports)] // lint.rs and scaling.rs come here for the allocator only.
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
