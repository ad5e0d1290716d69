//! What the probes say about their nodes — governor, governors offered, utilization, power —
//! gathered through the router and kept for a time-to-live, then written into the cluster
//! snapshot the planner reads, with each node's probe availability.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::router::Router;
use crate::state::{ClusterState, NodeProbe};

/// One node's readings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeMetrics {
    /// The governor every cpufreq policy runs (None when they differ or none was read).
    pub governor: Option<String>,
    /// Governors every policy offers.
    pub available_governors: Vec<String>,
    pub cpu_utilization: Option<f64>,
    pub power_watts: Option<f64>,
}

/// Readings per node, each kept for `ttl`.
pub struct Aggregator {
    router: Arc<Router>,
    pub ttl: Duration,
    /// How long `read_power` and `read_utilization` measure.
    pub sample: Duration,
    cache: Mutex<BTreeMap<String, (Instant, NodeMetrics)>>,
}

/// The governor all policies share and the governors all offer, from `cpufreq_status`.
pub fn governors(status: &Value) -> (Option<String>, Vec<String>) {
    let policies = status["policies"].as_array().cloned().unwrap_or_default();
    let mut current: Option<Option<String>> = None;
    let mut offered: Option<Vec<String>> = None;
    for p in &policies {
        let g = p["governor"].as_str().map(String::from);
        current = match current {
            None => Some(g),
            Some(c) if c == g => Some(c),
            Some(_) => Some(None),
        };
        let here: Vec<String> = p["available_governors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        offered = Some(match offered {
            None => here,
            Some(o) => o.into_iter().filter(|g| here.contains(g)).collect(),
        });
    }
    (current.flatten(), offered.unwrap_or_default())
}

impl Aggregator {
    pub fn new(router: Arc<Router>, ttl: Duration) -> Self {
        Aggregator {
            router,
            ttl,
            sample: Duration::from_millis(250),
            cache: Mutex::new(BTreeMap::new()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (Instant, NodeMetrics)>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads every node whose readings are missing or older than the TTL (nodes whose probe
    /// is unavailable are not called; their old readings expire).
    pub async fn refresh(&self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .router
            .status()
            .into_iter()
            .filter(|s| s.unavailable_reason().is_none())
            .map(|s| s.node)
            .filter(|n| {
                self.cache()
                    .get(n)
                    .is_none_or(|(t, _)| now.duration_since(*t) >= self.ttl)
            })
            .collect();
        let mut set = tokio::task::JoinSet::new();
        for node in due {
            let router = Arc::clone(&self.router);
            let ms = self.sample.as_millis() as u64;
            set.spawn(async move {
                let status = router.call(&node, "cpufreq_status", json!({})).await;
                let util = router
                    .call(&node, "read_utilization", json!({ "interval_ms": ms }))
                    .await;
                let power = router
                    .call(&node, "read_power", json!({ "interval_ms": ms }))
                    .await;
                let mut m = NodeMetrics::default();
                if let Ok(s) = &status {
                    (m.governor, m.available_governors) = governors(s);
                }
                if let Ok(u) = &util {
                    m.cpu_utilization = u["utilization"].as_f64();
                }
                if let Ok(p) = &power {
                    m.power_watts = p["watts"].as_f64();
                }
                // Nothing read at all: keep no entry (the snapshot keeps what it had).
                let any = status.is_ok() || util.is_ok() || power.is_ok();
                (node, any.then_some(m))
            });
        }
        while let Some(r) = set.join_next().await {
            if let Ok((node, Some(m))) = r {
                self.cache().insert(node, (Instant::now(), m));
            }
        }
    }

    /// The fresh readings of `node`, if any.
    pub fn get(&self, node: &str) -> Option<NodeMetrics> {
        let now = Instant::now();
        self.cache()
            .get(node)
            .filter(|(t, _)| now.duration_since(*t) < self.ttl)
            .map(|(_, m)| m.clone())
    }

    /// Writes fresh readings and probe availability into `state`'s nodes. A node without a
    /// probe is marked unavailable ("no probe for node X").
    pub fn fill(&self, state: &mut ClusterState) {
        for node in &mut state.nodes {
            let status = self.router.status_of_node(&node.name);
            node.probe = Some(match &status {
                None => NodeProbe {
                    available: false,
                    reason: Some(format!("no probe for node {}", node.name)),
                },
                Some(s) => {
                    let reason = s.unavailable_reason();
                    NodeProbe {
                        available: reason.is_none(),
                        reason,
                    }
                }
            });
            let Some(m) = self.get(&node.name) else {
                continue;
            };
            if m.governor.is_some() {
                node.governor = m.governor;
            }
            if !m.available_governors.is_empty() {
                node.available_governors = m.available_governors;
            }
            if let Some(u) = m.cpu_utilization {
                node.cpu_utilization = u;
            }
            if let Some(w) = m.power_watts {
                node.power_watts = w;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn governors_agree_or_are_unknown() {
        let s = json!({ "policies": [
            { "governor": "powersave", "available_governors": ["performance", "powersave"] },
            { "governor": "powersave", "available_governors": ["powersave", "schedutil"] },
        ]});
        assert_eq!(
            governors(&s),
            (Some("powersave".into()), vec!["powersave".to_string()])
        );
        let mixed = json!({ "policies": [
            { "governor": "powersave", "available_governors": [] },
            { "governor": "performance", "available_governors": [] },
        ]});
        assert_eq!(governors(&mixed).0, None);
        assert_eq!(governors(&json!({})), (None, vec![]));
    }
}
