//! A directory of policy files: read as `kilter lint DIR` reads it, watched for edits.

use std::path::Path;
use std::time::Duration;

use notify_debouncer_full::notify::RecursiveMode;

use super::{Revision, files};

/// Reads every policy file under `root` (the same files `kilter lint` reads).
pub fn read(root: &Path) -> Result<Revision, String> {
    let paths = files::discover(&[root.to_path_buf()])?;
    let sources = files::read_all(&paths)?;
    let hash = super::fnv(
        sources
            .iter()
            .flat_map(|f| [f.path.as_bytes(), f.text.as_bytes()]),
    );
    Ok(Revision {
        id: format!("dir@{hash:016x}"),
        files: sources,
        refused: None,
    })
}

/// Calls `changed` (from the watcher's thread) after edits under `root` settle for
/// `debounce`. Keep the returned watcher alive as long as changes should be seen.
pub fn watch(
    root: &Path,
    debounce: Duration,
    changed: impl Fn() + Send + 'static,
) -> Result<impl Drop, String> {
    let mut debouncer = notify_debouncer_full::new_debouncer(
        debounce,
        Some(debounce / 4),
        move |r: notify_debouncer_full::DebounceEventResult| {
            if r.is_ok_and(|events| !events.is_empty()) {
                changed();
            }
        },
    )
    .map_err(|e| format!("{}: cannot watch: {e}", root.display()))?;
    debouncer
        .watch(root, RecursiveMode::Recursive)
        .map_err(|e| format!("{}: cannot watch: {e}", root.display()))?;
    Ok(debouncer)
}
