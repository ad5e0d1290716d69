//! Leader election with a `coordination.k8s.io` Lease: several replicas run, one acts. The
//! others plan and serve their API but execute nothing. Before every action the leader reads
//! the Lease again from the API server and acts only if it still holds it, unexpired.

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Leader {
    rx: watch::Receiver<bool>,
    task: JoinHandle<Result<LeaseManager, kube_lease_manager::LeaseManagerError>>,
    /// Forwards changes of leadership to the loop.
    forward: JoinHandle<()>,
    api: Api<Lease>,
    name: String,
    pub identity: String,
}

impl Leader {
    /// Joins the election for Lease `namespace/name` (created if missing); `changed` is
    /// called with the new state whenever this replica gains or loses the lead.
    pub async fn start(
        client: &Client,
        namespace: &str,
        name: &str,
        identity: String,
        duration_seconds: u64,
        changed: impl Fn(bool) + Send + 'static,
    ) -> Result<Leader, String> {
        let manager = LeaseManagerBuilder::new(client.clone(), name)
            .with_namespace(namespace)
            .with_identity(identity.clone())
            .with_duration(duration_seconds)
            .with_grace((duration_seconds / 3).max(1))
            .with_field_manager("kilter")
            .build()
            .await
            .map_err(|e| format!("lease {namespace}/{name}: {e}"))?;
        let (rx, task) = manager.watch().await;
        let mut changes = rx.clone();
        let forward = tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let leads = *changes.borrow();
                changed(leads);
            }
        });
        Ok(Leader {
            rx,
            task,
            forward,
            api: Api::namespaced(client.clone(), namespace),
            name: name.to_string(),
            identity,
        })
    }

    /// Whether this replica leads, as the election last saw it.
    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// Whether the Lease, read now from the API server, names this replica and has not
    /// expired: the check made before every action.
    pub async fn holds(&self) -> bool {
        if !self.is_leader() {
            return false;
        }
        let Ok(lease) = self.api.get(&self.name).await else {
            return false;
        };
        let Some(spec) = lease.spec else {
            return false;
        };
        let (Some(holder), Some(renewed), Some(duration)) = (
            spec.holder_identity,
            spec.renew_time,
            spec.lease_duration_seconds,
        ) else {
            return false;
        };
        let expires = renewed.0.as_second() + i64::from(duration);
        holder == self.identity && chrono::Utc::now().timestamp() < expires
    }

    /// Gives the Lease up (on shutdown), so another replica takes over at once.
    pub async fn release(self) {
        // The election task ends when no receiver is left.
        self.forward.abort();
        let _ = self.forward.await;
        drop(self.rx);
        let done = tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await;
        let Ok(done) = done else {
            tracing::warn!("the leader election did not stop in time; the lease will expire");
            return;
        };
        match done {
            Ok(Ok(manager)) => {
                if let Err(e) = manager.release().await {
                    tracing::warn!(error = %e, "releasing the lease");
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "leader election"),
            Err(e) => tracing::warn!(error = %e, "leader election task"),
        }
    }
}
