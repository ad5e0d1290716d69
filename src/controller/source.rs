//! The controller's `PolicySource`: which revision of its Git repository or directory is in
//! use, and why the latest one was rejected (`Ready=False` carrying its diagnostics), where
//! `kubectl get policysources` shows it, as Flux shows a GitRepository.

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value as Json, json};

use super::Options;
use crate::model::PolicySource;
use crate::sync::git::Reference;

/// The most diagnostics a rejected revision's status lists.
pub const DIAGNOSTICS_KEPT: usize = 20;

/// The spec: what the controller was started to follow (None: the cluster's objects only).
pub fn spec(o: &Options) -> Option<Json> {
    if let Some(d) = &o.dir {
        return Some(json!({ "source": "dir", "url": d.display().to_string() }));
    }
    let g = o.git.as_ref()?;
    let reference = match &g.reference {
        Reference::Branch(b) => format!("branch/{b}"),
        Reference::Tag(t) => format!("tag/{t}"),
        Reference::Commit(c) => format!("commit/{c}"),
    };
    let mut spec = json!({ "source": "git", "url": g.url, "reference": reference });
    if let Some(p) = &g.path {
        spec["path"] = json!(p.display().to_string());
    }
    if g.signers.is_some() {
        spec["verifySignatures"] = json!(true);
    }
    Some(spec)
}

/// The status after a revision was read: `attempted` is its id, `applied` the revision in
/// use, `errors` the rejected revision's errors (empty when it was accepted). The
/// conditions follow kstatus: `Ready`, and `Stalled` while the latest revision is rejected;
/// a transition time moves only when its status does (`previous` is the last status written).
pub fn status(
    previous: &Json,
    attempted: &str,
    applied: Option<&str>,
    errors: &[String],
    now: &str,
) -> Json {
    let rejected = !errors.is_empty();
    let (reason, message) = if rejected {
        let mut m = format!(
            "revision {attempted} rejected; {}: {}",
            applied.map_or("no revision in use".into(), |a| format!("still using {a}")),
            errors[0]
        );
        if errors.len() > 1 {
            m.push_str(&format!(" (and {} more)", errors.len() - 1));
        }
        ("RevisionRejected", m)
    } else {
        ("Reconciled", format!("revision {attempted} in use"))
    };
    let mut conditions = vec![super::combine::condition(
        "Ready", !rejected, reason, &message, previous, now,
    )];
    if rejected {
        conditions.push(super::combine::condition(
            "Stalled", true, reason, &message, previous, now,
        ));
    }
    let mut s = json!({
        "conditions": conditions,
        "lastAttemptedRevision": attempted,
    });
    if let Some(a) = applied {
        s["lastAppliedRevision"] = json!(a);
    }
    if rejected {
        s["diagnostics"] = json!(&errors[..errors.len().min(DIAGNOSTICS_KEPT)]);
    }
    s
}

/// Creates or updates the object and its status by server-side apply (field manager
/// `kilter`); the generation it observed goes into the status.
pub async fn write(
    client: &Client,
    namespace: &str,
    name: &str,
    spec: &Json,
    status: &Json,
) -> Result<(), kube::Error> {
    let ar = kube::api::ApiResource::erase::<PolicySource>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
    let params = PatchParams::apply("kilter").force();
    let head = |extra: (&str, &Json)| {
        let mut o = json!({
            "apiVersion": crate::model::API_VERSION,
            "kind": "PolicySource",
            "metadata": { "name": name },
        });
        o[extra.0] = extra.1.clone();
        o
    };
    let object = api
        .patch(name, &params, &Patch::Apply(head(("spec", spec))))
        .await?;
    let mut status = status.clone();
    if let Some(g) = object.metadata.generation {
        status["observedGeneration"] = json!(g);
    }
    api.patch_status(name, &params, &Patch::Apply(head(("status", &status))))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_says_why_and_what_stays_in_use_and_acceptance_clears_it() {
        let rejected = status(
            &Json::Null,
            "main@sha1:b",
            Some("main@sha1:a"),
            &[
                "p.yaml:3:5: K012: unknown field `cordn`".into(),
                "two".into(),
            ],
            "2026-11-27T10:00:00Z",
        );
        let ready = &rejected["conditions"][0];
        assert_eq!(ready["type"], "Ready");
        assert_eq!(ready["status"], "False");
        assert_eq!(ready["reason"], "RevisionRejected");
        assert_eq!(
            ready["message"],
            "revision main@sha1:b rejected; still using main@sha1:a: p.yaml:3:5: K012: unknown field `cordn` (and 1 more)"
        );
        assert_eq!(rejected["conditions"][1]["type"], "Stalled");
        assert_eq!(rejected["lastAppliedRevision"], "main@sha1:a");
        assert_eq!(rejected["lastAttemptedRevision"], "main@sha1:b");
        assert_eq!(rejected["diagnostics"].as_array().unwrap().len(), 2);
        let fixed = status(
            &rejected,
            "main@sha1:c",
            Some("main@sha1:c"),
            &[],
            "2026-11-27T10:05:00Z",
        );
        assert_eq!(fixed["conditions"].as_array().unwrap().len(), 1);
        assert_eq!(fixed["conditions"][0]["status"], "True");
        assert_eq!(
            fixed["conditions"][0]["lastTransitionTime"],
            "2026-11-27T10:05:00Z"
        );
        assert!(fixed.get("diagnostics").is_none());
        // Rejected again: the time it became False is kept while it stays False.
        let again = status(
            &rejected,
            "main@sha1:d",
            None,
            &["x".into()],
            "2026-11-27T11:00:00Z",
        );
        assert_eq!(
            again["conditions"][0]["lastTransitionTime"],
            "2026-11-27T10:00:00Z"
        );
        assert!(again.get("lastAppliedRevision").is_none());
    }
}
