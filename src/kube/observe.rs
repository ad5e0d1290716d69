//! Reading a cluster into a [`ClusterState`]: nodes, pods, PDBs, owners and metrics.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Node as KNode, Pod as KPod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Client;
use kube::api::{Api, ListParams};

use crate::model::{CpuQuantity, IntOrPercent, MemoryQuantity};
use crate::state::{ClusterState, Container, Node, Owner, Pdb, Pod, Resources, Taint, Toleration};

use super::Result;

fn cpu(q: Option<&Quantity>) -> Option<CpuQuantity> {
    q.and_then(|q| CpuQuantity::parse(&q.0).ok())
}

fn memory(q: Option<&Quantity>) -> Option<MemoryQuantity> {
    q.and_then(|q| MemoryQuantity::parse(&q.0).ok())
}

fn resources(m: Option<&BTreeMap<String, Quantity>>) -> Resources {
    Resources {
        cpu: cpu(m.and_then(|m| m.get("cpu"))),
        memory: memory(m.and_then(|m| m.get("memory"))),
    }
}

fn int_or_percent(v: &IntOrString) -> Option<IntOrPercent> {
    match v {
        IntOrString::Int(i) => Some(IntOrPercent::Int(*i as i64)),
        IntOrString::String(s) => IntOrPercent::parse(s).ok(),
    }
}

/// Reads nodes, pods and PodDisruptionBudgets into a snapshot. Node governor, available
/// governors and power come from the probe's annotations (`kilter.dev/governor`,
/// `kilter.dev/available-governors`, `kilter.dev/power-watts`). Usage comes from
/// metrics.k8s.io where the cluster serves it; otherwise node CPU utilization is
/// `kilter.dev/cpu-utilization` when set, else requests over allocatable.
pub async fn observe(client: &Client) -> Result<ClusterState> {
    let nodes: Api<KNode> = Api::all(client.clone());
    let pods: Api<KPod> = Api::all(client.clone());
    let rss: Api<ReplicaSet> = Api::all(client.clone());
    let pdbs: Api<PodDisruptionBudget> = Api::all(client.clone());
    let lp = ListParams::default();
    let (rs_list, pdb_list) = tokio::try_join!(rss.list(&lp), pdbs.list(&lp))?;
    let rs_owner = replica_set_owners(&rs_list.items);
    drop(rs_list);
    // Pods and nodes are read a page at a time and each page converted before the next is
    // fetched: a whole list of Kubernetes objects at fleet scale is gigabytes.
    let pods = list_paged(&pods, |p| pod_of(p, &rs_owner)).await?;
    let requested = requested_by_node(&pods);
    let nodes = list_paged(&nodes, |n| node_requesting(n, &requested)).await?;
    let pdbs = pdb_list.items.iter().map(pdb_of).collect();
    let mut state = assemble(nodes, pods, pdbs);
    if let Some(m) = metrics(client).await? {
        apply_metrics(&mut state, &m);
    }
    Ok(state)
}

/// Lists every object of `api`, 500 per request, keeping only what `f` makes of each.
async fn list_paged<K, T>(api: &Api<K>, mut f: impl FnMut(&K) -> T) -> Result<Vec<T>>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut out = Vec::new();
    let mut lp = ListParams::default().limit(500);
    loop {
        let page = api.list(&lp).await?;
        out.extend(page.items.iter().map(&mut f));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => lp = lp.continue_token(&token),
            _ => return Ok(out),
        }
    }
}

/// The snapshot of Kubernetes objects: pure, so that it is tested without a cluster and shared
/// by a one-off read (`observe`) and the controller's watches.
pub fn to_state<N, P, R, B>(nodes: &[N], pods: &[P], replica_sets: &[R], pdbs: &[B]) -> ClusterState
where
    N: Borrow<KNode>,
    P: Borrow<KPod>,
    R: Borrow<ReplicaSet>,
    B: Borrow<PodDisruptionBudget>,
{
    let rs_owner = replica_set_owners(replica_sets);
    let pods: Vec<Pod> = pods.iter().map(|p| pod_of(p.borrow(), &rs_owner)).collect();
    let requested = requested_by_node(&pods);
    let nodes = nodes
        .iter()
        .map(|n| node_requesting(n.borrow(), &requested))
        .collect();
    let pdbs = pdbs.iter().map(|b| pdb_of(b.borrow())).collect();
    assemble(nodes, pods, pdbs)
}

/// What the controller's watch caches keep of a pod: only what [`to_state`] reads. The rest
/// (managed fields, `kubectl apply`'s last-applied copy, environment, commands, probes,
/// mounts, container statuses) is most of a pod's size and dropped as it arrives.
pub fn slim_pod(p: &mut KPod) {
    slim_meta(&mut p.metadata);
    if let Some(spec) = &mut p.spec {
        for c in &mut spec.containers {
            *c = k8s_openapi::api::core::v1::Container {
                name: std::mem::take(&mut c.name),
                resources: c.resources.take(),
                ..Default::default()
            };
        }
        spec.init_containers = None;
        spec.ephemeral_containers = None;
        spec.affinity = None;
        if let Some(v) = &mut spec.volumes {
            v.retain(|v| v.empty_dir.is_some());
        }
    }
    if let Some(status) = &mut p.status {
        *status = k8s_openapi::api::core::v1::PodStatus {
            phase: status.phase.take(),
            ..Default::default()
        };
    }
}

/// What the watch caches keep of a node: its images, volumes and daemon endpoints go.
pub fn slim_node(n: &mut KNode) {
    slim_meta(&mut n.metadata);
    if let Some(status) = &mut n.status {
        status.images = None;
        status.volumes_attached = None;
        status.volumes_in_use = None;
        status.daemon_endpoints = None;
    }
}

/// `kubectl apply`'s copy of the object it applied: as large as the object, never read.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Managed fields and the last-applied annotation, which kilter never reads (snapshots leave
/// the annotation out too).
pub fn slim_meta(m: &mut kube::api::ObjectMeta) {
    m.managed_fields = None;
    if let Some(a) = &mut m.annotations {
        a.remove(LAST_APPLIED);
    }
}

/// CPU requested on each node by its pods that have not finished.
fn requested_by_node(pods: &[Pod]) -> BTreeMap<&str, i64> {
    let mut m: BTreeMap<&str, i64> = BTreeMap::new();
    for p in pods.iter().filter(|p| !p.is_terminal()) {
        *m.entry(p.node.as_str()).or_default() += p.cpu_request();
    }
    m
}

/// A node with the CPU its pods request (from [`requested_by_node`]).
fn node_requesting(n: &KNode, requested: &BTreeMap<&str, i64>) -> Node {
    let name = n.metadata.name.as_deref().unwrap_or_default();
    node_of(n, requested.get(name).copied().unwrap_or(0))
}

/// The snapshot in its canonical order: nodes by name, pods and PDBs by namespace and name.
fn assemble(mut nodes: Vec<Node>, mut pods: Vec<Pod>, mut pdbs: Vec<Pdb>) -> ClusterState {
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    pods.sort_by_cached_key(Pod::key);
    pdbs.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    ClusterState {
        nodes,
        pods,
        pdbs,
        ..Default::default()
    }
}

/// ReplicaSet → its controlling Deployment, so pods report their top-level owner.
fn replica_set_owners<R: Borrow<ReplicaSet>>(rss: &[R]) -> BTreeMap<(String, String), Owner> {
    let mut rs_owner = BTreeMap::new();
    for rs in rss.iter().map(Borrow::borrow) {
        let (Some(ns), Some(name)) = (rs.metadata.namespace.clone(), rs.metadata.name.clone())
        else {
            continue;
        };
        if let Some(o) = rs
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
        {
            rs_owner.insert(
                (ns, name),
                Owner {
                    kind: o.kind.clone(),
                    name: o.name.clone(),
                },
            );
        }
    }
    rs_owner
}

fn pod_of(p: &KPod, rs_owner: &BTreeMap<(String, String), Owner>) -> Pod {
    let meta = &p.metadata;
    let no_spec = k8s_openapi::api::core::v1::PodSpec::default();
    let spec = p.spec.as_ref().unwrap_or(&no_spec);
    let namespace = meta.namespace.clone().unwrap_or_default();
    let owner = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| {
            rs_owner
                .get(&(namespace.clone(), o.name.clone()))
                .filter(|_| o.kind == "ReplicaSet")
                .cloned()
                .unwrap_or(Owner {
                    kind: o.kind.clone(),
                    name: o.name.clone(),
                })
        });
    let mut annotations = meta.annotations.clone().unwrap_or_default();
    annotations.remove(LAST_APPLIED);
    Pod {
        cpu_forecast: None,
        namespace,
        name: meta.name.clone().unwrap_or_default(),
        node: spec.node_name.clone().unwrap_or_default(),
        labels: meta.labels.clone().unwrap_or_default().into(),
        mirror: annotations.contains_key("kubernetes.io/config.mirror"),
        terminating: meta.deletion_timestamp.is_some(),
        annotations: annotations.into(),
        owner,
        phase: p
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Pending".into()),
        priority_class_name: spec.priority_class_name.clone(),
        node_selector: spec.node_selector.clone().unwrap_or_default().into(),
        tolerations: spec
            .tolerations
            .iter()
            .flatten()
            .map(|t| Toleration {
                key: t.key.clone(),
                operator: t.operator.clone(),
                value: t.value.clone(),
                effect: t.effect.clone(),
            })
            .collect(),
        empty_dir: spec.volumes.iter().flatten().any(|v| v.empty_dir.is_some()),
        containers: spec
            .containers
            .iter()
            .map(|c| {
                let r = c.resources.clone().unwrap_or_default();
                Container {
                    name: c.name.clone(),
                    requests: resources(r.requests.as_ref()),
                    limits: resources(r.limits.as_ref()),
                    usage: Resources::default(),
                }
            })
            .collect(),
        demand: None,
    }
}

/// A node, with `requested` the CPU its pods request (utilization when nothing better is known).
fn node_of(n: &KNode, requested: i64) -> Node {
    let meta = &n.metadata;
    let no_status = k8s_openapi::api::core::v1::NodeStatus::default();
    let status = n.status.as_ref().unwrap_or(&no_status);
    let allocatable = resources(status.allocatable.as_ref());
    let mut annotations = meta.annotations.clone().unwrap_or_default();
    annotations.remove(LAST_APPLIED);
    let utilization = annotations
        .get("kilter.dev/cpu-utilization")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            allocatable
                .cpu
                .filter(|c| c.0 > 0)
                .map_or(0.0, |c| (requested as f64 / c.0 as f64).min(1.0))
        });
    let spec = n.spec.as_ref();
    Node {
        cpu_forecast: None,
        name: meta.name.clone().unwrap_or_default(),
        labels: meta.labels.clone().unwrap_or_default().into(),
        taints: spec
            .and_then(|s| s.taints.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|t| Taint {
                key: t.key,
                value: t.value,
                effect: t.effect,
            })
            .collect(),
        allocatable,
        unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
        ready: status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        governor: annotations.get("kilter.dev/governor").cloned(),
        available_governors: annotations
            .get("kilter.dev/available-governors")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        cpu_utilization: utilization,
        memory_utilization: 0.0,
        power_watts: annotations
            .get("kilter.dev/power-watts")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        annotations: annotations.into(),
        probe: None,
    }
}

fn pdb_of(b: &PodDisruptionBudget) -> Pdb {
    let spec = b.spec.clone().unwrap_or_default();
    let status = b.status.clone().unwrap_or_default();
    Pdb {
        namespace: b.metadata.namespace.clone().unwrap_or_default(),
        name: b.metadata.name.clone().unwrap_or_default(),
        selector: spec.selector.clone().unwrap_or_default(),
        min_available: spec.min_available.as_ref().and_then(int_or_percent),
        max_unavailable: spec.max_unavailable.as_ref().and_then(int_or_percent),
        current_healthy: status.current_healthy as i64,
        desired_healthy: Some(status.desired_healthy as i64),
        expected_pods: Some(status.expected_pods as i64),
    }
}

/// Usage reported by metrics.k8s.io (`kubectl top`), by node and by pod container.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    pub nodes: BTreeMap<String, Resources>,
    pub containers: BTreeMap<(String, String, String), Resources>,
}

/// Parses `NodeMetricsList` and `PodMetricsList` documents.
pub fn parse_metrics(nodes: &serde_json::Value, pods: &serde_json::Value) -> Metrics {
    let usage = |u: &serde_json::Value| Resources {
        cpu: u["cpu"]
            .as_str()
            .and_then(|s| CpuQuantity::parse_fine(s).ok()),
        memory: u["memory"]
            .as_str()
            .and_then(|s| MemoryQuantity::parse(s).ok()),
    };
    let mut m = Metrics::default();
    for item in nodes["items"].as_array().into_iter().flatten() {
        if let Some(name) = item["metadata"]["name"].as_str() {
            m.nodes.insert(name.to_string(), usage(&item["usage"]));
        }
    }
    for item in pods["items"].as_array().into_iter().flatten() {
        let (Some(ns), Some(pod)) = (
            item["metadata"]["namespace"].as_str(),
            item["metadata"]["name"].as_str(),
        ) else {
            continue;
        };
        for c in item["containers"].as_array().into_iter().flatten() {
            if let Some(name) = c["name"].as_str() {
                m.containers.insert(
                    (ns.to_string(), pod.to_string(), name.to_string()),
                    usage(&c["usage"]),
                );
            }
        }
    }
    m
}

/// Reads metrics.k8s.io when the cluster serves it (metrics-server); `None` when it does not.
pub async fn metrics(client: &Client) -> Result<Option<Metrics>> {
    let get = |path: &str| {
        let req = http::Request::get(path)
            .body(Vec::new())
            .expect("a valid request");
        client.request::<serde_json::Value>(req)
    };
    match tokio::try_join!(
        get("/apis/metrics.k8s.io/v1beta1/nodes"),
        get("/apis/metrics.k8s.io/v1beta1/pods")
    ) {
        Ok((n, p)) => Ok(Some(parse_metrics(&n, &p))),
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 503 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Applies usage to a snapshot: container usage, and node CPU utilization = usage / allocatable.
pub fn apply_metrics(state: &mut ClusterState, m: &Metrics) {
    for p in &mut state.pods {
        for c in &mut p.containers {
            if let Some(u) =
                m.containers
                    .get(&(p.namespace.clone(), p.name.clone(), c.name.clone()))
            {
                c.usage = *u;
            }
        }
    }
    for n in &mut state.nodes {
        let Some(u) = m.nodes.get(&n.name) else {
            continue;
        };
        if let (Some(used), Some(alloc)) = (u.cpu, n.allocatable.cpu)
            && alloc.0 > 0
        {
            n.cpu_utilization = (used.0 as f64 / alloc.0 as f64).min(1.0);
        }
        if let (Some(used), Some(alloc)) = (u.memory, n.allocatable.memory)
            && alloc.0 > 0
        {
            n.memory_utilization = (used.0 as f64 / alloc.0 as f64).min(1.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slimmed_objects_give_the_same_snapshot() {
        let pod: KPod = serde_json::from_value(json!({
            "metadata": {
                "name": "web-1", "namespace": "prod",
                "labels": { "app": "web" },
                "annotations": { "kilter.dev/do-not-disrupt": "true", "kubectl.kubernetes.io/last-applied-configuration": "{…}" },
                "ownerReferences": [{ "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7f", "uid": "u", "controller": true }],
                "managedFields": [{ "manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": { "f:spec": {} } }]
            },
            "spec": {
                "nodeName": "n1", "priorityClassName": "high", "nodeSelector": { "pool": "a" },
                "tolerations": [{ "key": "dedicated", "operator": "Exists" }],
                "volumes": [{ "name": "tmp", "emptyDir": {} }, { "name": "cfg", "configMap": { "name": "c" } }],
                "initContainers": [{ "name": "init", "image": "busybox" }],
                "containers": [{
                    "name": "app", "image": "web:1", "command": ["/web"], "args": ["--port", "80"],
                    "env": [{ "name": "A", "value": "1" }],
                    "ports": [{ "containerPort": 80 }],
                    "readinessProbe": { "httpGet": { "path": "/", "port": 80 } },
                    "volumeMounts": [{ "name": "cfg", "mountPath": "/cfg" }],
                    "resources": { "requests": { "cpu": "250m", "memory": "64Mi" }, "limits": { "cpu": "1" } }
                }]
            },
            "status": { "phase": "Running", "podIP": "10.0.0.1", "conditions": [{ "type": "Ready", "status": "True" }] }
        }))
        .unwrap();
        let node: KNode = serde_json::from_value(json!({
            "metadata": { "name": "n1", "labels": { "pool": "a" }, "managedFields": [{ "manager": "kubelet" }] },
            "spec": { "unschedulable": false, "taints": [{ "key": "dedicated", "value": "x", "effect": "NoSchedule" }] },
            "status": {
                "allocatable": { "cpu": "4", "memory": "8Gi" },
                "conditions": [{ "type": "Ready", "status": "True" }],
                "images": [{ "names": ["web:1"], "sizeBytes": 1000 }]
            }
        }))
        .unwrap();
        let (mut p2, mut n2) = (pod.clone(), node.clone());
        slim_pod(&mut p2);
        slim_node(&mut n2);
        let none: [ReplicaSet; 0] = [];
        let pdbs: [PodDisruptionBudget; 0] = [];
        assert_eq!(
            to_state(&[node], std::slice::from_ref(&pod), &none, &pdbs),
            to_state(&[n2], &[p2.clone()], &none, &pdbs)
        );
        let (full, slim) = (
            serde_json::to_string(&pod).unwrap().len(),
            serde_json::to_string(&p2).unwrap().len(),
        );
        assert!(slim * 3 < full * 2, "{slim} of {full} bytes kept");
    }

    #[test]
    fn metrics_documents_become_usage_and_utilization() {
        let nodes = json!({ "items": [ { "metadata": { "name": "n1" }, "usage": { "cpu": "2500m", "memory": "4Gi" } } ] });
        let pods = json!({ "items": [ { "metadata": { "name": "p", "namespace": "ns" },
            "containers": [ { "name": "app", "usage": { "cpu": "123456789n", "memory": "300Mi" } } ] } ] });
        let m = parse_metrics(&nodes, &pods);
        let mut state = ClusterState {
            nodes: vec![Node {
                name: "n1".into(),
                allocatable: Resources {
                    cpu: Some(CpuQuantity(10_000)),
                    memory: Some(MemoryQuantity(8 << 30)),
                },
                ..Default::default()
            }],
            pods: vec![Pod {
                namespace: "ns".into(),
                name: "p".into(),
                containers: vec![Container {
                    name: "app".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        apply_metrics(&mut state, &m);
        assert_eq!(state.nodes[0].cpu_utilization, 0.25);
        assert_eq!(state.nodes[0].memory_utilization, 0.5);
        assert_eq!(
            state.pods[0].containers[0].usage.cpu,
            Some(CpuQuantity(124))
        );
        assert_eq!(
            state.pods[0].containers[0].usage.memory,
            Some(MemoryQuantity(300 << 20))
        );
    }
}
