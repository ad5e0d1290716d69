//! K011 `cel-syntax`: a CEL expression that does not parse.

use crate::check::{Rule, Scope};
use crate::model::Object;
use crate::syntax::diag::{Diagnostic, Severity};
use crate::syntax::load::Document;

pub static RULE: Rule = Rule {
    code: crate::syntax::diag::code::CEL_SYNTAX,
    name: "cel-syntax",
    summary: "A CEL expression that does not compile.",
    severity: Severity::Error,
    scope: Scope::Document(check),
    doc: r#"
What it checks: `when`, `nodeFilter` (Policy) and `demand` (ScalingTarget) compile as CEL. The
diagnostic points at the position inside the expression where parsing failed. Expressions
longer than 4096 characters, nested deeper than 48 levels, or whose nested comprehensions could
take more than 1,000,000 steps are rejected, so that evaluation stays bounded.

Why: a policy whose condition cannot be evaluated never acts, or acts when it should not.

Example:

    when: 'cluster.cpu.utilization < '    # the comparison has no right-hand side
"#,
};

/// Findings for one expression in one field: (code, finding).
type Findings = Vec<(&'static str, crate::expr::Finding)>;

thread_local! {
    // Repositories repeat the same expressions across many files; compiling is the costly
    // part of linting, so results are remembered per thread, by field and text.
    static CACHE: std::cell::RefCell<std::collections::HashMap<(&'static str, String), std::rc::Rc<Findings>>> =
        Default::default();
}

const CACHE_LIMIT: usize = 4096;

fn findings(field: &'static str, expr: &str) -> std::rc::Rc<Findings> {
    let key = (field, expr.to_string());
    if let Some(hit) = CACHE.with(|c| c.borrow().get(&key).cloned()) {
        return hit;
    }
    let result: Findings = match crate::expr::compile(expr) {
        Err(errors) => errors
            .into_iter()
            .map(|f| (crate::syntax::diag::code::CEL_SYNTAX, f))
            .collect(),
        Ok(program) => {
            let cost = crate::expr::estimated_cost(&program);
            if cost > crate::expr::MAX_COST {
                let message = format!(
                    "the expression may take {cost} steps to evaluate; the limit is {}",
                    crate::expr::MAX_COST
                );
                let help = Some(
                    "nested comprehensions multiply: iterate over fewer or smaller lists".into(),
                );
                vec![(
                    crate::syntax::diag::code::CEL_SYNTAX,
                    crate::expr::Finding {
                        offset: 0,
                        len: 1,
                        message,
                        help,
                    },
                )]
            } else {
                let mut found: Findings = crate::expr::check_references(&program, field)
                    .into_iter()
                    .map(|f| (crate::syntax::diag::code::CEL_VARIABLES, f))
                    .collect();
                found.extend(
                    crate::expr::check_types(&program, field)
                        .into_iter()
                        .map(|f| (crate::syntax::diag::code::CEL_TYPES, f)),
                );
                found
            }
        }
    };
    let result = std::rc::Rc::new(result);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_LIMIT {
            c.clear();
        }
        c.insert(key, result.clone());
    });
    result
}

fn check(doc: &Document, obj: &Object, out: &mut Vec<Diagnostic>) {
    for (path, field, expr) in super::cel_fields(obj) {
        for (code, f) in findings(field, expr).iter() {
            let span = super::span_in_string(doc, path, f.offset, f.len);
            let d = if *code == crate::syntax::diag::code::CEL_SYNTAX {
                Diagnostic::error(
                    crate::syntax::diag::code::CEL_SYNTAX,
                    &doc.file,
                    span,
                    format!("invalid CEL in `{field}`: {}", f.message),
                )
            } else {
                let label = if *code == crate::syntax::diag::code::CEL_VARIABLES {
                    "this is read here"
                } else {
                    "here"
                };
                Diagnostic::error(
                    code,
                    &doc.file,
                    span,
                    format!("in `{field}`: {}", f.message),
                )
                .with_label(label)
            };
            out.push(d.with_help_opt(f.help.clone()));
        }
    }
}
