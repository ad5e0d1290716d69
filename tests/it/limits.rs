//! Hostile input: every reader stops at its limit with a diagnostic, and nothing hangs,
//! crashes or reads without end (`docs/limits.md`).

use std::process::Command;

use kilter::syntax::limits::{MAX_ALIAS_NODES, MAX_DEPTH};

fn lint(name: &str, text: &str) -> kilter::lint::LintOutput {
    kilter::lint::lint_text(name, text)
}

fn billion_laughs() -> String {
    let mut lines =
        vec![r#"a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]"#.to_string()];
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(",");
        lines.push(format!("a{i}: &a{i} [{refs}]"));
    }
    lines.join("\n") + "\n"
}

#[test]
fn yaml_aliases_stop_at_the_expansion_limit() {
    let out = lint(
        "laughs.yaml",
        &format!("apiVersion: kilter.dev/v1alpha1\n{}", billion_laughs()),
    );
    let d = out
        .diagnostics
        .iter()
        .find(|d| d.message.contains("aliases expand"))
        .unwrap_or_else(|| panic!("{:?}", out.diagnostics));
    assert_eq!(d.code, "K001");
    assert!(d.message.contains(&MAX_ALIAS_NODES.to_string()));
    // A few aliases are fine.
    let ok = "apiVersion: kilter.dev/v1alpha1\nkind: Budget\nmetadata: { name: b }\nspec:\n  nodeSelector: &s { matchLabels: { pool: a } }\n  disruption: { maxUnavailable: 1 }\n";
    assert!(!lint("ok.yaml", ok).has_errors());
}

#[test]
fn deep_nesting_stops_at_the_depth_limit_in_yaml_and_dsl() {
    let block: String = std::iter::once("kind: Policy\n".to_string())
        .chain((0..200).map(|i| format!("{}a:\n", "  ".repeat(i))))
        .collect();
    for (name, text) in [
        ("deep.yaml", block),
        (
            "deep.kilter",
            format!("policy p {{ x: {}}}\n", "[".repeat(20_000)),
        ),
    ] {
        let out = lint(name, &text);
        assert!(
            out.diagnostics
                .iter()
                .any(|d| d.code == "K001" && d.message.contains(&format!("{MAX_DEPTH} levels"))),
            "{name}: {:?}",
            out.diagnostics
                .iter()
                .map(|d| &d.message)
                .collect::<Vec<_>>()
        );
    }
    // Deep flow collections stop in the YAML parser's own recursion limit.
    let flow = lint(
        "flow.yaml",
        &format!("kind: Budget\na: {}\n", "[".repeat(20_000)),
    );
    assert!(flow.diagnostics.iter().any(|d| d.code == "K001"));
    // The same file about something else is skipped as not kilter's (still read within the
    // same bounds), not reported.
    let foreign = lint("flow.yaml", &format!("a: {}\n", "[".repeat(20_000)));
    assert!(foreign.diagnostics.is_empty());
    assert_eq!(foreign.skipped_files.len(), 1);
    // At the limit, nesting is read (and reported only for what it means).
    let at = format!(
        "a: {}{}\n",
        "[".repeat(MAX_DEPTH - 1),
        "]".repeat(MAX_DEPTH - 1)
    );
    assert!(
        !lint("at.yaml", &at)
            .diagnostics
            .iter()
            .any(|d| d.message.contains("levels"))
    );
}

fn kilter(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kilter"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn many_deep_files_on_worker_threads_end_with_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..64 {
        let text = format!("policy p{i} {{ x: {}}}\n", "[".repeat(4_000));
        std::fs::write(dir.path().join(format!("f{i}.kilter")), text).unwrap();
    }
    let (code, err) = kilter(&["lint", "--format", "json", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn only_regular_files_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ok.kilter"), "policy p { action { cordon {} } }\n").unwrap();
    let fifo = d.join("pipe.yaml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    std::os::unix::fs::symlink("/dev/zero", d.join("z.yaml")).unwrap();
    std::os::unix::fs::symlink(d, d.join("loop.yaml")).unwrap();
    // In a directory: skipped with a warning, the rest is linted.
    let (code, err) = kilter(&["lint", d.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("pipe.yaml: skipped, not a regular file"),
        "{err}"
    );
    assert!(err.contains("z.yaml: skipped, not a regular file"), "{err}");
    // Named on the command line: an I/O error, exit 2, nothing read.
    for f in ["pipe.yaml", "z.yaml"] {
        let (code, err) = kilter(&["lint", d.join(f).to_str().unwrap()]);
        assert_eq!(code, 2, "{f}: {err}");
        assert!(err.contains("not a regular file"), "{err}");
    }
}

#[test]
fn files_are_never_read_past_the_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(kilter::syntax::limits::MAX_FILE_BYTES + 1)
        .unwrap();
    let (code, err) = kilter(&["lint", big.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("larger than 8 MiB"), "{err}");
}
