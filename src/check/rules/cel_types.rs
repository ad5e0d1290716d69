//! K017 `cel-types`: a CEL expression whose types can never work.

use crate::check::{Rule, Scope};
use crate::syntax::diag::Severity;

pub static RULE: Rule = Rule {
    code: crate::syntax::diag::code::CEL_TYPES,
    name: "cel-types",
    summary: "A CEL expression combines values of types that never fit, or is not what its field needs.",
    severity: Severity::Error,
    // Runs in the same pass as K011, on every expression that compiles.
    scope: Scope::FrontEnd,
    doc: r#"
What it checks: the types of a CEL expression as far as they are known before it runs —
literals, and kilter's variables (`node.cpu.utilization` is a number, `node.name` and label
values are strings, `node.labels` is a map):

- `when` and `nodeFilter` are booleans; `demand` is a number (a literal one between 0 and 1);
- `&&`, `||`, `!` and the condition of `?:` take booleans;
- `+` adds two numbers, two strings, two lists or two byte strings, not a mix;
- `-`, `*`, `/`, `%` and unary `-` take numbers;
- `<`, `<=`, `>`, `>=` compare two numbers, two strings or two byte strings.

Values whose type is known only when the expression runs (macro variables, timestamps,
functions kilter does not type) are not checked. The diagnostic points at the operand or
operator at fault.

Why: CEL raises a type error at run time, on every cycle: the policy never acts, and nothing
says so until someone reads the controller's logs.

Example:

    when: "cluster.cpu.utilization + 'x' > 1"   # a number plus a string
    nodeFilter: "'1'"                          # a string, not a condition
"#,
};
