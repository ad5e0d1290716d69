//! Structure-aware planner fuzzing: random bundles (every method, random parameters, modes,
//! selectors and budgets) over random clusters (nodes, pods, PDBs, taints, protections,
//! recent actions). Planning never panics, and the plan verifier finds no broken invariant in
//! what the planner proposes.
#![no_main]

use std::fmt::Write;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    nodes: Vec<FNode>,
    pods: Vec<FPod>,
    pdbs: Vec<FPdb>,
    policies: Vec<FPolicy>,
    budgets: Vec<FBudget>,
    targets: Vec<FTarget>,
    recent: Vec<FRecent>,
}

#[derive(Arbitrary, Debug)]
struct FNode {
    pool: u8,
    cpu: u8,
    util: u8,
    unschedulable: bool,
    not_ready: bool,
    tainted: bool,
    protected: bool,
    governor: u8,
    watts: u16,
}

#[derive(Arbitrary, Debug)]
struct FPod {
    node: u8,
    app: u8,
    owner: u8,
    cpu: u8,
    limit: u8,
    usage: u8,
    mirror: bool,
    empty_dir: bool,
    protected: bool,
    terminating: bool,
    tolerates: bool,
    pinned: Option<u8>,
}

#[derive(Arbitrary, Debug)]
struct FPdb {
    app: u8,
    healthy: u8,
    min_available: u8,
}

#[derive(Arbitrary, Debug)]
struct FPolicy {
    method: u8,
    enforce: bool,
    pool: Option<u8>,
    priority: u8,
    value: u8,
    cooldown: bool,
}

#[derive(Arbitrary, Debug)]
struct FBudget {
    pool: Option<u8>,
    max_unavailable: u8,
    percent: bool,
    min_nodes: u8,
    drains_per_hour: u8,
    watts: Option<u16>,
    reserve: u8,
}

#[derive(Arbitrary, Debug)]
struct FTarget {
    app: u8,
    min: u8,
    max: u8,
    step: u8,
    weight: u8,
}

#[derive(Arbitrary, Debug)]
struct FRecent {
    kind: u8,
    node: u8,
    minutes_ago: u8,
}

const GOVERNORS: [&str; 4] = ["performance", "powersave", "schedutil", "ondemand"];
const KINDS: [&str; 4] = ["set_governor", "cordon", "drain", "uncordon"];
const MAX: usize = 12;

/// The cluster as a JSON snapshot, read on the fast path (the `snapshot` target fuzzes the
/// readers themselves). Written with `write!` rather than built as a `serde_json::Value`:
/// that took a sixth of each execution. Every name is plain ASCII, so nothing needs escaping.
fn snapshot(i: &Input) -> Option<String> {
    let nodes = &i.nodes[..i.nodes.len().min(MAX)];
    if nodes.is_empty() {
        return None;
    }
    let mut s = String::from(r#"{"time":"2026-11-23T12:00:00Z","nodes":["#);
    for (k, n) in nodes.iter().enumerate() {
        let _ = write!(
            s,
            r#"{}{{"name":"n{k}","labels":{{"pool":"p{}"}},"allocatable":{{"cpu":"{}","memory":"64Gi"}},"governor":"{}","availableGovernors":["performance","powersave","schedutil"],"cpuUtilization":{},"powerWatts":{},"unschedulable":{},"ready":{}"#,
            if k == 0 { "" } else { "," },
            n.pool % 3,
            1 + n.cpu % 16,
            GOVERNORS[n.governor as usize % 4],
            f64::from(n.util % 101) / 100.0,
            n.watts % 1000,
            n.unschedulable,
            !n.not_ready
        );
        if n.tainted {
            s.push_str(r#","taints":[{"key":"dedicated","value":"x","effect":"NoSchedule"}]"#);
        }
        if n.protected {
            s.push_str(r#","annotations":{"kilter.dev/do-not-disrupt":"true"}"#);
        }
        s.push('}');
    }
    s.push_str(r#"],"pods":["#);
    for (k, p) in i.pods.iter().take(MAX * 4).enumerate() {
        let cpu = 50 * (1 + u32::from(p.cpu % 40));
        let limit = cpu + 50 * u32::from(p.limit % 20);
        let _ = write!(
            s,
            r#"{}{{"namespace":"ns","name":"p{k}","node":"n{}","labels":{{"app":"app{}","market":"yes"}},"mirror":{},"emptyDir":{},"terminating":{},"containers":[{{"name":"app","requests":{{"cpu":"{cpu}m","memory":"1Gi"}},"limits":{{"cpu":"{limit}m"}},"usage":{{"cpu":"{}m"}}}}]"#,
            if k == 0 { "" } else { "," },
            p.node as usize % nodes.len(),
            p.app % 4,
            p.mirror,
            p.empty_dir,
            p.terminating,
            u32::from(p.usage) * 20
        );
        match p.owner % 5 {
            0 => {}
            1 => {
                _ = write!(
                    s,
                    r#","owner":{{"kind":"DaemonSet","name":"d{}"}}"#,
                    p.app % 3
                )
            }
            2 => {
                _ = write!(
                    s,
                    r#","owner":{{"kind":"StatefulSet","name":"s{}"}}"#,
                    p.app % 3
                )
            }
            _ => {
                _ = write!(
                    s,
                    r#","owner":{{"kind":"Deployment","name":"app{}"}}"#,
                    p.app % 4
                )
            }
        }
        if p.protected {
            s.push_str(r#","annotations":{"kilter.dev/do-not-disrupt":"true"}"#);
        }
        if p.tolerates {
            s.push_str(r#","tolerations":[{"key":"dedicated","operator":"Exists"}]"#);
        }
        if let Some(pool) = p.pinned {
            let _ = write!(s, r#","nodeSelector":{{"pool":"p{}"}}"#, pool % 3);
        }
        s.push('}');
    }
    s.push_str(r#"],"pdbs":["#);
    for (k, b) in i.pdbs.iter().take(4).enumerate() {
        let _ = write!(
            s,
            r#"{}{{"namespace":"ns","name":"b{k}","selector":{{"matchLabels":{{"app":"app{}"}}}},"minAvailable":{},"currentHealthy":{},"expectedPods":{}}}"#,
            if k == 0 { "" } else { "," },
            b.app % 4,
            b.min_available % 5,
            b.healthy % 6,
            b.healthy % 6
        );
    }
    s.push_str(r#"],"recentActions":["#);
    for (k, r) in i.recent.iter().take(6).enumerate() {
        let _ = write!(
            s,
            r#"{}{{"kind":"{}","policy":"x{}","node":"n{}","time":"2026-11-23T{:02}:{:02}:00Z"}}"#,
            if k == 0 { "" } else { "," },
            KINDS[r.kind as usize % 4],
            r.kind % 3,
            r.node as usize % nodes.len(),
            11 - (r.minutes_ago % 120) / 60,
            59 - (r.minutes_ago % 60)
        );
    }
    s.push_str("]}");
    Some(s)
}

fn bundle(i: &Input) -> String {
    let mut s = String::new();
    for (k, p) in i.policies.iter().take(6).enumerate() {
        let v = p.value;
        let action = match p.method % 6 {
            0 => format!(
                "governor {{ name: {}, fallback: [schedutil] }}",
                GOVERNORS[v as usize % 4]
            ),
            1 => "cordon {}".to_string(),
            2 => format!("drain {{ timeout: {}m }}", 1 + v % 30),
            3 => format!(
                "consolidate {{ utilizationBelow: {}, maxNodesPerCycle: {}, allowEmptyDir: {} }}",
                f64::from(v % 101) / 100.0,
                1 + v % 4,
                v % 2 == 0
            ),
            4 => "resize { targetSelector { matchLabels { market: \"yes\" } } }".to_string(),
            _ => "cordon {}".to_string(),
        };
        let _ = write!(
            s,
            "policy x{k} {{ priority: {}\n",
            k * 50 + usize::from(p.priority % 50)
        );
        if p.enforce {
            s.push_str("  mode: Enforce\n");
        }
        if let Some(pool) = p.pool {
            let _ = writeln!(
                s,
                "  nodeSelector {{ matchLabels {{ pool: p{} }} }}",
                pool % 3
            );
        }
        if p.method % 6 == 5 {
            let _ = writeln!(
                s,
                "  nodeFilter: `node.cpu.utilization < {}`",
                f64::from(v % 101) / 100.0
            );
        }
        if p.cooldown {
            s.push_str("  cooldown: 30m\n");
        }
        let _ = writeln!(s, "  action {{ {action} }} }}");
    }
    for (k, b) in i.budgets.iter().take(3).enumerate() {
        let _ = write!(s, "budget b{k} {{\n");
        if let Some(pool) = b.pool {
            let _ = writeln!(
                s,
                "  nodeSelector {{ matchLabels {{ pool: p{} }} }}",
                pool % 3
            );
        }
        let unavailable = if b.percent {
            format!("{}%", b.max_unavailable % 101)
        } else {
            (b.max_unavailable % 5).to_string()
        };
        let _ = writeln!(
            s,
            "  disruption {{ maxUnavailable: {unavailable}, minNodes: {}, maxDrainsPerHour: {} }}",
            b.min_nodes % 4,
            b.drains_per_hour % 4
        );
        if let Some(w) = b.watts {
            let _ = writeln!(s, "  power {{ maxWatts: {} }}", 1 + w % 3000);
        }
        let _ = writeln!(s, "  cpu {{ reserve: {}m }} }}", u32::from(b.reserve) * 10);
    }
    // One target per workload: each names a different one.
    for (k, t) in i.targets.iter().take(1).enumerate() {
        let min = 50 * u32::from(t.min % 10);
        let max = min + 100 * u32::from(1 + t.max % 20);
        let _ = writeln!(
            s,
            "scalingTarget ns/t{k} {{ metadata {{ labels {{ market: \"yes\" }} }}\n  workloadRef {{ kind: Deployment, name: app{} }}\n  resizePolicy: Both\n  weight: {}\n  containers: [{{ name: app, cpu: {{ min: {min}m, max: {max}m, maxStep: {}m }} }}] }}",
            (k + t.app as usize) % 4,
            1 + t.weight % 10,
            50 + 50 * u32::from(t.step % 10)
        );
    }
    s
}

fuzz_target!(|input: Input| {
    let Some(snapshot) = snapshot(&input) else {
        return;
    };
    // The fast path reads it; what it refuses the spanned reader reads (or refuses) too.
    let state = match kilter::state::load_json_fast(&snapshot) {
        Some(state) => state,
        None => {
            let file = kilter::syntax::source::SourceFile::new("snapshot.json", snapshot);
            let Ok(state) = kilter::state::load(&file) else {
                return;
            };
            state
        }
    };
    let out = kilter::lint::lint_text("bundle.kilter", &bundle(&input));
    if out.has_errors() {
        return;
    }
    let bundle = kilter::plan::Bundle::from_documents(&out.documents);
    let now = kilter::state::parse_time("2026-11-23T12:00:00Z").unwrap();
    let raw = kilter::plan::plan_unverified(&bundle, &state, now);
    let broken = kilter::plan::verify(&bundle, &state, now, &raw);
    assert!(
        broken.is_empty(),
        "the planner broke an invariant: {broken:?}"
    );
});
