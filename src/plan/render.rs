//! Plan output: a human report grouped per node, and JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Plan, PlannedAction};

pub fn render_json(plan: &Plan) -> String {
    let mut s = serde_json::to_string_pretty(plan).expect("plans serialize");
    s.push('\n');
    s
}

fn describe(a: &PlannedAction) -> String {
    let p = &a.params;
    match a.kind {
        super::ActionType::SetGovernor => format!(
            "set governor {} → {}",
            p.get("from")
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .unwrap_or("?"),
            p.get("governor").and_then(|v| v.as_str()).unwrap_or("?")
        ),
        super::ActionType::Cordon => "cordon".into(),
        super::ActionType::Uncordon => "uncordon".into(),
        super::ActionType::Drain => {
            let n = p
                .get("evict")
                .and_then(|v| v.as_array())
                .map_or(0, Vec::len);
            format!("drain ({n} pod(s) evicted)")
        }
        super::ActionType::Resize => {
            let show = |k: &str| {
                let from = p
                    .get("from")
                    .and_then(|f| f.get(k))
                    .and_then(|v| v.as_str());
                let to = p.get("cpu").and_then(|f| f.get(k)).and_then(|v| v.as_str());
                match (from, to) {
                    (Some(f), Some(t)) if f != t => Some(format!("{k} {f} → {t}")),
                    _ => None,
                }
            };
            let parts: Vec<String> = ["request", "limit"]
                .iter()
                .filter_map(|k| show(k))
                .collect();
            format!("resize {} cpu {}", a.target, parts.join(", "))
        }
    }
}

/// Actions grouped per node, then skipped actions, budget use and warnings.
pub fn render_human(plan: &Plan, at: &str) -> String {
    let mut out = String::new();
    let enforced = plan.actions.iter().filter(|a| a.enforce).count();
    let _ = writeln!(
        out,
        "Plan at {at}: {} action(s) ({enforced} enforced, {} dry-run), {} skipped\n",
        plan.actions.len(),
        plan.actions.len() - enforced,
        plan.skipped.len()
    );
    let mut by_node: BTreeMap<String, Vec<&PlannedAction>> = BTreeMap::new();
    for a in &plan.actions {
        let node = a
            .target
            .node
            .clone()
            .or_else(|| {
                a.params
                    .get("node")
                    .and_then(|v| v.as_str())
                    .map(String::from)
            })
            .unwrap_or_else(|| "cluster".into());
        by_node.entry(node).or_default().push(a);
    }
    for (node, actions) in &by_node {
        let _ = writeln!(out, "node {node}");
        for a in actions {
            let mode = if a.enforce { "enforce" } else { "dry-run" };
            let _ = writeln!(out, "  {}   [{}, {mode}]", describe(a), a.policy);
            let _ = writeln!(out, "      {}", a.reason);
        }
        out.push('\n');
    }
    if !plan.skipped.is_empty() {
        let _ = writeln!(out, "Skipped");
        for s in &plan.skipped {
            let _ = writeln!(out, "  {} {}   [{}]", s.kind.as_str(), s.target, s.policy);
            let _ = writeln!(out, "      {}", s.reason);
        }
        out.push('\n');
    }
    if !plan.budgets.is_empty() {
        let _ = writeln!(out, "Budgets");
        for b in &plan.budgets {
            let mut parts = vec![format!("{} node(s)", b.nodes)];
            if let Some(p) = &b.power {
                parts.push(format!(
                    "power {:.0} W of {} W ({}%, {})",
                    p.watts, p.max_watts, p.percent, p.level
                ));
            }
            if let Some(d) = &b.disruption {
                let mut s = format!("unavailable {} + {} planned", d.unavailable, d.planned);
                if let Some(m) = d.max_unavailable {
                    let _ = write!(s, " of max {m}");
                }
                let _ = write!(s, "; schedulable {}", d.schedulable);
                if let Some(m) = d.min_nodes {
                    let _ = write!(s, " (min {m})");
                }
                let _ = write!(
                    s,
                    "; drains {} last hour + {} planned",
                    d.drains_last_hour, d.planned_drains
                );
                if let Some(m) = d.max_drains_per_hour {
                    let _ = write!(s, " (max {m}/h)");
                }
                parts.push(s);
            }
            let _ = writeln!(out, "  {}: {}", b.name, parts.join("; "));
        }
        out.push('\n');
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(out, "Warnings");
        for w in &plan.warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    out
}
