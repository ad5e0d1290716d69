//! Any bytes as a simulation trace: the first byte picks the reader (usage CSV or trace
//! manifest). Reading must not panic, and a trace that reads runs a short closed-loop
//! simulation (a fixed cluster and bundle) without panicking, with finite figures.
#![no_main]

use std::sync::OnceLock;

use kilter::syntax::source::SourceFile;
use libfuzzer_sys::fuzz_target;

const BUNDLE: &str = r#"
policy night { priority: 10
  mode: Enforce
  nodeSelector { matchLabels { pool: a } }
  nodeFilter: `node.cpu.utilization < 0.5`
  action { governor { name: powersave, fallback: [schedutil] } } }
policy squeeze { priority: 5
  mode: Enforce
  action { consolidate { utilizationBelow: 0.3, maxNodesPerCycle: 1 } } }
policy market { mode: Enforce
  action { resize { targetSelector { matchLabels { market: "yes" } } } } }
budget all { power { maxWatts: 500, criticalPercent: 90 }
  cpu { reserve: 100m, namespaceWeights: { app: 3, batch: 1 } } }
scalingTarget app/web { metadata { labels { market: "yes" } }
  workloadRef { kind: Deployment, name: web }
  demand: `pod.cpu.usage / pod.cpu.limit`
  resizePolicy: Both
  containers: [{ name: c, cpu: { min: 100m, max: 4, maxStep: 500m } }] }
"#;

const SNAPSHOT: &str = r#"
nodes:
  - { name: n1, labels: { pool: a }, allocatable: { cpu: "4", memory: 8Gi }, governor: schedutil,
      availableGovernors: [performance, powersave, schedutil] }
  - { name: n2, labels: { pool: a }, allocatable: { cpu: "4", memory: 8Gi }, governor: schedutil,
      availableGovernors: [performance, powersave, schedutil] }
  - { name: n3, labels: { pool: b }, allocatable: { cpu: "2", memory: 4Gi } }
pods:
  - { namespace: app, name: web-0, node: n1, owner: { kind: Deployment, name: web },
      containers: [{ name: c, requests: { cpu: 500m, memory: 1Gi }, limits: { cpu: "1", memory: 1Gi } }] }
  - { namespace: app, name: web-1, node: n2, owner: { kind: Deployment, name: web },
      containers: [{ name: c, requests: { cpu: 500m, memory: 1Gi }, limits: { cpu: "1", memory: 1Gi } }] }
  - { namespace: batch, name: job-0, node: n1, owner: { kind: Job, name: job },
      containers: [{ name: c, requests: { cpu: 1, memory: 1Gi } }] }
"#;

const USAGE: &str = "time,namespace,pod,cpu,memory\n\
2026-11-23T00:00:00Z,app,web-0,900m,512Mi\n\
2026-11-23T00:05:00Z,app,web-1,1500m,\n";

struct Fixed {
    bundle: kilter::plan::Bundle,
    state: kilter::state::ClusterState,
    usage: kilter::sim::trace::Usage,
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        let out = kilter::lint::lint_text("bundle.kilter", BUNDLE);
        assert!(!out.has_errors(), "{:?}", out.diagnostics);
        Fixed {
            bundle: kilter::plan::Bundle::from_documents(&out.documents),
            state: kilter::state::load(&SourceFile::new("s.yaml", SNAPSHOT)).unwrap(),
            usage: kilter::sim::trace::load_usage(&SourceFile::new("u.csv", USAGE)).unwrap(),
        }
    })
}

fn simulate(usage: &kilter::sim::trace::Usage, trace: &kilter::sim::trace::Checked) {
    let f = fixed();
    let from = usage.times[0];
    let o = kilter::sim::run::Options {
        step: chrono::Duration::minutes(1),
        from: Some(from),
        to: Some(from + chrono::Duration::minutes(12)),
        noise: Some((1, 0.1)),
        ..Default::default()
    };
    let r = kilter::sim::run::simulate(&f.bundle, &f.state, usage, trace, &o, &mut |_, _| {});
    assert!(r.energy_kwh.is_finite() && r.energy_kwh >= 0.0, "{r:?}");
    assert!(r.throttling.core_seconds.is_finite(), "{r:?}");
    let _ = kilter::sim::report::render_json(&r);
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if pick % 2 == 0 {
        if let Ok(usage) = kilter::sim::trace::load_usage(&SourceFile::new("usage.csv", text)) {
            assert!(
                usage
                    .samples
                    .iter()
                    .all(|s| (s.time as usize) < usage.times.len())
            );
            assert!(usage.times.windows(2).all(|w| w[0] < w[1]));
            simulate(&usage, &Default::default());
        }
    } else if let Ok(trace) =
        kilter::sim::trace::load_manifest(&SourceFile::new("trace.yaml", text))
    {
        simulate(&fixed().usage, &trace);
    }
});
