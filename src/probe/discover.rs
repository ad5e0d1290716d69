//! From `Probe` objects to the router's endpoints: a static endpoint with its `nodeName`, or a
//! DaemonSet's running pods found by selector (one per node, `http://POD_IP:PORT/mcp`). Tokens
//! come from the Secret `auth.secretRef` names (in the DaemonSet's namespace, or the given one
//! for static probes), unless the caller has one.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::ListParams;
use kube::{Api, Client};

use super::router::Endpoint;
use crate::model::Probe;

/// Defaults of a `Probe` without `timeout`, `retries` or `health`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRIES: u32 = 3;
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_PHI_THRESHOLD: f64 = 8.0;

fn label_selector(s: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector) -> String {
    let mut parts: Vec<String> = s
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in s.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    parts.join(",")
}

async fn secret_token(
    client: &Client,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<String, String> {
    let s = Api::<Secret>::namespaced(client.clone(), namespace)
        .get(name)
        .await
        .map_err(|e| format!("Secret {namespace}/{name}: {e}"))?;
    let bytes = s
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .ok_or_else(|| format!("Secret {namespace}/{name} has no key {key}"))?;
    String::from_utf8(bytes.0.clone())
        .map(|t| t.trim().to_string())
        .map_err(|_| format!("Secret {namespace}/{name} key {key} is not UTF-8"))
}

/// The endpoints of `probes`, and a warning for each probe that yields none.
pub async fn endpoints(
    probes: &[Probe],
    client: Option<&Client>,
    token: Option<&str>,
    static_namespace: &str,
) -> (Vec<Endpoint>, Vec<String>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for p in probes {
        let name = p.metadata.name.clone().unwrap_or_default();
        let spec = &p.spec;
        let namespace = spec
            .daemon_set
            .as_ref()
            .map_or(static_namespace, |d| d.namespace.as_str());
        let token = match (token, &spec.auth, client) {
            (Some(t), _, _) => Some(t.to_string()),
            (None, None, _) => None,
            (None, Some(a), Some(c)) => {
                match secret_token(c, namespace, &a.secret_ref.name, &a.secret_ref.key).await {
                    Ok(t) => Some(t),
                    Err(e) => {
                        warnings.push(format!("Probe {name}: {e}"));
                        continue;
                    }
                }
            }
            (None, Some(_), None) => {
                warnings.push(format!(
                    "Probe {name}: its token is in a Secret and there is no cluster to read it from (give --token-file)"
                ));
                continue;
            }
        };
        let health = spec.health.clone().unwrap_or_default();
        let base = |node: String, url: String, id: String| Endpoint {
            id,
            node,
            probe_type: spec.probe_type,
            url,
            token: token.clone(),
            timeout: spec.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0),
            retries: spec
                .retries
                .map_or(DEFAULT_RETRIES, |r| r.clamp(0, 10) as u32),
            interval: health
                .interval
                .map_or(DEFAULT_INTERVAL, |d| d.0.max(Duration::from_millis(10))),
            phi_threshold: health.phi_threshold.unwrap_or(DEFAULT_PHI_THRESHOLD),
        };
        if let (Some(url), Some(node)) = (&spec.endpoint, &spec.node_name) {
            out.push(base(node.clone(), url.clone(), name.clone()));
            continue;
        }
        let Some(ds) = &spec.daemon_set else {
            warnings.push(format!(
                "Probe {name}: neither endpoint with nodeName nor daemonSet"
            ));
            continue;
        };
        let Some(client) = client else {
            warnings.push(format!(
                "Probe {name}: a DaemonSet's probes are found on a cluster; none was given"
            ));
            continue;
        };
        let pods = Api::<Pod>::namespaced(client.clone(), &ds.namespace)
            .list(&ListParams::default().labels(&label_selector(&ds.selector)))
            .await;
        let pods = match pods {
            Ok(p) => p.items,
            Err(e) => {
                warnings.push(format!("Probe {name}: listing its pods: {e}"));
                continue;
            }
        };
        // One probe per node: the running pod, by name for a stable choice.
        let mut by_node: BTreeMap<String, (String, String)> = BTreeMap::new();
        for pod in pods {
            let status = pod.status.unwrap_or_default();
            let (Some(node), Some(ip)) = (
                pod.spec.and_then(|s| s.node_name),
                status
                    .pod_ip
                    .filter(|_| status.phase.as_deref() == Some("Running")),
            ) else {
                continue;
            };
            let pod_name = pod.metadata.name.unwrap_or_default();
            by_node.entry(node).or_insert((pod_name, ip));
        }
        if by_node.is_empty() {
            warnings.push(format!(
                "Probe {name}: no running pod matches its daemonSet selector in {}",
                ds.namespace
            ));
        }
        for (node, (pod, ip)) in by_node {
            let host = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip
            };
            let url = format!("http://{host}:{}/mcp", ds.port);
            out.push(base(node, url, format!("{name}/{pod}")));
        }
    }
    (out, warnings)
}
