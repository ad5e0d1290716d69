//! K014 `single-writer`: two enforcing policies of equal priority write the same knob on
//! nodes that may overlap.

use std::collections::BTreeMap;

use crate::check::{Rule, Scope};
use crate::diag::{Diagnostic, Severity};
use crate::load::Document;
use crate::model::selector::may_overlap;
use crate::model::{ActionKind, Mode, Object, Policy, Schedule};

pub static RULE: Rule = Rule {
    code: crate::diag::code::SINGLE_WRITER,
    name: "single-writer",
    summary: "Two Enforce policies of equal priority write the same knob on overlapping nodes.",
    severity: Severity::Error,
    scope: Scope::Bundle(check),
    doc: r#"
What it checks: across all files linted together, no two policies in `Enforce` mode with the same
`priority` write the same knob — the CPU governor; node schedulability (consolidate, cordon,
drain); pod CPU (resize) — on node selectors that can match a common node, at times that can
coincide. Selectors are compared by their labels and expressions (`pool: a` and `pool: b` never
overlap; a missing selector matches every node). Schedules in the same time zone whose windows
never meet do not conflict. For resize, the target selectors must overlap too.

Why: kilter keeps one writer per knob per object. With equal priorities the winner would be
decided by name alone, which is rarely what the author meant. Give one policy a higher priority,
or make the selectors or schedules disjoint.

Example:

    policy night-a { priority: 10, mode: Enforce, nodeSelector { matchLabels { pool: w } }
                     action { governor { name: powersave } } }
    policy night-b { priority: 10, mode: Enforce,
                     action { governor { name: performance } } }   # same knob, same priority
"#,
};

const WEEK: usize = 7 * 1440;

/// Minutes of the week a schedule is active (in its own time zone).
fn active_minutes(s: &Schedule) -> Vec<bool> {
    (0..WEEK)
        .map(|m| {
            let day = crate::model::Weekday::ALL[m / 1440];
            let minute = (m % 1440) as u16;
            s.windows.iter().any(|w| w.holds(day, minute))
        })
        .collect()
}

fn times_may_coincide(a: &Policy, b: &Policy) -> bool {
    let (Some(sa), Some(sb)) = (&a.spec.schedule, &b.spec.schedule) else {
        return true;
    };
    let tz = |s: &Schedule| s.time_zone.clone().unwrap_or_else(|| "UTC".into());
    if tz(sa) != tz(sb) {
        return true;
    }
    let (ma, mb) = (active_minutes(sa), active_minutes(sb));
    ma.iter().zip(&mb).any(|(x, y)| *x && *y)
}

fn conflict(a: &Policy, ka: ActionKind, b: &Policy, kb: ActionKind) -> bool {
    if !may_overlap(a.spec.node_selector.as_ref(), b.spec.node_selector.as_ref()) {
        return false;
    }
    if ka == ActionKind::Resize && kb == ActionKind::Resize {
        let (ra, rb) = (a.spec.action.resize.as_ref(), b.spec.action.resize.as_ref());
        if !may_overlap(
            ra.map(|r| &r.target_selector),
            rb.map(|r| &r.target_selector),
        ) {
            return false;
        }
    }
    times_may_coincide(a, b)
}

/// An enforcing policy with the one knob it writes.
type Writer<'a> = (&'a Document, &'a Policy, ActionKind);

fn check(docs: &[Document], out: &mut Vec<Diagnostic>) {
    // Group enforcing policies by (priority, knob); only members of one group can conflict.
    let mut groups: BTreeMap<(i32, &'static str), Vec<Writer<'_>>> = BTreeMap::new();
    for d in docs {
        let Some(Object::Policy(p)) = &d.object else {
            continue;
        };
        if p.spec.mode() != Mode::Enforce {
            continue;
        }
        if let [kind] = p.spec.action.kinds()[..] {
            groups
                .entry((p.spec.priority(), kind.knob()))
                .or_default()
                .push((d, p, kind));
        }
    }
    for ((priority, knob), mut members) in groups {
        members.sort_by(|x, y| x.1.metadata.name.cmp(&y.1.metadata.name));
        for j in 1..members.len() {
            let (db, pb, kb) = members[j];
            let Some(&(da, pa, _)) = members[..j]
                .iter()
                .find(|(_, pa, ka)| conflict(pa, *ka, pb, kb))
            else {
                continue;
            };
            let a_name = pa.metadata.name.as_deref().unwrap_or("");
            let b_name = pb.metadata.name.as_deref().unwrap_or("");
            let mut d = Diagnostic::error(
                crate::diag::code::SINGLE_WRITER,
                &db.file,
                db.key_span("spec.action"),
                format!(
                    "policies `{a_name}` and `{b_name}` both write {knob} on overlapping nodes with equal priority {priority}"
                ),
            )
            .with_label("second writer");
            let help = "give one of them a higher `priority`, or make their nodeSelectors or schedules disjoint";
            d = if std::sync::Arc::ptr_eq(&da.file, &db.file) {
                d.with_related(
                    da.key_span("spec.action"),
                    format!("`{a_name}` writes it here"),
                )
                .with_help(help)
            } else {
                let (l, c) = da.file.line_col(da.key_span("spec.action").start);
                d.with_help(format!("`{a_name}` is at {}:{l}:{c}; {help}", da.file.path))
            };
            out.push(d);
        }
    }
}
