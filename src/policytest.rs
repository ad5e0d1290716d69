//! Policy tests (`kilter test`): a test file pairs policies and snapshots with the actions
//! expected (and forbidden) in the plan. Format: `docs/testing-policies.md`.

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::plan::{Plan, PlannedAction, Skipped};

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyTestSpec {
    /// Policy files or directories, relative to the test file.
    pub policies: Vec<String>,
    pub cases: Vec<Case>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Case {
    pub name: String,
    /// Snapshot file, relative to the test file.
    pub state: String,
    /// RFC 3339; defaults to the snapshot's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(default)]
    pub expect: Vec<Matcher>,
    #[serde(default)]
    pub forbid: Vec<Matcher>,
    #[serde(default)]
    pub expect_skipped: Vec<Matcher>,
}

/// Matches actions (or skipped actions) by the fields it sets; `params` must be a subset.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Matcher {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Json>,
    /// For skipped actions: a substring of the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn eq(want: &Option<String>, got: Option<&str>) -> bool {
    want.as_deref().is_none_or(|w| Some(w) == got)
}

/// Whether `got` contains everything `want` has (objects by key, other values equal).
fn subset(want: &Json, got: &Json) -> bool {
    match (want, got) {
        (Json::Object(w), Json::Object(g)) => w
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|gv| subset(v, gv))),
        _ => want == got,
    }
}

impl Matcher {
    /// The fields actions and skipped actions share.
    fn matches_common(
        &self,
        kind: crate::plan::ActionType,
        t: &crate::plan::Target,
        policy: &str,
        reason: &str,
    ) -> bool {
        eq(&self.kind, Some(kind.as_str()))
            && eq(&self.node, t.node.as_deref())
            && eq(&self.namespace, t.namespace.as_deref())
            && eq(&self.pod, t.pod.as_deref())
            && eq(&self.container, t.container.as_deref())
            && eq(&self.policy, Some(policy))
            && self.reason.as_deref().is_none_or(|r| reason.contains(r))
    }

    pub fn matches_action(&self, a: &PlannedAction) -> bool {
        self.matches_common(a.kind(), &a.target(), &a.policy, &a.reason())
            && self.enforce.is_none_or(|e| e == a.enforce)
            && self
                .params
                .as_ref()
                .is_none_or(|p| subset(p, &Json::Object(a.action.params())))
    }

    pub fn matches_skipped(&self, s: &Skipped) -> bool {
        self.matches_common(s.kind, &s.target, &s.policy, &s.reason)
            && self.enforce.is_none_or(|e| e == s.enforce)
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_json::to_string(self).unwrap_or_default())
    }
}

/// The outcome of one case: empty `failures` means it passed.
#[derive(Clone, Debug, Default)]
pub struct CaseResult {
    pub file: String,
    pub name: String,
    pub failures: Vec<String>,
}

/// Checks a plan against a case's expectations.
pub fn check(case: &Case, plan: &Plan) -> Vec<String> {
    let mut f = Vec::new();
    for m in &case.expect {
        if !plan.actions.iter().any(|a| m.matches_action(a)) {
            f.push(format!("expected, not planned: {m}"));
        }
    }
    for m in &case.forbid {
        for a in plan.actions.iter().filter(|a| m.matches_action(a)) {
            f.push(format!(
                "forbidden, but planned: {} {} [{}]: {}",
                a.kind().as_str(),
                a.target(),
                a.policy,
                a.reason()
            ));
        }
    }
    for m in &case.expect_skipped {
        if !plan.skipped.iter().any(|s| m.matches_skipped(s)) {
            f.push(format!("expected to be skipped, was not: {m}"));
        }
    }
    if !f.is_empty() {
        let mut s = String::from("the plan had:");
        for a in &plan.actions {
            let _ = write!(
                s,
                "\n  + {} {} [{}] {}",
                a.kind().as_str(),
                a.target(),
                a.policy,
                serde_json::to_string(&a.action.params()).unwrap_or_default()
            );
        }
        for k in &plan.skipped {
            let _ = write!(
                s,
                "\n  - skipped {} {} [{}]: {}",
                k.kind.as_str(),
                k.target,
                k.policy,
                k.reason
            );
        }
        f.push(s);
    }
    f
}

pub fn render_human(results: &[CaseResult]) -> String {
    let mut out = String::new();
    for r in results {
        if r.failures.is_empty() {
            let _ = writeln!(out, "PASS {} :: {}", r.file, r.name);
        } else {
            let _ = writeln!(out, "FAIL {} :: {}", r.file, r.name);
            for f in &r.failures {
                for line in f.lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
    }
    let failed = results.iter().filter(|r| !r.failures.is_empty()).count();
    let _ = writeln!(out, "\n{} passed, {failed} failed", results.len() - failed);
    out
}

/// Escapes text for XML 1.0 attributes and content; characters XML 1.0 cannot carry at all
/// (control characters other than tab, newline and carriage return) are written as `\u{..}`.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML, one testsuite per test file.
pub fn render_junit(results: &[CaseResult]) -> String {
    let mut files: Vec<&str> = results.iter().map(|r| r.file.as_str()).collect();
    files.dedup();
    let failed = results.iter().filter(|r| !r.failures.is_empty()).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"kilter\" tests=\"{}\" failures=\"{failed}\">\n",
        results.len()
    );
    for f in files {
        let cases: Vec<&CaseResult> = results.iter().filter(|r| r.file == f).collect();
        let fails = cases.iter().filter(|r| !r.failures.is_empty()).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\">",
            xml(f),
            cases.len()
        );
        for c in cases {
            if c.failures.is_empty() {
                let _ = writeln!(
                    out,
                    "    <testcase classname=\"{}\" name=\"{}\"/>",
                    xml(f),
                    xml(&c.name)
                );
            } else {
                let _ = writeln!(
                    out,
                    "    <testcase classname=\"{}\" name=\"{}\">",
                    xml(f),
                    xml(&c.name)
                );
                let _ = writeln!(
                    out,
                    "      <failure message=\"{}\">{}</failure>",
                    xml(c.failures.first().map(String::as_str).unwrap_or("")),
                    xml(&c.failures.join("\n"))
                );
                let _ = writeln!(out, "    </testcase>");
            }
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}
