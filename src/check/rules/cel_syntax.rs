//! K011 `cel-syntax`: a CEL expression that does not parse.

use crate::check::{Rule, Scope};
use crate::diag::{Diagnostic, Severity};
use crate::load::Document;
use crate::model::Object;

pub static RULE: Rule = Rule {
    code: "K011",
    name: "cel-syntax",
    summary: "A CEL expression that does not compile.",
    severity: Severity::Error,
    scope: Scope::Document(check),
    doc: r#"
What it checks: `when`, `nodeFilter` (Policy) and `demand` (ScalingTarget) compile as CEL. The
diagnostic points at the position inside the expression where parsing failed. Expressions
longer than 4096 characters or nested deeper than 48 levels are rejected, so that evaluation
stays bounded.

Why: a policy whose condition cannot be evaluated never acts, or acts when it should not.

Example:

    when: 'cluster.cpu.utilization < '    # the comparison has no right-hand side
"#,
};

fn check(doc: &Document, obj: &Object, out: &mut Vec<Diagnostic>) {
    for (path, field, expr) in super::cel_fields(obj) {
        match crate::expr::compile(expr) {
            Err(findings) => {
                for f in findings {
                    let span = super::span_in_string(doc, path, f.offset, f.len);
                    out.push(
                        Diagnostic::error("K011", &doc.file, span, format!("invalid CEL in `{field}`: {}", f.message))
                            .with_help_opt(f.help),
                    );
                }
            }
            Ok(program) => super::cel_variables::check_program(doc, path, field, &program, out),
        }
    }
}
