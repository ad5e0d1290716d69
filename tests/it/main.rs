//! Integration tests, one binary, grouped by topic.

mod architecture;
mod cli;
mod cluster;
mod controller;
mod convert;
mod crds;
mod gitops;
mod hostile;
mod limits;
mod lint_rules;
mod observability;
mod plan;
mod plan_properties;
mod probe;
mod properties;
mod remote_git;
mod restart;
mod safety;
mod sarif;
mod simulate;
mod sync;
mod yaml_suite;

use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

/// Runs an independent client in Python (`KILTER_TEST_PYTHON`) on `input`: `code` gets the
/// path of a file holding it as `sys.argv[1]`. Fails the test when Python does; returns what it
/// printed.
pub fn python(python: &str, code: &str, input: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input");
    std::fs::write(&path, input).unwrap();
    let out = std::process::Command::new(python)
        .args(["-c", code])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n--- input:\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(input)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
