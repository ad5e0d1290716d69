//! The planner's CEL variables: `cluster`, `node` and `pod` as maps of numbers and strings.

use std::sync::Arc;

use cel::Value as CelValue;

use crate::expr::fast::{Leaf, Resolve, V};
use crate::expr::map_value;
use crate::state::{ClusterState, Node, Pod};

fn f(v: f64) -> CelValue {
    CelValue::Float(v)
}

/// `cluster`'s fields, computed once per plan.
#[derive(Clone, Copy, Debug)]
pub struct ClusterFacts {
    cpu_utilization: f64,
    memory_utilization: f64,
    power_watts: f64,
    total: i64,
    ready: i64,
    schedulable: i64,
    cordoned: i64,
}

impl ClusterFacts {
    pub fn of(state: &ClusterState) -> ClusterFacts {
        let ready: Vec<&Node> = state.nodes.iter().filter(|n| n.ready).collect();
        let avg = |g: fn(&Node) -> f64| {
            if ready.is_empty() {
                0.0
            } else {
                ready.iter().map(|n| g(n)).sum::<f64>() / ready.len() as f64
            }
        };
        let count = |p: fn(&&Node) -> bool| state.nodes.iter().filter(p).count() as i64;
        ClusterFacts {
            cpu_utilization: avg(|n| n.cpu_utilization),
            memory_utilization: avg(|n| n.memory_utilization),
            power_watts: state.nodes.iter().map(|n| n.power_watts).sum(),
            total: state.nodes.len() as i64,
            ready: ready.len() as i64,
            schedulable: count(|n| n.ready && !n.unschedulable),
            cordoned: count(|n| n.unschedulable),
        }
    }
}

pub fn cluster_value(c: &ClusterFacts) -> CelValue {
    map_value(vec![
        (
            "cpu",
            map_value(vec![("utilization", f(c.cpu_utilization))]),
        ),
        (
            "memory",
            map_value(vec![("utilization", f(c.memory_utilization))]),
        ),
        ("power", map_value(vec![("watts", f(c.power_watts))])),
        (
            "nodes",
            map_value(vec![
                ("total", CelValue::Int(c.total)),
                ("ready", CelValue::Int(c.ready)),
                ("schedulable", CelValue::Int(c.schedulable)),
                ("cordoned", CelValue::Int(c.cordoned)),
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

fn node_forecast(n: &Node) -> f64 {
    n.cpu_forecast.unwrap_or(n.cpu_utilization)
}

pub fn node_value(n: &Node, pods: usize) -> CelValue {
    map_value(vec![
        ("name", CelValue::String(Arc::new(n.name.clone()))),
        ("labels", labels_value(&n.labels)),
        (
            "cpu",
            map_value(vec![
                ("utilization", f(n.cpu_utilization)),
                ("forecast", f(node_forecast(n))),
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

/// A pod's containers summed: CPU in cores, memory in bytes.
struct PodSums {
    cpu_usage: f64,
    cpu_request: f64,
    cpu_limit: f64,
    memory_usage: f64,
    memory_request: f64,
    memory_limit: f64,
}

type Field = fn(&crate::state::Container) -> Option<i64>;
const CPU_USAGE: Field = |c| c.usage.cpu.map(|q| q.0);
const CPU_REQUEST: Field = |c| c.requests.cpu.map(|q| q.0);
const CPU_LIMIT: Field = |c| c.limits.cpu.map(|q| q.0);
const MEMORY_USAGE: Field = |c| c.usage.memory.map(|q| q.0);
const MEMORY_REQUEST: Field = |c| c.requests.memory.map(|q| q.0);
const MEMORY_LIMIT: Field = |c| c.limits.memory.map(|q| q.0);

/// One field summed over a pod's containers (millicores for CPU, bytes for memory).
fn sum(p: &Pod, field: Field) -> f64 {
    p.containers.iter().filter_map(field).sum::<i64>() as f64
}

impl PodSums {
    fn of(p: &Pod) -> PodSums {
        PodSums {
            cpu_usage: sum(p, CPU_USAGE) / 1000.0,
            cpu_request: sum(p, CPU_REQUEST) / 1000.0,
            cpu_limit: sum(p, CPU_LIMIT) / 1000.0,
            memory_usage: sum(p, MEMORY_USAGE),
            memory_request: sum(p, MEMORY_REQUEST),
            memory_limit: sum(p, MEMORY_LIMIT),
        }
    }
}

/// `pod` for demand expressions: CPU in cores, memory in bytes, as numbers.
pub fn pod_value(p: &Pod) -> CelValue {
    let s = PodSums::of(p);
    map_value(vec![
        ("namespace", CelValue::String(Arc::new(p.namespace.clone()))),
        ("name", CelValue::String(Arc::new(p.name.clone()))),
        ("labels", labels_value(&p.labels)),
        (
            "cpu",
            map_value(vec![
                ("usage", f(s.cpu_usage)),
                ("forecast", f(p.cpu_forecast.unwrap_or(s.cpu_usage))),
                ("request", f(s.cpu_request)),
                ("limit", f(s.cpu_limit)),
            ]),
        ),
        (
            "memory",
            map_value(vec![
                ("usage", f(s.memory_usage)),
                ("request", f(s.memory_request)),
                ("limit", f(s.memory_limit)),
            ]),
        ),
    ])
}

/// The variables the fast path reads, in place: what [`cluster_value`], [`node_value`] and
/// [`pod_value`] hold, without building them.
pub struct Vars<'a> {
    pub cluster: &'a ClusterFacts,
    /// The node, and how many pods run on it.
    pub node: Option<(&'a Node, usize)>,
    pub pod: Option<&'a Pod>,
}

impl<'a> Resolve<'a> for Vars<'a> {
    fn leaf(&self, leaf: Leaf) -> Option<V<'a>> {
        let c = self.cluster;
        let node = || self.node.map(|(n, _)| n);
        let pod = self.pod;
        let cores = |field| Some(sum(pod?, field) / 1000.0);
        let bytes = |field| Some(sum(pod?, field));
        Some(match leaf {
            Leaf::ClusterCpuUtilization => V::Float(c.cpu_utilization),
            Leaf::ClusterMemoryUtilization => V::Float(c.memory_utilization),
            Leaf::ClusterPowerWatts => V::Float(c.power_watts),
            Leaf::ClusterNodesTotal => V::Int(c.total),
            Leaf::ClusterNodesReady => V::Int(c.ready),
            Leaf::ClusterNodesSchedulable => V::Int(c.schedulable),
            Leaf::ClusterNodesCordoned => V::Int(c.cordoned),
            Leaf::NodeName => V::Str(&node()?.name),
            Leaf::NodeLabels => V::Labels(&node()?.labels),
            Leaf::NodeCpuUtilization => V::Float(node()?.cpu_utilization),
            Leaf::NodeCpuForecast => V::Float(node_forecast(node()?)),
            Leaf::NodeMemoryUtilization => V::Float(node()?.memory_utilization),
            Leaf::NodeGovernor => V::Str(node()?.governor.as_deref().unwrap_or_default()),
            Leaf::NodePowerWatts => V::Float(node()?.power_watts),
            Leaf::NodePods => V::Int(self.node?.1 as i64),
            Leaf::PodNamespace => V::Str(&pod?.namespace),
            Leaf::PodName => V::Str(&pod?.name),
            Leaf::PodLabels => V::Labels(&pod?.labels),
            Leaf::PodCpuUsage => V::Float(cores(CPU_USAGE)?),
            Leaf::PodCpuForecast => match pod?.cpu_forecast {
                Some(f) => V::Float(f),
                None => V::Float(cores(CPU_USAGE)?),
            },
            Leaf::PodCpuRequest => V::Float(cores(CPU_REQUEST)?),
            Leaf::PodCpuLimit => V::Float(cores(CPU_LIMIT)?),
            Leaf::PodMemoryUsage => V::Float(bytes(MEMORY_USAGE)?),
            Leaf::PodMemoryRequest => V::Float(bytes(MEMORY_REQUEST)?),
            Leaf::PodMemoryLimit => V::Float(bytes(MEMORY_LIMIT)?),
        })
    }
}

#[cfg(test)]
mod tests {
    //! The fast path against the interpreter: wherever the fast path answers, the `cel`
    //! interpreter, given the same variables as CEL maps, gives the same value.

    use super::*;
    use crate::expr::fast::V;
    use crate::model::{CpuQuantity, MemoryQuantity};
    use crate::state::{Container, Labels, Resources};
    use proptest::prelude::*;

    /// Random expressions over the planner's variables: the forms the fast path models, and
    /// some it leaves to the interpreter (macros, `now`, mixed-type arithmetic).
    fn expr() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("node.cpu.utilization".to_string()),
            Just("node.cpu.forecast".to_string()),
            Just("node.memory.utilization".to_string()),
            Just("node.powerWatts".to_string()),
            Just("node.pods".to_string()),
            Just("node.name".to_string()),
            Just("node.governor".to_string()),
            Just("node.labels".to_string()),
            Just("node.labels['zone']".to_string()),
            Just("node.labels.pool".to_string()),
            Just("pod.cpu.usage".to_string()),
            Just("pod.cpu.forecast".to_string()),
            Just("pod.cpu.request".to_string()),
            Just("pod.cpu.limit".to_string()),
            Just("pod.memory.usage".to_string()),
            Just("pod.memory.request".to_string()),
            Just("pod.memory.limit".to_string()),
            Just("pod.name".to_string()),
            Just("pod.namespace".to_string()),
            Just("pod.labels['app']".to_string()),
            Just("cluster.cpu.utilization".to_string()),
            Just("cluster.memory.utilization".to_string()),
            Just("cluster.power.watts".to_string()),
            Just("cluster.nodes.total".to_string()),
            Just("cluster.nodes.ready".to_string()),
            Just("cluster.nodes.schedulable".to_string()),
            Just("cluster.nodes.cordoned".to_string()),
            Just("now.hour".to_string()),
            Just("has(node.labels.zone)".to_string()),
            Just("'zone' in node.labels".to_string()),
            Just("node.labels.exists(k, k == 'pool')".to_string()),
            Just("null".to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            Just("''".to_string()),
            Just("'z3'".to_string()),
            Just("'web'".to_string()),
            (-3i64..4).prop_map(|i| i.to_string()),
            Just("9223372036854775807".to_string()),
            Just("-9223372036854775808".to_string()),
            (0u64..4).prop_map(|u| format!("{u}u")),
            Just("18446744073709551615u".to_string()),
            Just("0.5".to_string()),
            Just("0.0".to_string()),
            Just("-0.0".to_string()),
            Just("1e308".to_string()),
            Just("0.001".to_string()),
        ];
        leaf.prop_recursive(4, 24, 3, |inner| {
            let two = (inner.clone(), inner.clone());
            prop_oneof![
                (
                    prop::sample::select(vec![
                        "&&", "||", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%"
                    ]),
                    two.clone()
                )
                    .prop_map(|(op, (a, b))| format!("({a} {op} {b})")),
                inner.clone().prop_map(|a| format!("!({a})")),
                inner.clone().prop_map(|a| format!("-({a})")),
                (inner.clone(), two.clone()).prop_map(|(c, (a, b))| format!("({c} ? {a} : {b})")),
                (prop::sample::select(vec!["min", "max"]), two.clone())
                    .prop_map(|(f, (a, b))| format!("{f}({a}, {b})")),
                (inner.clone(), inner.clone(), inner.clone())
                    .prop_map(|(a, b, c)| format!("max({a}, {b}, {c})")),
                inner.clone().prop_map(|a| format!("size({a})")),
                (
                    prop::sample::select(vec!["startsWith", "endsWith", "contains"]),
                    two.clone()
                )
                    .prop_map(|(f, (a, b))| format!("({a}).{f}({b})")),
                two.clone()
                    .prop_map(|(a, b)| format!("({a} in [{b}, 'z1', 1, 0.5])")),
                two.prop_map(|(a, b)| format!("({a})[{b}]")),
            ]
        })
    }

    fn pick(options: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
        prop::sample::select(options).prop_map(str::to_string)
    }

    /// Well-typed expressions, so that most evaluations have a value to compare: floats,
    /// ints, strings and booleans built from each other.
    fn typed() -> impl Strategy<Value = String> {
        let float = pick(&[
            "node.cpu.utilization",
            "node.cpu.forecast",
            "node.memory.utilization",
            "node.powerWatts",
            "pod.cpu.usage",
            "pod.cpu.forecast",
            "pod.cpu.request",
            "pod.cpu.limit",
            "pod.memory.request",
            "cluster.cpu.utilization",
            "cluster.power.watts",
            "0.5",
            "0.001",
            "1.0",
            "0.0",
        ])
        .prop_recursive(3, 12, 2, |inner| {
            let two = (inner.clone(), inner.clone());
            prop_oneof![
                (pick(&["+", "-", "*", "/"]), two.clone())
                    .prop_map(|(op, (a, b))| format!("({a} {op} {b})")),
                (pick(&["min", "max"]), two).prop_map(|(f, (a, b))| format!("{f}({a}, {b})")),
                inner.prop_map(|a| format!("-{a}")),
            ]
        });
        let int = pick(&[
            "node.pods",
            "cluster.nodes.total",
            "cluster.nodes.ready",
            "cluster.nodes.schedulable",
            "cluster.nodes.cordoned",
            "size(node.labels)",
            "size(node.name)",
            "0",
            "3",
            "-1",
        ])
        .prop_recursive(2, 6, 2, |inner| {
            (pick(&["+", "-", "*", "/", "%"]), inner.clone(), inner)
                .prop_map(|(op, a, b)| format!("({a} {op} {b})"))
        });
        let string = pick(&[
            "node.name",
            "node.governor",
            "node.labels['zone']",
            "node.labels.pool",
            "pod.labels['app']",
            "pod.name",
            "'z3'",
            "'web'",
            "''",
        ]);
        let number = prop_oneof![float.clone(), int.clone()];
        let compare = pick(&["==", "!=", "<", "<=", ">", ">="]);
        let atom = prop_oneof![
            (compare.clone(), number.clone(), number)
                .prop_map(|(op, a, b)| format!("{a} {op} {b}")),
            (compare, string.clone(), string.clone())
                .prop_map(|(op, a, b)| format!("{a} {op} {b}")),
            pick(&["zone", "pool", "gpu"]).prop_map(|k| format!("has(node.labels.{k})")),
            pick(&["zone", "pool", "app"]).prop_map(|k| format!("'{k}' in node.labels")),
            string
                .clone()
                .prop_map(|a| format!("{a} in ['z1', 'z3', 'web']")),
            (
                pick(&["startsWith", "endsWith", "contains"]),
                string.clone(),
                string
            )
                .prop_map(|(f, a, b)| format!("{a}.{f}({b})")),
        ];
        let boolean = atom.prop_recursive(3, 12, 2, |inner| {
            prop_oneof![
                (pick(&["&&", "||"]), inner.clone(), inner.clone())
                    .prop_map(|(op, a, b)| format!("({a} {op} {b})")),
                inner.clone().prop_map(|a| format!("!({a})")),
                (inner.clone(), inner.clone(), inner)
                    .prop_map(|(c, a, b)| format!("({c} ? {a} : {b})")),
            ]
        });
        prop_oneof![boolean, float, int]
    }

    fn labels(keys: &'static [&'static str]) -> impl Strategy<Value = Labels> {
        prop::collection::btree_map(
            prop::sample::select(keys).prop_map(str::to_string),
            prop::sample::select(vec!["", "a", "z1", "z3", "web"]).prop_map(str::to_string),
            0..3,
        )
        .prop_map(Labels::from)
    }

    fn number() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(0.0),
            Just(1.0),
            Just(0.5),
            Just(-0.0),
            0.0..1.0,
            0.0..1e4
        ]
    }

    fn resources() -> impl Strategy<Value = Resources> {
        (
            prop::option::of(0i64..8000),
            prop::option::of(0i64..(1 << 36)),
        )
            .prop_map(|(c, m)| Resources {
                cpu: c.map(CpuQuantity),
                memory: m.map(MemoryQuantity),
            })
    }

    /// One evaluation's variables: a node with its pod count, and a pod on it.
    fn scene() -> impl Strategy<Value = (Node, usize, Pod)> {
        let node = (
            prop::sample::select(vec!["w1", "", "a-node"]),
            labels(&["zone", "pool", "gpu"]),
            (number(), prop::option::of(number()), number(), number()),
            prop::option::of(prop::sample::select(vec!["powersave", "schedutil", ""])),
        )
            .prop_map(
                |(name, labels, (cpu, forecast, mem, watts), governor)| Node {
                    name: name.into(),
                    labels,
                    cpu_utilization: cpu,
                    cpu_forecast: forecast,
                    memory_utilization: mem,
                    power_watts: watts,
                    governor: governor.map(str::to_string),
                    ..Default::default()
                },
            );
        let container = (resources(), resources(), resources()).prop_map(|(r, l, u)| Container {
            name: "c".into(),
            requests: r,
            limits: l,
            usage: u,
        });
        let pod = (
            labels(&["app", "tier"]),
            prop::collection::vec(container, 0..3),
            prop::option::of(number()),
        )
            .prop_map(|(labels, containers, forecast)| Pod {
                namespace: "app".into(),
                name: "web-1".into(),
                labels,
                containers,
                cpu_forecast: forecast,
                ..Default::default()
            });
        (node, 0usize..120, pod)
    }

    fn same(fast: V<'_>, cel: &CelValue) -> bool {
        match (fast, cel) {
            (V::Bool(a), CelValue::Bool(b)) => a == *b,
            (V::Int(a), CelValue::Int(b)) => a == *b,
            (V::UInt(a), CelValue::UInt(b)) => a == *b,
            (V::Float(a), CelValue::Float(b)) => {
                a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan()
            }
            (V::Str(a), CelValue::String(b)) => a == b.as_str(),
            (V::Null, CelValue::Null) => true,
            (V::Labels(a), CelValue::Map(b)) => {
                a.len() == b.map.len()
                    && a.iter().all(|(k, v)| {
                        let key = cel::objects::Key::from(k.clone());
                        matches!(b.map.get(&key), Some(CelValue::String(s)) if s.as_str() == v)
                    })
            }
            _ => false,
        }
    }

    const SCENES: usize = 50;

    /// 2,000 expressions, each over 50 random nodes and pods: 100,000 evaluations. Fails on
    /// any disagreement, and when the fast path answers too few of them to mean anything.
    #[test]
    fn the_fast_path_agrees_with_the_interpreter() {
        let answered = std::cell::Cell::new(0usize);
        let floats = std::cell::Cell::new(0usize);
        let env = std::sync::Arc::new(cel::Env::stdlib());
        let now = chrono::DateTime::<chrono::Utc>::from_timestamp(1_795_000_000, 0).unwrap();
        let cases = (
            prop_oneof![typed(), expr()],
            prop::collection::vec(scene(), SCENES),
        );
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(2_000));
        let result = runner.run(&cases, |(src, scenes)| {
            let Ok(program) = crate::expr::compile(&src) else {
                return Ok(());
            };
            let Ok(b) = crate::expr::Bounded::new(program) else {
                return Ok(());
            };
            let Some(fast) = &b.fast else { return Ok(()) };
            let state = ClusterState {
                nodes: scenes.iter().map(|s| s.0.clone()).collect(),
                ..Default::default()
            };
            let facts = ClusterFacts::of(&state);
            for (node, pods, pod) in &scenes {
                let vars = Vars {
                    cluster: &facts,
                    node: Some((node, *pods)),
                    pod: Some(pod),
                };
                let v = fast.eval(&vars);
                if let Some(num) = &b.num {
                    let (n, f) = (
                        num.eval(&vars),
                        v.map(|v| match v {
                            V::Float(f) => f,
                            other => panic!(
                                "`{src}` is a float expression, the fast path gave {other:?}"
                            ),
                        }),
                    );
                    prop_assert!(
                        n.map(f64::to_bits) == f.map(f64::to_bits),
                        "`{src}`: float form {n:?}, fast path {f:?}"
                    );
                    floats.set(floats.get() + usize::from(n.is_some()));
                }
                let Some(v) = v else { continue };
                answered.set(answered.get() + 1);
                let mut ctx = crate::expr::context(&env);
                ctx.add_variable_from_value("cluster", cluster_value(&facts));
                let now = super::super::schedule::now_value(now, chrono_tz::UTC);
                ctx.add_variable_from_value("now", now);
                ctx.add_variable_from_value("node", node_value(node, *pods));
                ctx.add_variable_from_value("pod", pod_value(pod));
                let slow = b.program.execute(&ctx);
                prop_assert!(
                    matches!(&slow, Ok(c) if same(v, c)),
                    "`{src}`: fast path {v:?}, interpreter {slow:?}\nnode {node:?}\npod {pod:?}"
                );
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
        // About 45,000 in practice: the rest are forms or values left to the interpreter.
        assert!(
            answered.get() > 20_000,
            "the fast path answered only {} evaluations",
            answered.get()
        );
        // About 19,000: the float expressions, answered in float form.
        assert!(
            floats.get() > 5_000,
            "the float form answered only {} evaluations",
            floats.get()
        );
    }
}
