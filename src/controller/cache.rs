//! The cluster as the controller sees it between cycles: reflector stores fed by watches, so
//! a cycle reads memory instead of listing every node and pod again.

use std::fmt::Debug;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Node as KNode, Pod as KPod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use std::sync::Arc;

use kube::api::ListParams;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use crate::state::ClusterState;

#[derive(Clone)]
pub struct Cache {
    nodes: Store<KNode>,
    pods: Store<KPod>,
    replica_sets: Store<ReplicaSet>,
    pdbs: Store<PodDisruptionBudget>,
}

/// A reflector store of every `K`, each object passed through `slim` before it is kept.
fn watch<K>(
    client: &Client,
    slim: fn(&mut K),
    changed: impl Fn() + Send + Sync + 'static,
) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let api: Api<K> = Api::all(client.clone());
    let stream = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default()).modify(slim),
    )
    .default_backoff()
    .touched_objects();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(_) => changed(),
                Err(e) => tracing::warn!(kind = K::kind(&()).as_ref(), error = %e, "watch"),
            }
        }
    });
    reader
}

impl Cache {
    /// Starts the watches; `changed` is called on every change they see.
    pub fn start(client: &Client, changed: impl Fn() + Clone + Send + Sync + 'static) -> Cache {
        use crate::kube::{slim_meta, slim_node, slim_pod};
        Cache {
            nodes: watch(client, slim_node, changed.clone()),
            pods: watch(client, slim_pod, changed.clone()),
            replica_sets: watch(
                client,
                |r: &mut ReplicaSet| slim_meta(&mut r.metadata),
                changed.clone(),
            ),
            pdbs: watch(
                client,
                |b: &mut PodDisruptionBudget| slim_meta(&mut b.metadata),
                changed,
            ),
        }
    }

    /// Waits until every store holds its first full list.
    pub async fn ready(&self) -> Result<(), String> {
        let e = |e: reflector::store::WriterDropped| e.to_string();
        self.nodes.wait_until_ready().await.map_err(e)?;
        self.pods.wait_until_ready().await.map_err(e)?;
        self.replica_sets.wait_until_ready().await.map_err(e)?;
        self.pdbs.wait_until_ready().await.map_err(e)
    }

    /// The cluster for re-checking actions on `targets` just before they run: those nodes,
    /// the pods on them and every PodDisruptionBudget read again from the API server; the
    /// other nodes and their pods (where a drain's pods would go) as the watches hold them.
    /// A few requests per action, however large the cluster, instead of listing it all.
    pub async fn reread(
        &self,
        client: &Client,
        targets: &[&str],
    ) -> Result<ClusterState, kube::Error> {
        let on_target = |p: &KPod| {
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .is_some_and(|n| targets.contains(&n))
        };
        let mut nodes: Vec<Arc<KNode>> = self
            .nodes
            .state()
            .into_iter()
            .filter(|n| !targets.contains(&n.metadata.name.as_deref().unwrap_or_default()))
            .collect();
        let mut pods: Vec<Arc<KPod>> = self
            .pods
            .state()
            .into_iter()
            .filter(|p| !on_target(p))
            .collect();
        let node_api: Api<KNode> = Api::all(client.clone());
        let pod_api: Api<KPod> = Api::all(client.clone());
        for t in targets {
            // A node that is gone stays gone: the verifier refuses actions on it.
            if let Some(n) = node_api.get_opt(t).await? {
                nodes.push(Arc::new(n));
            }
            let on_node = ListParams::default().fields(&format!("spec.nodeName={t}"));
            pods.extend(
                pod_api
                    .list(&on_node)
                    .await?
                    .items
                    .into_iter()
                    .map(Arc::new),
            );
        }
        let pdbs = Api::<PodDisruptionBudget>::all(client.clone())
            .list(&ListParams::default())
            .await?
            .items;
        Ok(crate::kube::to_state(
            &nodes,
            &pods,
            &self.replica_sets.state(),
            &pdbs,
        ))
    }

    /// The cluster as the watches last saw it.
    pub fn state(&self) -> ClusterState {
        crate::kube::to_state(
            &self.nodes.state(),
            &self.pods.state(),
            &self.replica_sets.state(),
            &self.pdbs.state(),
        )
    }
}
