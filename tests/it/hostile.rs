//! The hostile-input suite: encodings, odd YAML, numbers at and past their limits, files that
//! are not files, and output formats whatever a message holds. Each ends in a diagnostic at
//! its place or an I/O error (exit 2); nothing hangs or crashes (`docs/limits.md`).

use std::path::Path;
use std::process::Command;

use kilter::syntax::limits::{MAX_DOCUMENTS, MAX_LINE_BYTES};

fn kilter(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kilter"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

/// `(code, line, column, message)` of each diagnostic of one file.
fn diags(name: &str, text: &str) -> Vec<(String, usize, usize, String)> {
    kilter::lint::lint_text(name, text)
        .diagnostics
        .iter()
        .map(|d| {
            let (l, c) = d.start();
            (d.code.to_string(), l, c, d.message.clone())
        })
        .collect()
}

const POLICY: &str = "apiVersion: kilter.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  action: {cordon: {}}\n";

#[test]
fn invalid_utf8_is_an_io_error_at_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "bad.yaml",
        [POLICY.as_bytes(), b"  x: \"\xff\"\n"].concat(),
    );
    let (code, _, err) = kilter(&["lint", &f]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("bad.yaml:6:7: not valid UTF-8 (byte 0xff)"),
        "{err}"
    );
    // In a directory too: the run fails with the I/O error rather than passing it over.
    write(dir.path(), "ok.yaml", POLICY);
    let (code, _, err) = kilter(&["lint", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn bom_crlf_nul_empty_and_comment_only_files() {
    // A byte-order mark and CRLF line ends: positions as an editor shows them.
    let crlf = format!("\u{feff}{POLICY}  nope: 1\n").replace('\n', "\r\n");
    assert_eq!(
        diags("crlf.yaml", &crlf),
        vec![("K003".into(), 6, 3, "unknown field `nope`".into())]
    );
    // A NUL byte is a syntax error at its place.
    let nul = POLICY.replace("{name: p}", "{name: p\0}");
    let d = diags("nul.yaml", &nul);
    assert_eq!((d[0].0.as_str(), d[0].1, d[0].2), ("K001", 3, 19), "{d:?}");
    // Empty and comment-only files are valid and hold nothing.
    for (name, text) in [
        ("empty.yaml", ""),
        ("comments.yaml", "# only\n# comments\n"),
        ("docs.yaml", "---\n---\n...\n"),
        ("empty.kilter", ""),
        ("comments.kilter", "// a\n# b\n"),
    ] {
        let out = kilter::lint::lint_text(name, text);
        assert!(out.diagnostics.is_empty(), "{name}: {:?}", out.diagnostics);
        assert!(out.documents.is_empty(), "{name}");
    }
}

#[test]
fn merge_keys_and_cross_document_anchors_are_clear_errors() {
    let merge = POLICY.replace("  action:", "  base: &b {priority: 3}\n  <<: *b\n  action:");
    let out = kilter::lint::lint_text("merge.yaml", &merge);
    let d = out
        .diagnostics
        .iter()
        .find(|d| d.message == "unknown field `<<`")
        .unwrap_or_else(|| panic!("{:?}", out.diagnostics));
    assert!(d.help.as_deref().unwrap().contains("YAML 1.1"), "{d:?}");
    assert_eq!(d.start(), (6, 3));
    // An anchor belongs to its document: the next one cannot refer to it.
    let cross = format!(
        "{}  nodeSelector: &sel {{matchLabels: {{pool: a}}}}\n---\n{}  nodeSelector: *sel\n",
        POLICY,
        POLICY.replace("name: p", "name: q")
    );
    let d = diags("cross.yaml", &cross);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].0.as_str(), d[0].1, d[0].2), ("K001", 13, 17), "{d:?}");
    assert!(d[0].3.contains("unknown anchor"), "{d:?}");
}

#[test]
fn yaml_1_1_booleans_are_strings_and_wrong_in_enum_fields() {
    let text = POLICY.replace(
        "  action: {cordon: {}}",
        "  mode: yes\n  nodeSelector: {matchLabels: {pool: no}}\n  action: {governor: {name: on}}",
    );
    let d = diags("yaml11.yaml", &text);
    assert_eq!(
        d,
        vec![
            (
                "K007".into(),
                5,
                9,
                "`yes` is not a valid mode: expected one of `Enforce`, `DryRun`".into()
            ),
            ("K007".into(), 7, 29, "`on` is not a CPU governor".into()),
        ]
    );
}

#[test]
fn numbers_at_and_past_the_limits_of_each_type() {
    let policy =
        |priority: &str| POLICY.replace("spec:\n", &format!("spec:\n  priority: {priority}\n"));
    for ok in ["1000000", "-1000000", "-0", "0"] {
        assert_eq!(diags("p.yaml", &policy(ok)), vec![], "{ok}");
    }
    for (bad, code) in [
        ("1000001", "K006"),
        ("-1000001", "K006"),
        ("1e400", "K004"),
        ("9223372036854775808", "K004"),
        ("1.5", "K004"),
    ] {
        let d = diags("p.yaml", &policy(bad));
        assert_eq!(d.len(), 1, "{bad}: {d:?}");
        assert_eq!(
            (d[0].0.as_str(), d[0].1, d[0].2),
            (code, 5, 13),
            "{bad}: {d:?}"
        );
    }
    let budget = |cpu: &str| {
        format!(
            "apiVersion: kilter.dev/v1alpha1\nkind: Budget\nmetadata: {{name: b}}\nspec:\n  cpu: {{reserve: {cpu}}}\n"
        )
    };
    for ok in ["0.001", "1m", "4096", "0"] {
        assert_eq!(diags("b.yaml", &budget(ok)), vec![], "{ok}");
    }
    for (bad, message) in [
        ("0.0001m", "`0.0001m` is not a CPU quantity"),
        ("0.0001", "finer than one millicore"),
        ("1e400", "too large to represent"),
        ("4097", "4096"),
        ("-1", ""),
    ] {
        let d = diags("b.yaml", &budget(bad));
        assert_eq!(d.len(), 1, "{bad}: {d:?}");
        assert_eq!((d[0].1, d[0].2), (5, 18), "{bad}: {d:?}");
        assert!(d[0].3.contains(message), "{bad}: {d:?}");
    }
}

#[test]
fn long_lines_and_too_many_documents_stop_with_a_diagnostic() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!(
        "{POLICY}  description: \"{}\"\n",
        "x".repeat(MAX_LINE_BYTES)
    );
    let f = write(dir.path(), "long.yaml", &long);
    let (code, err, _) = kilter(&["lint", &f]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("long.yaml:6:{}", MAX_LINE_BYTES + 1)),
        "{}",
        &err[..err.len().min(2000)]
    );
    assert!(
        err.len() < 4000,
        "the line is not printed: {} bytes",
        err.len()
    );
    // A long line in someone else's file skips the file, as any unreadable YAML would.
    let foreign = format!("data: \"{}\"\n", "x".repeat(MAX_LINE_BYTES));
    let out = kilter::lint::lint_text("values.yaml", &foreign);
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    // A diagnostic on a long (but allowed) line names its place instead of printing it.
    let wide = POLICY.replace(
        "metadata: {name: p}",
        &format!(
            "metadata: {{name: p, labels: {{a: \"{}\"}}, nope: 1}}",
            "y".repeat(5000)
        ),
    );
    let f = write(dir.path(), "wide.yaml", &wide);
    let (code, err, _) = kilter(&["lint", &f]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("wide.yaml:3:"), "{err}");
    assert!(err.contains("not shown") && err.len() < 2000, "{err}");

    let many: String = (0..MAX_DOCUMENTS + 5)
        .map(|i| format!("---\n{}", POLICY.replace("name: p", &format!("name: p{i}"))))
        .collect();
    let d = diags("many.yaml", &many);
    assert_eq!(d.len(), 1, "{:?}", &d[..d.len().min(3)]);
    assert_eq!(
        (d[0].0.as_str(), d[0].1),
        ("K001", 6 * MAX_DOCUMENTS + 1),
        "{d:?}"
    );
    assert!(d[0].3.contains("more than 10000 documents"), "{d:?}");
    let objects = "policy p { action { cordon {} } }\n".repeat(MAX_DOCUMENTS + 1);
    let d = diags("many.kilter", &objects);
    assert!(
        d.iter()
            .any(|x| x.0 == "K001" && x.1 == MAX_DOCUMENTS + 1 && x.3.contains("10000 objects")),
        "{:?}",
        &d[..d.len().min(3)]
    );
}

#[test]
fn links_that_lead_nowhere_or_in_circles_are_skipped_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "ok.kilter", "policy p { action { cordon {} } }\n");
    std::os::unix::fs::symlink("/nonexistent/kilter", d.join("gone.yaml")).unwrap();
    std::os::unix::fs::symlink(d.join("b.yaml"), d.join("a.yaml")).unwrap();
    std::os::unix::fs::symlink(d.join("a.yaml"), d.join("b.yaml")).unwrap();
    std::os::unix::fs::symlink(d, d.join("sub")).unwrap();
    let (code, out, err) = kilter(&["lint", d.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("gone.yaml: skipped"), "{err}");
    assert!(err.contains("a.yaml: skipped"), "{err}");
    assert!(out.contains("1 file linted"), "{out}");
    // Named on the command line: an I/O error.
    let (code, _, err) = kilter(&["lint", d.join("a.yaml").to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn fmt_never_writes_a_file_with_errors() {
    let dir = tempfile::tempdir().unwrap();
    let text = "policy  p {\n  action { cordon {} }\n";
    let f = write(dir.path(), "broken.kilter", text);
    let (code, _, err) = kilter(&["fmt", "-w", &f]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("broken.kilter:"), "{err}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), text);
}

#[test]
fn output_formats_stay_well_formed_whatever_a_message_holds() {
    let dir = tempfile::tempdir().unwrap();
    let key = "we\\\"ird\\nkey ✓, 100%: x";
    let text = POLICY.replace("spec:\n", &format!("spec:\n  \"{key}\": 1\n"));
    let f = write(dir.path(), "we,ird:ä.yaml", &text);
    let shown = "we\"ird\nkey ✓, 100%: x";

    let (code, out, _) = kilter(&["lint", "--format", "json", &f]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["diagnostics"][0]["message"],
        format!("unknown field `{shown}`")
    );

    let (_, out, _) = kilter(&["lint", "--format", "sarif", &f]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let text = v["runs"][0]["results"][0]["message"]["text"]
        .as_str()
        .unwrap();
    assert!(
        text.starts_with(&format!("unknown field `{shown}`")),
        "{text}"
    );

    // GitHub workflow commands: one line per diagnostic, data and properties escaped.
    let (_, out, _) = kilter(&["lint", "--format", "github", &f]);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(lines.len(), 1, "{out}");
    let line = lines[0];
    assert!(
        line.contains("file=") && line.contains("we%2Cird%3Aä.yaml,line=5,col=3"),
        "{line}"
    );
    assert!(line.contains("we\"ird%0Akey ✓, 100%25: x"), "{line}");
    assert!(!out.lines().any(|l| l.starts_with("key")), "{out}");
}

#[test]
fn a_node_with_thousands_of_labels_cannot_make_a_filter_run_away() {
    let labels: Vec<String> = (0..3000).map(|i| format!("k{i}: v")).collect();
    let state = format!(
        "nodes:\n  - {{ name: big, labels: {{ {} }}, allocatable: {{ cpu: \"8\", memory: 32Gi }} }}\n  - {{ name: small, labels: {{ a: b }}, allocatable: {{ cpu: \"8\", memory: 32Gi }} }}\n",
        labels.join(", ")
    );
    // Quadratic in the labels: within the static bound (256 labels), past it at 3,000.
    let dsl = "policy p { nodeFilter: `node.labels.all(a, node.labels.exists(b, a == b))`\n action { cordon {} } }";
    let lint = kilter::lint::lint_text("p.kilter", dsl);
    assert!(!lint.has_errors(), "{:?}", lint.diagnostics);
    let bundle = kilter::plan::Bundle::from_documents(&lint.documents);
    let state =
        kilter::state::load(&kilter::syntax::source::SourceFile::new("s.yaml", state)).unwrap();
    let now = kilter::state::parse_time("2026-11-23T12:00:00Z").unwrap();
    let p = kilter::plan::plan(&bundle, &state, now);
    let nodes: Vec<_> = p
        .actions
        .iter()
        .filter_map(|a| a.target().node.clone())
        .collect();
    assert_eq!(nodes, ["small"]);
    let skip = p
        .skipped
        .iter()
        .find(|s| s.target.node.as_deref() == Some("big"))
        .unwrap_or_else(|| panic!("{:?}", p.skipped));
    assert!(
        skip.reason.contains("3000 labels") && skip.reason.contains("limit is 1000000"),
        "{}",
        skip.reason
    );
}

#[test]
fn a_misspelt_required_field_is_one_error() {
    let d = diags(
        "c.kilter",
        "policy p { action { consolidate { utilizationBelw: 0.5 } } }\n",
    );
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].3, "unknown field `utilizationBelw`");
    // A required field that is simply absent is still reported.
    let d = diags(
        "c.kilter",
        "policy p { action { consolidate { other: 1 } } }\n",
    );
    let messages: Vec<&str> = d.iter().map(|x| x.3.as_str()).collect();
    assert!(
        messages.contains(&"missing required field `utilizationBelow`"),
        "{messages:?}"
    );
}

/// A JSON snapshot the fast reader refuses is read again on the spanned path, so each mistake
/// still gets its line and column: a wrong type, an unknown field, a duplicate label, a check
/// that fails, trailing text.
#[test]
fn a_broken_json_snapshot_gets_its_diagnostic_at_line_and_column() {
    let good = r#"{
  "apiVersion": "kilter.dev/v1alpha1",
  "kind": "ClusterSnapshot",
  "nodes": [
    { "name": "a", "labels": { "pool": "x" }, "allocatable": { "cpu": "4", "memory": "8Gi" } }
  ],
  "pods": [
    { "namespace": "ns", "name": "p", "node": "a", "containers": [ { "name": "c", "requests": { "cpu": "100m" } } ] }
  ]
}
"#;
    assert!(kilter::state::load_json_fast(good).is_some());
    let cases = [
        (good.replace(r#""cpu": "4""#, r#""cpu": true"#), 5, 71),
        (
            good.replace(r#""name": "c","#, r#""name": "c", "limit": 1,"#),
            8,
            83,
        ),
        (
            good.replace(r#""pool": "x""#, r#""pool": "x", "pool": "y""#),
            5,
            45,
        ),
        (good.replace(r#""node": "a""#, r#""node": "b""#), 8, 47),
        (good.replace("}\n  ]\n}", "}\n  ]\n}\n]"), 11, 1),
    ];
    for (text, line, col) in cases {
        assert!(kilter::state::load_json_fast(&text).is_none(), "{text}");
        assert_refused_at("snapshot.json", &text, (line, col));
    }
}

/// What the spanned reader refuses, neither fast path takes: a key given twice at the top
/// (even `kind`, which both leave out) or inside the value of one left out, an unknown field
/// inside a PDB's selector requirement. Found on reading the JSON fast path again: it took the
/// first three.
#[test]
fn fast_readers_refuse_what_the_spanned_reader_refuses() {
    let requirement = |extra: &str| {
        format!(
            r#"{{"pdbs":[{{"namespace":"n","name":"p","currentHealthy":1,"selector":{{"matchExpressions":[{{"key":"a","operator":"Exists"{extra}}}]}}}}]}}"#
        )
    };
    let refused = [
        r#"{"kind":1,"kind":2}"#.to_string(),
        r#"{"kind":{"a":1,"a":2}}"#.to_string(),
        r#"{"apiVersion":"x","nodes":[],"apiVersion":"y"}"#.to_string(),
        requirement(r#","extra":1"#),
    ];
    for text in &refused {
        let file = kilter::syntax::source::SourceFile::new("snapshot.json", text.as_str());
        assert!(kilter::state::load_spanned(&file).is_err(), "{text}");
        assert!(kilter::state::load_json_fast(text).is_none(), "{text}");
        assert!(kilter::state::load_yaml_fast(text).is_none(), "{text}");
    }
    let taken = [
        r#"{"apiVersion":"kilter.dev/v1alpha1","kind":"ClusterSnapshot","nodes":[]}"#.to_string(),
        requirement(""),
    ];
    for text in &taken {
        let file = kilter::syntax::source::SourceFile::new("snapshot.json", text.as_str());
        let spanned = kilter::state::load_spanned(&file).expect(text);
        assert_eq!(kilter::state::load_json_fast(text).as_ref(), Some(&spanned));
        assert_eq!(kilter::state::load_yaml_fast(text).as_ref(), Some(&spanned));
    }
}

/// `kilter::state::load` refuses the snapshot, its first diagnostic at `at` (line, column).
fn assert_refused_at(name: &str, text: &str, at: (usize, usize)) {
    let file = kilter::syntax::source::SourceFile::new(name, text);
    let diags = kilter::state::load(&file).expect_err(text);
    let found: Vec<_> = diags
        .iter()
        .map(|d| (d.start(), d.message.clone()))
        .collect();
    assert_eq!(found[0].0, at, "{found:?}\n{text}");
}

/// A YAML snapshot the fast path refuses is read again on the spanned path, which points at
/// the line and column of what is wrong.
#[test]
fn a_broken_yaml_snapshot_gets_its_diagnostic_at_line_and_column() {
    let good = "apiVersion: kilter.dev/v1alpha1
kind: ClusterSnapshot
nodes:
  - name: a
    labels: { pool: x }
    allocatable: { cpu: \"4\", memory: 8Gi }
pods:
  - namespace: ns
    name: p
    node: a
    containers:
      - name: c
        requests: { cpu: 100m }
";
    assert!(kilter::state::load_yaml_fast(good).is_some());
    let cases = [
        (good.replace("cpu: \"4\"", "cpu: true"), 6, 25),
        (
            good.replace("- name: c", "- name: c\n        limit: 1"),
            13,
            9,
        ),
        (good.replace("pool: x", "pool: x, pool: y"), 5, 24),
        (good.replace("node: a", "node: b"), 10, 11),
        (good.replace("name: p", "name: p\n  - *p"), 10, 5),
        (good.replace("name: p", "name: [p]"), 9, 11),
    ];
    for (text, line, col) in cases {
        assert!(kilter::state::load_yaml_fast(&text).is_none(), "{text}");
        assert_refused_at("snapshot.yaml", &text, (line, col));
    }
}

/// Found by the `dsl` fuzz target: a comment holding one backtick made the file splitter
/// think a CEL expression was open, so comments above an object came apart from it and the
/// second `fmt` added a blank line the first had not.
#[test]
fn fmt_is_idempotent_when_comments_hold_backticks() {
    let inputs = [
        "scalingTarget# a `b\n# c\n# d ` e\n  action {# f} }\n}\n",
        "# one ` tick\npolicy p {\n  action { cordon {} }\n}\n",
        "policy p { # a ` tick\n  action { cordon {} }\n}\n// two ` ticks `\n# three `\nbudget b { cpu { reserve: 1 } }\n",
        "policy p {\n  labels { x: \"a ` b\" }\n}\n# c\npolicy q {\n  action { cordon {} }\n}\n",
    ];
    for text in inputs {
        let file = kilter::syntax::source::SourceFile::new("f.kilter", text);
        let Ok(once) = kilter::syntax::dsl::fmt::format(&file) else {
            continue;
        };
        let again = kilter::syntax::dsl::fmt::format(&kilter::syntax::source::SourceFile::new(
            "f.kilter",
            once.clone(),
        ))
        .unwrap();
        assert_eq!(again, once, "{text:?}");
    }
}
