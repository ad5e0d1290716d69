//! Plan output: a human report grouped per node, and JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Action, Plan, PlannedAction};
use crate::model::CpuQuantity;

pub fn render_json(plan: &Plan) -> String {
    let mut s = serde_json::to_string_pretty(plan).expect("plans serialize");
    s.push('\n');
    s
}

fn cpu(v: Option<i64>) -> String {
    v.map_or_else(|| "unset".into(), |m| CpuQuantity(m).to_string())
}

fn describe(a: &PlannedAction) -> String {
    match &a.action {
        Action::SetGovernor(g) => format!(
            "set governor {} → {}",
            g.from.as_deref().unwrap_or("?"),
            g.to
        ),
        Action::Cordon { .. } => "cordon".into(),
        Action::Uncordon { .. } => "uncordon".into(),
        Action::Drain(d) => format!("drain ({} pod(s) evicted)", d.evict.len()),
        Action::Resize(r) => {
            let mut parts = Vec::new();
            for (k, ch) in [("request", r.request), ("limit", r.limit)] {
                if ch.from != ch.to {
                    parts.push(format!("{k} {} → {}", cpu(ch.from), cpu(ch.to)));
                }
            }
            format!("resize {} cpu {}", a.target(), parts.join(", "))
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
    if enforced > 0 && enforced < plan.actions.len() {
        let _ = writeln!(
            out,
            "Enforce actions were planned first; dry-run actions show what they would do with what is left.\n"
        );
    }
    let mut by_node: BTreeMap<String, Vec<&PlannedAction>> = BTreeMap::new();
    for a in &plan.actions {
        by_node
            .entry(a.action.node().to_string())
            .or_default()
            .push(a);
    }
    for (node, actions) in &by_node {
        let _ = writeln!(out, "node {node}");
        for a in actions {
            let mode = if a.enforce { "enforce" } else { "dry-run" };
            let _ = writeln!(out, "  {}   [{}, {mode}]", describe(a), a.policy);
            let _ = writeln!(out, "      {}", a.reason());
        }
        out.push('\n');
    }
    if !plan.skipped.is_empty() {
        let _ = writeln!(out, "Skipped");
        for s in &plan.skipped {
            let mode = if s.enforce { "" } else { ", dry-run" };
            let _ = writeln!(
                out,
                "  {} {}   [{}{mode}]",
                s.kind.as_str(),
                s.target,
                s.policy
            );
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
            let name = if b.default {
                format!("{} (nodes no Budget covers)", b.name)
            } else {
                b.name.clone()
            };
            let _ = writeln!(out, "  {name}: {}", parts.join("; "));
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
