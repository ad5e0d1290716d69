//! `kilter rollback`: the inverse of the actions executed since a revision or a time, read from
//! the audit log. A governor goes back to what it was, a cordon is lifted, an uncordon redone,
//! a drain undone by an uncordon only (evicted pods are not moved back), a container's CPU set
//! back. Several actions on one knob undo to the state before the first of them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value as Json, json};

use super::audit::Record;

/// One step back.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Undo {
    /// set_governor, cordon, uncordon or resize.
    pub kind: String,
    pub target: Json,
    /// What the knob is set to.
    pub to: Json,
    /// The actions it undoes (their times), oldest first.
    pub undoes: Vec<String>,
    pub reason: String,
}

/// Where to roll back to.
#[derive(Clone, Debug, PartialEq)]
pub enum Since {
    Time(DateTime<Utc>),
    /// Undo what came after the last action recorded under this revision (a prefix of its id
    /// is enough: `main@sha1:4f2c`).
    Revision(String),
}

impl Since {
    pub fn parse(s: &str) -> Since {
        match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Since::Time(t.with_timezone(&Utc)),
            Err(_) => Since::Revision(s.to_string()),
        }
    }
}

/// The executed records after the point named, oldest first.
pub fn since<'a>(records: &'a [Record], to: &Since) -> Result<Vec<&'a Record>, String> {
    let executed = records.iter().filter(|r| r.result == "executed");
    match to {
        Since::Time(t) => Ok(executed
            .filter(|r| {
                DateTime::parse_from_rfc3339(&r.time).is_ok_and(|at| at.with_timezone(&Utc) > *t)
            })
            .collect()),
        Since::Revision(rev) => {
            let last = records
                .iter()
                .rposition(|r| r.revision.starts_with(rev.as_str()))
                .ok_or_else(|| {
                    format!("no action is recorded under revision `{rev}`; give a time instead (--to 2026-11-26T20:00:00Z)")
                })?;
            Ok(records[last + 1..]
                .iter()
                .filter(|r| r.result == "executed" && !r.revision.starts_with(rev.as_str()))
                .collect())
        }
    }
}

/// The inverse of `records` (oldest first), newest knob first.
pub fn inverse(records: &[&Record]) -> Vec<Undo> {
    // The knob an action turns, and its state before the first action on it.
    let mut first: BTreeMap<(String, String), (usize, Undo)> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        let target = r.target.clone();
        let node = target["node"].as_str().unwrap_or_default().to_string();
        let (knob, undo) = match r.kind.as_str() {
            "set_governor" => {
                let Some(g) = r.before["governor"].as_str() else {
                    continue; // what it was is unknown: left as it is (reported below)
                };
                (
                    ("governor".to_string(), node),
                    Undo {
                        kind: "set_governor".into(),
                        target,
                        to: json!({ "governor": g }),
                        undoes: vec![],
                        reason: format!("governor back to {g}"),
                    },
                )
            }
            "cordon" | "drain" => (
                ("schedulable".to_string(), node),
                Undo {
                    kind: "uncordon".into(),
                    target,
                    to: json!({ "unschedulable": false }),
                    undoes: vec![],
                    reason: if r.kind == "drain" {
                        "uncordon after a drain (evicted pods are not moved back)".into()
                    } else {
                        "lift the cordon".into()
                    },
                },
            ),
            "uncordon" => (
                ("schedulable".to_string(), node),
                Undo {
                    kind: "cordon".into(),
                    target,
                    to: json!({ "unschedulable": true }),
                    undoes: vec![],
                    reason: "cordon again".into(),
                },
            ),
            "resize" => (
                ("cpu".to_string(), target.to_string()),
                Undo {
                    kind: "resize".into(),
                    target,
                    to: r.before.clone(),
                    undoes: vec![],
                    reason: "CPU back to what it was".into(),
                },
            ),
            _ => continue,
        };
        let entry = first.entry(knob).or_insert((i, undo));
        entry
            .1
            .undoes
            .push(format!("{} {} ({})", r.time, r.kind, r.policy));
    }
    let mut out: Vec<(usize, Undo)> = first.into_values().collect();
    out.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
    out.into_iter().map(|(_, u)| u).collect()
}

/// Executed records the inverse cannot undo (a governor whose previous value is unknown).
pub fn not_undone<'a>(records: &[&'a Record]) -> Vec<&'a Record> {
    records
        .iter()
        .filter(|r| r.kind == "set_governor" && r.before["governor"].as_str().is_none())
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(time: &str, rev: &str, kind: &str, target: Json, before: Json) -> Record {
        Record {
            time: time.into(),
            revision: rev.into(),
            policy: "p".into(),
            kind: kind.into(),
            target,
            before,
            after: Json::Null,
            result: "executed".into(),
            message: String::new(),
        }
    }

    #[test]
    fn the_inverse_restores_the_state_before_the_first_action_on_each_knob() {
        let n1 = json!({ "node": "n1" });
        let c = json!({ "namespace": "ns", "pod": "p", "container": "app" });
        let records = vec![
            rec(
                "2026-11-26T10:00:00Z",
                "main@sha1:aaa",
                "cordon",
                json!({ "node": "n0" }),
                json!({}),
            ),
            rec(
                "2026-11-26T11:00:00Z",
                "main@sha1:bbb",
                "set_governor",
                n1.clone(),
                json!({ "governor": "performance" }),
            ),
            rec(
                "2026-11-26T11:05:00Z",
                "main@sha1:bbb",
                "set_governor",
                n1.clone(),
                json!({ "governor": "powersave" }),
            ),
            rec(
                "2026-11-26T11:10:00Z",
                "main@sha1:bbb",
                "drain",
                json!({ "node": "n2" }),
                json!({}),
            ),
            rec(
                "2026-11-26T11:20:00Z",
                "main@sha1:ccc",
                "resize",
                c.clone(),
                json!({ "request": "500m", "limit": "1" }),
            ),
            rec(
                "2026-11-26T11:30:00Z",
                "main@sha1:ccc",
                "resize",
                c.clone(),
                json!({ "request": "700m", "limit": "1" }),
            ),
        ];
        let after = since(&records, &Since::parse("main@sha1:aaa")).unwrap();
        assert_eq!(after.len(), 5);
        let undo = inverse(&after);
        let kinds: Vec<_> = undo.iter().map(|u| u.kind.as_str()).collect();
        assert_eq!(kinds, ["resize", "uncordon", "set_governor"]);
        assert_eq!(undo[0].to, json!({ "request": "500m", "limit": "1" }));
        assert_eq!(undo[0].undoes.len(), 2);
        assert_eq!(undo[2].to, json!({ "governor": "performance" }));
        assert!(undo[1].reason.contains("not moved back"));
        let by_time = since(&records, &Since::parse("2026-11-26T11:15:00Z")).unwrap();
        assert_eq!(inverse(&by_time).len(), 1);
        assert!(since(&records, &Since::parse("main@sha1:zzz")).is_err());
    }
}
