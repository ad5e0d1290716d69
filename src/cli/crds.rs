//! `kilter crds`.

use std::path::PathBuf;

use super::{EXIT_OK, emit, fail};

#[derive(clap::Args)]
pub struct Args {
    /// Write the CRDs (`kilter.dev.yaml`) and JSON Schemas (`schemas/`) into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(a: Args) -> u8 {
    match a.out {
        None => emit(&crate::syntax::convert::crds_yaml())
            .err()
            .unwrap_or(EXIT_OK),
        Some(dir) => {
            for (name, text) in crate::syntax::convert::crd_files() {
                let path = dir.join(&name);
                if let Some(parent) = path.parent()
                    && let Err(e) = std::fs::create_dir_all(parent)
                {
                    return fail(format!("{}: {e}", parent.display()));
                }
                if let Err(e) = std::fs::write(&path, text) {
                    return fail(format!("{}: {e}", path.display()));
                }
            }
            EXIT_OK
        }
    }
}
