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
