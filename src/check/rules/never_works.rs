//! K016 `never-works`: values that make an object inert or unsatisfiable.

use crate::check::{Rule, Scope};
use crate::model::Object;
use crate::syntax::diag::{Diagnostic, Severity};
use crate::syntax::load::Document;

pub static RULE: Rule = Rule {
    code: crate::syntax::diag::code::NEVER_WORKS,
    name: "never-works",
    summary: "A value that makes the object do nothing, ever.",
    severity: Severity::Error,
    scope: Scope::Document(check),
    doc: r#"
What it checks: fields whose value leaves the object inert — it passes every other check and
then never acts:

- `schedule.windows: []`: a schedule with no window is never open, so the policy never runs
  (leave `schedule` out to run all the time);
- a window whose `start` equals its `end`: it is unclear whether that means no time or the whole
  day (leave `schedule` out to run all day, or give a real span);
- `maxStep: 0` on a container's CPU: the market can never move it;
- two entries of one ScalingTarget's `containers` with the same name: one would silently win.

Why: an object that can never work is a mistake the author has not noticed yet; a policy
that never acts looks exactly like one whose conditions were simply not met.

Example:

    schedule:
      windows: []                      # never open
    ...
    containers:
      - { name: app, cpu: { maxStep: 0 } }   # never moves
"#,
};

fn check(doc: &Document, obj: &Object, out: &mut Vec<Diagnostic>) {
    let code = crate::syntax::diag::code::NEVER_WORKS;
    match obj {
        Object::Policy(p) => {
            let Some(s) = &p.spec.schedule else { return };
            // As written: windows that failed to decode have been reported already.
            let written_empty = doc.node.at("spec.schedule.windows").is_some_and(
                |w| matches!(&w.value, crate::syntax::tree::Value::Seq(items) if items.is_empty()),
            );
            if written_empty {
                out.push(
                    doc.error(
                        code,
                        "spec.schedule.windows",
                        "a schedule with no window is never open",
                    )
                    .with_help("add a window, or leave `schedule` out to run all the time"),
                );
            }
            for (i, w) in s.windows.iter().enumerate() {
                if w.start.minutes == w.end.minutes {
                    out.push(
                        doc.error(
                            code,
                            &format!("spec.schedule.windows[{i}].end"),
                            "this window starts where it ends: no time, or the whole day?",
                        )
                        .with_help("give a real span, or leave `schedule` out to run all day"),
                    );
                }
            }
        }
        Object::ScalingTarget(t) => {
            for (i, c) in t.spec.containers.iter().enumerate() {
                if c.cpu
                    .as_ref()
                    .and_then(|r| r.max_step)
                    .is_some_and(|s| s.0 == 0)
                {
                    out.push(
                        doc.error(
                            code,
                            &format!("spec.containers[{i}].cpu.maxStep"),
                            "maxStep 0: the market can never move this container",
                        )
                        .with_help("set a step such as 250m, or leave maxStep out for no limit"),
                    );
                }
                if let Some(first) = t.spec.containers[..i].iter().position(|o| o.name == c.name) {
                    let mut d = doc
                        .error(
                            code,
                            &format!("spec.containers[{i}].name"),
                            format!("container `{}` is listed twice", c.name),
                        )
                        .with_help("merge the two entries");
                    d = d.with_related(
                        doc.span(&format!("spec.containers[{first}].name")),
                        "first listed here",
                    );
                    out.push(d);
                }
            }
        }
        _ => {}
    }
}
