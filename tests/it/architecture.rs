//! The core stays pure: it takes values and returns values. No module of it reaches the
//! network, the file system, the clock, the environment or a shell module.

/// The core's files and folders under `src/`.
const CORE: [&str; 10] = [
    "model",
    "syntax",
    "check",
    "expr",
    "state.rs",
    "plan",
    "sim",
    "lint.rs",
    "policytest.rs",
    "lib.rs",
];

/// What the core must not name: I/O crates and modules, clocks, and the shell.
const FORBIDDEN: [&str; 20] = [
    "kube::",
    "tokio",
    "reqwest",
    "rmcp",
    "axum",
    "git2",
    "notify",
    "std::fs",
    "std::env",
    "std::net",
    "std::process",
    "SystemTime",
    "Instant::now",
    "Utc::now",
    "Local::now",
    "crate::kube",
    "crate::probe",
    "crate::cli",
    "crate::controller",
    "crate::sync",
];

#[test]
fn the_core_does_no_io_and_never_calls_the_shell() {
    let mut files = Vec::new();
    for part in CORE {
        let p = crate::root().join("src").join(part);
        if p.is_dir() {
            walk(&p, &mut files);
        } else {
            files.push(p);
        }
    }
    assert!(files.len() > 30, "{files:?}");
    let mut found = Vec::new();
    for f in &files {
        let text = crate::read(f);
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            // lib.rs declares the shell's modules; it imports nothing from them.
            if f.ends_with("lib.rs") && code.trim_start().starts_with("pub mod ") {
                continue;
            }
            for bad in FORBIDDEN {
                if code.contains(bad) {
                    found.push(format!("{}:{}: {bad}: {line}", f.display(), n + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}
