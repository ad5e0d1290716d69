//! What kilter tells the cluster about itself: status of its objects (server-side apply, field
//! manager `kilter`) and Kubernetes Events on the objects it acts on and decides about.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value as Json, json};

use super::Result;
use crate::model::Kind;

/// The API resource of one of kilter's kinds, for dynamic clients.
pub fn api_resource(kind: Kind) -> ApiResource {
    ApiResource {
        group: crate::model::GROUP.into(),
        version: crate::model::VERSION.into(),
        api_version: crate::model::API_VERSION.into(),
        kind: kind.name().into(),
        plural: kind.plural(),
    }
}

/// Writes an object's status by server-side apply: kilter owns the fields it sets, and
/// nothing else is touched.
pub async fn apply_status(
    client: &Client,
    kind: Kind,
    namespace: Option<&str>,
    name: &str,
    status: &Json,
) -> Result<()> {
    apply_status_of(client, &api_resource(kind), namespace, name, status).await
}

/// [`apply_status`] for any resource of kilter's group (the PolicySource too).
pub async fn apply_status_of(
    client: &Client,
    ar: &ApiResource,
    namespace: Option<&str>,
    name: &str,
    status: &Json,
) -> Result<()> {
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    };
    let body = json!({
        "apiVersion": ar.api_version,
        "kind": ar.kind,
        "metadata": { "name": name },
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply("kilter").force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
}

/// The object an event is about.
#[derive(Clone, Debug)]
pub struct Regarding {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl Regarding {
    pub fn node(name: &str) -> Regarding {
        Regarding {
            api_version: "v1".into(),
            kind: "Node".into(),
            namespace: None,
            name: name.into(),
        }
    }

    pub fn pod(namespace: &str, name: &str) -> Regarding {
        Regarding {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    pub fn object(kind: Kind, namespace: Option<&str>, name: &str) -> Regarding {
        Regarding {
            api_version: crate::model::API_VERSION.into(),
            kind: kind.name().into(),
            namespace: namespace.map(String::from),
            name: name.into(),
        }
    }
}

/// Records a Kubernetes Event (`Normal` or `Warning`) on an object, as `kubectl describe`
/// shows them. Events of cluster-scoped objects go to the `default` namespace.
pub async fn event(
    client: &Client,
    regarding: &Regarding,
    warning: bool,
    reason: &str,
    message: &str,
) -> Result<()> {
    let ns = regarding.namespace.as_deref().unwrap_or("default");
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let now =
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now());
    // The API server caps messages at 1 KiB.
    let message: String = message.chars().take(1000).collect();
    let ev = Event {
        metadata: kube::api::ObjectMeta {
            generate_name: Some(format!("{}.kilter.", regarding.name)),
            namespace: Some(ns.into()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some(regarding.api_version.clone()),
            kind: Some(regarding.kind.clone()),
            namespace: regarding.namespace.clone(),
            name: Some(regarding.name.clone()),
            ..Default::default()
        },
        reason: Some(reason.into()),
        message: Some(message),
        type_: Some(if warning { "Warning" } else { "Normal" }.into()),
        source: Some(EventSource {
            component: Some("kilter".into()),
            host: None,
        }),
        reporting_component: Some("kilter".into()),
        first_timestamp: Some(now.clone()),
        last_timestamp: Some(now),
        count: Some(1),
        ..Default::default()
    };
    events.create(&PostParams::default(), &ev).await?;
    Ok(())
}
