//! Finding and reading input files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::syntax::source::SourceFile;

const EXTENSIONS: [&str; 3] = ["yaml", "yml", "kilter"];

/// Expands paths: files as given, directories recursively, keeping `.yaml`, `.yml` and
/// `.kilter` files, in a stable order (`discover_excluding` without excludes).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    discover_excluding(paths, &[])
}

/// Expands paths as `git` and ripgrep would see a repository: in directories, hidden files
/// and directories, `target/`, what `.gitignore` and `.kilterignore` files (same syntax) ignore
/// and what matches an `exclude` glob are left out, and so are Helm charts (a directory with
/// `Chart.yaml` beside `templates/`: templates are not YAML until rendered). Files named on
/// the command line are always read. Only regular files are read: a FIFO, socket or device
/// named on the command line is an error; found in a directory, it is skipped with a warning
/// (reading it could block or never end).
pub fn discover_excluding(paths: &[PathBuf], exclude: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if meta.is_dir() {
            walk(p, exclude, &mut out)?;
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

/// A Helm chart: `Chart.yaml` beside `templates/`.
fn is_chart(dir: &Path) -> bool {
    dir.join("Chart.yaml").is_file() && dir.join("templates").is_dir()
}

fn walk(dir: &Path, exclude: &[String], out: &mut Vec<PathBuf>) -> Result<(), String> {
    let mut excludes = ignore::overrides::OverrideBuilder::new(dir);
    for g in exclude {
        excludes
            .add(&format!("!{g}"))
            .map_err(|e| format!("--exclude {g}: {e}"))?;
    }
    let excludes = excludes.build().map_err(|e| format!("--exclude: {e}"))?;
    let walker = ignore::WalkBuilder::new(dir)
        .hidden(true)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(true)
        .require_git(false)
        .ignore(false)
        .parents(true)
        .add_custom_ignore_filename(".kilterignore")
        .overrides(excludes)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|e| {
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            !(is_dir && e.depth() > 0 && (e.file_name() == "target" || is_chart(e.path())))
        })
        .build();
    for entry in walker {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = entry.path();
        if entry.file_type().is_some_and(|t| t.is_dir())
            || !path
                .extension()
                .is_some_and(|x| EXTENSIONS.iter().any(|e| x == *e))
        {
            continue;
        }
        // Follows links: a link to a regular file is read, one to anything else is not.
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => out.push(path.to_path_buf()),
            Ok(_) => eprintln!(
                "kilter: warning: {}: skipped, not a regular file",
                display(path)
            ),
            Err(e) => eprintln!("kilter: warning: {}: skipped, {e}", display(path)),
        }
    }
    Ok(())
}

/// Reads a policy, test or DSL file as UTF-8 (at most `limits::MAX_FILE_BYTES`).
pub fn read(path: &Path) -> Result<Arc<SourceFile>, String> {
    read_limited(path, crate::syntax::limits::MAX_FILE_BYTES)
}

/// Reads a regular file as UTF-8, never past `max` bytes.
pub fn read_limited(path: &Path, max: u64) -> Result<Arc<SourceFile>, String> {
    use std::io::Read as _;
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(err)?;
    let meta = file.metadata().map_err(err)?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    // Sized from the metadata: `take` hides the size, and `read_to_end` would start at 32
    // bytes and double (seven reads for a 600-byte policy, a 58 MB snapshot copied as it grows).
    // One byte more, so that the read that finds the end needs no room of its own.
    let want = meta.len().min(max).saturating_add(1);
    let mut bytes = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
    file.take(max + 1).read_to_end(&mut bytes).map_err(err)?;
    if bytes.len() as u64 > max {
        return Err(format!(
            "{}: larger than {} MiB, the most kilter reads from one file",
            path.display(),
            max >> 20
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        // Where, as an editor counts: the line, and the column in characters before the byte.
        let ok = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let ok = std::str::from_utf8(ok).unwrap_or_default();
        let line = ok.matches('\n').count() + 1;
        let column = ok.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
        format!(
            "{}:{line}:{column}: not valid UTF-8 (byte 0x{:02x}); kilter reads UTF-8 text only",
            path.display(),
            e.as_bytes()[e.utf8_error().valid_up_to()]
        )
    })?;
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

/// The repository the current directory is in (the nearest ancestor holding `.git`), or the
/// current directory; and each file's path relative to it, for SARIF.
pub fn sarif_root<'a>(
    files: impl Iterator<Item = &'a str>,
) -> Option<crate::syntax::diag::SarifRoot> {
    let cwd = std::env::current_dir().ok()?.canonicalize().ok()?;
    let root = cwd
        .ancestors()
        .find(|d| d.join(".git").exists())
        .unwrap_or(&cwd)
        .to_path_buf();
    let mut relative = std::collections::BTreeMap::new();
    for f in files {
        if let Ok(abs) = Path::new(f).canonicalize()
            && let Ok(rel) = abs.strip_prefix(&root)
        {
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            relative.insert(f.to_string(), rel.join("/"));
        }
    }
    let mut uri = String::from("file://");
    for c in root.components().skip(1) {
        uri.push('/');
        uri.push_str(&crate::syntax::diag::sarif_uri(
            &c.as_os_str().to_string_lossy(),
        ));
    }
    uri.push('/');
    Some(crate::syntax::diag::SarifRoot { uri, relative })
}

#[cfg(test)]
mod tests {
    use super::read_limited;

    #[test]
    fn reads_up_to_the_limit_and_refuses_a_byte_more() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("at.yaml");
        let over = dir.path().join("over.yaml");
        std::fs::write(&at, "a".repeat(100)).unwrap();
        std::fs::write(&over, "a".repeat(101)).unwrap();
        assert_eq!(read_limited(&at, 100).unwrap().text.len(), 100);
        let err = read_limited(&over, 100).unwrap_err();
        assert!(err.contains("larger than"), "{err}");
        // Empty: the metadata sizes a one-byte buffer.
        std::fs::write(&at, "").unwrap();
        assert_eq!(&*read_limited(&at, 100).unwrap().text, "");
    }
}
