//! One bundle from the sources: the accepted revision's objects and the cluster's valid ones.
//! What each cluster object's status should say follows from the same pass.

use serde_json::{Value as Json, json};

use super::objects::ClusterObject;
use crate::model::{Kind, Object, Probe};
use crate::plan::Bundle;
use crate::syntax::load::Document;

/// Whether a cluster object is used, and why not.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Used,
    /// Does not lint clean: the diagnostics, one per line.
    Invalid(String),
    /// The same kind and name come from Git or the directory too.
    Conflict(String),
}

pub struct Combined {
    pub bundle: Bundle,
    pub probes: Vec<Probe>,
    pub verdicts: Vec<(ClusterObject, Verdict)>,
}

fn key(kind: Kind, namespace: Option<&str>, name: &str) -> (Kind, Option<String>, String) {
    (kind, namespace.map(String::from), name.to_string())
}

/// Lints the cluster's objects (together, as one more source) and joins the valid ones that
/// do not collide with the revision's objects.
pub fn combine(revision: &[Document], revision_id: &str, cluster: Vec<ClusterObject>) -> Combined {
    let files: Vec<_> = cluster
        .iter()
        .map(|o| crate::syntax::source::SourceFile::new(o.path(), o.text.clone()))
        .collect();
    let out = crate::lint::lint(&files);
    let from_revision: std::collections::BTreeMap<_, &Document> = revision
        .iter()
        .filter_map(|d| {
            let o = d.object.as_ref()?;
            Some((key(o.kind(), o.namespace(), o.name()), d))
        })
        .collect();
    let mut conflicted = std::collections::BTreeSet::new();
    let mut verdicts = Vec::new();
    let mut used: Vec<&Document> = Vec::new();
    for o in cluster {
        let path = o.path();
        let errors: Vec<String> = out
            .diagnostics
            .iter()
            .filter(|d| d.file.path == path && d.severity == crate::syntax::diag::Severity::Error)
            .map(crate::syntax::diag::Diagnostic::one_line)
            .collect();
        let k = key(o.kind, o.namespace.as_deref(), &o.name);
        let verdict = if !errors.is_empty() {
            Verdict::Invalid(errors.join("\n"))
        } else if let Some(d) = from_revision.get(&k) {
            conflicted.insert(k);
            Verdict::Conflict(format!(
                "{} {} is also defined in {} ({revision_id}); neither is used until one is removed",
                o.kind.name(),
                o.name,
                d.file.path
            ))
        } else {
            if let Some(d) = out
                .documents
                .iter()
                .find(|d| d.file.path == path && d.valid)
            {
                used.push(d);
            }
            Verdict::Used
        };
        verdicts.push((o, verdict));
    }
    let mut docs: Vec<Document> = revision
        .iter()
        .filter(|d| {
            d.object
                .as_ref()
                .is_none_or(|o| !conflicted.contains(&key(o.kind(), o.namespace(), o.name())))
        })
        .cloned()
        .collect();
    docs.extend(used.into_iter().cloned());
    let probes = docs
        .iter()
        .filter(|d| d.valid)
        .filter_map(|d| match &d.object {
            Some(Object::Probe(p)) => Some(p.clone()),
            _ => None,
        })
        .collect();
    Combined {
        bundle: Bundle::from_documents(&docs),
        probes,
        verdicts,
    }
}

pub(crate) fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: &str,
    previous: &Json,
    now: &str,
) -> Json {
    let status = if ok { "True" } else { "False" };
    // The transition time moves only when the status does.
    let since = previous["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == type_ && c["status"] == status)
        .and_then(|c| c["lastTransitionTime"].as_str())
        .unwrap_or(now)
        .to_string();
    json!({
        "type": type_, "status": status, "reason": reason,
        "message": message, "lastTransitionTime": since,
    })
}

/// The status an object should have (kstatus conventions: `Valid` and `Ready` always,
/// `Stalled` only while true), with its recent actions and, for a Budget, its use.
pub fn status(
    o: &ClusterObject,
    verdict: &Verdict,
    last_actions: Vec<Json>,
    usage: Option<Json>,
    now: &str,
) -> Json {
    let prev = &o.status;
    let (valid, ready, reason, message) = match verdict {
        Verdict::Used => (
            true,
            true,
            "Reconciled",
            "in use by the controller".to_string(),
        ),
        Verdict::Invalid(m) => (false, false, "LintFailed", m.clone()),
        Verdict::Conflict(m) => (true, false, "Conflict", m.clone()),
    };
    let mut conditions = vec![
        condition(
            "Valid",
            valid,
            if valid { "Valid" } else { reason },
            if valid { "lints clean" } else { &message },
            prev,
            now,
        ),
        condition("Ready", ready, reason, &message, prev, now),
    ];
    if !valid {
        conditions.push(condition("Stalled", true, reason, &message, prev, now));
    }
    let mut s = json!({ "conditions": conditions });
    if let Some(g) = o.generation {
        s["observedGeneration"] = json!(g);
    }
    if !last_actions.is_empty() {
        s["lastActions"] = Json::Array(last_actions);
    }
    if let Some(at) = &o.requested_at {
        s["lastHandledReconcileAt"] = json!(at);
    }
    if let Some(u) = usage.filter(|_| *verdict == Verdict::Used) {
        s["usage"] = u;
    }
    s
}

/// A Budget's use from the plan's report of it (watts rounded, so that status is not
/// rewritten for every fraction of a watt).
pub fn usage(report: &crate::plan::BudgetReport) -> Json {
    let mut u = json!({ "nodes": report.nodes });
    if let Some(p) = &report.power {
        u["watts"] = json!(p.watts.round() as i64);
        u["powerLevel"] = json!(p.level);
    }
    if let Some(d) = &report.disruption {
        u["unavailable"] = json!(d.unavailable);
        u["drainsLastHour"] = json!(d.drains_last_hour);
    }
    u
}

/// Whether two statuses say the same, transition times aside (no write when nothing changed).
pub fn same(a: &Json, b: &Json) -> bool {
    let strip = |v: &Json| {
        let mut v = v.clone();
        if let Some(cs) = v["conditions"].as_array_mut() {
            for c in cs {
                if let Some(m) = c.as_object_mut() {
                    m.remove("lastTransitionTime");
                }
            }
        }
        v
    };
    strip(a) == strip(b)
}
