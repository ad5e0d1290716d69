//! Any text as a CEL expression in one of the three places policies hold one (`when`,
//! `nodeFilter`, a ScalingTarget's `demand`; the first byte chooses): lint's checks (syntax,
//! variables, types, cost) must not panic, and an expression that passes them is evaluated
//! with the planner's variables over a small cluster without panicking or breaking the plan's
//! invariants.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

const SNAPSHOT: &str = r#"
time: "2026-11-23T12:00:00Z"
nodes:
  - { name: w1, labels: { pool: a, zone: z1 }, allocatable: { cpu: "8", memory: 32Gi }, governor: schedutil, availableGovernors: [performance, powersave, schedutil], cpuUtilization: 0.2, memoryUtilization: 0.3, powerWatts: 120 }
  - { name: w2, labels: { pool: a, zone: z2, big: "yes" }, allocatable: { cpu: "16", memory: 64Gi }, governor: performance, availableGovernors: [performance, powersave], cpuUtilization: 0.7, powerWatts: 300 }
pods:
  - { namespace: app, name: web-1, node: w1, labels: { app: web, tier: front }, owner: { kind: Deployment, name: web }, containers: [{ name: app, requests: { cpu: 500m, memory: 1Gi }, limits: { cpu: "2" }, usage: { cpu: 300m, memory: 800Mi } }] }
  - { namespace: app, name: web-2, node: w2, labels: { app: web }, owner: { kind: Deployment, name: web }, containers: [{ name: app, requests: { cpu: 500m }, limits: { cpu: "2" }, usage: { cpu: 1500m } }] }
"#;

fn state() -> &'static kilter::state::ClusterState {
    static S: OnceLock<kilter::state::ClusterState> = OnceLock::new();
    S.get_or_init(|| {
        let file = kilter::syntax::source::SourceFile::new("snapshot.yaml", SNAPSHOT);
        kilter::state::load(&file).expect("the fixed snapshot reads")
    })
}

/// A bundle with the expression in one field (`when`, `nodeFilter` or a target's `demand`)
/// and only the policy that holds it: no code runs per input that the expression cannot
/// reach.
fn bundle(field: u8, expr: &str) -> String {
    let budget = "budget all { cpu { reserve: 500m } }\n";
    match field % 3 {
        0 => format!(
            "policy when {{ mode: Enforce\n  when: `{expr}`\n  action {{ governor {{ name: powersave }} }} }}\n{budget}"
        ),
        1 => format!(
            "policy filter {{ mode: Enforce\n  nodeFilter: `{expr}`\n  action {{ cordon {{}} }} }}\n{budget}"
        ),
        _ => format!(
            "policy market {{ mode: Enforce\n  action {{ resize {{ targetSelector {{ matchLabels {{ m: \"yes\" }} }} }} }} }}\n{budget}\
             scalingTarget app/web {{ metadata {{ labels {{ m: \"yes\" }} }}\n  workloadRef {{ kind: Deployment, name: web }}\n  resizePolicy: Both\n  demand: `{expr}`\n  containers: [{{ name: app, cpu: {{ min: 100m, max: 4, maxStep: 500m }} }}] }}\n"
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&field, rest)) = data.split_first() else {
        return;
    };
    let Ok(expr) = std::str::from_utf8(rest) else {
        return;
    };
    if expr.contains('`') || expr.len() > 1024 {
        return;
    }
    // Lint checks it (syntax, variables, types, cost) for its field; whatever lint accepts
    // the planner evaluates.
    let out = kilter::lint::lint_text("cel.kilter", &bundle(field, expr));
    let docs: Vec<_> = out.documents.into_iter().filter(|d| d.valid).collect();
    let bundle = kilter::plan::Bundle::from_documents(&docs);
    let now = kilter::state::parse_time("2026-11-23T12:00:00Z").unwrap();
    let raw = kilter::plan::plan_unverified(&bundle, state(), now);
    let broken = kilter::plan::verify(&bundle, state(), now, &raw);
    assert!(
        broken.is_empty(),
        "the planner broke an invariant: {broken:?}"
    );
});
