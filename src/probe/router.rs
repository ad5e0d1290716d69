//! The router: the controller's side of the probes. It knows every probe (from `Probe`
//! objects), routes a tool call to the probe of a node or broadcasts it to every probe of a
//! type, keeps each probe's health with a phi-accrual failure detector fed by heartbeats
//! (`GET /healthz` every `health.interval`), stops calling a suspected probe or one whose calls
//! keep failing (a circuit breaker that half-opens to try again), and retries a failed call a
//! bounded number of times with exponential backoff and jitter: no call waits longer than
//! `timeout × (retries + 1)` plus the backoff between attempts ([`RetryPolicy::max_wait`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde::Serialize;
use serde_json::Value;

use super::phi::{self, Detector};
use crate::model::ProbeType;

/// One probe the router calls.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The Probe object (and, for a DaemonSet, the pod) it comes from.
    pub id: String,
    pub node: String,
    pub probe_type: ProbeType,
    /// `http://HOST:PORT/mcp`.
    pub url: String,
    pub token: Option<String>,
    pub timeout: Duration,
    pub retries: u32,
    /// Heartbeat interval (`health.interval`).
    pub interval: Duration,
    pub phi_threshold: f64,
}

impl Endpoint {
    /// The detector's settings for this probe: the pause it tolerates is one heartbeat
    /// interval, and the standard deviation is at least a quarter of it.
    pub fn phi_config(&self) -> phi::Config {
        let ms = self.interval.as_secs_f64() * 1000.0;
        phi::Config {
            threshold: self.phi_threshold,
            max_samples: 200,
            min_std_ms: ms / 4.0,
            acceptable_pause_ms: ms,
            first_interval_ms: ms,
        }
    }

    fn health_url(&self) -> String {
        match self.url.strip_suffix("/mcp") {
            Some(base) => format!("{base}/healthz"),
            None => format!("{}/healthz", self.url.trim_end_matches('/')),
        }
    }
}

/// Backoff between attempts: exponential from `base`, capped, with full jitter.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(50),
            cap: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// The most the wait before retry `attempt` (0-based) can be.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        self.base
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.cap)
    }

    /// A wait drawn uniformly below the ceiling ("full jitter"): retries of many callers
    /// spread out instead of arriving together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt).as_micros() as u64;
        Duration::from_micros(fastrand::u64(0..=ceiling))
    }

    /// The longest a call with `retries` retries and `timeout` per attempt can take.
    pub fn max_wait(&self, timeout: Duration, retries: u32) -> Duration {
        let backoffs: Duration = (0..retries).map(|a| self.ceiling(a)).sum();
        timeout.saturating_mul(retries + 1) + backoffs
    }
}

/// A probe's state as the router sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Heartbeats arrive; calls go through.
    Healthy,
    /// φ is above the threshold: no call is made.
    Suspected,
    /// Calls failed repeatedly: none is made until the breaker half-opens.
    Open,
    /// The breaker lets one trial call through.
    HalfOpen,
}

/// Consecutive failed calls that open the breaker.
const OPEN_AFTER: u32 = 3;

#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    trial_running: bool,
}

impl Breaker {
    fn state(&self, now: Instant) -> State {
        match self.open_until {
            Some(t) if now < t => State::Open,
            Some(_) => State::HalfOpen,
            None => State::Healthy,
        }
    }
}

type Client = RunningService<RoleClient, ClientConfig>;

struct Slot {
    ep: Endpoint,
    detector: Mutex<Detector>,
    breaker: Mutex<Breaker>,
    last_error: Mutex<Option<String>>,
    client: tokio::sync::Mutex<Option<Client>>,
}

/// Why a call did not reach a probe or failed there.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum CallError {
    #[error("no probe for node {0}")]
    NoProbe(String),
    /// Suspected or breaker open: not called.
    #[error("{0}")]
    Unavailable(String),
    /// Every attempt failed (timeout or transport error).
    #[error("probe {probe} failed after {attempts} attempt(s): {last}")]
    Failed {
        probe: String,
        attempts: u32,
        last: String,
    },
    /// The probe answered with a tool error (`isError`): not retried.
    #[error("probe {probe}: {message}")]
    Tool { probe: String, message: String },
}

/// A probe's health, for `kilter probe status` and the planner.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub id: String,
    pub node: String,
    pub url: String,
    pub state: State,
    pub phi: f64,
    pub threshold: f64,
    /// Milliseconds since the last heartbeat (None: none yet).
    pub since_heartbeat_ms: Option<u64>,
    pub last_error: Option<String>,
}

impl Status {
    /// Why a governor change on this node cannot be carried out now (None: it can).
    pub fn unavailable_reason(&self) -> Option<String> {
        match self.state {
            State::Healthy | State::HalfOpen => None,
            State::Suspected => Some(format!(
                "probe for node {} unavailable (phi {:.1} > {})",
                self.node, self.phi, self.threshold
            )),
            State::Open => Some(format!(
                "probe for node {} unavailable (circuit open: {})",
                self.node,
                self.last_error.as_deref().unwrap_or("repeated failures")
            )),
        }
    }
}

pub struct Router {
    slots: Vec<Arc<Slot>>,
    by_node: BTreeMap<String, usize>,
    start: Instant,
    http: reqwest::Client,
    pub retry: RetryPolicy,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere must not take the router down with it: the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Router {
    /// A router over `endpoints` (one per node: a second probe for a node is ignored).
    pub fn new(endpoints: Vec<Endpoint>) -> Self {
        let mut by_node = BTreeMap::new();
        let mut slots = Vec::new();
        for ep in endpoints {
            if by_node.contains_key(&ep.node) {
                continue;
            }
            by_node.insert(ep.node.clone(), slots.len());
            let mut detector = Detector::new(ep.phi_config());
            detector.watch_from(0.0);
            slots.push(Arc::new(Slot {
                detector: Mutex::new(detector),
                breaker: Mutex::new(Breaker::default()),
                last_error: Mutex::new(None),
                client: tokio::sync::Mutex::new(None),
                ep,
            }));
        }
        Router {
            slots,
            by_node,
            start: Instant::now(),
            http: reqwest::Client::new(),
            retry: RetryPolicy::default(),
        }
    }

    fn now_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }

    /// Starts one heartbeat task per probe; they run until the router is dropped.
    pub fn spawn_heartbeats(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        (0..self.slots.len())
            .map(|i| {
                let weak = Arc::downgrade(self);
                tokio::spawn(async move {
                    loop {
                        let Some(router) = weak.upgrade() else { return };
                        let interval = router.slots[i].ep.interval;
                        router.heartbeat(i).await;
                        drop(router);
                        tokio::time::sleep(interval).await;
                    }
                })
            })
            .collect()
    }

    /// One heartbeat of probe `i`: `GET /healthz`, answered within the interval.
    async fn heartbeat(&self, i: usize) {
        let slot = &self.slots[i];
        let r = self
            .http
            .get(slot.ep.health_url())
            .timeout(slot.ep.interval.max(Duration::from_millis(10)))
            .send()
            .await;
        match r {
            Ok(resp) if resp.status().is_success() => {
                let now = self.now_ms();
                lock(&slot.detector).heartbeat(now);
            }
            Ok(resp) => *lock(&slot.last_error) = Some(format!("healthz: HTTP {}", resp.status())),
            Err(e) => *lock(&slot.last_error) = Some(format!("healthz: {e}")),
        }
    }

    fn status_of(&self, slot: &Slot) -> Status {
        let now_ms = self.now_ms();
        let d = lock(&slot.detector);
        let phi = d.phi(now_ms);
        let breaker = lock(&slot.breaker).state(Instant::now());
        let state = if phi > slot.ep.phi_threshold {
            State::Suspected
        } else {
            breaker
        };
        Status {
            id: slot.ep.id.clone(),
            node: slot.ep.node.clone(),
            url: slot.ep.url.clone(),
            state,
            phi,
            threshold: slot.ep.phi_threshold,
            since_heartbeat_ms: d.last_heartbeat_ms().map(|t| (now_ms - t).max(0.0) as u64),
            last_error: lock(&slot.last_error).clone(),
        }
    }

    /// Every probe's health, by node.
    pub fn status(&self) -> Vec<Status> {
        self.slots.iter().map(|s| self.status_of(s)).collect()
    }

    /// The health of node `node`'s probe (None: no probe for it).
    pub fn status_of_node(&self, node: &str) -> Option<Status> {
        self.by_node
            .get(node)
            .map(|&i| self.status_of(&self.slots[i]))
    }

    /// Calls `tool` on the probe of `node`.
    pub async fn call(&self, node: &str, tool: &str, args: Value) -> Result<Value, CallError> {
        let &i = self
            .by_node
            .get(node)
            .ok_or_else(|| CallError::NoProbe(node.to_string()))?;
        self.call_slot(i, tool, args).await
    }

    /// Calls `tool` on every probe of `probe_type`, concurrently: (node, result).
    pub async fn broadcast(
        self: &Arc<Self>,
        probe_type: ProbeType,
        tool: &str,
        args: Value,
    ) -> Vec<(String, Result<Value, CallError>)> {
        let mut set = tokio::task::JoinSet::new();
        for (i, slot) in self.slots.iter().enumerate() {
            if slot.ep.probe_type != probe_type {
                continue;
            }
            let (router, tool, args) = (Arc::clone(self), tool.to_string(), args.clone());
            set.spawn(async move {
                let r = router.call_slot(i, &tool, args).await;
                (router.slots[i].ep.node.clone(), r)
            });
        }
        let mut out = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok(r) = r {
                out.push(r);
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Whether a call may go to probe `i` now; a half-open breaker lets one trial through.
    fn admit(&self, slot: &Slot) -> Result<(), CallError> {
        let status = self.status_of(slot);
        if status.state == State::Suspected {
            return Err(CallError::Unavailable(
                status.unavailable_reason().unwrap_or_default(),
            ));
        }
        let mut b = lock(&slot.breaker);
        match b.state(Instant::now()) {
            State::Open => Err(CallError::Unavailable(
                status.unavailable_reason().unwrap_or_default(),
            )),
            State::HalfOpen if b.trial_running => Err(CallError::Unavailable(format!(
                "probe for node {} unavailable (circuit half-open, a trial call is running)",
                slot.ep.node
            ))),
            State::HalfOpen => {
                b.trial_running = true;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn record(&self, slot: &Slot, outcome: Result<(), String>) {
        let mut b = lock(&slot.breaker);
        b.trial_running = false;
        match outcome {
            Ok(()) => {
                b.failures = 0;
                b.open_until = None;
            }
            Err(e) => {
                b.failures += 1;
                let half_open_failed = b.open_until.is_some();
                if b.failures >= OPEN_AFTER || half_open_failed {
                    // Closed for a few heartbeat intervals, then one trial call.
                    b.open_until = Some(Instant::now() + slot.ep.interval.saturating_mul(3));
                }
                *lock(&slot.last_error) = Some(e);
            }
        }
    }

    async fn call_slot(&self, i: usize, tool: &str, args: Value) -> Result<Value, CallError> {
        let slot = &self.slots[i];
        let attempts = slot.ep.retries + 1;
        let mut last = String::new();
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(self.retry.backoff(attempt - 1)).await;
            }
            self.admit(slot)?;
            match tokio::time::timeout(slot.ep.timeout, attempt_call(slot, tool, &args)).await {
                Ok(Ok(Ok(v))) => {
                    self.record(slot, Ok(()));
                    return Ok(v);
                }
                // The probe answered: a tool error is an answer, not a failure to retry.
                Ok(Ok(Err(message))) => {
                    self.record(slot, Ok(()));
                    return Err(CallError::Tool {
                        probe: slot.ep.id.clone(),
                        message,
                    });
                }
                Ok(Err(e)) => last = e,
                Err(_) => last = format!("no answer within {:?}", slot.ep.timeout),
            }
            // A broken connection is not reused.
            if let Ok(mut c) = slot.client.try_lock() {
                *c = None;
            }
            self.record(slot, Err(last.clone()));
        }
        Err(CallError::Failed {
            probe: slot.ep.id.clone(),
            attempts,
            last,
        })
    }
}

/// One attempt: Ok(Ok(result)) answered, Ok(Err(message)) a tool error, Err a failure.
async fn attempt_call(
    slot: &Slot,
    tool: &str,
    args: &Value,
) -> Result<Result<Value, String>, String> {
    let mut guard = slot.client.lock().await;
    if guard.is_none() {
        let mut config = StreamableHttpClientTransportConfig::with_uri(slot.ep.url.clone());
        if let Some(t) = &slot.ep.token {
            config = config.auth_header(t.clone());
        }
        let transport = StreamableHttpClientTransport::from_config(config);
        let client = rmcp::service::serve_client_with_lifecycle(
            ClientConfig::new(
                ClientCapabilities::default(),
                Implementation::new("kilter-router", env!("CARGO_PKG_VERSION")),
            ),
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .map_err(|e| format!("connect: {e}"))?;
        *guard = Some(client);
    }
    let Some(client) = guard.as_ref() else {
        return Err("no connection".into());
    };
    let mut params = CallToolRequestParams::new(tool.to_string());
    if let Value::Object(map) = args {
        params = params.with_arguments(map.clone());
    }
    let r = client
        .call_tool(params)
        .await
        .map_err(|e| format!("tools/call: {e}"))?;
    if r.is_error == Some(true) {
        let text: Vec<String> = r
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect();
        return Ok(Err(text.join(" ")));
    }
    Ok(Ok(r.structured_content.unwrap_or(Value::Null)))
}
