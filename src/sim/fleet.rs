//! A generated fleet for benchmarks and scale runs (`kilter simulate gen-fleet`): 64-core
//! nodes in two pools, 30 pods a node in the usual case (one a DaemonSet pod), 50
//! ScalingTargets over a quarter of the pods, and a bundle with a governor, a consolidation
//! and a resize policy. Deterministic: the same arguments give the same fleet.

use std::fmt::Write as _;

use crate::model::{CpuQuantity, MemoryQuantity};
use crate::state::{ClusterState, Container, Node, Owner, Pod, Resources};

/// How many ScalingTargets the fleet's bundle has.
pub const TARGETS: usize = 50;

/// The fleet's bundle in the DSL: one budget, a governor policy with a CEL `nodeFilter` on
/// pool `a`, a consolidation policy on pool `b`, and a resize policy over [`TARGETS`]
/// ScalingTargets with a CEL `demand`.
pub fn policies() -> String {
    let mut dsl = String::from(
        "budget all { disruption { maxUnavailable: 10%, minNodes: 100, maxDrainsPerHour: 10 }\n cpu { reserve: 500m, namespaceWeights { ns0: 3, ns1: 2 } } }\n\
         policy night { priority: 10\n mode: Enforce\n nodeSelector { matchLabels { pool: a } }\n nodeFilter: `node.cpu.utilization < 0.5 && node.labels['zone'] != 'z3'`\n action { governor { name: powersave, fallback: [schedutil] } } }\n\
         policy squeeze { priority: 5\n mode: Enforce\n nodeSelector { matchLabels { pool: b } }\n action { consolidate { utilizationBelow: 0.2, maxNodesPerCycle: 3 } } }\n\
         policy market { priority: 10\n mode: Enforce\n action { resize { targetSelector { matchLabels { market: yes } } } } }\n",
    );
    for t in 0..TARGETS {
        let _ = writeln!(
            dsl,
            "scalingTarget ns{}/d{t} {{ metadata {{ labels {{ market: yes }} }}\n workloadRef {{ kind: Deployment, name: d{t} }}\n weight: {}\n demand: `min(1.0, pod.cpu.usage / (pod.cpu.limit + 0.001))`\n resizePolicy: Both\n containers: [{{ name: app, cpu: {{ min: 100m, max: 4, maxStep: 250m }} }}] }}",
            t % 10,
            1 + t % 3
        );
    }
    dsl
}

/// A deterministic pseudo-random sequence (no dependency, reproducible figures).
struct Lcg(u64);
impl Lcg {
    fn draw(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// `nodes` 64-core nodes in pools `a` and `b`, `pods_per_node` pods on each (one a DaemonSet
/// pod unless `participants_only`), with pseudo-random requests and usage.
pub fn cluster(nodes: usize, pods_per_node: usize, participants_only: bool) -> ClusterState {
    let mut r = Lcg(42);
    let mut s = ClusterState {
        time: Some("2026-11-23T22:30:00Z".into()),
        ..Default::default()
    };
    for i in 0..nodes {
        s.nodes.push(Node {
            name: format!("node-{i}"),
            labels: [
                (
                    "pool".to_string(),
                    if i % 2 == 0 { "a" } else { "b" }.to_string(),
                ),
                ("zone".into(), format!("z{}", i % 5)),
            ]
            .into(),
            allocatable: Resources {
                cpu: Some(CpuQuantity(64_000)),
                memory: Some(MemoryQuantity(256 << 30)),
            },
            governor: Some("schedutil".into()),
            available_governors: vec!["performance".into(), "powersave".into(), "schedutil".into()],
            cpu_utilization: (r.draw() % 100) as f64 / 100.0,
            memory_utilization: 0.5,
            power_watts: 200.0,
            ready: true,
            ..Default::default()
        });
        for j in 0..pods_per_node {
            let d = if participants_only {
                j % TARGETS
            } else {
                (r.draw() % 200) as usize
            };
            let daemon = !participants_only && j == 0;
            let req = 100 + (r.draw() % 900) as i64;
            s.pods.push(Pod {
                namespace: if daemon {
                    "kube-system".into()
                } else {
                    format!("ns{}", d % 10)
                },
                name: format!("p-{i}-{j}"),
                node: format!("node-{i}"),
                labels: [("app".to_string(), format!("d{d}"))].into(),
                owner: Some(if daemon {
                    Owner {
                        kind: "DaemonSet".into(),
                        name: "proxy".into(),
                    }
                } else {
                    Owner {
                        kind: "Deployment".into(),
                        name: format!("d{d}"),
                    }
                }),
                phase: "Running".into(),
                containers: vec![Container {
                    name: "app".into(),
                    requests: Resources {
                        cpu: Some(CpuQuantity(req)),
                        memory: Some(MemoryQuantity(256 << 20)),
                    },
                    limits: Resources {
                        cpu: Some(CpuQuantity(req * 2)),
                        memory: Some(MemoryQuantity(512 << 20)),
                    },
                    usage: Resources {
                        cpu: Some(CpuQuantity((r.draw() % 1500) as i64)),
                        memory: None,
                    },
                }],
                demand: Some(0.5),
                ..Default::default()
            });
        }
    }
    s
}

/// Kubernetes manifests for `state`: its namespaces, its nodes as kwok fake nodes (capacity,
/// labels), and its pods bound to them by `nodeName`, with their requests and limits (one
/// JSON document per line, which `kubectl create -f` reads as YAML). Owners are left out: a
/// pod owned by a workload that does not exist would be garbage-collected.
pub fn manifests(state: &ClusterState) -> String {
    use serde_json::json;
    let mut out = String::new();
    let namespaces: std::collections::BTreeSet<&str> =
        state.pods.iter().map(|p| p.namespace.as_str()).collect();
    for ns in namespaces.iter().filter(|n| !n.starts_with("kube-")) {
        let doc = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        let _ = writeln!(out, "---\n{doc}");
    }
    for n in &state.nodes {
        let mut labels = serde_json::Map::new();
        for (k, v) in &n.labels {
            labels.insert(k.clone(), json!(v));
        }
        labels.insert("type".into(), json!("kwok"));
        let cpu = n.allocatable.cpu.map_or(0, |q| q.0);
        let memory = n.allocatable.memory.map_or(0, |q| q.0);
        let capacity =
            json!({"cpu": format!("{cpu}m"), "memory": memory.to_string(), "pods": "110"});
        let doc = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": n.name, "labels": labels,
                         "annotations": {"kwok.x-k8s.io/node": "fake"}},
            "spec": {"taints": [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}]},
            "status": {"allocatable": capacity, "capacity": capacity},
        });
        let _ = writeln!(out, "---\n{doc}");
    }
    for p in &state.pods {
        let containers: Vec<_> = p
            .containers
            .iter()
            .map(|c| {
                let mut requests = serde_json::Map::new();
                let mut limits = serde_json::Map::new();
                if let Some(q) = c.requests.cpu {
                    requests.insert("cpu".into(), json!(format!("{}m", q.0)));
                }
                if let Some(q) = c.requests.memory {
                    requests.insert("memory".into(), json!(q.0.to_string()));
                }
                if let Some(q) = c.limits.cpu {
                    limits.insert("cpu".into(), json!(format!("{}m", q.0)));
                }
                if let Some(q) = c.limits.memory {
                    limits.insert("memory".into(), json!(q.0.to_string()));
                }
                json!({"name": c.name, "image": "fake", "resources": {"requests": requests, "limits": limits}})
            })
            .collect();
        let doc = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": p.name, "namespace": p.namespace, "labels": p.labels},
            "spec": {"nodeName": p.node, "containers": containers,
                     "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]},
        });
        let _ = writeln!(out, "---\n{doc}");
    }
    out
}
