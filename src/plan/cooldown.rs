//! Cooldowns: when a policy last acted on an object (from the snapshot's `recentActions`), and
//! whether its cooldown still runs. The one place kilter answers "too soon?".

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::model::Duration;
use crate::state::ClusterState;

/// What an action touched, as recent actions record it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Object {
    Node(String),
    Pod { namespace: String, name: String },
}

/// The latest time each policy acted on each object.
#[derive(Default)]
pub struct Cooldowns {
    last: BTreeMap<(String, Object), DateTime<Utc>>,
}

impl Cooldowns {
    pub fn new(state: &ClusterState) -> Self {
        let mut last: BTreeMap<(String, Object), DateTime<Utc>> = BTreeMap::new();
        for r in &state.recent_actions {
            let Some(at) = r.at() else { continue };
            let object = match (&r.node, &r.namespace, &r.pod) {
                (_, Some(ns), Some(p)) => Object::Pod {
                    namespace: ns.clone(),
                    name: p.clone(),
                },
                (Some(n), _, _) => Object::Node(n.clone()),
                _ => continue,
            };
            let e = last.entry((r.policy.clone(), object)).or_insert(at);
            *e = (*e).max(at);
        }
        Cooldowns { last }
    }

    /// `Some(reason)` while `policy`'s cooldown on `object` runs at `now`.
    /// Whether no policy acted on anything recently: no check can find a cooldown.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    pub fn check(
        &self,
        policy: &str,
        object: &Object,
        cooldown: Option<Duration>,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let cd = cooldown?;
        let last = *self.last.get(&(policy.to_string(), object.clone()))?;
        let until = until(last, cd);
        until.is_none_or(|u| now < u).then(|| {
            format!(
                "cooldown: `{policy}` acted here at {} and waits {cd} (until {})",
                last.to_rfc3339(),
                until
                    .map(|u| u.to_rfc3339())
                    .unwrap_or_else(|| "the end of time".into())
            )
        })
    }
}

/// When a cooldown started at `last` ends; `None` (never) when it runs past what a date holds.
/// A cooldown that ends "never" keeps the action held back rather than wrapping around.
pub fn until(last: DateTime<Utc>, cd: Duration) -> Option<DateTime<Utc>> {
    let delta = chrono::TimeDelta::from_std(cd.0).ok()?;
    last.checked_add_signed(delta)
}
