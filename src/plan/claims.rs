//! One writer per knob per object: the first policy to claim a knob on an object holds it for
//! the plan; later policies that want it are skipped with the holder named.

use std::collections::BTreeMap;

/// What a policy writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Knob {
    /// The CPU governor of a node.
    Governor,
    /// Whether a node takes new pods (cordon, drain, uncordon, consolidation).
    Schedulability,
    /// The CPU of a pod's containers.
    PodCpu,
}

impl Knob {
    pub fn describe(self) -> &'static str {
        match self {
            Knob::Governor => "the CPU governor",
            Knob::Schedulability => "node schedulability",
            Knob::PodCpu => "pod CPU",
        }
    }
}

/// The policy holding a knob, and its priority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub policy: String,
    pub priority: i32,
}

#[derive(Default)]
pub struct Claims {
    held: BTreeMap<(String, Knob), Holder>,
}

impl Claims {
    /// Claims `knob` on `object` for a policy; on conflict, the reason it lost.
    pub fn claim(
        &mut self,
        object: &str,
        knob: Knob,
        policy: &str,
        priority: i32,
    ) -> Result<(), Conflict> {
        let key = (object.to_string(), knob);
        match self.held.get(&key) {
            Some(h) if h.policy != policy => Err(Conflict {
                knob,
                holder: h.clone(),
                priority,
            }),
            _ => {
                self.held.insert(
                    key,
                    Holder {
                        policy: policy.to_string(),
                        priority,
                    },
                );
                Ok(())
            }
        }
    }

    pub fn holder(&self, object: &str, knob: Knob) -> Option<&Holder> {
        self.held.get(&(object.to_string(), knob))
    }
}

/// A policy of `priority` lost `knob` to `holder`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub knob: Knob,
    pub holder: Holder,
    pub priority: i32,
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&conflict_reason(self.knob, &self.holder, self.priority))
    }
}

impl std::error::Error for Conflict {}

/// Why a policy of `priority` lost `knob` to `holder`.
pub fn conflict_reason(knob: Knob, holder: &Holder, priority: i32) -> String {
    let (name, hp, what) = (&holder.policy, holder.priority, knob.describe());
    if hp == priority {
        format!(
            "conflict: `{name}` also writes {what} here with the same priority {priority}; `{name}` wins by order (Enforce before DryRun, then name)"
        )
    } else {
        format!(
            "conflict: `{name}` (priority {hp}) writes {what} here and outranks this policy ({priority})"
        )
    }
}
