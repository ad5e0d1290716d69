//! Budget accounting: power use against `maxWatts`, and the disruption budget
//! (`maxUnavailable`, `minNodes`, `maxDrainsPerHour`) consumed as actions are planned.

use cel::Value as CelValue;
use chrono::{DateTime, Utc};

use super::{BudgetReport, DisruptionReport, PowerReport};
use crate::expr::map_value;
use crate::model::Budget;
use crate::model::selector::matches;
use crate::state::ClusterState;

/// `budget` where no budget applies: nothing used, no limits (maxUnavailable −1).
pub fn no_budget() -> CelValue {
    map_value(vec![
        (
            "power",
            map_value(vec![
                ("watts", CelValue::Float(0.0)),
                ("maxWatts", CelValue::Float(0.0)),
                ("percent", CelValue::Float(0.0)),
            ]),
        ),
        (
            "disruption",
            map_value(vec![
                ("unavailable", CelValue::Int(0)),
                ("maxUnavailable", CelValue::Int(-1)),
                ("drainsLastHour", CelValue::Int(0)),
            ]),
        ),
    ])
}

/// Why a disruption does not fit a budget.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BudgetError {
    #[error(
        "budget `{budget}`: {would} of {nodes} nodes would be unavailable, over maxUnavailable {max}"
    )]
    MaxUnavailable {
        budget: String,
        would: usize,
        nodes: usize,
        max: String,
    },
    #[error("budget `{budget}`: {left} schedulable nodes would remain, under minNodes {min}")]
    MinNodes { budget: String, left: i64, min: i64 },
    #[error("budget `{budget}`: {done} drains in the last hour already, maxDrainsPerHour is {max}")]
    DrainsPerHour {
        budget: String,
        done: usize,
        max: i64,
    },
}

/// Nodes no Budget with a `disruption` section covers get this one, as Karpenter's default
/// disruption budget: at most 10% of them unavailable at once (rounded up).
pub const DEFAULT_MAX_UNAVAILABLE_PERCENT: i64 = 10;
/// The name the default budget carries in plans.
pub const DEFAULT_BUDGET_NAME: &str = "default";

/// The default disruption budget as an object (it selects nothing by itself: it covers the
/// nodes no other Budget's `disruption` covers).
pub fn default_budget() -> Budget {
    Budget::new(
        DEFAULT_BUDGET_NAME,
        crate::model::BudgetSpec {
            disruption: Some(crate::model::DisruptionBudget {
                max_unavailable: Some(crate::model::IntOrPercent::Percent(
                    DEFAULT_MAX_UNAVAILABLE_PERCENT,
                )),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
}

/// Whether a budget selects a node by its labels (a missing selector selects every node).
pub fn selects(budget: &Budget, labels: &crate::state::Labels) -> bool {
    budget
        .spec
        .node_selector
        .as_ref()
        .is_none_or(|s| matches(s, labels))
}

/// Every budget of the bundle, plus the default budget when some node has no disruption budget.
pub struct Budgets<'a> {
    pub all: Vec<BudgetState<'a>>,
}

impl<'a> Budgets<'a> {
    pub fn new(
        budgets: &'a [Budget],
        default: &'a Budget,
        state: &ClusterState,
        now: DateTime<Utc>,
    ) -> Self {
        let mut all: Vec<BudgetState<'a>> = budgets
            .iter()
            .map(|b| {
                let covered = state.nodes.iter().map(|n| selects(b, &n.labels)).collect();
                BudgetState::new(b, covered, false, state, now)
            })
            .collect();
        let uncovered: Vec<bool> = (0..state.nodes.len())
            .map(|i| {
                !all.iter()
                    .any(|b| b.budget.spec.disruption.is_some() && b.covers(i))
            })
            .collect();
        if uncovered.iter().any(|&u| u) {
            all.push(BudgetState::new(default, uncovered, true, state, now));
        }
        Budgets { all }
    }

    pub fn covering(&self, node: usize) -> impl Iterator<Item = &BudgetState<'a>> {
        self.all.iter().filter(move |b| b.covers(node))
    }

    /// Whether every budget that covers the node would admit its disruption (counts nothing).
    pub fn check(&self, node: usize, already: bool, drain: bool) -> Result<(), BudgetError> {
        for b in self.all.iter().filter(|b| b.covers(node)) {
            b.check(already, drain)?;
        }
        Ok(())
    }

    /// Admits a node disruption against every budget that covers the node, and counts it.
    pub fn admit(&mut self, node: usize, already: bool, drain: bool) -> Result<(), BudgetError> {
        self.check(node, already, drain)?;
        for b in self.all.iter_mut().filter(|b| b.covers(node)) {
            b.commit(already, drain);
        }
        Ok(())
    }

    /// Why raising power on a node is withheld, if a covering budget is at its critical level.
    pub fn critical(&self, node: usize) -> Option<String> {
        self.covering(node).find_map(BudgetState::critical)
    }

    /// The budget a node's expressions see: the first user budget (by name) that selects it.
    pub fn node_value(&self, node: usize) -> CelValue {
        self.covering(node)
            .find(|b| !b.is_default)
            .map_or_else(no_budget, BudgetState::cel_value)
    }
}

pub struct BudgetState<'a> {
    pub budget: &'a Budget,
    /// The default disruption budget (covering nodes no Budget's disruption covers).
    pub is_default: bool,
    pub name: String,
    /// Indexes of the nodes it selects.
    pub nodes: Vec<usize>,
    covered: Vec<bool>,
    pub watts: f64,
    pub unavailable: usize,
    pub schedulable: usize,
    pub drains_last_hour: usize,
    pub planned: usize,
    pub planned_drains: usize,
    pub max_unavailable: Option<usize>,
}

impl<'a> BudgetState<'a> {
    fn new(
        budget: &'a Budget,
        covered: Vec<bool>,
        is_default: bool,
        state: &ClusterState,
        now: DateTime<Utc>,
    ) -> Self {
        let nodes: Vec<usize> = (0..state.nodes.len()).filter(|&i| covered[i]).collect();
        let names: std::collections::BTreeSet<&str> = nodes
            .iter()
            .map(|&i| state.nodes[i].name.as_str())
            .collect();
        let hour_ago = now
            .checked_sub_signed(chrono::Duration::hours(1))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let drains_last_hour = state
            .recent_actions
            .iter()
            .filter(|r| r.kind == "drain" && r.node.as_deref().is_some_and(|n| names.contains(n)))
            .filter(|r| r.at().is_some_and(|t| t > hour_ago && t <= now))
            .count();
        let unavailable = nodes
            .iter()
            .filter(|&&i| state.nodes[i].unschedulable || !state.nodes[i].ready)
            .count();
        let max_unavailable = budget
            .spec
            .disruption
            .as_ref()
            .and_then(|d| d.max_unavailable)
            .map(|m| m.resolve(nodes.len()));
        BudgetState {
            budget,
            is_default,
            name: budget.metadata.name.clone().unwrap_or_default(),
            watts: nodes.iter().map(|&i| state.nodes[i].power_watts).sum(),
            schedulable: nodes.len() - unavailable,
            unavailable,
            drains_last_hour,
            planned: 0,
            planned_drains: 0,
            max_unavailable,
            covered,
            nodes,
        }
    }

    pub fn covers(&self, node: usize) -> bool {
        self.covered.get(node).copied().unwrap_or(false)
    }

    pub fn power_percent(&self) -> Option<f64> {
        let p = self.budget.spec.power.as_ref()?;
        (p.max_watts > 0.0).then(|| self.watts / p.max_watts * 100.0)
    }

    /// Whether actions that raise power are withheld: use at or over `criticalPercent`.
    pub fn critical(&self) -> Option<String> {
        let p = self.budget.spec.power.as_ref()?;
        let pct = self.power_percent()?;
        let crit = p.critical_percent.unwrap_or(100) as f64;
        (pct >= crit).then(|| {
            format!(
                "budget `{}` draws {:.0} W of {} W ({pct:.0}%), at or over its critical {crit:.0}%",
                self.name, self.watts, p.max_watts
            )
        })
    }

    pub fn power_warning(&self) -> Option<String> {
        let p = self.budget.spec.power.as_ref()?;
        let pct = self.power_percent()?;
        let warn = p.warn_percent? as f64;
        (pct > warn).then(|| {
            format!("budget `{}` draws {:.0} W of {} W ({pct:.0}%), over its warning level of {warn:.0}%", self.name, self.watts, p.max_watts)
        })
    }

    /// Admits one more node going unavailable (and, for a drain, one more drain), or says why not.
    /// `already_unavailable` nodes (cordoned before) cost no unavailability.
    pub fn check(&self, already_unavailable: bool, drain: bool) -> Result<(), BudgetError> {
        let d = match &self.budget.spec.disruption {
            Some(d) => d,
            None => return Ok(()),
        };
        if !already_unavailable {
            if let Some(max) = self.max_unavailable
                && self.unavailable + self.planned + 1 > max
            {
                return Err(BudgetError::MaxUnavailable {
                    budget: self.name.clone(),
                    would: self.unavailable + self.planned + 1,
                    nodes: self.nodes.len(),
                    max: d.max_unavailable.map(|m| m.to_string()).unwrap_or_default(),
                });
            }
            if let Some(min) = d.min_nodes {
                let left = self.schedulable as i64 - self.planned as i64 - 1;
                if left < min {
                    return Err(BudgetError::MinNodes {
                        budget: self.name.clone(),
                        left,
                        min,
                    });
                }
            }
        }
        if drain && let Some(max) = d.max_drains_per_hour {
            let done = self.drains_last_hour + self.planned_drains;
            if (done + 1) as i64 > max {
                return Err(BudgetError::DrainsPerHour {
                    budget: self.name.clone(),
                    done,
                    max,
                });
            }
        }
        Ok(())
    }

    pub fn commit(&mut self, already_unavailable: bool, drain: bool) {
        if !already_unavailable {
            self.planned += 1;
        }
        if drain {
            self.planned_drains += 1;
        }
    }

    pub fn cel_value(&self) -> CelValue {
        let p = self.budget.spec.power.as_ref();
        map_value(vec![
            (
                "power",
                map_value(vec![
                    ("watts", CelValue::Float(self.watts)),
                    ("maxWatts", CelValue::Float(p.map_or(0.0, |p| p.max_watts))),
                    (
                        "percent",
                        CelValue::Float(self.power_percent().unwrap_or(0.0)),
                    ),
                ]),
            ),
            (
                "disruption",
                map_value(vec![
                    ("unavailable", CelValue::Int(self.unavailable as i64)),
                    (
                        "maxUnavailable",
                        CelValue::Int(self.max_unavailable.map_or(-1, |m| m as i64)),
                    ),
                    (
                        "drainsLastHour",
                        CelValue::Int(self.drains_last_hour as i64),
                    ),
                ]),
            ),
        ])
    }

    pub fn report(&self) -> BudgetReport {
        let power = self.budget.spec.power.as_ref().map(|p| {
            let percent = self.power_percent().unwrap_or(0.0);
            let level = if self.critical().is_some() {
                "critical"
            } else if self.power_warning().is_some() {
                "warning"
            } else {
                "ok"
            };
            PowerReport {
                watts: self.watts,
                max_watts: p.max_watts,
                percent: (percent * 10.0).round() / 10.0,
                level,
            }
        });
        let disruption = self
            .budget
            .spec
            .disruption
            .as_ref()
            .map(|d| DisruptionReport {
                unavailable: self.unavailable,
                planned: self.planned,
                max_unavailable: self.max_unavailable,
                schedulable: self.schedulable,
                min_nodes: d.min_nodes,
                drains_last_hour: self.drains_last_hour,
                planned_drains: self.planned_drains,
                max_drains_per_hour: d.max_drains_per_hour,
            });
        BudgetReport {
            name: self.name.clone(),
            default: self.is_default,
            nodes: self.nodes.len(),
            power,
            disruption,
        }
    }
}
