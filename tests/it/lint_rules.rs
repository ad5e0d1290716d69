//! Each fixture under `tests/fixtures/lint/` is named after the rule it breaks. The snapshot
//! shows exactly what a user sees (source line, caret, code, help); the assertions make sure
//! the named rule fires, at the lines the fixture marks.

use kilter::lint::lint_text;
use kilter::syntax::diag::{Summary, render_human_all};

fn rel(path: &std::path::Path) -> String {
    path.strip_prefix(crate::root())
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

#[test]
fn every_rule_fixture_reports_its_rule() {
    insta::glob!("../fixtures/lint", "*.*", |path| {
        let text = crate::read(path);
        let out = lint_text(&rel(path), &text);
        let name = path.file_stem().unwrap().to_string_lossy();
        let code = &name[..4];
        assert!(
            out.diagnostics.iter().any(|d| d.code == code),
            "{} should report {code}; got {:?}",
            path.display(),
            out.diagnostics
                .iter()
                .map(|d| (d.code, d.message.clone()))
                .collect::<Vec<_>>()
        );
        let rendered = render_human_all(&out.diagnostics, Summary::of(1, &out.diagnostics), false);
        insta::assert_snapshot!(rendered);
    });
}

#[test]
fn every_rule_has_a_fixture() {
    let dir = crate::fixture("lint");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for r in kilter::check::RULES {
        assert!(
            names.iter().any(|n| n.starts_with(r.code)),
            "no fixture for {}",
            r.code
        );
    }
}

#[test]
fn one_bad_document_does_not_hide_the_others() {
    let text = "apiVersion: kilter.dev/v1alpha1\nkind: Budget\nmetadata: { name: a }\nspec: { power: { maxWats: 1 } }\n---\n\
                a: [1, 2\n---\napiVersion: kilter.dev/v1alpha1\nkind: Budget\nmetadata: { name: b }\nspec: { power: { maxWatts: -1 } }\n";
    let out = lint_text("multi.yaml", text);
    let codes: Vec<_> = out
        .diagnostics
        .iter()
        .map(|d| (d.code, d.start().0))
        .collect();
    assert!(codes.contains(&("K003", 4)), "{codes:?}");
    assert!(
        codes.iter().any(|(c, l)| *c == "K001" && *l == 6),
        "{codes:?}"
    );
    assert!(codes.contains(&("K006", 11)), "{codes:?}");
}

#[test]
fn foreign_kubernetes_documents_are_left_alone() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\nspec: { replicas: 3 }\n---\n\
                apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c }\n";
    assert!(lint_text("deploy.yaml", text).diagnostics.is_empty());
    let typo = "apiVersion: kilter.dve/v1alpha1\nkind: Policy\nmetadata: { name: a }\nspec: {}\n";
    assert_eq!(lint_text("typo.yaml", typo).diagnostics[0].code, "K002");
}

#[test]
fn cel_diagnostics_point_inside_the_expression() {
    let text = "apiVersion: kilter.dev/v1alpha1\nkind: Policy\nmetadata: { name: a }\nspec:\n  when: \"cluster.cpu.utilisation < 0.3\"\n  action: { cordon: {} }\n";
    let out = lint_text("cel.yaml", text);
    let d = &out.diagnostics[0];
    assert_eq!(d.code, "K012");
    // `utilisation` starts at column 22 of line 5.
    assert_eq!(d.start(), (5, 22));
    assert_eq!(d.end(), (5, 33));
    assert_eq!(
        d.help.as_deref(),
        Some("did you mean `cluster.cpu.utilization`?")
    );
}

#[test]
fn examples_and_policies_lint_clean() {
    for dir in ["examples", "policies"] {
        let mut files = Vec::new();
        collect(&crate::root().join(dir), &mut files);
        assert!(!files.is_empty(), "{dir} is empty");
        let sources: Vec<_> = files
            .iter()
            .map(|p| {
                kilter::syntax::source::SourceFile::new(p.display().to_string(), crate::read(p))
            })
            .collect();
        let out = kilter::lint::lint(&sources);
        assert!(
            out.diagnostics.is_empty(),
            "{dir}: {:#?}",
            out.diagnostics
                .iter()
                .map(|d| (&d.file.path, d.start(), &d.message))
                .collect::<Vec<_>>()
        );
        assert!(out.documents.iter().all(|d| d.valid && d.object.is_some()));
    }
}

pub fn collect(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out);
        } else if p
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "kilter")
        {
            out.push(p);
        }
    }
}

#[test]
fn a_bad_value_inside_an_action_is_one_error_not_a_missing_action() {
    let out = kilter::lint::lint_text(
        "p.yaml",
        "apiVersion: kilter.dev/v1alpha1\nkind: Policy\nmetadata: { name: p }\nspec:\n  action:\n    consolidate: { utilizationBelow: high }\n",
    );
    let codes: Vec<_> = out.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, vec!["K004"]);
    // With no action written at all, K009 still says so.
    let out = kilter::lint::lint_text(
        "p.yaml",
        "apiVersion: kilter.dev/v1alpha1\nkind: Policy\nmetadata: { name: p }\nspec:\n  action: {}\n",
    );
    let codes: Vec<_> = out.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, vec!["K009"]);
}

#[test]
fn cr_lf_crlf_and_a_bom_read_the_same() {
    let lf = "// a comment first\npolicy p {\n  mode: Bogus\n  action { governor { name: powersave } }\n}\n";
    let yaml = "# a comment first\napiVersion: kilter.dev/v1alpha1\nkind: Budget\nmetadata: { name: b }\nspec: { nope: 1 }\n";
    for (name, text) in [("p.kilter", lf), ("b.yaml", yaml)] {
        let want: Vec<_> = lint_text(name, text)
            .diagnostics
            .iter()
            .map(|d| (d.code, d.start()))
            .collect();
        assert_eq!(want.len(), 1, "{name}: {want:?}");
        for variant in [
            text.replace('\n', "\r"),
            text.replace('\n', "\r\n"),
            format!("\u{feff}{text}"),
        ] {
            let got: Vec<_> = lint_text(name, &variant)
                .diagnostics
                .iter()
                .map(|d| (d.code, d.start()))
                .collect();
            assert_eq!(got, want, "{name}: {variant:?}");
        }
    }
}

/// CEL positions are counted in characters, as editors count them, after non-ASCII text, in
/// every kind of string the expression can be written in, in human and JSON output alike.
#[test]
fn cel_columns_count_characters_after_non_ascii_text() {
    let expr = "node.labels['zöne'] == 'é' && node.cpu.utilizatio < 1";
    let head = "apiVersion: kilter.dev/v1alpha1\nkind: Policy\nmetadata: { name: p }\nspec:\n  action: { governor: { name: powersave } }\n";
    let cases = [
        ("plain.yaml", format!("{head}  nodeFilter: {expr}\n"), 6),
        (
            "single.yaml",
            format!("{head}  nodeFilter: '{}'\n", expr.replace('\'', "\"")),
            6,
        ),
        (
            "block.yaml",
            format!("{head}  nodeFilter: |-\n    {expr}\n"),
            7,
        ),
        (
            "double.yaml",
            format!("{head}  nodeFilter: \"{expr}\"\n"),
            6,
        ),
        (
            "p.kilter",
            format!(
                "policy p {{\n  nodeFilter: `{expr}`\n  action {{ governor {{ name: powersave }} }}\n}}\n"
            ),
            2,
        ),
    ];
    for (name, text, line) in cases {
        let out = lint_text(name, &text);
        let d = out
            .diagnostics
            .iter()
            .find(|d| d.code == "K012")
            .unwrap_or_else(|| panic!("{name}: {:?}", out.diagnostics));
        let source_line = text.lines().nth(line - 1).unwrap();
        let want = source_line[..source_line.find("utilizatio").unwrap()]
            .chars()
            .count()
            + 1;
        assert_eq!(d.start(), (line, want), "{name}");
        let human = render_human_all(&out.diagnostics, Summary::of(1, &out.diagnostics), false);
        assert!(
            human.contains(&format!("{name}:{line}:{want}]")),
            "{name}: {human}"
        );
    }
}

#[test]
fn invalid_dsl_escapes_are_errors_at_the_escape() {
    let text = "policy p {\n  description: \"a\\qb \\u{110000} \\u{41} \\\\ok \\n\"\n  action { governor { name: powersave } }\n}\n";
    let out = lint_text("e.kilter", text);
    let got: Vec<_> = out
        .diagnostics
        .iter()
        .map(|d| (d.code, d.message.clone(), d.start()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("K001", "`\\q` is not an escape".to_string(), (2, 18)),
            ("K001", "`\\u` is not an escape".to_string(), (2, 22)),
        ],
        "{got:?}"
    );
}

/// After a missing `}`, a lone backtick or an unterminated string, reading resumes at the next
/// object: its mistakes are still reported (`tests/fixtures/dsl-recovery/`).
#[test]
fn dsl_reading_resumes_after_a_broken_object() {
    type Expected = &'static [(&'static str, usize, usize)];
    let cases: [(&str, Expected); 3] = [
        ("missing-brace.kilter", &[("K001", 1, 10), ("K007", 6, 9)]),
        ("lone-backtick.kilter", &[("K001", 2, 9), ("K007", 6, 9)]),
        (
            "unterminated-string.kilter",
            &[("K001", 2, 16), ("K007", 6, 9)],
        ),
    ];
    for (name, want) in cases {
        let path = crate::fixture(&format!("dsl-recovery/{name}"));
        let out = lint_text(name, &crate::read(&path));
        let got: Vec<(&str, usize, usize)> = out
            .diagnostics
            .iter()
            .map(|d| (d.code, d.start().0, d.start().1))
            .collect();
        assert_eq!(
            got,
            want,
            "{name}: {:?}",
            out.diagnostics
                .iter()
                .map(|d| &d.message)
                .collect::<Vec<_>>()
        );
    }
}
