//! The committed `crds/` must equal what `kilter crds --out` generates from the types.

#[test]
fn committed_crds_match_the_types() {
    for (name, text) in kilter::syntax::convert::crd_files() {
        let path = crate::root().join("crds").join(&name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "crds/{name} is out of date; run `cargo run -- crds --out crds` and commit the result"
        );
    }
}

#[test]
fn crds_are_structural_with_status_subresources() {
    for kind in kilter::model::Kind::ALL {
        let crd = serde_json::to_value(kind.crd()).unwrap();
        assert_eq!(crd["spec"]["group"], "kilter.dev");
        let v = &crd["spec"]["versions"][0];
        assert_eq!(v["name"], "v1alpha1");
        assert!(
            v["subresources"]["status"].is_object(),
            "{kind:?} has a status subresource"
        );
        let scope = if kind.namespaced() {
            "Namespaced"
        } else {
            "Cluster"
        };
        assert_eq!(crd["spec"]["scope"], scope);
        let text = serde_json::to_string(&v["schema"]).unwrap();
        assert!(
            !text.contains("\"$ref\""),
            "{kind:?} schema must be inlined"
        );
    }
}

#[test]
fn json_schemas_accept_the_examples_and_reject_unknown_fields() {
    use kilter::model::Kind;
    let mut files = Vec::new();
    crate::lint_rules::collect(&crate::root().join("examples"), &mut files);
    let mut checked = 0;
    for p in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let out = kilter::lint::lint_text(&p.display().to_string(), &crate::read(p));
        for d in out.documents {
            let o = d.object.unwrap();
            let schema = kilter::syntax::convert::json_schema(o.kind());
            let validator = jsonschema::validator_for(&schema).unwrap();
            let mut json = o.to_json();
            assert!(
                validator.is_valid(&json),
                "{}: {:?}",
                p.display(),
                validator
                    .iter_errors(&json)
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
            );
            json["spec"]["bogus"] = serde_json::json!(1);
            assert!(!validator.is_valid(&json));
            checked += 1;
        }
    }
    assert!(checked >= 5);
    assert_eq!(
        kilter::syntax::convert::json_schema(Kind::Policy)["properties"]["kind"]["const"],
        "Policy"
    );
}
