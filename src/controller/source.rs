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

/// What the PolicySource should say, kept across cycles by every replica (so a replica that
/// becomes leader writes it at once), and the status still to be written.
#[derive(Default)]
pub struct Tracker {
    /// The last status written (its conditions' transition times carry over).
    written: Json,
    /// The latest revision read: its id, the revision in use after it, its errors.
    revision: Option<(String, Option<String>, Vec<String>)>,
    /// Why the source could not be read, while it cannot.
    fetch_error: Option<String>,
    /// A status not yet written.
    pub pending: Option<Json>,
}

impl Tracker {
    /// A revision was read and accepted (`errors` empty) or rejected.
    pub fn revision(
        &mut self,
        attempted: &str,
        applied: Option<&str>,
        errors: Vec<String>,
        now: &str,
    ) {
        self.fetch_error = None;
        self.revision = Some((attempted.into(), applied.map(Into::into), errors));
        self.pending = Some(self.current(now));
    }

    /// Reading the source failed; a new error (not the one already shown) is shown.
    pub fn fetch_failed(&mut self, error: &str, now: &str) {
        if self.fetch_error.as_deref() != Some(error) {
            self.fetch_error = Some(error.into());
            self.pending = Some(self.current(now));
        }
    }

    /// Reading the source works again, with no new revision: the last verdict is shown again.
    pub fn fetched(&mut self, now: &str) {
        if self.fetch_error.take().is_some() {
            self.pending = Some(self.current(now));
        }
    }

    /// The pending status was written.
    pub fn written(&mut self) {
        if let Some(s) = self.pending.take() {
            self.written = s;
        }
    }

    fn current(&self, now: &str) -> Json {
        let (attempted, applied, errors) = match &self.revision {
            Some((a, u, e)) => (Some(a.as_str()), u.as_deref(), e.as_slice()),
            None => (None, None, &[][..]),
        };
        status(
            &self.written,
            attempted,
            applied,
            errors,
            self.fetch_error.as_deref(),
            now,
        )
    }
}

/// The status: `attempted` is the latest revision read, `applied` the revision in use,
/// `errors` the latest revision's errors (empty when it was accepted), `fetch_error` why the
/// source cannot be read now. The conditions follow kstatus: `Ready`, and `Stalled` while the
/// latest revision is rejected (a fetch error may pass by itself: not stalled); a transition
/// time moves only when its status does (`previous` is the last status written).
pub fn status(
    previous: &Json,
    attempted: Option<&str>,
    applied: Option<&str>,
    errors: &[String],
    fetch_error: Option<&str>,
    now: &str,
) -> Json {
    let in_use = applied.map_or("no revision in use".into(), |a| format!("still using {a}"));
    let (ready, stalled, reason, message) = if let Some(e) = fetch_error {
        (
            false,
            false,
            "FetchFailed",
            format!("cannot read the source; {in_use}: {e}"),
        )
    } else if let Some(first) = errors.first() {
        let mut m = format!(
            "revision {} rejected; {in_use}: {first}",
            attempted.unwrap_or_default()
        );
        if errors.len() > 1 {
            m.push_str(&format!(" (and {} more)", errors.len() - 1));
        }
        (false, true, "RevisionRejected", m)
    } else {
        let m = format!("revision {} in use", attempted.unwrap_or_default());
        (true, false, "Reconciled", m)
    };
    let mut conditions = vec![super::combine::condition(
        "Ready", ready, reason, &message, previous, now,
    )];
    if stalled {
        conditions.push(super::combine::condition(
            "Stalled", true, reason, &message, previous, now,
        ));
    }
    let mut s = json!({ "conditions": conditions });
    if let Some(a) = attempted {
        s["lastAttemptedRevision"] = json!(a);
    }
    if let Some(a) = applied {
        s["lastAppliedRevision"] = json!(a);
    }
    if !errors.is_empty() {
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
) -> crate::kube::Result<()> {
    let ar = kube::api::ApiResource::erase::<PolicySource>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
    let body = json!({
        "apiVersion": ar.api_version,
        "kind": ar.kind,
        "metadata": { "name": name },
        "spec": spec,
    });
    let object = api
        .patch(
            name,
            &PatchParams::apply("kilter").force(),
            &Patch::Apply(&body),
        )
        .await?;
    let mut status = status.clone();
    if let Some(g) = object.metadata.generation {
        status["observedGeneration"] = json!(g);
    }
    crate::kube::status::apply_status_of(client, &ar, Some(namespace), name, &status).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_says_why_and_what_stays_in_use_and_acceptance_clears_it() {
        let rejected = status(
            &Json::Null,
            Some("main@sha1:b"),
            Some("main@sha1:a"),
            &[
                "p.yaml:3:5: K012: unknown field `cordn`".into(),
                "two".into(),
            ],
            None,
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
            Some("main@sha1:c"),
            Some("main@sha1:c"),
            &[],
            None,
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
            Some("main@sha1:d"),
            None,
            &["x".into()],
            None,
            "2026-11-27T11:00:00Z",
        );
        assert_eq!(
            again["conditions"][0]["lastTransitionTime"],
            "2026-11-27T10:00:00Z"
        );
        assert!(again.get("lastAppliedRevision").is_none());
    }

    #[test]
    fn a_fetch_error_is_shown_once_and_cleared_when_reading_works_again() {
        let mut t = Tracker::default();
        t.revision("main@sha1:a", Some("main@sha1:a"), Vec::new(), "t0");
        t.written();
        t.fetch_failed("authentication to https://git.example/p.git failed", "t1");
        let failed = t.pending.clone().unwrap();
        assert_eq!(failed["conditions"][0]["status"], "False");
        assert_eq!(failed["conditions"][0]["reason"], "FetchFailed");
        assert_eq!(
            failed["conditions"][0]["message"],
            "cannot read the source; still using main@sha1:a: authentication to https://git.example/p.git failed"
        );
        assert_eq!(
            failed["conditions"].as_array().unwrap().len(),
            1,
            "not stalled"
        );
        assert_eq!(failed["lastAppliedRevision"], "main@sha1:a");
        t.written();
        // The same error again: nothing new to write.
        t.fetch_failed("authentication to https://git.example/p.git failed", "t2");
        assert!(t.pending.is_none());
        // Readable again, same revision: Ready again.
        t.fetched("t3");
        let back = t.pending.clone().unwrap();
        assert_eq!(back["conditions"][0]["status"], "True");
        assert_eq!(back["conditions"][0]["lastTransitionTime"], "t3");
        t.written();
        t.fetched("t4");
        assert!(t.pending.is_none());
    }
}
