//! `kilter test`.

use std::path::{Path, PathBuf};

use super::{EXIT_FINDINGS, EXIT_OK, emit, fail, files};
use crate::policytest::{CaseResult, PolicyTestSpec};

#[derive(clap::Args)]
pub struct Args {
    /// Test files or directories; files whose document has `kind: PolicyTest` are run.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Human,
    Junit,
}

/// Why a test file could not be used.
enum Unusable {
    /// It could not be read (exit 2).
    Io(String),
    /// It holds mistakes, rendered as diagnostics (a failing test run: exit 1).
    Invalid(String),
}

/// Reads a PolicyTest document, or None when the file holds something else.
fn read_test(path: &Path) -> Result<Option<PolicyTestSpec>, Unusable> {
    let file = files::read(path).map_err(Unusable::Io)?;
    if file.is_dsl() {
        return Ok(None);
    }
    let (docs, diags) = crate::syntax::yaml::parse(&file);
    let Some(doc) = docs
        .into_iter()
        .find(|d| d.node.get("kind").and_then(|k| k.as_str()) == Some("PolicyTest"))
    else {
        return Ok(None);
    };
    let spec = doc
        .node
        .get("spec")
        .cloned()
        .unwrap_or_else(|| doc.node.clone());
    let (t, issues) = crate::syntax::de::decode::<PolicyTestSpec>(&spec);
    let mut all: Vec<_> = diags;
    if let Some(t) = &t {
        all.extend(unknown_kinds(&file, &spec, t));
    }
    all.extend(issues.into_iter().map(|i| {
        crate::syntax::diag::Diagnostic::error(
            i.code,
            &file,
            i.span.unwrap_or(spec.span),
            i.message,
        )
        .with_help_opt(i.help)
    }));
    if !all.is_empty() {
        return Err(Unusable::Invalid(
            all.iter()
                .map(|d| crate::syntax::diag::render_human(d, false))
                .collect(),
        ));
    }
    Ok(t)
}

/// A matcher naming a policy the test's policies do not define can never match.
fn unknown_policies(case: &crate::policytest::Case, bundle: &crate::plan::Bundle) -> Vec<String> {
    let names: Vec<&str> = bundle
        .policies
        .iter()
        .filter_map(|p| p.metadata.name.as_deref())
        .collect();
    case.expect
        .iter()
        .chain(&case.forbid)
        .chain(&case.expect_skipped)
        // An uncordon may come from a policy removed since it cordoned.
        .filter(|m| m.kind.as_deref() != Some("uncordon"))
        .filter_map(|m| m.policy.as_deref())
        .filter(|p| !names.contains(p))
        .map(|p| format!("names policy `{p}`, which the test's policies do not define"))
        .collect()
}

/// A matcher naming an action kind kilter never plans would never match: a `forbid` with
/// a misspelled kind could never fail.
fn unknown_kinds(
    file: &std::sync::Arc<crate::syntax::source::SourceFile>,
    spec: &crate::syntax::tree::Node,
    t: &PolicyTestSpec,
) -> Vec<crate::syntax::diag::Diagnostic> {
    use crate::plan::ActionType;
    let known = [
        ActionType::SetGovernor,
        ActionType::Cordon,
        ActionType::Uncordon,
        ActionType::Drain,
        ActionType::Resize,
    ]
    .map(ActionType::as_str);
    let mut out = Vec::new();
    for (i, case) in t.cases.iter().enumerate() {
        for (list, matchers) in [
            ("expect", &case.expect),
            ("forbid", &case.forbid),
            ("expectSkipped", &case.expect_skipped),
        ] {
            for (j, m) in matchers.iter().enumerate() {
                let Some(kind) = m.kind.as_deref().filter(|k| !known.contains(k)) else {
                    continue;
                };
                let path = format!("cases[{i}].{list}[{j}].kind");
                let span = spec.at(&path).map_or(spec.span, |n| n.span);
                let help = crate::syntax::de::did_you_mean(kind, known).map_or_else(
                    || format!("kinds are {}", known.join(", ")),
                    |k| format!("did you mean `{k}`?"),
                );
                out.push(
                    crate::syntax::diag::Diagnostic::error(
                        crate::syntax::diag::code::ENUM_VALUE,
                        file,
                        span,
                        format!("`{kind}` is not an action kind: this matcher can never match"),
                    )
                    .with_help(help),
                );
            }
        }
    }
    out
}

pub fn run(a: Args) -> u8 {
    let paths = match files::discover(&a.paths) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let mut results = Vec::new();
    let mut invalid = 0;
    for path in paths {
        let spec = match read_test(&path) {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(Unusable::Io(e)) => return fail(e),
            Err(Unusable::Invalid(diagnostics)) => {
                eprint!("{diagnostics}");
                invalid += 1;
                continue;
            }
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let policy_paths: Vec<PathBuf> = spec.policies.iter().map(|p| dir.join(p)).collect();
        for case in &spec.cases {
            let mut r = CaseResult {
                file: path.display().to_string(),
                name: case.name.clone(),
                failures: Vec::new(),
            };
            match super::plan::load(&policy_paths, &dir.join(&case.state)) {
                Err(_) => r
                    .failures
                    .push("the policies or the snapshot are invalid (diagnostics above)".into()),
                Ok((bundle, state)) => {
                    let at = case
                        .at
                        .as_deref()
                        .or(state.time.as_deref())
                        .and_then(crate::state::parse_time);
                    match at {
                        None => r
                            .failures
                            .push("the case needs `at` or a snapshot `time` (RFC 3339)".into()),
                        Some(at) => {
                            r.failures = unknown_policies(case, &bundle);
                            r.failures.extend(crate::policytest::check(
                                case,
                                &crate::plan::plan(&bundle, &state, at),
                            ))
                        }
                    }
                }
            }
            results.push(r);
        }
    }
    if results.is_empty() && invalid == 0 {
        return fail("no PolicyTest files found");
    }
    let text = match a.format {
        Format::Human => crate::policytest::render_human(&results),
        Format::Junit => crate::policytest::render_junit(&results),
    };
    if let Err(c) = emit(&text) {
        return c;
    }
    if invalid > 0 || results.iter().any(|r| !r.failures.is_empty()) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}
