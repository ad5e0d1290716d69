//! The third source: kilter objects applied to the cluster (`kubectl apply`), watched. Each
//! is linted on its own (a broken one is left out, with `Valid=False` on it); one with the
//! kind and name of an object from Git or the directory is a conflict, and neither is used.

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value as Json, json};

use crate::model::Kind;

/// One object as the cluster holds it.
#[derive(Clone, Debug)]
pub struct ClusterObject {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub name: String,
    pub generation: Option<i64>,
    /// What the linter reads: the object without server-set metadata and status.
    pub text: String,
    pub status: Json,
    /// `reconcile.fluxcd.io/requestedAt`, when set.
    pub requested_at: Option<String>,
}

impl ClusterObject {
    /// The name the linter gives the object's text (diagnostics point into it).
    pub fn path(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("cluster/{}/{ns}/{}", self.kind.plural(), self.name),
            None => format!("cluster/{}/{}", self.kind.plural(), self.name),
        }
    }
}

pub struct Objects {
    stores: Vec<(Kind, Store<DynamicObject>)>,
}

impl Objects {
    /// Watches the four kinds; `changed` is called on every change. Without the CRDs
    /// installed the watches retry (with backoff) and the source stays empty.
    /// `selector`: a label selector (`kubectl get -l` syntax) the objects must match.
    pub fn start(
        client: &Client,
        selector: Option<&str>,
        changed: impl Fn() + Clone + Send + Sync + 'static,
    ) -> Objects {
        let mut config = watcher::Config::default();
        if let Some(sel) = selector.filter(|s| !s.is_empty()) {
            config = config.labels(sel);
        }
        let stores = Kind::ALL
            .iter()
            .map(|&kind| {
                let ar = crate::kube::status::api_resource(kind);
                let writer = reflector::store::Writer::<DynamicObject>::new(ar.clone());
                let reader = writer.as_reader();
                let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
                let stream = reflector::reflector(writer, watcher(api, config.clone()))
                    .default_backoff()
                    .touched_objects();
                let changed = changed.clone();
                tokio::spawn(async move {
                    let mut stream = std::pin::pin!(stream);
                    while let Some(ev) = stream.next().await {
                        match ev {
                            Ok(_) => changed(),
                            Err(e) => tracing::debug!(kind = kind.name(), error = %e, "watch"),
                        }
                    }
                });
                (kind, reader)
            })
            .collect();
        Objects { stores }
    }

    /// Every object the watches hold, in a stable order.
    pub fn list(&self) -> Vec<ClusterObject> {
        let mut out: Vec<ClusterObject> = self
            .stores
            .iter()
            .flat_map(|(kind, store)| store.state().into_iter().map(move |o| of(*kind, &o)))
            .collect();
        out.sort_by(|a, b| {
            (a.kind.name(), &a.namespace, &a.name).cmp(&(b.kind.name(), &b.namespace, &b.name))
        });
        out
    }
}

fn of(kind: Kind, o: &DynamicObject) -> ClusterObject {
    let m = &o.metadata;
    let mut meta = serde_json::Map::new();
    meta.insert("name".into(), json!(m.name));
    if let Some(ns) = &m.namespace {
        meta.insert("namespace".into(), json!(ns));
    }
    if let Some(l) = m.labels.as_ref().filter(|l| !l.is_empty()) {
        meta.insert("labels".into(), json!(l));
    }
    // kubectl's bookkeeping is not the user's.
    let annotations: serde_json::Map<String, Json> = m
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != "kubectl.kubernetes.io/last-applied-configuration")
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Json::Object(annotations));
    }
    let mut doc = serde_json::Map::new();
    doc.insert("apiVersion".into(), json!(crate::model::API_VERSION));
    doc.insert("kind".into(), json!(kind.name()));
    doc.insert("metadata".into(), Json::Object(meta));
    if let Some(spec) = o.data.get("spec") {
        doc.insert("spec".into(), spec.clone());
    }
    ClusterObject {
        kind,
        namespace: m.namespace.clone(),
        name: m.name.clone().unwrap_or_default(),
        generation: m.generation,
        text: crate::syntax::emit::emit(&Json::Object(doc)),
        status: o.data.get("status").cloned().unwrap_or(Json::Null),
        requested_at: m
            .annotations
            .as_ref()
            .and_then(|a| a.get("reconcile.fluxcd.io/requestedAt"))
            .cloned(),
    }
}
