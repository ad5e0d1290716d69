//! `kilter lint .` at the root of a realistic GitOps repository (`tests/fixtures/gitops-repo`:
//! a Helm chart, Kustomize base and overlay, a pre-commit config, a GitHub workflow,
//! ConfigMaps and a Kyverno `Policy` beside kilter objects): exactly kilter's objects are
//! linted.

use std::path::Path;
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A copy of the repository to change.
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&crate::fixture("gitops-repo"), dir.path());
    dir
}

fn lint(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kilter"))
        .arg("lint")
        .args(extra)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn json(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    let (_, out, err) = lint(dir, &args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"))
}

#[test]
fn the_whole_repo_lints_clean() {
    let (code, out, err) = lint(&crate::fixture("gitops-repo"), &["."]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("0 errors, 0 warnings (8 documents skipped: not kilter's)"),
        "{out}"
    );
    // Without a path, the current directory.
    assert_eq!(lint(&crate::fixture("gitops-repo"), &[]).0, 0);
}

#[test]
fn one_mistake_in_one_kilter_object_is_exactly_one_error_at_its_line() {
    let dir = repo();
    let file = dir.path().join("clusters/prod/kilter/power.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("mode: DryRun", "mode: Enforced")).unwrap();
    let v = json(dir.path(), &["."]);
    let diags = v["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), 1, "{v:#}");
    let d = &diags[0];
    assert_eq!(d["code"], "K007");
    assert_eq!(d["file"], "clusters/prod/kilter/power.yaml");
    assert_eq!(d["line"], 8);
    assert_eq!(d["column"], 9);
    assert_eq!(lint(dir.path(), &["."]).0, 1);
}

#[test]
fn which_documents_are_kilters() {
    let dir = repo();
    let put = |rel: &str, text: &str| std::fs::write(dir.path().join(rel), text).unwrap();
    // A kilter kind without apiVersion: kilter's, and the forgotten line is reported.
    put(
        "base/forgot.yaml",
        "kind: Budget\nmetadata: { name: b }\nspec: {}\n",
    );
    // An unsupported version of kilter's group: an error.
    put(
        "base/old.yaml",
        "apiVersion: kilter.dev/v0\nkind: Budget\nmetadata: { name: c }\nspec: {}\n",
    );
    // Broken YAML that mentions kilter: its syntax error is reported.
    put(
        "base/broken.yaml",
        "apiVersion: kilter.dev/v1alpha1\nkind: Policy\nmetadata: {{ name }}\n",
    );
    let v = json(dir.path(), &["."]);
    let got: Vec<(String, String)> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["file"].as_str().unwrap().to_string(),
                d["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        got.contains(&("base/forgot.yaml".into(), "missing `apiVersion`".into())),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|(f, m)| f == "base/old.yaml" && m.contains("unsupported apiVersion"))
    );
    assert!(got.iter().any(|(f, _)| f == "base/broken.yaml"));
    // Nothing else: the Kyverno Policy, ConfigMaps, chart, values and CI files are skipped.
    assert!(
        got.iter().all(|(f, _)| f.starts_with("base/forgot")
            || f.starts_with("base/old")
            || f.starts_with("base/broken")),
        "{got:?}"
    );
}

#[test]
fn ignore_files_and_excludes_are_honoured() {
    let dir = repo();
    // scratch/ holds a broken draft; .kilterignore leaves it out.
    assert_eq!(lint(dir.path(), &["."]).0, 0);
    std::fs::remove_file(dir.path().join(".kilterignore")).unwrap();
    let (code, out, _) = lint(dir.path(), &["."]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("scratch/draft.kilter"), "{out}");
    // .gitignore works the same way, and so does --exclude.
    std::fs::write(dir.path().join(".gitignore"), "scratch/\n").unwrap();
    assert_eq!(lint(dir.path(), &["."]).0, 0);
    std::fs::remove_file(dir.path().join(".gitignore")).unwrap();
    assert_eq!(lint(dir.path(), &[".", "--exclude", "scratch/**"]).0, 0);
    // A file named on the command line is read whatever the ignore files say.
    std::fs::write(dir.path().join(".kilterignore"), "scratch/\n").unwrap();
    assert_eq!(lint(dir.path(), &["scratch/draft.kilter"]).0, 1);
}

#[test]
fn helm_charts_are_skipped_whole_and_templates_elsewhere_with_a_note() {
    let dir = repo();
    let (code, _, err) = lint(dir.path(), &[".", "--verbose"]);
    assert_eq!(code, 0);
    assert!(
        err.contains("base/job-template.yaml: skipped, not YAML kilter can read"),
        "{err}"
    );
    assert!(
        !err.contains("charts/"),
        "the chart is not even read: {err}"
    );
    // Named on the command line, a chart template is read, and skipped as not kilter's.
    let (code, out, _) = lint(dir.path(), &["charts/web/templates/deployment.yaml"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn yaml_directives_belong_to_the_document_they_start() {
    let text = "%YAML 1.2\n%TAG !k! tag:example.com,2026:\n---\napiVersion: kilter.dev/v1alpha1\nkind: Budget\nmetadata: { name: a }\nspec: {}\n...\n%YAML 1.2\n---\napiVersion: kilter.dev/v1alpha1\nkind: Budget\nmetadata: { name: b }\nspec: {}\n...\nkind: Budget\n";
    let out = kilter::lint::lint_text("directives.yaml", text);
    let got: Vec<(String, usize)> = out
        .diagnostics
        .iter()
        .map(|d| (d.message.clone(), d.file.line_col(d.span.start).0))
        .collect();
    // Both documents read; the third (after `...`, without apiVersion) is reported at its line.
    assert_eq!(out.documents.len(), 3, "{got:?}");
    assert!(got.iter().all(|(_, line)| *line == 16), "{got:?}");
    assert!(
        got.iter().any(|(m, _)| m == "missing `apiVersion`"),
        "{got:?}"
    );
}

#[test]
fn a_policy_source_in_a_repository_is_passed_over() {
    // `kubectl get policysources -o yaml > source.yaml` committed by mistake: the controller's
    // own status object, not a policy.
    let text = "apiVersion: kilter.dev/v1alpha1\nkind: PolicySource\nmetadata: { name: kilter, namespace: kilter-system }\nspec: { source: git, url: file:///srv/p.git }\nstatus: { lastAppliedRevision: main@sha1:abc }\n";
    let out = kilter::lint::lint_text("source.yaml", text);
    assert!(out.diagnostics.is_empty(), "{:?}", out.diagnostics);
    assert!(out.documents.is_empty());
}
