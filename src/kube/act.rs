//! Acting on a cluster: cordon, drain through the Eviction API, resize through `pods/resize`.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node as KNode, Pod as KPod};
use kube::Client;
use kube::api::{Api, EvictParams, ListParams, Patch, PatchParams};
use serde_json::json;

use super::{Error, Result};

/// Marks a node unschedulable (or schedulable again).
pub async fn cordon(client: &Client, node: &str, unschedulable: bool) -> Result<()> {
    let nodes: Api<KNode> = Api::all(client.clone());
    nodes
        .patch(
            node,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "unschedulable": unschedulable } })),
        )
        .await?;
    Ok(())
}

/// What a drain did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DrainReport {
    pub evicted: Vec<String>,
    /// DaemonSet and mirror pods, left in place as kubectl drain does.
    pub skipped: Vec<String>,
    /// Pods whose eviction a PodDisruptionBudget still refused when the timeout ran out.
    pub blocked: Vec<String>,
}

/// Cordons the node, then evicts its pods through the Eviction API. A PodDisruptionBudget's
/// refusal (429) is retried with backoff until `timeout`; what is still blocked then is
/// reported (and recorded as a Warning event on the node), never retried forever.
pub async fn drain(client: &Client, node: &str, timeout: Duration) -> Result<DrainReport> {
    cordon(client, node, true).await?;
    let pods: Api<KPod> = Api::all(client.clone());
    let on_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await?;
    let mut report = DrainReport::default();
    let mut pending = Vec::new();
    for p in on_node.items {
        let ns = p.metadata.namespace.clone().unwrap_or_default();
        let name = p.metadata.name.clone().unwrap_or_default();
        let daemon = p
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.controller == Some(true) && o.kind == "DaemonSet");
        let mirror = p
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"));
        if p.metadata.deletion_timestamp.is_some() {
            continue; // already leaving: evicting it again would change nothing
        }
        if daemon || mirror {
            report.skipped.push(format!("{ns}/{name}"));
        } else {
            pending.push((ns, name));
        }
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut backoff = Duration::from_millis(500);
    loop {
        let mut still = Vec::new();
        for (ns, name) in pending {
            let api: Api<KPod> = Api::namespaced(client.clone(), &ns);
            match api.evict(&name, &EvictParams::default()).await {
                Ok(_) => report.evicted.push(format!("{ns}/{name}")),
                Err(kube::Error::Api(e)) if e.code == 404 => {
                    report.evicted.push(format!("{ns}/{name}"))
                }
                Err(kube::Error::Api(e)) if e.code == 429 => still.push((ns, name)),
                Err(e) => return Err(e.into()),
            }
        }
        pending = still;
        if pending.is_empty() || tokio::time::Instant::now() + backoff > deadline {
            break;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(8));
    }
    report.blocked = pending
        .into_iter()
        .map(|(ns, n)| format!("{ns}/{n}"))
        .collect();
    if !report.blocked.is_empty() {
        let msg = format!(
            "kilter could not drain node {node} within {}s: PodDisruptionBudgets refuse evicting {}",
            timeout.as_secs(),
            report.blocked.join(", ")
        );
        event(client, node, "DrainBlocked", &msg).await?;
    }
    Ok(report)
}

async fn event(client: &Client, node: &str, reason: &str, message: &str) -> Result<()> {
    super::status::event(
        client,
        &super::status::Regarding::node(node),
        true,
        reason,
        message,
    )
    .await
}

/// The pod after a resize: its CPU as the API server stored it, and the resize conditions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResizeOutcome {
    pub request: Option<String>,
    pub limit: Option<String>,
    /// `PodResizePending` (reason: message), when the kubelet defers or refuses it.
    pub pending: Option<String>,
    pub in_progress: bool,
}

/// Resizes one container's CPU in place through the `pods/resize` subresource. The API
/// server's refusals (a QoS class change, an infeasible size) come back as `ResizeRejected`.
pub async fn resize(
    client: &Client,
    namespace: &str,
    pod: &str,
    container: &str,
    request: Option<&str>,
    limit: Option<&str>,
) -> Result<ResizeOutcome> {
    let api: Api<KPod> = Api::namespaced(client.clone(), namespace);
    let mut res = serde_json::Map::new();
    if let Some(r) = request {
        res.insert("requests".into(), json!({ "cpu": r }));
    }
    if let Some(l) = limit {
        res.insert("limits".into(), json!({ "cpu": l }));
    }
    let patch = json!({ "spec": { "containers": [ { "name": container, "resources": res } ] } });
    let p = match api
        .patch_resize(pod, &PatchParams::default(), &Patch::Strategic(patch))
        .await
    {
        Ok(p) => p,
        Err(kube::Error::Api(e)) if matches!(e.code, 400 | 403 | 409 | 422) => {
            return Err(Error::ResizeRejected {
                pod: format!("{namespace}/{pod}"),
                message: e.message,
            });
        }
        Err(e) => return Err(e.into()),
    };
    let c = p
        .spec
        .as_ref()
        .and_then(|s| s.containers.iter().find(|c| c.name == container))
        .and_then(|c| c.resources.clone())
        .unwrap_or_default();
    let conds = p
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    Ok(ResizeOutcome {
        request: c
            .requests
            .as_ref()
            .and_then(|m| m.get("cpu"))
            .map(|q| q.0.clone()),
        limit: c
            .limits
            .as_ref()
            .and_then(|m| m.get("cpu"))
            .map(|q| q.0.clone()),
        pending: conds
            .iter()
            .find(|c| c.type_ == "PodResizePending" && c.status == "True")
            .map(|c| {
                format!(
                    "{}: {}",
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default()
                )
            }),
        in_progress: conds
            .iter()
            .any(|c| c.type_ == "PodResizeInProgress" && c.status == "True"),
    })
}
