//! K014 `single-writer`: two enforcing policies of equal priority write the same knob on
//! nodes that may overlap.

use std::collections::BTreeMap;

use crate::check::{Rule, Scope};
use crate::model::selector::may_overlap;
use crate::model::{ActionKind, Mode, Object, Policy, Schedule};
use crate::syntax::diag::{Diagnostic, Severity};
use crate::syntax::load::Document;

pub static RULE: Rule = Rule {
    code: crate::syntax::diag::code::SINGLE_WRITER,
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

/// The minutes of the week a schedule is active (in its own time zone), as a bit set.
#[derive(Clone)]
struct Week([u64; WEEK.div_ceil(64)]);

impl Week {
    fn of(s: &Schedule) -> Week {
        let mut bits = [0u64; WEEK.div_ceil(64)];
        for w in &s.windows {
            // `holds` compares the minute with the window's start and end only, so it is the
            // same from one of those to the next: ask once per stretch, not once per minute.
            let mut cuts = [0, w.start.minutes.min(1440), w.end.minutes.min(1440), 1440];
            cuts.sort_unstable();
            for (d, &day) in crate::model::Weekday::ALL.iter().enumerate() {
                for pair in cuts.windows(2) {
                    let (from, to) = (pair[0], pair[1]);
                    if from < to && w.holds(day, from) {
                        let base = d * 1440;
                        set_range(&mut bits, base + usize::from(from), base + usize::from(to));
                    }
                }
            }
        }
        Week(bits)
    }

    fn meets(&self, other: &Week) -> bool {
        self.0.iter().zip(&other.0).any(|(a, b)| a & b != 0)
    }
}

/// Sets bits `from..to`, a word at a time.
fn set_range(bits: &mut [u64], from: usize, to: usize) {
    let mut m = from;
    while m < to {
        let lo = m % 64;
        let n = (64 - lo).min(to - m);
        let ones = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        bits[m / 64] |= ones << lo;
        m += n;
    }
}

/// When a policy runs: always (no schedule), or in its time zone's minutes of the week.
/// Computed once per policy, so comparing two is cheap.
type When = Option<(String, Week)>;

fn when(p: &Policy) -> When {
    let s = p.spec.schedule.as_ref()?;
    let tz = s.time_zone.clone().unwrap_or_else(|| "UTC".into());
    Some((tz, Week::of(s)))
}

fn times_may_coincide(a: &When, b: &When) -> bool {
    match (a, b) {
        (Some((ta, wa)), Some((tb, wb))) => ta != tb || wa.meets(wb),
        _ => true,
    }
}

fn conflict(a: &Writer<'_>, b: &Writer<'_>) -> bool {
    let (a, ka, b, kb) = (a.1, a.2, b.1, b.2);
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
    true
}

/// An enforcing policy with the one knob it writes.
type Writer<'a> = (&'a Document, &'a Policy, ActionKind, When);

/// Narrows the policies that may overlap one another by the label most of them select with in
/// `matchLabels` (say `pool`): a policy that requires `pool: a` can only overlap those that
/// require `pool: a` too or do not require `pool` at all. This keeps the check near-linear on
/// repositories of many policies for disjoint pools.
struct LabelIndex {
    /// Each member's value of the key, if it requires one.
    value: Vec<Option<String>>,
    /// Members by value, in name order; `None`: members that do not pin the key.
    by_value: BTreeMap<Option<String>, Vec<usize>>,
}

impl LabelIndex {
    fn new(members: &[Writer<'_>]) -> LabelIndex {
        let labels = |w: &Writer<'_>| {
            w.1.spec
                .node_selector
                .as_ref()
                .and_then(|s| s.match_labels.clone())
                .unwrap_or_default()
        };
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for w in members {
            for k in labels(w).into_keys() {
                *counts.entry(k).or_default() += 1;
            }
        }
        let key = counts.into_iter().max_by_key(|(_, n)| *n).map(|(k, _)| k);
        let value: Vec<Option<String>> = members
            .iter()
            .map(|w| key.as_ref().and_then(|k| labels(w).remove(k)))
            .collect();
        let mut by_value: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
        for (i, v) in value.iter().enumerate() {
            by_value.entry(v.clone()).or_default().push(i);
        }
        LabelIndex { value, by_value }
    }

    /// The members before `j` that may overlap it, in name order.
    fn candidates(&self, j: usize) -> Box<dyn Iterator<Item = usize> + '_> {
        let before = move |v: &Option<String>| {
            self.by_value
                .get(v)
                .into_iter()
                .flatten()
                .copied()
                .take_while(move |&i| i < j)
        };
        match &self.value[j] {
            None => Box::new(0..j),
            Some(_) => {
                let mut same: Vec<usize> = before(&self.value[j]).chain(before(&None)).collect();
                same.sort_unstable();
                Box::new(same.into_iter())
            }
        }
    }
}

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
                .push((d, p, kind, when(p)));
        }
    }
    for ((priority, knob), mut members) in groups {
        members.sort_by(|x, y| x.1.metadata.name.cmp(&y.1.metadata.name));
        let index = LabelIndex::new(&members);
        for j in 1..members.len() {
            let b = &members[j];
            let Some(a) = index
                .candidates(j)
                .map(|i| &members[i])
                .find(|a| conflict(a, b) && times_may_coincide(&a.3, &b.3))
            else {
                continue;
            };
            let (da, pa, db, pb) = (a.0, a.1, b.0, b.1);
            let a_name = pa.metadata.name.as_deref().unwrap_or("");
            let b_name = pb.metadata.name.as_deref().unwrap_or("");
            let mut d = Diagnostic::error(
                crate::syntax::diag::code::SINGLE_WRITER,
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

#[cfg(test)]
mod tests {
    use super::{WEEK, Week};
    use crate::model::{Schedule, TimeOfDay, Weekday, Window};
    use proptest::prelude::*;

    /// The week minute by minute, straight from `Window::holds`.
    fn minute_by_minute(s: &Schedule) -> Week {
        let mut bits = [0u64; WEEK.div_ceil(64)];
        for m in 0..WEEK {
            let day = Weekday::ALL[m / 1440];
            if s.windows.iter().any(|w| w.holds(day, (m % 1440) as u16)) {
                bits[m / 64] |= 1 << (m % 64);
            }
        }
        Week(bits)
    }

    fn window() -> impl Strategy<Value = Window> {
        // Minutes near the day's ends and the word boundaries are where stretches go wrong.
        let minute = prop_oneof![
            0u16..1440,
            Just(0),
            Just(1439),
            Just(63),
            Just(64),
            Just(1408)
        ];
        (
            proptest::collection::vec(0usize..7, 0..4),
            minute.clone(),
            minute,
        )
            .prop_map(|(days, start, end)| Window {
                days: days.into_iter().map(|d| Weekday::ALL[d]).collect(),
                start: TimeOfDay { minutes: start },
                end: TimeOfDay { minutes: end },
            })
    }

    proptest! {
        #[test]
        fn weeks_by_stretches_equal_weeks_by_minutes(windows in proptest::collection::vec(window(), 0..4)) {
            let s = Schedule { time_zone: None, windows };
            prop_assert_eq!(Week::of(&s).0, minute_by_minute(&s).0);
        }
    }
}
