//! Finding and reading input files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::source::SourceFile;

const EXTENSIONS: [&str; 3] = ["yaml", "yml", "kilter"];

/// Expands paths: files as given, directories recursively (skipping hidden ones and
/// `target`), keeping `.yaml`, `.yml` and `.kilter` files, in a stable order. Only regular
/// files are read: a FIFO, socket or device named on the command line is an error; found in a
/// directory, it is skipped with a warning (reading it could block or never end).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if meta.is_dir() {
            walk(p, &mut out).map_err(|e| format!("{}: {e}", p.display()))?;
        } else if meta.is_file() {
            out.push(p.clone());
        } else {
            return Err(format!(
                "{}: not a regular file (a FIFO, socket or device); kilter reads only regular files",
                p.display()
            ));
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
            // Follows links: a link to a regular file is read, one to anything else is not.
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => out.push(path),
                Ok(_) => eprintln!(
                    "kilter: warning: {}: skipped, not a regular file",
                    display(&path)
                ),
                Err(e) => eprintln!("kilter: warning: {}: skipped, {e}", display(&path)),
            }
        }
    }
    Ok(())
}

/// Reads a policy, test or DSL file as UTF-8 (at most `limits::MAX_FILE_BYTES`).
pub fn read(path: &Path) -> Result<Arc<SourceFile>, String> {
    read_limited(path, crate::limits::MAX_FILE_BYTES)
}

/// Reads a regular file as UTF-8, never past `max` bytes.
pub fn read_limited(path: &Path, max: u64) -> Result<Arc<SourceFile>, String> {
    use std::io::Read as _;
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(err)?;
    if !file.metadata().map_err(err)?.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(err)?;
    if bytes.len() as u64 > max {
        return Err(format!(
            "{}: larger than {} MiB, the most kilter reads from one file",
            path.display(),
            max >> 20
        ));
    }
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
