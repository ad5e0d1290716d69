//! Finding and reading input files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::source::SourceFile;

const EXTENSIONS: [&str; 3] = ["yaml", "yml", "kilter"];

/// Expands paths: files as given, directories recursively (skipping hidden ones and
/// `target`), keeping `.yaml`, `.yml` and `.kilter` files, in a stable order.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if meta.is_dir() {
            walk(p, &mut out).map_err(|e| format!("{}: {e}", p.display()))?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if e.file_type()?.is_dir() {
            if !name.starts_with('.') && name != "target" {
                walk(&path, out)?;
            }
        } else if path
            .extension()
            .is_some_and(|x| EXTENSIONS.iter().any(|e| x == *e))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads a file as UTF-8.
pub fn read(path: &Path) -> Result<Arc<SourceFile>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{}: not valid UTF-8", path.display()))?;
    Ok(SourceFile::new(display(path), text))
}

fn display(path: &Path) -> String {
    let s = path.to_string_lossy();
    s.strip_prefix("./").unwrap_or(&s).to_string()
}

/// Reads every file, or stops at the first that cannot be read.
pub fn read_all(paths: &[PathBuf]) -> Result<Vec<Arc<SourceFile>>, String> {
    paths.iter().map(|p| read(p)).collect()
}
