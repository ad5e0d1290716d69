//! Governor method: per node, the first active governor policy in planning order picks the
//! governor, falling back through `fallback` to what the node offers.

use super::action::{Action, GovernorChange, SkipCause, Target};
use super::claims::Knob;
use super::context::Cx;
use super::cooldown::Object;
use super::{ActionType, Method};
use crate::model::ActionKind;

pub struct Governor;

/// Relative power draw of the cpufreq governors; raising it is withheld at critical power.
pub fn power_rank(g: &str) -> u8 {
    match g {
        "powersave" => 0,
        "conservative" => 1,
        "performance" => 3,
        _ => 2,
    }
}

impl Method for Governor {
    fn name(&self) -> &'static str {
        "governor"
    }

    fn plan(&self, cx: &mut Cx<'_>) {
        for a in cx.active_of(&[ActionKind::Governor]) {
            for n in cx.nodes_for(a) {
                plan_node(cx, a, n);
            }
        }
    }
}

fn plan_node(cx: &mut Cx<'_>, a: usize, n: usize) {
    let node = cx.node(n);
    let act = &cx.active[a];
    let why = act.why.clone();
    let Some(gov) = act.policy.spec.action.governor.as_ref() else {
        return;
    };
    let target = Target::node(&node.name);
    if !cx.claim(a, &node.name, Knob::Governor, &target) {
        return;
    }
    let wanted: Vec<&String> = std::iter::once(&gov.name)
        .chain(gov.fallback.iter())
        .collect();
    let offered = &node.available_governors;
    let Some(desired) = wanted
        .iter()
        .find(|g| offered.is_empty() || offered.contains(g))
    else {
        let reason = format!(
            "node offers none of {} (it has {})",
            wanted
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            offered.join(", ")
        );
        cx.skip_for(a, target, SkipCause::GovernorUnavailable, reason);
        return;
    };
    let current = node.governor.clone().unwrap_or_default();
    if current == **desired {
        return;
    }
    if let Some(p) = node.probe.as_ref().filter(|p| !p.available) {
        let r = p
            .reason
            .clone()
            .unwrap_or_else(|| format!("probe for node {} unavailable", node.name));
        cx.skip_for(a, target, SkipCause::ProbeUnavailable, r);
        return;
    }
    if let Some(r) = cx.cooling(a, &Object::Node(node.name.clone()), None) {
        cx.skip_for(a, target, SkipCause::Cooldown, r);
        return;
    }
    if power_rank(desired) > power_rank(&current)
        && let Some(r) = cx.budgets.critical(n)
    {
        let r = format!("withheld: raises power while {r}");
        cx.skip_for(a, target, SkipCause::PowerBudget, r);
        return;
    }
    let fell_back = if **desired != gov.name {
        format!(" (fallback: node lacks {})", gov.name)
    } else {
        String::new()
    };
    let mut reason = format!(
        "{} → {desired}{fell_back}",
        if current.is_empty() {
            "unknown"
        } else {
            &current
        }
    );
    if !why.is_empty() {
        reason.push_str("; ");
        reason.push_str(&why);
    }
    let change = GovernorChange {
        node: node.name.clone(),
        from: node.governor.clone().filter(|g| !g.is_empty()),
        to: desired.to_string(),
    };
    debug_assert_eq!(ActionType::SetGovernor, cx.active[a].action_type());
    cx.act_for(a, Action::SetGovernor(change), reason);
}
