//! The binary: exit codes, output formats, `--explain`, broken pipes.

use std::process::{Command, Stdio};

fn kilter() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kilter"))
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = kilter()
        .args(args)
        .current_dir(crate::root())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn clean_repo_exits_zero() {
    let (code, out, _) = run(&["lint", "examples", "policies"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 errors"));
}

#[test]
fn errors_exit_one_and_usage_errors_exit_two() {
    assert_eq!(run(&["lint", "tests/fixtures/lint/K006.yaml"]).0, 1);
    assert_eq!(run(&["lint", "no/such/dir"]).0, 2);
    assert_eq!(run(&["lint", "--format", "xml"]).0, 2);
    assert_eq!(run(&["frobnicate"]).0, 2);
}

#[test]
fn warnings_pass_unless_denied() {
    assert_eq!(run(&["lint", "tests/fixtures/lint/K015.yaml"]).0, 0);
    assert_eq!(
        run(&["lint", "--deny-warnings", "tests/fixtures/lint/K015.yaml"]).0,
        1
    );
}

#[test]
fn json_output_has_the_documented_shape() {
    let (code, out, _) = run(&["lint", "--format", "json", "tests/fixtures/lint/K003.yaml"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let d = &v["diagnostics"][0];
    assert_eq!(d["file"], "tests/fixtures/lint/K003.yaml");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(5), Some(19))
    );
    assert_eq!(
        (d["end_line"].as_u64(), d["end_column"].as_u64()),
        (Some(5), Some(29))
    );
    assert_eq!(d["severity"], "error");
    assert_eq!(d["code"], "K003");
    assert_eq!(d["message"], "unknown field `matchLabel`");
    assert_eq!(d["help"], "did you mean `matchLabels`?");
    assert_eq!(v["summary"]["files"], 1);
    assert_eq!(
        v["summary"]["errors"],
        v["diagnostics"].as_array().unwrap().len()
    );
    assert_eq!(v["summary"]["warnings"], 0);
}

#[test]
fn github_output_is_workflow_commands() {
    let (_, out, _) = run(&[
        "lint",
        "--format",
        "github",
        "tests/fixtures/lint/K015.yaml",
    ]);
    assert!(
        out.starts_with("::warning file=tests/fixtures/lint/K015.yaml,line=6,col=15,"),
        "{out}"
    );
    assert!(out.contains("::K015 the targetSelector"));
}

#[test]
fn explain_prints_the_rule_doc() {
    let (code, out, _) = run(&["lint", "--explain", "K006"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("K006 (numeric-range)"));
    assert!(out.contains("Example"));
    assert_eq!(run(&["lint", "--explain", "K999"]).0, 2);
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let mut child = kilter()
        .args(["crds"])
        .current_dir(crate::root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn fmt_check_flags_unformatted_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.kilter");
    std::fs::write(&p, "policy a {  action { cordon {} } }\n").unwrap();
    let ps = p.to_str().unwrap();
    assert_eq!(run(&["fmt", "--check", ps]).0, 1);
    assert_eq!(run(&["fmt", "-w", ps]).0, 0);
    assert_eq!(run(&["fmt", "--check", ps]).0, 0);
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "policy a {\n  action {\n    cordon {}\n  }\n}\n"
    );
    assert_eq!(
        run(&["fmt", "--check", "examples"]).0,
        0,
        "examples are canonical"
    );
    assert_eq!(
        run(&["fmt", "--check", "policies"]).0,
        0,
        "templates are canonical"
    );
}

#[test]
fn convert_refuses_invalid_input() {
    let (code, _, err) = run(&["convert", "--to", "dsl", "tests/fixtures/lint/K006.yaml"]);
    assert_eq!(code, 1);
    assert!(err.contains("K006"));
}

#[test]
fn plan_prints_an_explained_plan_and_refuses_invalid_policies() {
    let (code, out, _) = run(&[
        "plan",
        "examples/lab",
        "--state",
        "examples/lab/snapshot.yaml",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("node lab-w3") && out.contains("set governor schedutil → powersave"),
        "{out}"
    );
    let (code, out, _) = run(&[
        "plan",
        "examples/lab",
        "--state",
        "examples/lab/snapshot.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let a = &v["actions"][0];
    for key in ["kind", "target", "params", "policy", "reason", "enforce"] {
        assert!(a.get(key).is_some(), "action lacks {key}: {a}");
    }
    assert!(v["skipped"].is_array() && v["budgets"].is_array() && v["warnings"].is_array());
    let (code, _, err) = run(&[
        "plan",
        "tests/fixtures/lint/K006.yaml",
        "--state",
        "examples/lab/snapshot.yaml",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("K006"));
}

/// The templates' policy test, with its paths made absolute so that a copy runs anywhere.
fn templates_test() -> String {
    crate::read(&crate::root().join("policies/tests/templates.test.yaml"))
        .replace(
            "policies: [..]",
            &format!("policies: [{}]", crate::root().join("policies").display()),
        )
        .replace(
            "state: snapshot.yaml",
            &format!(
                "state: {}",
                crate::root().join("policies/tests/snapshot.yaml").display()
            ),
        )
}

#[test]
fn policy_tests_pass_and_a_failing_case_shows_its_diff() {
    let (code, out, _) = run(&["test", "policies"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.trim_end().ends_with("6 passed, 0 failed"), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let t = templates_test().replace(
        "node: w1, policy: night-powersave",
        "node: w2, policy: night-powersave",
    );
    std::fs::write(dir.path().join("t.test.yaml"), t).unwrap();
    let (code, out, _) = run(&["test", dir.path().to_str().unwrap(), "--format", "junit"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("failures=\"1\"") && out.contains("expected, not planned"),
        "{out}"
    );
}

#[test]
fn plan_refuses_an_unclear_snapshot_with_its_place() {
    let (code, out, err) = run(&[
        "plan",
        "tests/fixtures/safety/chain",
        "--state",
        "tests/fixtures/safety/unclear-input/snapshot.yaml",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.is_empty(), "no plan on a refused snapshot: {out}");
    assert!(err.contains("snapshot.yaml:6:"), "{err}");
    assert!(err.contains("listed twice"), "{err}");
    assert!(err.contains("not an RFC 3339 time"), "{err}");
    // The same policies plan against a clear snapshot, and the plan is verified.
    let (code, out, _) = run(&[
        "plan",
        "tests/fixtures/safety/chain",
        "--state",
        "tests/fixtures/safety/chain/snapshot.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["skipped"][0]["cause"], "plan-order");
}

#[test]
fn a_policy_test_file_with_a_mistake_fails_the_run_with_exit_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.test.yaml"),
        "apiVersion: kilter.dev/v1alpha1\nkind: PolicyTest\nmetadata: { name: t }\nspec:\n  policies: [.]\n  cases:\n    - { name: c, stat: s.yaml }\n",
    )
    .unwrap();
    let (code, _, err) = run(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(
        code, 1,
        "a mistake in a test file is a finding, not a usage error: {err}"
    );
    assert!(err.contains("bad.test.yaml:7:"), "{err}");
    // A file that cannot be read at all is still an I/O error.
    assert_eq!(run(&["test", "no/such/dir"]).0, 2);
}

#[test]
fn junit_output_is_xml_whatever_the_message_holds() {
    let results = vec![kilter::policytest::CaseResult {
        file: "t.test.yaml".into(),
        name: "a <case> & \"quotes\"".into(),
        failures: vec!["bell \u{7} and nul \u{0} and form feed \u{c}; tab\tok".into()],
    }];
    let xml = kilter::policytest::render_junit(&results);
    assert!(
        xml.chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r')),
        "{xml:?}"
    );
    assert!(xml.contains("\\u{7}") && xml.contains("\\u{0}"), "{xml}");
    assert!(
        xml.contains("a &lt;case&gt; &amp; &quot;quotes&quot;"),
        "{xml}"
    );
}

/// The same report read by an independent XML 1.0 parser (Python's): well-formed, and the
/// names and messages come back as written (control characters as their escapes).
#[test]
#[ignore = "needs KILTER_TEST_PYTHON (scripts/test sets it up)"]
fn junit_output_reads_in_an_independent_xml_parser() {
    let python = std::env::var("KILTER_TEST_PYTHON").expect("KILTER_TEST_PYTHON is not set");
    let results = vec![
        kilter::policytest::CaseResult {
            file: "t.test.yaml".into(),
            name: "a <case> & \"quotes\" ]]> 'x'".into(),
            failures: vec!["bell \u{7}, nul \u{0}, escape \u{1b}[31m; tab\tok; é ✓".into()],
        },
        kilter::policytest::CaseResult {
            file: "t.test.yaml".into(),
            name: "passes".into(),
            failures: vec![],
        },
    ];
    let read = crate::python(
        &python,
        "import json, sys, xml.etree.ElementTree as E\n\
         cases = E.parse(sys.argv[1]).getroot().iter('testcase')\n\
         print(json.dumps([[c.get('name'), [f.get('message') for f in c.iter('failure')]] for c in cases]))",
        kilter::policytest::render_junit(&results).as_bytes(),
    );
    let cases: serde_json::Value = serde_json::from_str(&read).unwrap();
    assert_eq!(cases[0][0], "a <case> & \"quotes\" ]]> 'x'");
    assert_eq!(cases[1], serde_json::json!(["passes", []]));
    let message = cases[0][1][0].as_str().unwrap_or_default();
    assert!(
        message.contains("bell \\u{7}, nul \\u{0}, escape \\u{1b}[31m"),
        "{message}"
    );
    assert!(message.contains("é ✓"), "{message}");
}

#[test]
fn a_policy_test_that_could_never_fail_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let template = templates_test();
    // A misspelled kind in `forbid` would match nothing, so it could never fail.
    let misspelled = template.replacen(
        "- { kind: set_governor, node: w2 }",
        "- { kind: set_govenor, node: w2 }",
        1,
    );
    std::fs::write(dir.path().join("kind.test.yaml"), misspelled).unwrap();
    let (code, _, err) = run(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("`set_govenor` is not an action kind"), "{err}");
    assert!(err.contains("did you mean `set_governor`?"), "{err}");
    assert!(err.contains("kind.test.yaml:14:"), "{err}");
    // A policy the test's policies do not define fails its case.
    std::fs::remove_file(dir.path().join("kind.test.yaml")).unwrap();
    let unknown = template.replacen(
        "- { kind: set_governor, policy: night-powersave }",
        "- { kind: set_governor, policy: night-powersafe }",
        1,
    );
    std::fs::write(dir.path().join("policy.test.yaml"), unknown).unwrap();
    let (code, out, _) = run(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("names policy `night-powersafe`"), "{out}");
}
