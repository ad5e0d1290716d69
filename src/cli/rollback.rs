//! `kilter rollback`: undo what the controller did since a revision or a time.

use std::path::PathBuf;

use serde_json::json;

use super::{EXIT_FINDINGS, EXIT_OK, emit, fail};
use crate::controller::audit::{Audit, Record};
use crate::controller::rollback::{Since, Undo, inverse, not_undone, since};

#[derive(clap::Args)]
pub struct Args {
    /// The controller's audit log (its --audit-log).
    #[arg(long)]
    audit_log: PathBuf,
    /// A revision (as recorded, or a prefix of it: main@sha1:4f2c) or an RFC 3339 time: undo
    /// every action executed after it.
    #[arg(long)]
    to: String,
    /// Carry the plan out. Without it, the plan is only shown.
    #[arg(long)]
    enforce: bool,
    /// The cluster (default: KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Human,
    Json,
}

fn target_text(u: &Undo) -> String {
    let t = &u.target;
    match (
        t["node"].as_str(),
        t["namespace"].as_str(),
        t["pod"].as_str(),
    ) {
        (Some(n), _, _) => format!("node/{n}"),
        (_, Some(ns), Some(p)) => format!(
            "pod/{ns}/{p} container {}",
            t["container"].as_str().unwrap_or("?")
        ),
        _ => t.to_string(),
    }
}

pub fn run(a: Args) -> u8 {
    let audit = match Audit::open(Some(&a.audit_log)) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    if !a.audit_log.exists() {
        return fail(format!("{}: no such audit log", a.audit_log.display()));
    }
    let records = match since(audit.records(), &Since::parse(&a.to)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kilter: {e}");
            return EXIT_FINDINGS;
        }
    };
    let plan = inverse(&records);
    let left = not_undone(&records);
    let text = match a.format {
        Format::Json => {
            serde_json::to_string_pretty(&json!({
                "undo": plan,
                "notUndone": left,
                "enforce": a.enforce,
            }))
            .unwrap_or_default()
                + "\n"
        }
        Format::Human => {
            let mut t = format!(
                "rollback to {}: {} action{} since, {} step{} back{}\n",
                a.to,
                records.len(),
                if records.len() == 1 { "" } else { "s" },
                plan.len(),
                if plan.len() == 1 { "" } else { "s" },
                if a.enforce {
                    ""
                } else {
                    " (plan only; --enforce carries it out)"
                }
            );
            for u in &plan {
                t.push_str(&format!(
                    "  {:<13} {:<40} {}  [undoes {}]\n",
                    u.kind,
                    target_text(u),
                    u.reason,
                    u.undoes.join("; ")
                ));
            }
            for r in &left {
                t.push_str(&format!(
                    "  not undone: {} {} at {}: what it was before is not recorded\n",
                    r.kind, r.target, r.time
                ));
            }
            t
        }
    };
    if let Err(code) = emit(&text) {
        return code;
    }
    if !a.enforce || plan.is_empty() {
        return EXIT_OK;
    }
    enforce(&a, plan, audit)
}

/// Carries the plan out, appending each step to the audit log it was read from.
fn enforce(a: &Args, plan: Vec<Undo>, mut audit: Audit) -> u8 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    rt.block_on(async {
        let client = match crate::kube::client(a.kubeconfig.as_deref()).await {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        let mut failed = 0;
        for u in plan {
            let node = u.target["node"].as_str().unwrap_or_default().to_string();
            let s = |k: &str| u.target[k].as_str().unwrap_or_default().to_string();
            let result = match u.kind.as_str() {
                "uncordon" => crate::kube::cordon(&client, &node, false)
                    .await
                    .map_err(|e| e.to_string()),
                "cordon" => crate::kube::cordon(&client, &node, true)
                    .await
                    .map_err(|e| e.to_string()),
                "resize" => crate::kube::resize(
                    &client,
                    &s("namespace"),
                    &s("pod"),
                    &s("container"),
                    u.to["request"].as_str(),
                    u.to["limit"].as_str(),
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
                _ => Err(format!(
                    "governors are set back through the node's probe: kilter probe call {node} set_governor --args '{}' --enforce PROBES",
                    u.to
                )),
            };
            let (outcome, message) = match &result {
                Ok(()) => ("executed", String::new()),
                Err(e) => {
                    failed += 1;
                    ("failed", e.clone())
                }
            };
            eprintln!(
                "kilter: {} {}: {outcome}{}",
                u.kind,
                target_text(&u),
                if message.is_empty() { String::new() } else { format!(" ({message})") }
            );
            let record = Record {
                time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                revision: format!("rollback to {}", a.to),
                policy: "rollback".into(),
                kind: u.kind.clone(),
                target: u.target.clone(),
                before: serde_json::Value::Null,
                after: u.to.clone(),
                result: outcome.into(),
                message,
            };
            if let Err(e) = audit.append(record) {
                return fail(e);
            }
        }
        if failed > 0 { EXIT_FINDINGS } else { EXIT_OK }
    })
}
