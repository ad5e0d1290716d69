//! Integration tests, one binary, grouped by topic.

mod architecture;
mod cli;
mod cluster;
mod controller;
mod convert;
mod crds;
mod gitops;
mod limits;
mod lint_rules;
mod observability;
mod plan;
mod plan_properties;
mod probe;
mod properties;
mod restart;
mod safety;
mod sarif;
mod sync;
mod yaml_suite;

use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
