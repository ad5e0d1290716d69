//! `kilter plan`.

use std::path::PathBuf;

use super::{EXIT_FINDINGS, EXIT_OK, emit, fail, files};

#[derive(clap::Args)]
pub struct Args {
    /// Policy files or directories (YAML and DSL).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The cluster snapshot to plan against (YAML or JSON; see docs/snapshot.md). Without it,
    /// kilter reads the live cluster (read-only).
    #[arg(long)]
    state: Option<PathBuf>,
    /// With no --state: the kubeconfig to read the cluster with (default: KUBECONFIG, then
    /// ~/.kube/config, in its current context).
    #[arg(long, conflicts_with = "state")]
    kubeconfig: Option<PathBuf>,
    /// Plan as of this time (RFC 3339); defaults to the snapshot's `time`, else now.
    #[arg(long)]
    at: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Human,
    Json,
}

pub fn run(a: Args) -> u8 {
    let loaded = match &a.state {
        Some(state) => load(&a.paths, state),
        None => load_live(&a.paths, a.kubeconfig.as_deref()),
    };
    let (bundle, state) = match loaded {
        Ok(x) => x,
        Err(code) => return code,
    };
    let at = match a.at.as_deref().or(state.time.as_deref()) {
        Some(t) => match crate::state::parse_time(t) {
            Some(t) => t,
            None => {
                return fail(format!(
                    "`{t}` is not an RFC 3339 time like 2026-11-23T22:30:00Z"
                ));
            }
        },
        None => chrono::Utc::now(),
    };
    let plan = crate::plan::plan(&bundle, &state, at);
    // The plan owns what it shows: the snapshot's memory is given back before the text is
    // built, so the two never add up.
    drop(state);
    let text = match a.format {
        Format::Human => crate::plan::render_human(&plan, &at.to_rfc3339()),
        Format::Json => crate::plan::render_json(&plan),
    };
    emit(&text).err().unwrap_or(EXIT_OK)
}

fn lint_bundle(paths: &[PathBuf]) -> Result<crate::plan::Bundle, u8> {
    let out = lint_clean(paths)?;
    Ok(crate::plan::Bundle::from_documents(&out.documents))
}

/// Lints the files of `paths`; on errors, prints them and fails with exit 1.
pub(crate) fn lint_clean(paths: &[PathBuf]) -> Result<crate::lint::LintOutput, u8> {
    let sources = files::discover(paths)
        .and_then(|p| files::read_all(&p))
        .map_err(fail)?;
    let out = crate::lint::lint(&sources);
    if out.has_errors() {
        eprint!(
            "{}",
            crate::syntax::diag::render_human_all(&out.diagnostics, out.summary(), false)
        );
        return Err(EXIT_FINDINGS);
    }
    Ok(out)
}

/// Lints the policies and observes the live cluster.
fn load_live(
    paths: &[PathBuf],
    kubeconfig: Option<&std::path::Path>,
) -> Result<(crate::plan::Bundle, crate::state::ClusterState), u8> {
    let bundle = lint_bundle(paths)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(fail)?;
    let state = rt
        .block_on(async {
            let client = crate::kube::client(kubeconfig).await?;
            crate::kube::observe(&client).await
        })
        .map_err(fail)?;
    Ok((bundle, state))
}

/// Lints the policies and reads the snapshot; prints diagnostics and exits 1 on errors.
pub(crate) fn load(
    paths: &[PathBuf],
    state: &std::path::Path,
) -> Result<(crate::plan::Bundle, crate::state::ClusterState), u8> {
    let bundle = lint_bundle(paths)?;
    let snapshot =
        files::read_limited(state, crate::syntax::limits::MAX_SNAPSHOT_BYTES).map_err(fail)?;
    let state = crate::state::load(&snapshot).map_err(|diags| {
        for d in &diags {
            eprint!("{}", crate::syntax::diag::render_human(d, false));
        }
        EXIT_FINDINGS
    })?;
    Ok((bundle, state))
}
