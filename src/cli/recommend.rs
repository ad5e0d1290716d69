//! `kilter recommend`: right-sizing from a usage trace (`docs/simulate.md`).

use std::path::PathBuf;

use super::{EXIT_OK, emit, fail};

#[derive(clap::Args)]
pub struct Args {
    /// The trace manifest (`kind: Trace`): its snapshot gives today's requests, its usage the
    /// percentiles.
    #[arg(long)]
    trace: PathBuf,
    /// Limits are the 99th percentile of usage plus this share.
    #[arg(long, default_value_t = 0.15)]
    headroom: f64,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// A table with today's and the recommended values, and the requests freed.
    Table,
    /// ScalingTargets bounding each container between the recommended request and limit.
    Yaml,
    Json,
}

pub fn run(a: Args) -> u8 {
    if !(0.0..=10.0).contains(&a.headroom) {
        return fail("--headroom must be between 0 and 10");
    }
    let l = match super::simulate::load_trace(&a.trace) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let recs = crate::sim::recommend::recommend(&l.state, &l.usage, a.headroom);
    let text = match a.format {
        Format::Table => crate::sim::recommend::render_table(&recs, a.headroom),
        Format::Yaml => crate::sim::recommend::render_yaml(&recs, a.headroom),
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&recs).expect("serialises")
        ),
    };
    emit(&text).err().unwrap_or(EXIT_OK)
}
