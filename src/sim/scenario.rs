//! Closed-loop scenarios (`tests/scenarios/`, `docs/simulate.md`): a bundle, a trace and the
//! outcomes the simulation must show, each a bound on a figure of the report.

use std::sync::Arc;

use serde::Deserialize;

use super::run::Report;
use crate::syntax::diag::Diagnostic;
use crate::syntax::source::SourceFile;

/// A scenario file (`kind: Scenario`).
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    pub description: String,
    /// The trace manifest, relative to the scenario file.
    pub trace: String,
    /// Policy files or directories, relative to the scenario file (default: its directory).
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub step: Option<crate::model::Duration>,
    pub expect: Vec<Expectation>,
}

/// A bound on one figure of the report, named by its JSON pointer (`/pending/longestCycles`).
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expectation {
    pub pointer: String,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// Why the bound matters, printed when it fails.
    #[serde(default)]
    pub because: Option<String>,
}

pub fn load(file: &Arc<SourceFile>) -> Result<Scenario, Vec<Diagnostic>> {
    let (node, scenario, mut diags) = crate::syntax::de::decode_file::<Scenario>(file, "scenario")?;
    if let Some(s) = &scenario {
        for (i, e) in s.expect.iter().enumerate() {
            if e.min.is_none() && e.max.is_none() {
                diags.push(Diagnostic::error(
                    crate::syntax::diag::code::INVALID_VALUE,
                    file,
                    node.span_at(&format!("expect[{i}]")),
                    "an expectation needs min, max or both",
                ));
            }
        }
    }
    match scenario {
        Some(s) if diags.is_empty() => Ok(s),
        _ => Err(diags),
    }
}

/// The expectations the report breaks, as messages.
pub fn check(s: &Scenario, r: &Report) -> Vec<String> {
    let json = serde_json::to_value(r).expect("a report serialises");
    let mut out = Vec::new();
    for e in &s.expect {
        let why = e
            .because
            .as_deref()
            .map_or(String::new(), |b| format!(" ({b})"));
        let Some(v) = json.pointer(&e.pointer).and_then(|v| v.as_f64()) else {
            out.push(format!("{}: not a number in the report{why}", e.pointer));
            continue;
        };
        if let Some(min) = e.min
            && v < min
        {
            out.push(format!(
                "{} is {v}, below the minimum {min}{why}",
                e.pointer
            ));
        }
        if let Some(max) = e.max
            && v > max
        {
            out.push(format!(
                "{} is {v}, above the maximum {max}{why}",
                e.pointer
            ));
        }
    }
    out
}
