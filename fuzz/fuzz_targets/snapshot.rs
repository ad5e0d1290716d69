//! Any bytes as a cluster snapshot: reading it must not panic, the JSON and YAML fast paths
//! must accept only what the spanned reader reads to the same model, and a snapshot that reads must
//! plan under a bundle using every method without panicking and without the methods breaking
//! an invariant the plan verifier checks.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

const BUNDLE: &str = r#"
policy night { priority: 10
  mode: Enforce
  nodeSelector { matchLabels { pool: a } }
  cooldown: 10m
  action { governor { name: powersave, fallback: [schedutil] } } }
policy spare { priority: 20
  mode: Enforce
  nodeSelector { matchLabels { role: spare } }
  action { cordon {} } }
policy squeeze { priority: 5
  mode: Enforce
  action { consolidate { utilizationBelow: 0.5, maxNodesPerCycle: 3 } } }
policy drain-b { priority: 3
  nodeSelector { matchLabels { pool: b } }
  action { drain {} } }
policy market { mode: Enforce
  action { resize { targetSelector { matchLabels { market: "yes" } } } } }
budget all { disruption { maxUnavailable: 50%, minNodes: 1, maxDrainsPerHour: 3 }
  power { maxWatts: 1000, criticalPercent: 90 }
  cpu { reserve: 500m } }
scalingTarget app/web { metadata { labels { market: "yes" } }
  workloadRef { kind: Deployment, name: web }
  resizePolicy: Both
  containers: [{ name: app, cpu: { min: 100m, max: 4, maxStep: 500m } }] }
"#;

fn bundle() -> &'static kilter::plan::Bundle {
    static B: OnceLock<kilter::plan::Bundle> = OnceLock::new();
    B.get_or_init(|| {
        let out = kilter::lint::lint_text("bundle.kilter", BUNDLE);
        assert!(!out.has_errors());
        kilter::plan::Bundle::from_documents(&out.documents)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = kilter::syntax::source::SourceFile::new("snapshot.yaml", text);
    // What a fast path accepts, the spanned reader accepts with the same model.
    let spanned = kilter::state::load_spanned(&file);
    let fast = [
        kilter::state::load_json_fast(text),
        kilter::state::load_yaml_fast(text),
    ];
    for fast in fast.iter().flatten() {
        assert_eq!(
            Some(fast),
            spanned.as_ref().ok(),
            "a fast reader accepted what the spanned reader reads differently"
        );
    }
    let Ok(state) = spanned else {
        return;
    };
    let now = kilter::state::parse_time("2026-11-23T12:00:00Z").unwrap();
    let raw = kilter::plan::plan_unverified(bundle(), &state, now);
    let broken = kilter::plan::verify(bundle(), &state, now, &raw);
    assert!(
        broken.is_empty(),
        "the planner broke an invariant: {broken:?}"
    );
    let _ = kilter::plan::render_json(&kilter::plan::plan(bundle(), &state, now));
});
