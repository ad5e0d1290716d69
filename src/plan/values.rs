//! The planner's CEL variables: `cluster`, `node` and `pod` as maps of numbers and strings.

use std::sync::Arc;

use cel::Value as CelValue;

use crate::expr::map_value;
use crate::state::{ClusterState, Node, Pod};

fn f(v: f64) -> CelValue {
    CelValue::Float(v)
}

pub fn cluster_value(state: &ClusterState) -> CelValue {
    let ready: Vec<&Node> = state.nodes.iter().filter(|n| n.ready).collect();
    let avg = |g: fn(&Node) -> f64| {
        if ready.is_empty() {
            0.0
        } else {
            ready.iter().map(|n| g(n)).sum::<f64>() / ready.len() as f64
        }
    };
    map_value(vec![
        (
            "cpu",
            map_value(vec![("utilization", f(avg(|n| n.cpu_utilization)))]),
        ),
        (
            "memory",
            map_value(vec![("utilization", f(avg(|n| n.memory_utilization)))]),
        ),
        (
            "power",
            map_value(vec![(
                "watts",
                f(state.nodes.iter().map(|n| n.power_watts).sum()),
            )]),
        ),
        (
            "nodes",
            map_value(vec![
                ("total", CelValue::Int(state.nodes.len() as i64)),
                ("ready", CelValue::Int(ready.len() as i64)),
                (
                    "schedulable",
                    CelValue::Int(
                        state
                            .nodes
                            .iter()
                            .filter(|n| n.ready && !n.unschedulable)
                            .count() as i64,
                    ),
                ),
                (
                    "cordoned",
                    CelValue::Int(state.nodes.iter().filter(|n| n.unschedulable).count() as i64),
                ),
            ]),
        ),
    ])
}

fn labels_value(l: &crate::state::Labels) -> CelValue {
    let m: std::collections::HashMap<cel::objects::Key, CelValue> = l
        .iter()
        .map(|(k, v)| {
            (
                cel::objects::Key::from(k.clone()),
                CelValue::String(Arc::new(v.clone())),
            )
        })
        .collect();
    CelValue::Map(cel::objects::Map { map: Arc::new(m) })
}

pub fn node_value(n: &Node, pods: usize) -> CelValue {
    map_value(vec![
        ("name", CelValue::String(Arc::new(n.name.clone()))),
        ("labels", labels_value(&n.labels)),
        (
            "cpu",
            map_value(vec![
                ("utilization", f(n.cpu_utilization)),
                ("forecast", f(n.cpu_forecast.unwrap_or(n.cpu_utilization))),
            ]),
        ),
        (
            "memory",
            map_value(vec![("utilization", f(n.memory_utilization))]),
        ),
        (
            "governor",
            CelValue::String(Arc::new(n.governor.clone().unwrap_or_default())),
        ),
        ("powerWatts", f(n.power_watts)),
        ("pods", CelValue::Int(pods as i64)),
    ])
}

/// `pod` for demand expressions: CPU in cores, memory in bytes, as numbers.
pub fn pod_value(p: &Pod) -> CelValue {
    let sum = |g: &dyn Fn(&crate::state::Container) -> Option<i64>| {
        p.containers.iter().filter_map(g).sum::<i64>() as f64
    };
    let usage = sum(&|c| c.usage.cpu.map(|q| q.0)) / 1000.0;
    map_value(vec![
        ("namespace", CelValue::String(Arc::new(p.namespace.clone()))),
        ("name", CelValue::String(Arc::new(p.name.clone()))),
        ("labels", labels_value(&p.labels)),
        (
            "cpu",
            map_value(vec![
                ("usage", f(usage)),
                ("forecast", f(p.cpu_forecast.unwrap_or(usage))),
                ("request", f(sum(&|c| c.requests.cpu.map(|q| q.0)) / 1000.0)),
                ("limit", f(sum(&|c| c.limits.cpu.map(|q| q.0)) / 1000.0)),
            ]),
        ),
        (
            "memory",
            map_value(vec![
                ("usage", f(sum(&|c| c.usage.memory.map(|q| q.0)))),
                ("request", f(sum(&|c| c.requests.memory.map(|q| q.0)))),
                ("limit", f(sum(&|c| c.limits.memory.map(|q| q.0)))),
            ]),
        ),
    ])
}
