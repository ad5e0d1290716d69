//! Kubernetes label selector semantics: matching a label set, and deciding whether two
//! selectors can match a common object.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// The operators of `matchExpressions`, exactly as the API server spells them.
pub const OPERATORS: [&str; 4] = ["In", "NotIn", "Exists", "DoesNotExist"];

/// Checks a selector as the API server validates it: operators exactly `In`, `NotIn`,
/// `Exists`, `DoesNotExist`; values required by `In`/`NotIn`, forbidden with the others.
/// The error names the first bad requirement (its index in `matchExpressions`).
pub fn validate(sel: &LabelSelector) -> Result<(), SelectorError> {
    for (i, e) in sel.match_expressions.iter().flatten().enumerate() {
        let has_values = e.values.as_ref().is_some_and(|v| !v.is_empty());
        match e.operator.as_str() {
            "In" | "NotIn" if !has_values => {
                return Err(SelectorError::ValuesRequired(i, e.operator.clone()));
            }
            "Exists" | "DoesNotExist" if has_values => {
                return Err(SelectorError::ValuesForbidden(i, e.operator.clone()));
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => return Err(SelectorError::UnknownOperator(i, other.to_string())),
        }
    }
    Ok(())
}

/// Why a label selector is not one the API server accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("`{1}` is not a selector operator; operators are In, NotIn, Exists, DoesNotExist")]
    UnknownOperator(usize, String),
    #[error("operator `{1}` needs at least one value")]
    ValuesRequired(usize, String),
    #[error("operator `{1}` takes no values")]
    ValuesForbidden(usize, String),
}

impl SelectorError {
    /// The index of the requirement in `matchExpressions`.
    pub fn index(&self) -> usize {
        match self {
            SelectorError::UnknownOperator(i, _)
            | SelectorError::ValuesRequired(i, _)
            | SelectorError::ValuesForbidden(i, _) => *i,
        }
    }
}

/// Whether `labels` satisfy the selector (an empty selector matches everything).
pub fn matches(sel: &LabelSelector, labels: &impl crate::state::LabelLookup) -> bool {
    let labels_ok = sel
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.label(k) == Some(v.as_str()));
    labels_ok
        && sel.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or(&[]);
            let got = labels.label(&e.key);
            match e.operator.as_str() {
                "In" => got.is_some_and(|v| values.iter().any(|x| x == v)),
                "NotIn" => got.is_none_or(|v| values.iter().all(|x| x != v)),
                "Exists" => got.is_some(),
                "DoesNotExist" => got.is_none(),
                _ => false,
            }
        })
}

/// What one selector requires of one label key.
#[derive(Default, Clone)]
struct KeyConstraint {
    must_exist: bool,
    must_not_exist: bool,
    /// When set, the value must be one of these.
    allowed: Option<BTreeSet<String>>,
    forbidden: BTreeSet<String>,
}

impl KeyConstraint {
    fn merge(&mut self, other: &KeyConstraint) {
        self.must_exist |= other.must_exist;
        self.must_not_exist |= other.must_not_exist;
        self.allowed = match (self.allowed.take(), &other.allowed) {
            (Some(a), Some(b)) => Some(a.intersection(b).cloned().collect()),
            (a, b) => a.or_else(|| b.clone()),
        };
        self.forbidden.extend(other.forbidden.iter().cloned());
    }

    fn satisfiable(&self) -> bool {
        let needs_value = self.must_exist || self.allowed.is_some();
        if self.must_not_exist && needs_value {
            return false;
        }
        match &self.allowed {
            Some(a) => a.iter().any(|v| !self.forbidden.contains(v)),
            None => true,
        }
    }
}

fn constraints(sel: &LabelSelector) -> BTreeMap<&str, KeyConstraint> {
    let mut m: BTreeMap<&str, KeyConstraint> = BTreeMap::new();
    for (k, v) in sel.match_labels.iter().flatten() {
        let c = KeyConstraint {
            must_exist: true,
            allowed: Some([v.clone()].into()),
            ..Default::default()
        };
        m.entry(k).or_default().merge(&c);
    }
    for e in sel.match_expressions.iter().flatten() {
        let values: BTreeSet<String> = e.values.iter().flatten().cloned().collect();
        let c = match e.operator.as_str() {
            "In" => KeyConstraint {
                must_exist: true,
                allowed: Some(values),
                ..Default::default()
            },
            "NotIn" => KeyConstraint {
                forbidden: values,
                ..Default::default()
            },
            "Exists" => KeyConstraint {
                must_exist: true,
                ..Default::default()
            },
            "DoesNotExist" => KeyConstraint {
                must_not_exist: true,
                ..Default::default()
            },
            _ => KeyConstraint {
                must_exist: true,
                allowed: Some(BTreeSet::new()),
                ..Default::default()
            },
        };
        m.entry(e.key.as_str()).or_default().merge(&c);
    }
    m
}

/// Whether some label set could satisfy both selectors (`None` selects everything).
pub fn may_overlap(a: Option<&LabelSelector>, b: Option<&LabelSelector>) -> bool {
    let mut merged = a.map(constraints).unwrap_or_default();
    for (k, c) in b.map(constraints).unwrap_or_default() {
        merged.entry(k).or_default().merge(&c);
    }
    merged.values().all(KeyConstraint::satisfiable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> LabelSelector {
        LabelSelector {
            match_labels: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            match_expressions: None,
        }
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.into(),
                operator: op.into(),
                values: Some(values.iter().map(|s| s.to_string()).collect()),
            }]),
        }
    }

    #[test]
    fn selectors_match_like_kubernetes() {
        let l: BTreeMap<_, _> = [("pool".to_string(), "workers".to_string())].into();
        assert!(matches(&labels(&[("pool", "workers")]), &l));
        assert!(!matches(&labels(&[("pool", "gpu")]), &l));
        assert!(matches(&expr("pool", "In", &["a", "workers"]), &l));
        assert!(!matches(&expr("pool", "NotIn", &["workers"]), &l));
        assert!(matches(&expr("zone", "DoesNotExist", &[]), &l));
        assert!(matches(&LabelSelector::default(), &l));
    }

    #[test]
    fn overlap_is_ruled_out_only_when_provably_disjoint() {
        let w = labels(&[("pool", "workers")]);
        assert!(may_overlap(Some(&w), None));
        assert!(may_overlap(Some(&w), Some(&labels(&[("zone", "a")]))));
        assert!(!may_overlap(Some(&w), Some(&labels(&[("pool", "gpu")]))));
        assert!(!may_overlap(
            Some(&w),
            Some(&expr("pool", "NotIn", &["workers"]))
        ));
        assert!(!may_overlap(
            Some(&w),
            Some(&expr("pool", "DoesNotExist", &[]))
        ));
        assert!(may_overlap(
            Some(&expr("pool", "In", &["a", "b"])),
            Some(&expr("pool", "In", &["b", "c"]))
        ));
        assert!(!may_overlap(
            Some(&expr("pool", "In", &["a"])),
            Some(&expr("pool", "In", &["b"]))
        ));
    }
}
