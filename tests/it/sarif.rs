//! SARIF output validates against the official SARIF 2.1.0 schema.

#[test]
fn sarif_validates_against_the_official_schema() {
    let schema_path = crate::root().join("tests/fixtures/schemas/sarif-schema-2.1.0.json");
    let schema: serde_json::Value = serde_json::from_str(&crate::read(&schema_path)).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut files = Vec::new();
    crate::lint_rules::collect(&crate::fixture("lint"), &mut files);
    let sources: Vec<_> = files
        .iter()
        .map(|p| {
            kilter::syntax::source::SourceFile::new(
                format!("fixtures/{}", p.file_name().unwrap().to_string_lossy()),
                crate::read(p),
            )
        })
        .collect();
    let out = kilter::lint::lint(&sources);
    assert!(out.diagnostics.len() > 20);
    let sarif: serde_json::Value =
        serde_json::from_str(&kilter::syntax::diag::render_sarif(&out.diagnostics)).unwrap();
    let errors: Vec<_> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), out.diagnostics.len());
    assert!(results.iter().any(|r| r["level"] == "warning"));
    let empty: serde_json::Value =
        serde_json::from_str(&kilter::syntax::diag::render_sarif(&[])).unwrap();
    assert!(validator.is_valid(&empty));
}

#[test]
fn sarif_rejects_a_broken_document() {
    // The validator is real: a result without a message must fail.
    let schema_path = crate::root().join("tests/fixtures/schemas/sarif-schema-2.1.0.json");
    let schema: serde_json::Value = serde_json::from_str(&crate::read(&schema_path)).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let bad = serde_json::json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "kilter"}}, "results": [{"ruleId": "K001"}]}]});
    assert!(!validator.is_valid(&bad));
}

/// Code scanning places a result by `artifactLocation.uri` relative to the repository root
/// (`uriBaseId` `%SRCROOT%`), whatever directory kilter ran in and however the path was given.
#[test]
fn sarif_locations_are_relative_to_the_repository_root() {
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir(repo.path().join(".git")).unwrap();
    let dir = repo.path().join("pol icies/sub");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        crate::fixture("lint/K006.yaml"),
        dir.join("bad file #1.yaml"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kilter"))
        .args(["lint", "--format", "sarif", "sub"])
        .current_dir(repo.path().join("pol icies"))
        .output()
        .unwrap();
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let schema_path = crate::root().join("tests/fixtures/schemas/sarif-schema-2.1.0.json");
    let schema: serde_json::Value = serde_json::from_str(&crate::read(&schema_path)).unwrap();
    assert!(jsonschema::validator_for(&schema).unwrap().is_valid(&sarif));
    let run = &sarif["runs"][0];
    let root = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        .as_str()
        .unwrap();
    let canonical = repo.path().canonicalize().unwrap();
    assert_eq!(root, format!("file://{}/", canonical.display()));
    let loc = &run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(loc["uri"], "pol%20icies/sub/bad%20file%20%231.yaml");
    assert_eq!(loc["uriBaseId"], "%SRCROOT%");
}
