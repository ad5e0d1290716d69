//! `kilter probe serve`: the node agent, an MCP server over Streamable HTTP (`/mcp`) whose
//! tools read and set the node's CPU governors, frequency limits and EPP, and read its power
//! and utilization. `/healthz` answers kubelet probes. Every request to `/mcp` needs the bearer
//! token (unless run with `--insecure-no-auth`); writes are serialized and logged.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{Json, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::sysfs::{self, Roots};

/// The probe's tools, over one node's files.
#[derive(Clone)]
pub struct Probe {
    roots: Roots,
    node_name: String,
    /// One writer at a time: two `set_governor` calls never interleave their per-policy writes.
    writes: Arc<Mutex<()>>,
    tool_router: ToolRouter<Self>,
}

#[derive(Deserialize, JsonSchema)]
pub struct SetGovernorArgs {
    /// The governor wanted, e.g. `powersave`.
    pub governor: String,
    /// Governors to try, in order, when not every policy offers `governor`.
    #[serde(default)]
    pub fallback: Vec<String>,
    /// Check and report without writing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Deserialize, JsonSchema)]
pub struct FrequencyLimitsArgs {
    pub min_khz: Option<u64>,
    pub max_khz: Option<u64>,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Deserialize, JsonSchema)]
pub struct SetEppArgs {
    /// An energy-performance preference the driver offers, e.g. `balance_power`.
    pub preference: String,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Deserialize, JsonSchema)]
pub struct IntervalArgs {
    /// How long to measure, in milliseconds (default 250, at most 10000).
    pub interval_ms: Option<u64>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct ZonePower {
    pub zone: String,
    pub watts: f64,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct PowerReading {
    /// Whether RAPL could be read; when not, `reason` says why and `watts` is absent.
    pub available: bool,
    pub watts: Option<f64>,
    pub zones: Vec<ZonePower>,
    pub interval_ms: u64,
    pub reason: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct UtilizationReading {
    /// Share of CPU time not idle over the interval (0–1); absent when no time was counted.
    pub utilization: Option<f64>,
    pub interval_ms: u64,
}

fn interval(args: &IntervalArgs) -> Duration {
    Duration::from_millis(args.interval_ms.unwrap_or(250).clamp(1, 10_000))
}

fn log_writes(tool: &str, node: &str, written: &[sysfs::Written], dry_run: bool) {
    for w in written {
        tracing::info!(
            tool,
            node,
            target = %w.policy,
            previous = %w.previous,
            written = %w.written,
            now = %w.now,
            dry_run,
            "probe write"
        );
    }
}

#[tool_router(router = tool_router)]
impl Probe {
    pub fn new(roots: Roots, node_name: String) -> Self {
        Probe {
            roots,
            node_name,
            writes: Arc::new(Mutex::new(())),
            tool_router: Self::tool_router(),
        }
    }

    /// Node name, kernel CPU count, cpufreq driver, whether cpufreq and RAPL exist, probe version.
    #[tool(name = "node_info")]
    pub async fn node_info(&self) -> Json<sysfs::NodeInfo> {
        Json(sysfs::node_info(&self.roots, &self.node_name))
    }

    /// Every cpufreq policy: CPUs, governor, available governors, frequencies, EPP.
    #[tool(name = "cpufreq_status")]
    pub async fn cpufreq_status(&self) -> Json<sysfs::CpufreqStatus> {
        Json(sysfs::cpufreq_status(&self.roots))
    }

    /// Sets every policy's governor to the first of `governor` and `fallback` that every policy
    /// offers; returns each policy's previous governor (for rollback) and what it holds now.
    #[tool(name = "set_governor")]
    pub async fn set_governor(
        &self,
        Parameters(args): Parameters<SetGovernorArgs>,
    ) -> Result<Json<sysfs::SetGovernorResult>, String> {
        let _one_writer = self.writes.lock().await;
        let mut wanted = vec![args.governor];
        wanted.extend(args.fallback);
        let r =
            sysfs::set_governor(&self.roots, &wanted, args.dry_run).map_err(|e| e.to_string())?;
        log_writes("set_governor", &self.node_name, &r.policies, r.dry_run);
        Ok(Json(r))
    }

    /// Sets `scaling_min_freq`/`scaling_max_freq` of every policy (kHz), clamped to the
    /// cpuinfo limits as the kernel does.
    #[tool(name = "set_frequency_limits")]
    pub async fn set_frequency_limits(
        &self,
        Parameters(args): Parameters<FrequencyLimitsArgs>,
    ) -> Result<Json<sysfs::FrequencyLimitsResult>, String> {
        let _one_writer = self.writes.lock().await;
        let r = sysfs::set_frequency_limits(&self.roots, args.min_khz, args.max_khz, args.dry_run)
            .map_err(|e| e.to_string())?;
        log_writes(
            "set_frequency_limits",
            &self.node_name,
            &r.policies,
            r.dry_run,
        );
        Ok(Json(r))
    }

    /// Sets the energy-performance preference of every policy.
    #[tool(name = "set_epp")]
    pub async fn set_epp(
        &self,
        Parameters(args): Parameters<SetEppArgs>,
    ) -> Result<Json<sysfs::SetEppResult>, String> {
        let _one_writer = self.writes.lock().await;
        let r = sysfs::set_epp(&self.roots, &args.preference, args.dry_run)
            .map_err(|e| e.to_string())?;
        log_writes("set_epp", &self.node_name, &r.policies, r.dry_run);
        Ok(Json(r))
    }

    /// Package power in watts from RAPL energy counters over an interval, or why not.
    #[tool(name = "read_power")]
    pub async fn read_power(
        &self,
        Parameters(args): Parameters<IntervalArgs>,
    ) -> Json<PowerReading> {
        let dt = interval(&args);
        let unavailable = |reason: String| PowerReading {
            available: false,
            watts: None,
            zones: Vec::new(),
            interval_ms: dt.as_millis() as u64,
            reason: Some(reason),
        };
        let before = match sysfs::rapl_sample(&self.roots) {
            Ok(s) => s,
            Err(e) => return Json(unavailable(e.to_string())),
        };
        let start = tokio::time::Instant::now();
        tokio::time::sleep(dt).await;
        let after = match sysfs::rapl_sample(&self.roots) {
            Ok(s) => s,
            Err(e) => return Json(unavailable(e.to_string())),
        };
        let secs = start.elapsed().as_secs_f64();
        let zones: Vec<ZonePower> = before
            .iter()
            .zip(&after)
            .map(|((zone, e0, range), (_, e1, _))| ZonePower {
                zone: zone.clone(),
                watts: sysfs::energy_delta_uj(*e0, *e1, *range) as f64 / 1e6 / secs,
            })
            .collect();
        Json(PowerReading {
            available: true,
            watts: Some(zones.iter().map(|z| z.watts).sum()),
            zones,
            interval_ms: dt.as_millis() as u64,
            reason: None,
        })
    }

    /// CPU utilization over an interval, from `/proc/stat`.
    #[tool(name = "read_utilization")]
    pub async fn read_utilization(
        &self,
        Parameters(args): Parameters<IntervalArgs>,
    ) -> Result<Json<UtilizationReading>, String> {
        let dt = interval(&args);
        let before = sysfs::proc_stat(&self.roots).map_err(|e| e.to_string())?;
        tokio::time::sleep(dt).await;
        let after = sysfs::proc_stat(&self.roots).map_err(|e| e.to_string())?;
        Ok(Json(UtilizationReading {
            utilization: sysfs::utilization(before, after),
            interval_ms: dt.as_millis() as u64,
        }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Probe {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "kilter-probe",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "kilter's node probe: reads and sets this node's CPU governors, frequency limits \
                 and EPP; reads power (RAPL) and utilization.",
            )
    }
}

/// How the server is reached and who may call it.
pub struct Options {
    pub listen: SocketAddr,
    pub roots: Roots,
    pub node_name: String,
    /// The bearer token every `/mcp` request must carry; None: no authentication.
    pub token: Option<String>,
    /// `Host` values accepted; empty: loopback only without a token, any host with one.
    pub allowed_hosts: Vec<String>,
}

async fn require_token(State(token): State<Arc<String>>, req: Request, next: Next) -> Response {
    use subtle::ConstantTimeEq;
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Constant-time in the token's contents (lengths differing is not secret).
    if bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a valid bearer token is required\n",
        )
            .into_response()
    }
}

/// The probe's HTTP routes: `/mcp` (token-checked) and `/healthz`.
pub fn app(opts: &Options) -> Router {
    let probe = Probe::new(opts.roots.clone(), opts.node_name.clone());
    let mut config = StreamableHttpServerConfig::default();
    if !opts.allowed_hosts.is_empty() {
        config = config.with_allowed_hosts(opts.allowed_hosts.clone());
    } else if opts.token.is_some() {
        // Reached by node IP from the controller: the token, not the Host header, is what
        // keeps callers out (a DNS-rebinding page has no token).
        config = config.disable_allowed_hosts();
    }
    let mcp = StreamableHttpService::new(
        move || Ok(probe.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let mut mcp_routes = Router::new().nest_service("/mcp", mcp);
    if let Some(token) = &opts.token {
        mcp_routes = mcp_routes.layer(middleware::from_fn_with_state(
            Arc::new(token.clone()),
            require_token,
        ));
    }
    Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
        .merge(mcp_routes)
}

/// Serves until interrupted (SIGINT or SIGTERM).
pub async fn serve(opts: Options) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(opts.listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, node = %opts.node_name, auth = opts.token.is_some(), "probe listening");
    // Tests and scripts read the address from the first line of stdout (port 0 picks one).
    println!("listening on http://{addr}/mcp");
    axum::serve(listener, app(&opts))
        .with_graceful_shutdown(shutdown())
        .await
}

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
