//! `kilter convert` is lossless: YAML → DSL → YAML (and back) yields equal models.

use kilter::model::Object;

/// Parses and decodes (front end only: semantic rules may object to generated values).
pub fn objects(path: &str, text: &str) -> Vec<Object> {
    let file = kilter::source::SourceFile::new(path, text);
    let (docs, diags) = kilter::load::load_file(&file);
    let msgs: Vec<_> = diags
        .iter()
        .map(|d| {
            format!(
                "{}:{}:{} {} {}",
                d.file.path,
                d.start().0,
                d.start().1,
                d.code,
                d.message
            )
        })
        .collect();
    assert!(msgs.is_empty(), "{msgs:#?}\n---\n{text}");
    docs.into_iter().filter_map(|d| d.object).collect()
}

#[test]
fn examples_round_trip_through_both_forms() {
    let mut files = Vec::new();
    crate::lint_rules::collect(&crate::root().join("examples"), &mut files);
    crate::lint_rules::collect(&crate::root().join("policies"), &mut files);
    for p in files {
        let original = objects(&p.display().to_string(), &crate::read(&p));
        if original.is_empty() {
            continue; // snapshots and policy tests
        }
        let dsl = kilter::dsl::print::print(&original);
        let via_dsl = objects("converted.kilter", &dsl);
        assert_eq!(via_dsl, original, "{} → dsl:\n{dsl}", p.display());
        let yaml = kilter::convert::to_yaml(&via_dsl);
        let via_yaml = objects("converted.yaml", &yaml);
        assert_eq!(via_yaml, original, "{} → dsl → yaml:\n{yaml}", p.display());
    }
}

#[test]
fn printed_dsl_is_already_canonical() {
    let text = crate::read(&crate::root().join("examples/lab/budgets.yaml"));
    let dsl = kilter::dsl::print::print(&objects("budgets.yaml", &text));
    let f = kilter::source::SourceFile::new("b.kilter", dsl.clone());
    assert_eq!(kilter::dsl::fmt::format(&f).unwrap(), dsl);
    assert!(dsl.contains("maxWatts: 4500W"), "{dsl}");
    assert!(dsl.contains("maxUnavailable: 20%"), "{dsl}");
}

/// `kilter convert --to yaml` writes strings a YAML 1.1 reader (PyYAML, as much of kubectl's
/// ecosystem still is) reads back as the same strings, not as numbers, booleans, nulls or
/// timestamps. Needs `KILTER_TEST_PYTHON` with PyYAML (`scripts/test` makes one).
#[test]
#[ignore = "needs KILTER_TEST_PYTHON with PyYAML (scripts/test sets it up)"]
fn converted_yaml_reads_back_the_same_in_a_yaml_1_1_reader() {
    let python = std::env::var("KILTER_TEST_PYTHON").expect("KILTER_TEST_PYTHON is not set");
    let tricky = [
        "1_000",
        "2026-11-26",
        "2001-12-14t21:59:43.10-05:00",
        "1e3",
        "0b101",
        "0x1F",
        "0o17",
        "017",
        "yes",
        "No",
        "on",
        "OFF",
        "y",
        "n",
        "~",
        "null",
        "Null",
        ".5",
        "+1",
        "-1",
        "1:20",
        "190:20:30",
        "<<",
        "=",
        "true",
        "False",
        ".inf",
        "-.inf",
        ".NaN",
        "1.0",
        "12e03",
        "0.",
        "-0",
        "+.5",
        "3.14159",
        "0:0",
        "1,000",
        "685_230.15",
        "-0b1",
        "0x_1F",
    ];
    let annotations: String = tricky
        .iter()
        .enumerate()
        .map(|(i, v)| format!("    k{i}: {}\n", serde_json::to_string(v).unwrap()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("p.yaml");
    std::fs::write(
        &input,
        format!("apiVersion: kilter.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: p\n  annotations:\n{annotations}spec:\n  action:\n    governor: {{ name: powersave }}\n"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kilter"))
        .args(["convert", "--to", "yaml"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let converted = dir.path().join("out.yaml");
    std::fs::write(&converted, &out.stdout).unwrap();
    let read = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1])), default=repr))",
        ])
        .arg(&converted)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    for (i, want) in tricky.iter().enumerate() {
        assert_eq!(
            v["metadata"]["annotations"][format!("k{i}")],
            serde_json::json!(want),
            "{want:?} in\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn convert_loses_nothing_without_a_word() {
    let run = |file: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kilter"))
            .args(["convert", "--to", "dsl"])
            .arg(file)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let put = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    // An empty file and a snapshot hold nothing to convert: an error, not an empty output.
    let (code, out, err) = run(&put("empty.yaml", ""));
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("no kilter objects to convert"), "{err}");
    let (code, _, err) = run(&crate::root().join("examples/lab/snapshot.yaml"));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("would lose 1 document that is not kilter's"),
        "{err}"
    );
    // A ConfigMap beside a Policy would be dropped: refused, naming what would be lost.
    let mixed = put(
        "mixed.yaml",
        "apiVersion: kilter.dev/v1alpha1\nkind: Budget\nmetadata: { name: b }\nspec: {}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\ndata: { a: b }\n",
    );
    let (code, out, err) = run(&mixed);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("would lose 1 document"), "{err}");
    // Comments are not carried yet: said so.
    let commented = put(
        "c.yaml",
        "# why this budget\napiVersion: kilter.dev/v1alpha1\nkind: Budget\nmetadata: { name: b }\nspec: {}\n",
    );
    let (code, out, err) = run(&commented);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("budget b"), "{out}");
    assert!(err.contains("comments are not carried"), "{err}");
}
