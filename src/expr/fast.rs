//! A native evaluator for the CEL forms policies use most: comparisons, arithmetic, `&&`,
//! `||`, `!`, `?:`, label lookups (`node.labels['zone']`, `has(...)`, `in`), `min`/`max`,
//! `size` and the string tests, over the planner's variables read in place (no CEL maps
//! built per node or pod).
//!
//! It answers only when it is sure to agree with the `cel` interpreter: any other case
//! (an error, a type it does not model, a variable out of scope) is `None`, and the caller
//! evaluates with the interpreter instead, which also gives the exact error. A property test
//! compares both on random expressions and clusters (`tests/it/plan_properties.rs`).

use std::cmp::Ordering;

use cel::common::ast::{Expr, LiteralValue, operators as op};

use crate::state::Labels;

/// A field of a planner variable that the fast path reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaf {
    NodeName,
    NodeLabels,
    NodeCpuUtilization,
    NodeCpuForecast,
    NodeMemoryUtilization,
    NodeGovernor,
    NodePowerWatts,
    NodePods,
    PodNamespace,
    PodName,
    PodLabels,
    PodCpuUsage,
    PodCpuForecast,
    PodCpuRequest,
    PodCpuLimit,
    PodMemoryUsage,
    PodMemoryRequest,
    PodMemoryLimit,
    ClusterCpuUtilization,
    ClusterMemoryUtilization,
    ClusterPowerWatts,
    ClusterNodesTotal,
    ClusterNodesReady,
    ClusterNodesSchedulable,
    ClusterNodesCordoned,
}

/// Every leaf by its path (as in [`super::VARIABLES`]).
pub const LEAVES: &[(&str, &[&str], Leaf)] = &[
    ("node", &["name"], Leaf::NodeName),
    ("node", &["labels"], Leaf::NodeLabels),
    ("node", &["cpu", "utilization"], Leaf::NodeCpuUtilization),
    ("node", &["cpu", "forecast"], Leaf::NodeCpuForecast),
    (
        "node",
        &["memory", "utilization"],
        Leaf::NodeMemoryUtilization,
    ),
    ("node", &["governor"], Leaf::NodeGovernor),
    ("node", &["powerWatts"], Leaf::NodePowerWatts),
    ("node", &["pods"], Leaf::NodePods),
    ("pod", &["namespace"], Leaf::PodNamespace),
    ("pod", &["name"], Leaf::PodName),
    ("pod", &["labels"], Leaf::PodLabels),
    ("pod", &["cpu", "usage"], Leaf::PodCpuUsage),
    ("pod", &["cpu", "forecast"], Leaf::PodCpuForecast),
    ("pod", &["cpu", "request"], Leaf::PodCpuRequest),
    ("pod", &["cpu", "limit"], Leaf::PodCpuLimit),
    ("pod", &["memory", "usage"], Leaf::PodMemoryUsage),
    ("pod", &["memory", "request"], Leaf::PodMemoryRequest),
    ("pod", &["memory", "limit"], Leaf::PodMemoryLimit),
    (
        "cluster",
        &["cpu", "utilization"],
        Leaf::ClusterCpuUtilization,
    ),
    (
        "cluster",
        &["memory", "utilization"],
        Leaf::ClusterMemoryUtilization,
    ),
    ("cluster", &["power", "watts"], Leaf::ClusterPowerWatts),
    ("cluster", &["nodes", "total"], Leaf::ClusterNodesTotal),
    ("cluster", &["nodes", "ready"], Leaf::ClusterNodesReady),
    (
        "cluster",
        &["nodes", "schedulable"],
        Leaf::ClusterNodesSchedulable,
    ),
    (
        "cluster",
        &["nodes", "cordoned"],
        Leaf::ClusterNodesCordoned,
    ),
];

/// A value on the fast path: scalars, and label maps borrowed from the cluster state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum V<'a> {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(&'a str),
    Null,
    Labels(&'a Labels),
}

/// Reads the planner's variables; `None` for one not in scope.
pub trait Resolve<'a> {
    fn leaf(&self, leaf: Leaf) -> Option<V<'a>>;
}

#[derive(Clone, Copy, Debug)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Clone, Copy, Debug)]
pub enum StrTest {
    StartsWith,
    EndsWith,
    Contains,
}

/// An expression compiled for the fast path.
#[derive(Debug)]
pub enum Fast {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Null,
    Leaf(Leaf),
    /// Only as the right side of `in`.
    List(Vec<Fast>),
    Index(Box<Fast>, Box<Fast>),
    Has(Box<Fast>, String),
    In(Box<Fast>, Box<Fast>),
    Not(Box<Fast>),
    Neg(Box<Fast>),
    And(Box<Fast>, Box<Fast>),
    Or(Box<Fast>, Box<Fast>),
    Cond(Box<Fast>, Box<Fast>, Box<Fast>),
    Cmp(Cmp, Box<Fast>, Box<Fast>),
    Arith(Arith, Box<Fast>, Box<Fast>),
    Min(Vec<Fast>),
    Max(Vec<Fast>),
    Size(Box<Fast>),
    Str2(StrTest, Box<Fast>, Box<Fast>),
}

/// Compiles an expression for the fast path; `None` when it uses a form the fast path does
/// not model (the interpreter then evaluates it every time).
pub fn compile(e: &cel::IdedExpr) -> Option<Fast> {
    let b = |e: &cel::IdedExpr| compile(e).map(Box::new);
    Some(match &e.expr {
        Expr::Literal(l) => match l {
            LiteralValue::Boolean(v) => Fast::Bool(*v.inner()),
            LiteralValue::Int(v) => Fast::Int(*v.inner()),
            LiteralValue::UInt(v) => Fast::UInt(*v.inner()),
            LiteralValue::Double(v) => Fast::Float(*v.inner()),
            LiteralValue::String(v) => Fast::Str(v.inner().to_string()),
            LiteralValue::Null => Fast::Null,
            LiteralValue::Bytes(_) => return None,
        },
        Expr::Ident(_) => path(e)?,
        Expr::Select(s) if s.test => Fast::Has(b(&s.operand)?, s.field.clone()),
        Expr::Select(_) => path(e)?,
        Expr::List(l) if l.optional_indices.is_empty() => {
            Fast::List(l.elements.iter().map(compile).collect::<Option<_>>()?)
        }
        Expr::Call(c) => {
            let args = &c.args;
            let name = c.func_name.as_str();
            match (&c.target, args.len()) {
                (None, 3) if name == op::CONDITIONAL => {
                    Fast::Cond(b(&args[0])?, b(&args[1])?, b(&args[2])?)
                }
                (None, 2) => {
                    let (l, r) = (b(&args[0])?, b(&args[1])?);
                    match name {
                        op::LOGICAL_AND => Fast::And(l, r),
                        op::LOGICAL_OR => Fast::Or(l, r),
                        op::EQUALS => Fast::Cmp(Cmp::Eq, l, r),
                        op::NOT_EQUALS => Fast::Cmp(Cmp::Ne, l, r),
                        op::LESS => Fast::Cmp(Cmp::Lt, l, r),
                        op::LESS_EQUALS => Fast::Cmp(Cmp::Le, l, r),
                        op::GREATER => Fast::Cmp(Cmp::Gt, l, r),
                        op::GREATER_EQUALS => Fast::Cmp(Cmp::Ge, l, r),
                        op::ADD => Fast::Arith(Arith::Add, l, r),
                        op::SUBSTRACT => Fast::Arith(Arith::Sub, l, r),
                        op::MULTIPLY => Fast::Arith(Arith::Mul, l, r),
                        op::DIVIDE => Fast::Arith(Arith::Div, l, r),
                        op::MODULO => Fast::Arith(Arith::Rem, l, r),
                        op::INDEX => Fast::Index(l, r),
                        op::IN => Fast::In(l, r),
                        "min" => Fast::Min(vec![*l, *r]),
                        "max" => Fast::Max(vec![*l, *r]),
                        _ => return None,
                    }
                }
                (None, 1) => match name {
                    op::LOGICAL_NOT => Fast::Not(b(&args[0])?),
                    op::NEGATE => Fast::Neg(b(&args[0])?),
                    "size" => Fast::Size(b(&args[0])?),
                    _ => return None,
                },
                (None, n) if n > 2 && (name == "min" || name == "max") => {
                    let all = args.iter().map(compile).collect::<Option<Vec<_>>>()?;
                    if name == "min" {
                        Fast::Min(all)
                    } else {
                        Fast::Max(all)
                    }
                }
                (Some(t), 0) if name == "size" => Fast::Size(b(t)?),
                (Some(t), 1) => {
                    let test = match name {
                        "startsWith" => StrTest::StartsWith,
                        "endsWith" => StrTest::EndsWith,
                        "contains" => StrTest::Contains,
                        _ => return None,
                    };
                    Fast::Str2(test, b(t)?, b(&args[0])?)
                }
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// A variable's field (`node.cpu.utilization`), or a label read by field
/// (`node.labels.zone`).
fn path(e: &cel::IdedExpr) -> Option<Fast> {
    let (root, _, fields, _) = super::chain(e)?;
    let find = |fields: &[&str]| {
        LEAVES
            .iter()
            .find(|(r, p, _)| *r == root && *p == fields)
            .map(|l| l.2)
    };
    if let Some(l) = find(&fields) {
        return Some(Fast::Leaf(l));
    }
    let (key, map) = fields.split_last()?;
    let l = find(map).filter(|l| matches!(l, Leaf::NodeLabels | Leaf::PodLabels))?;
    Some(Fast::Index(
        Box::new(Fast::Leaf(l)),
        Box::new(Fast::Str(key.to_string())),
    ))
}

impl Fast {
    /// The expression's value, or `None` where only the interpreter can say.
    pub fn eval<'a>(&'a self, r: &dyn Resolve<'a>) -> Option<V<'a>> {
        Some(match self {
            Fast::Bool(v) => V::Bool(*v),
            Fast::Int(v) => V::Int(*v),
            Fast::UInt(v) => V::UInt(*v),
            Fast::Float(v) => V::Float(*v),
            Fast::Str(v) => V::Str(v),
            Fast::Null => V::Null,
            Fast::Leaf(l) => r.leaf(*l)?,
            Fast::List(_) => return None,
            Fast::Index(m, k) => match (m.eval(r)?, k.eval(r)?) {
                (V::Labels(m), V::Str(k)) => V::Str(m.get(k)?.as_str()),
                _ => return None,
            },
            Fast::Has(m, k) => match m.eval(r)? {
                V::Labels(m) => V::Bool(m.contains_key(k)),
                _ => return None,
            },
            Fast::In(x, c) => {
                if let Fast::List(items) = &**c {
                    let x = x.eval(r)?;
                    let mut found = false;
                    for i in items {
                        found |= eq(x, i.eval(r)?)?;
                    }
                    V::Bool(found)
                } else {
                    match (x.eval(r)?, c.eval(r)?) {
                        (V::Str(k), V::Labels(m)) => V::Bool(m.contains_key(k)),
                        _ => return None,
                    }
                }
            }
            Fast::Not(x) => match x.eval(r)? {
                V::Bool(b) => V::Bool(!b),
                _ => return None,
            },
            Fast::Neg(x) => match x.eval(r)? {
                V::Int(i) => V::Int(i.checked_neg()?),
                V::Float(f) => V::Float(-f),
                _ => return None,
            },
            Fast::And(a, b) => match a.eval(r)? {
                V::Bool(false) => V::Bool(false),
                V::Bool(true) => match b.eval(r)? {
                    V::Bool(v) => V::Bool(v),
                    _ => return None,
                },
                _ => return None,
            },
            Fast::Or(a, b) => match a.eval(r)? {
                V::Bool(true) => V::Bool(true),
                V::Bool(false) => match b.eval(r)? {
                    V::Bool(v) => V::Bool(v),
                    _ => return None,
                },
                _ => return None,
            },
            Fast::Cond(c, a, b) => match c.eval(r)? {
                V::Bool(true) => a.eval(r)?,
                V::Bool(false) => b.eval(r)?,
                _ => return None,
            },
            Fast::Cmp(c, a, b) => {
                let (a, b) = (a.eval(r)?, b.eval(r)?);
                V::Bool(match c {
                    Cmp::Eq => eq(a, b)?,
                    Cmp::Ne => !eq(a, b)?,
                    Cmp::Lt => ord(a, b)? == Ordering::Less,
                    Cmp::Le => ord(a, b)? != Ordering::Greater,
                    Cmp::Gt => ord(a, b)? == Ordering::Greater,
                    Cmp::Ge => ord(a, b)? != Ordering::Less,
                })
            }
            Fast::Arith(op, a, b) => arith(*op, a.eval(r)?, b.eval(r)?)?,
            Fast::Min(args) => extreme(Ordering::Less, args.iter().map(|x| x.eval(r)), ord)?,
            Fast::Max(args) => extreme(Ordering::Greater, args.iter().map(|x| x.eval(r)), ord)?,
            Fast::Size(x) => match x.eval(r)? {
                V::Labels(m) => V::Int(i64::try_from(m.len()).ok()?),
                V::Str(s) => V::Int(i64::try_from(s.chars().count()).ok()?),
                _ => return None,
            },
            Fast::Str2(t, s, x) => match (s.eval(r)?, x.eval(r)?) {
                (V::Str(s), V::Str(x)) => V::Bool(match t {
                    StrTest::StartsWith => s.starts_with(x),
                    StrTest::EndsWith => s.ends_with(x),
                    StrTest::Contains => s.contains(x),
                }),
                _ => return None,
            },
        })
    }
}

/// A float expression: float leaves and literals, `+ - * /`, negation, `min` and `max`, so
/// every value in it is a float and is carried untagged. It computes what [`Fast::eval`]
/// computes for the same expression, and answers exactly when that does.
#[derive(Debug)]
pub enum Num {
    Const(f64),
    Leaf(Leaf),
    Neg(Box<Num>),
    Arith(Arith, Box<Num>, Box<Num>),
    Min(Vec<Num>),
    Max(Vec<Num>),
}

impl Num {
    /// The float form of `f`; `None` when any part of it may be something other than a float.
    pub fn of(f: &Fast) -> Option<Num> {
        let b = |f: &Fast| Num::of(f).map(Box::new);
        let all = |args: &[Fast]| args.iter().map(Num::of).collect::<Option<Vec<_>>>();
        Some(match f {
            Fast::Float(v) => Num::Const(*v),
            Fast::Leaf(l) if float_leaf(*l) => Num::Leaf(*l),
            Fast::Neg(x) => Num::Neg(b(x)?),
            Fast::Arith(op, x, y) if !matches!(op, Arith::Rem) => Num::Arith(*op, b(x)?, b(y)?),
            Fast::Min(args) if !args.is_empty() => Num::Min(all(args)?),
            Fast::Max(args) if !args.is_empty() => Num::Max(all(args)?),
            _ => return None,
        })
    }

    pub fn eval<'a>(&self, r: &dyn Resolve<'a>) -> Option<f64> {
        Some(match self {
            Num::Const(v) => *v,
            Num::Leaf(l) => match r.leaf(*l)? {
                V::Float(f) => f,
                _ => return None,
            },
            Num::Neg(x) => -x.eval(r)?,
            Num::Arith(op, a, b) => float_arith(*op, a.eval(r)?, b.eval(r)?)?,
            // NaN has no order: the interpreter decides, as on the tagged path.
            Num::Min(args) => extreme(Ordering::Less, args.iter().map(|x| x.eval(r)), |a, b| {
                a.partial_cmp(&b)
            })?,
            Num::Max(args) => {
                extreme(Ordering::Greater, args.iter().map(|x| x.eval(r)), |a, b| {
                    a.partial_cmp(&b)
                })?
            }
        })
    }
}

/// The leaves whose values are floats.
fn float_leaf(l: Leaf) -> bool {
    matches!(
        l,
        Leaf::NodeCpuUtilization
            | Leaf::NodeCpuForecast
            | Leaf::NodeMemoryUtilization
            | Leaf::NodePowerWatts
            | Leaf::PodCpuUsage
            | Leaf::PodCpuForecast
            | Leaf::PodCpuRequest
            | Leaf::PodCpuLimit
            | Leaf::PodMemoryUsage
            | Leaf::PodMemoryRequest
            | Leaf::PodMemoryLimit
            | Leaf::ClusterCpuUtilization
            | Leaf::ClusterMemoryUtilization
            | Leaf::ClusterPowerWatts
    )
}

/// CEL equality as the interpreter has it: numbers compare across types, other kinds are
/// never equal to each other; maps are left to the interpreter.
fn eq(a: V<'_>, b: V<'_>) -> Option<bool> {
    Some(match (a, b) {
        (V::Labels(_), _) | (_, V::Labels(_)) => return None,
        (V::Bool(a), V::Bool(b)) => a == b,
        (V::Str(a), V::Str(b)) => a == b,
        (V::Null, V::Null) => true,
        (V::Int(_) | V::UInt(_) | V::Float(_), V::Int(_) | V::UInt(_) | V::Float(_)) => {
            ord(a, b) == Some(Ordering::Equal)
        }
        _ => false,
    })
}

/// CEL ordering: within a kind, and across the numeric kinds.
fn ord(a: V<'_>, b: V<'_>) -> Option<Ordering> {
    match (a, b) {
        (V::Int(a), V::Int(b)) => Some(a.cmp(&b)),
        (V::UInt(a), V::UInt(b)) => Some(a.cmp(&b)),
        (V::Float(a), V::Float(b)) => a.partial_cmp(&b),
        (V::Str(a), V::Str(b)) => Some(a.cmp(b)),
        (V::Bool(a), V::Bool(b)) => Some(a.cmp(&b)),
        (V::Int(a), V::UInt(b)) => Some(u64::try_from(a).map_or(Ordering::Less, |a| a.cmp(&b))),
        (V::UInt(a), V::Int(b)) => Some(i64::try_from(a).map_or(Ordering::Greater, |a| a.cmp(&b))),
        (V::Int(a), V::Float(b)) => (a as f64).partial_cmp(&b),
        (V::UInt(a), V::Float(b)) => (a as f64).partial_cmp(&b),
        (V::Float(a), V::Int(b)) => a.partial_cmp(&(b as f64)),
        (V::Float(a), V::UInt(b)) => a.partial_cmp(&(b as f64)),
        _ => None,
    }
}

/// Arithmetic within one numeric kind; overflow, division by zero and mixed kinds are the
/// interpreter's to report.
fn arith<'a>(op: Arith, a: V<'a>, b: V<'a>) -> Option<V<'a>> {
    Some(match (a, b) {
        (V::Int(a), V::Int(b)) => V::Int(match op {
            Arith::Add => a.checked_add(b)?,
            Arith::Sub => a.checked_sub(b)?,
            Arith::Mul => a.checked_mul(b)?,
            Arith::Div => a.checked_div(b)?,
            Arith::Rem => a.checked_rem(b)?,
        }),
        (V::UInt(a), V::UInt(b)) => V::UInt(match op {
            Arith::Add => a.checked_add(b)?,
            Arith::Sub => a.checked_sub(b)?,
            Arith::Mul => a.checked_mul(b)?,
            Arith::Div => a.checked_div(b)?,
            Arith::Rem => a.checked_rem(b)?,
        }),
        (V::Float(a), V::Float(b)) => V::Float(float_arith(op, a, b)?),
        _ => return None,
    })
}

/// Float arithmetic as CEL has it; `%` is the interpreter's to report.
fn float_arith(op: Arith, a: f64, b: f64) -> Option<f64> {
    Some(match op {
        Arith::Add => a + b,
        Arith::Sub => a - b,
        Arith::Mul => a * b,
        Arith::Div => a / b,
        Arith::Rem => return None,
    })
}

/// `min` (`keep` Less) or `max` (`keep` Greater) of values evaluated in order: each value
/// replaces the one kept so far unless that one orders `keep` against it. `None` when there
/// are none, when one has no value, or when two do not order.
fn extreme<T: Copy>(
    keep: Ordering,
    mut values: impl Iterator<Item = Option<T>>,
    ord: impl Fn(T, T) -> Option<Ordering>,
) -> Option<T> {
    let mut acc = values.next()??;
    for x in values {
        let x = x?;
        if ord(acc, x)? != keep {
            acc = x;
        }
    }
    Some(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leaf_is_a_field_of_a_planner_variable() {
        for (root, path, leaf) in LEAVES {
            let &(_, mut shape) = super::super::VARIABLES
                .iter()
                .find(|(n, _)| n == root)
                .unwrap_or_else(|| panic!("{leaf:?}: no variable {root}"));
            for f in *path {
                let super::super::Shape::Obj(fields) = shape else {
                    panic!("{leaf:?}: {root} has no field {f}");
                };
                shape = fields.iter().find(|(n, _)| n == f).expect("field").1;
            }
            assert!(
                !matches!(shape, super::super::Shape::Obj(_)),
                "{leaf:?} is a leaf or a map"
            );
        }
    }

    #[test]
    fn the_common_forms_compile_and_the_rest_do_not() {
        let fast = |src: &str| compile(super::super::compile(src).unwrap().expression()).is_some();
        assert!(fast(
            "node.cpu.utilization < 0.5 && node.labels['zone'] != 'z3'"
        ));
        assert!(fast("min(1.0, pod.cpu.usage / (pod.cpu.limit + 0.001))"));
        assert!(fast(
            "has(node.labels.gpu) || node.labels.zone in ['a', 'b']"
        ));
        assert!(!fast("node.labels.exists(k, k == 'gpu')"));
        assert!(!fast("now.hour >= 22"));
        assert!(!fast("b'x' == b'x'"));
    }
}
