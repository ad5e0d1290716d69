//! Governor method: per node, the highest-priority active governor policy picks the
//! governor, falling back through `fallback` to what the node offers.

use serde_json::json;

use super::context::Cx;
use super::{ActionType, Method, PlannedAction, Target, params};
use crate::model::ActionKind;

pub struct Governor;

const KNOB: &str = "governor";

/// Relative power draw of the cpufreq governors; raising it is withheld at critical power.
fn power_rank(g: &str) -> u8 {
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
        for a in cx.active_of(ActionKind::Governor) {
            for n in cx.nodes_for(a) {
                plan_node(cx, a, n);
            }
        }
    }
}

fn plan_node(cx: &mut Cx<'_>, a: usize, n: usize) {
    let node = cx.node(n);
    let act = &cx.active[a];
    let (name, priority, enforce) = (act.name.clone(), act.priority, act.enforce);
    let why = act.why.clone();
    let gov = act
        .policy
        .spec
        .action
        .governor
        .as_ref()
        .expect("governor policy");
    let target = Target::node(&node.name);
    if let Err((holder, hp)) = cx.claim(&node.name, KNOB, &name, priority) {
        let r = cx.conflict_reason("the CPU governor", &holder, hp, priority);
        cx.skip(ActionType::SetGovernor, target, &name, r);
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
        cx.skip(ActionType::SetGovernor, target, &name, reason);
        return;
    };
    let current = node.governor.clone().unwrap_or_default();
    if current == **desired {
        return;
    }
    let last = cx.last_action(&name, Some(&node.name), None);
    if let Some(r) = cx.cooling(&name, cx.active[a].policy.spec.cooldown, last) {
        cx.skip(ActionType::SetGovernor, target, &name, r);
        return;
    }
    if power_rank(desired) > power_rank(&current)
        && let Some(r) = cx
            .budgets
            .iter()
            .filter(|b| b.covers(n))
            .find_map(|b| b.critical())
    {
        cx.skip(
            ActionType::SetGovernor,
            target,
            &name,
            format!("withheld: raises power while {r}"),
        );
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
    cx.act(PlannedAction {
        kind: ActionType::SetGovernor,
        target,
        params: params(vec![("governor", json!(desired)), ("from", json!(current))]),
        policy: name,
        reason,
        enforce,
    });
}
