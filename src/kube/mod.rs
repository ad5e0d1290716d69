//! kilter's Kubernetes edge: observe a cluster into a [`ClusterState`], and act on it —
//! cordon/uncordon, drain through the Eviction API, in-place resize through `pods/resize`.
//! This is I/O; the planner never calls it.

mod act;
mod observe;
pub mod status;

pub use act::{DrainReport, ResizeOutcome, cordon, drain, resize};
pub use observe::{
    Metrics, apply_metrics, metrics, observe, parse_metrics, slim_meta, slim_node, slim_pod,
    to_state,
};

use kube::Client;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach the cluster: {0}")]
    Config(String),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("the API server rejected the resize of {pod}: {message}")]
    ResizeRejected { pod: String, message: String },
}

impl Error {
    /// A short, stable label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Kube(_) => "kube",
            Error::ResizeRejected { .. } => "resize_rejected",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A client from a kubeconfig file, or the usual inference (KUBECONFIG, ~/.kube/config,
/// in-cluster) when none is given.
pub async fn client(kubeconfig: Option<&std::path::Path>) -> Result<Client> {
    let mut config = match kubeconfig {
        Some(p) => {
            let kc = kube::config::Kubeconfig::read_from(p)
                .map_err(|e| Error::Config(format!("{}: {e}", p.display())))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .map_err(|e| Error::Config(e.to_string()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| Error::Config(e.to_string()))?,
    };
    // kilter bounds its own retries: a PDB's 429 on eviction must not stall a drain in the
    // client's Retry-After loop.
    config.default_retry = false;
    Client::try_from(config).map_err(Error::Kube)
}
