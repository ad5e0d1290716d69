//! `kilter recommend`: right-sizing from a usage trace. Per workload, CPU and memory requests
//! from the 95th percentile of its pods' usage and limits from the 99th plus headroom, with
//! what they would save against today's requests; as a table or as ScalingTarget YAML.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::trace::Usage;
use crate::model::{CpuQuantity, MemoryQuantity};
use crate::state::ClusterState;

/// The smallest request kilter recommends: 10m of CPU, 16 MiB of memory.
const MIN_CPU: i64 = 10;
const MIN_MEMORY: i64 = 16 << 20;

#[derive(Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    pub namespace: String,
    pub kind: String,
    pub name: String,
    pub container: String,
    pub pods: usize,
    pub samples: usize,
    /// Today's per-pod request and limit (millicores, bytes), when set.
    pub cpu_request: Option<i64>,
    pub cpu_limit: Option<i64>,
    pub memory_request: Option<i64>,
    pub memory_limit: Option<i64>,
    pub cpu_p95: i64,
    pub cpu_p99: i64,
    pub memory_p95: Option<i64>,
    pub memory_p99: Option<i64>,
    /// Recommended: request at p95, limit at p99 × (1 + headroom).
    pub recommended_cpu_request: i64,
    pub recommended_cpu_limit: i64,
    pub recommended_memory_request: Option<i64>,
    pub recommended_memory_limit: Option<i64>,
    /// Requests freed over all its pods (negative: it needs more), millicores and bytes.
    pub cpu_saving: i64,
    pub memory_saving: i64,
}

/// The value at percentile `q` (nearest rank) of sorted values.
fn percentile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Recommendations for every workload of `state` with samples in `usage` (pods owned by a
/// Deployment, StatefulSet, DaemonSet or ReplicaSet; one container per pod is sized — the
/// first — as the trace has one figure per pod).
pub fn recommend(state: &ClusterState, usage: &Usage, headroom: f64) -> Vec<Recommendation> {
    let trace_pod = usage.pod_indices(state);
    // (namespace, kind, name) -> (pods, cpu samples, memory samples)
    type Acc = (std::collections::BTreeSet<usize>, Vec<i64>, Vec<i64>);
    let mut by: BTreeMap<(String, String, String), Acc> = BTreeMap::new();
    for s in &usage.samples {
        let Some(i) = trace_pod[s.pod as usize] else {
            continue;
        };
        let p = &state.pods[i];
        let Some(o) = p.owner.as_ref().filter(|o| {
            matches!(
                o.kind.as_str(),
                "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
            )
        }) else {
            continue;
        };
        let e = by
            .entry((p.namespace.clone(), o.kind.clone(), o.name.clone()))
            .or_default();
        e.0.insert(i);
        e.1.push(s.cpu);
        if s.memory >= 0 {
            e.2.push(s.memory);
        }
    }
    let mut out = Vec::new();
    for ((namespace, kind, name), (pods, mut cpu, mut mem)) in by {
        cpu.sort_unstable();
        mem.sort_unstable();
        let first = &state.pods[*pods.iter().next().expect("a workload has a pod")];
        let Some(c) = first.containers.first() else {
            continue;
        };
        let (p95, p99) = (percentile(&cpu, 0.95), percentile(&cpu, 0.99));
        let mem95 = (!mem.is_empty()).then(|| percentile(&mem, 0.95));
        let mem99 = (!mem.is_empty()).then(|| percentile(&mem, 0.99));
        let up = |x: i64| ((x as f64) * (1.0 + headroom)).ceil() as i64;
        let rec_cpu = p95.max(MIN_CPU);
        let rec_cpu_limit = up(p99).max(rec_cpu);
        let rec_mem = mem95.map(|m| round_mib(m.max(MIN_MEMORY)));
        let rec_mem_limit = mem99.map(|m| round_mib(up(m).max(rec_mem.unwrap_or(0))));
        let n = pods.len() as i64;
        let cpu_request = c.requests.cpu.map(|q| q.0);
        let memory_request = c.requests.memory.map(|q| q.0);
        out.push(Recommendation {
            pods: pods.len(),
            samples: cpu.len(),
            container: c.name.clone(),
            cpu_request,
            cpu_limit: c.limits.cpu.map(|q| q.0),
            memory_request,
            memory_limit: c.limits.memory.map(|q| q.0),
            cpu_p95: p95,
            cpu_p99: p99,
            memory_p95: mem95,
            memory_p99: mem99,
            recommended_cpu_request: rec_cpu,
            recommended_cpu_limit: rec_cpu_limit,
            recommended_memory_request: rec_mem,
            recommended_memory_limit: rec_mem_limit,
            cpu_saving: cpu_request.map_or(0, |r| (r - rec_cpu) * n),
            memory_saving: match (memory_request, rec_mem) {
                (Some(r), Some(m)) => (r - m) * n,
                _ => 0,
            },
            namespace,
            kind,
            name,
        });
    }
    out
}

/// Up to a whole MiB.
fn round_mib(b: i64) -> i64 {
    let mib = 1 << 20;
    (b + mib - 1) / mib * mib
}

fn cpu(m: i64) -> String {
    CpuQuantity(m).to_string()
}

fn mem(b: i64) -> String {
    MemoryQuantity(b).to_string()
}

fn opt(x: Option<i64>, f: fn(i64) -> String) -> String {
    x.map_or("-".into(), f)
}

pub fn render_table(recs: &[Recommendation], headroom: f64) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Requests at p95 of usage, limits at p99 + {:.0}% headroom (per pod):\n",
        headroom * 100.0
    );
    let _ = writeln!(
        o,
        "{:<32} {:>5}  {:>17}  {:>17}  {:>19}  {:>19}",
        "workload",
        "pods",
        "cpu req now→rec",
        "cpu lim now→rec",
        "mem req now→rec",
        "mem lim now→rec"
    );
    let (mut cpu_total, mut mem_total) = (0i64, 0i64);
    for r in recs {
        cpu_total += r.cpu_saving;
        mem_total += r.memory_saving;
        let _ = writeln!(
            o,
            "{:<32} {:>5}  {:>17}  {:>17}  {:>19}  {:>19}",
            format!("{}/{}/{}", r.namespace, r.kind, r.name),
            r.pods,
            format!(
                "{}→{}",
                opt(r.cpu_request, cpu),
                cpu(r.recommended_cpu_request)
            ),
            format!("{}→{}", opt(r.cpu_limit, cpu), cpu(r.recommended_cpu_limit)),
            format!(
                "{}→{}",
                opt(r.memory_request, mem),
                opt(r.recommended_memory_request, mem)
            ),
            format!(
                "{}→{}",
                opt(r.memory_limit, mem),
                opt(r.recommended_memory_limit, mem)
            ),
        );
    }
    let _ = writeln!(
        o,
        "\nRequests freed over all pods: CPU {} cores, memory {:.2} GiB (negative: more needed)",
        cpu_total as f64 / 1000.0,
        mem_total as f64 / (1u64 << 30) as f64
    );
    o
}

/// ScalingTargets whose container bounds are the recommendation: the market may move the
/// container between the recommended request and limit.
pub fn render_yaml(recs: &[Recommendation], headroom: f64) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Written by `kilter recommend`: CPU and memory between p95 of usage and p99 + {:.0}% headroom.",
        headroom * 100.0
    );
    for r in recs {
        let _ = writeln!(o, "---");
        let _ = writeln!(
            o,
            "# {}/{}: {} pods; CPU request now {}, p95 {}, p99 {}; memory request now {}, p95 {}",
            r.kind,
            r.name,
            r.pods,
            opt(r.cpu_request, cpu),
            cpu(r.cpu_p95),
            cpu(r.cpu_p99),
            opt(r.memory_request, mem),
            opt(r.memory_p95, mem)
        );
        let _ = writeln!(
            o,
            "apiVersion: kilter.dev/v1alpha1\nkind: ScalingTarget\nmetadata:"
        );
        let _ = writeln!(o, "  name: {}-{}", r.name, r.container);
        let _ = writeln!(o, "  namespace: {}", r.namespace);
        let _ = writeln!(
            o,
            "spec:\n  workloadRef: {{ kind: {}, name: {} }}",
            r.kind, r.name
        );
        let _ = writeln!(o, "  containers:\n    - name: {}", r.container);
        let _ = writeln!(
            o,
            "      cpu: {{ min: {}, max: {} }}",
            cpu(r.recommended_cpu_request),
            cpu(r.recommended_cpu_limit)
        );
        if let (Some(lo), Some(hi)) = (r.recommended_memory_request, r.recommended_memory_limit) {
            let _ = writeln!(o, "      memory: {{ min: {}, max: {} }}", mem(lo), mem(hi));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.95), 95);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&[7], 0.95), 7);
        assert_eq!(percentile(&[], 0.95), 0);
    }
}
