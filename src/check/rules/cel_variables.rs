//! K012 `cel-variables`: a CEL expression reads a variable or field its field may not use.

use crate::check::{Rule, Scope};
use crate::syntax::diag::Severity;

pub static RULE: Rule = Rule {
    code: crate::syntax::diag::code::CEL_VARIABLES,
    name: "cel-variables",
    summary: "A CEL expression uses a variable or field not available to its field.",
    severity: Severity::Error,
    // Runs in the same pass as K011, on every expression that compiles.
    scope: Scope::FrontEnd,
    doc: r#"
What it checks: every identifier a CEL expression reads is a variable its field may use, and
every field path below it exists:

- Policy `when`: `cluster`, `now`, `budget`
- Policy `nodeFilter`: `node`, `cluster`, `now`, `budget`
- ScalingTarget `demand`: `pod`, `node`, `cluster`, `now`

`cluster` has cpu.utilization, memory.utilization, power.watts, nodes.{total, ready,
schedulable, cordoned}; `node` has name, labels, cpu.{utilization, forecast},
memory.utilization, governor, powerWatts, pods; `pod` has namespace, name, labels,
cpu.{usage, request, limit, forecast}, memory.{usage, request, limit}; `now` has timestamp, hour, minute, weekday; `budget` has
power.{watts, maxWatts, percent} and disruption.{unavailable, maxUnavailable, drainsLastHour}.
Variables bound by macros (`exists`, `all`, `map`, …) are allowed inside them.

Why: CEL in kilter has no static type checker at run time; a misspelt variable would be an
evaluation error on every cycle, and the policy would never act.

Example:

    when: 'node.cpu.utilization < 0.5'   # `node` is not available in `when`: use nodeFilter
"#,
};
