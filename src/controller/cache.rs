//! The cluster as the controller sees it between cycles: reflector stores fed by watches, so
//! a cycle reads memory instead of listing every node and pod again.

use std::fmt::Debug;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Node as KNode, Pod as KPod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use crate::state::ClusterState;

pub struct Cache {
    nodes: Store<KNode>,
    pods: Store<KPod>,
    replica_sets: Store<ReplicaSet>,
    pdbs: Store<PodDisruptionBudget>,
}

fn watch<K>(client: &Client, changed: impl Fn() + Send + Sync + 'static) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let api: Api<K> = Api::all(client.clone());
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
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
        Cache {
            nodes: watch(client, changed.clone()),
            pods: watch(client, changed.clone()),
            replica_sets: watch(client, changed.clone()),
            pdbs: watch(client, changed),
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
