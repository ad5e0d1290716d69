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
            kilter::source::SourceFile::new(
                format!("fixtures/{}", p.file_name().unwrap().to_string_lossy()),
                crate::read(p),
            )
        })
        .collect();
    let out = kilter::lint::lint(&sources);
    assert!(out.diagnostics.len() > 20);
    let sarif: serde_json::Value =
        serde_json::from_str(&kilter::diag::render_sarif(&out.diagnostics)).unwrap();
    let errors: Vec<_> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), out.diagnostics.len());
    assert!(results.iter().any(|r| r["level"] == "warning"));
    let empty: serde_json::Value = serde_json::from_str(&kilter::diag::render_sarif(&[])).unwrap();
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
