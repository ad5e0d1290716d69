//! The audit log: one JSON line per action the controller executed or tried, appended and
//! flushed before the next action. Read back at start so cooldowns and drains-per-hour
//! budgets survive a restart.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::state::RecentAction;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Record {
    /// RFC 3339.
    pub time: String,
    pub revision: String,
    pub policy: String,
    pub kind: String,
    pub target: Json,
    pub before: Json,
    pub after: Json,
    /// executed, failed or invalidated (not executed: the cluster changed since planning).
    pub result: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Record {
    /// What the planner needs to know of it (cooldowns, drains per hour).
    pub fn recent(&self) -> Option<RecentAction> {
        if self.result != "executed" {
            return None;
        }
        let s = |k: &str| self.target.get(k).and_then(Json::as_str).map(String::from);
        Some(RecentAction {
            kind: self.kind.clone(),
            policy: self.policy.clone(),
            node: s("node"),
            namespace: s("namespace"),
            pod: s("pod"),
            time: self.time.clone(),
        })
    }
}

/// Records kept in memory (the newest).
const KEEP: usize = 10_000;

pub struct Audit {
    path: Option<PathBuf>,
    records: Vec<Record>,
}

/// How long executed actions are remembered for the planner (cooldowns and drains per hour
/// look back less than this).
const MEMORY: chrono::Duration = chrono::Duration::hours(24);

impl Audit {
    /// Opens (and reads back) the log at `path`; without a path the log is kept in memory.
    pub fn open(path: Option<&Path>) -> Result<Audit, String> {
        let mut records = Vec::new();
        if let Some(p) = path {
            match std::fs::read_to_string(p) {
                Ok(text) => {
                    for (n, line) in text.lines().enumerate() {
                        if line.trim().is_empty() {
                            continue;
                        }
                        match serde_json::from_str::<Record>(line) {
                            Ok(r) => records.push(r),
                            // A torn last line (the process died mid-write) is skipped.
                            Err(e) => tracing::warn!(
                                file = %p.display(), line = n + 1, error = %e,
                                "unreadable audit record skipped"
                            ),
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", p.display())),
            }
        }
        Ok(Audit {
            path: path.map(Path::to_path_buf),
            records,
        })
    }

    pub fn append(&mut self, r: Record) -> Result<(), String> {
        if let Some(p) = &self.path {
            let mut line = serde_json::to_string(&r).map_err(|e| e.to_string())?;
            line.push('\n');
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("{}: {e}", p.display()))?;
            f.write_all(line.as_bytes())
                .and_then(|()| f.sync_data())
                .map_err(|e| format!("{}: {e}", p.display()))?;
        }
        self.records.push(r);
        // Memory stays bounded however long the controller runs; the file keeps everything.
        if self.records.len() > 2 * KEEP {
            self.records.drain(..self.records.len() - KEEP);
        }
        Ok(())
    }

    /// Executed actions of the last day, for the planner.
    pub fn recent(&self, now: DateTime<Utc>) -> Vec<RecentAction> {
        self.records
            .iter()
            .filter_map(Record::recent)
            .filter(|a| a.at().is_some_and(|t| now - t < MEMORY))
            .collect()
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }
}
