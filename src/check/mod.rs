//! Semantic rules. One rule per file under `rules/`, each with a stable code and a doc that
//! `kilter lint --explain CODE` prints. The registry below lists them in code order.

pub mod rules;

use crate::model::Object;
use crate::syntax::diag::{Diagnostic, Severity};
use crate::syntax::load::Document;

/// When a rule runs.
#[derive(Clone, Copy)]
pub enum Scope {
    /// Reported by the front end while parsing and decoding.
    FrontEnd,
    /// Runs on each document that decoded cleanly.
    Document(fn(&Document, &Object, &mut Vec<Diagnostic>)),
    /// Runs once over every document linted together.
    Bundle(fn(&[Document], &mut Vec<Diagnostic>)),
}

pub struct Rule {
    pub code: &'static str,
    pub name: &'static str,
    pub summary: &'static str,
    pub severity: Severity,
    pub doc: &'static str,
    pub scope: Scope,
}

pub static RULES: &[&Rule] = &[
    &rules::syntax::RULE,
    &rules::envelope::RULE,
    &rules::unknown_field::RULE,
    &rules::types::RULE,
    &rules::invalid_value::RULE,
    &rules::ranges::RULE,
    &rules::enums::RULE,
    &rules::time_zone::RULE,
    &rules::one_action::RULE,
    &rules::probe_endpoint::RULE,
    &rules::cel_syntax::RULE,
    &rules::cel_variables::RULE,
    &rules::duplicate_name::RULE,
    &rules::single_writer::RULE,
    &rules::resize_target::RULE,
    &rules::never_works::RULE,
    &rules::cel_types::RULE,
];

pub fn rule(code: &str) -> Option<&'static Rule> {
    RULES
        .iter()
        .copied()
        .find(|r| r.code.eq_ignore_ascii_case(code))
}

/// Runs the per-document rules on one document.
pub fn check_document(doc: &Document, out: &mut Vec<Diagnostic>) {
    if let Some(obj) = &doc.object {
        for r in RULES {
            if let Scope::Document(f) = r.scope {
                f(doc, obj, out);
            }
        }
    }
}

/// Runs the rules that look across all documents.
pub fn check_bundle(docs: &[Document], out: &mut Vec<Diagnostic>) {
    for r in RULES {
        if let Scope::Bundle(f) = r.scope {
            f(docs, out);
        }
    }
}

/// The text `kilter lint --explain` prints.
pub fn explain(r: &Rule) -> String {
    format!(
        "{} ({}) — {}\n\nDefault severity: {}\n\n{}\n",
        r.code,
        r.name,
        r.summary,
        r.severity.as_str(),
        r.doc.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_sorted_and_documented() {
        for w in RULES.windows(2) {
            assert!(w[0].code < w[1].code, "{} before {}", w[0].code, w[1].code);
        }
        for r in RULES {
            assert!(r.doc.contains("Example"), "{} has no example", r.code);
        }
    }
}
