//! Policy sources without a cluster: Git revisions (branches, folders, signatures) and
//! directories.

use std::path::Path;
use std::process::Command;

use kilter::sync::git::{Reference, Source};
use kilter::sync::signature::AllowedSigners;

fn run(dir: &Path, cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["-c", "user.name=t", "-c", "user.email=t@example.com"];
    all.extend_from_slice(args);
    run(dir, "git", &all)
}

const POLICY: &str = "apiVersion: kilter.dev/v1alpha1\nkind: Policy\nmetadata: { name: p }\nspec:\n  action: { cordon: {} }\n";

/// A repository with `policies/p.yaml` committed by `sign` (None: unsigned); returns the
/// commit.
fn commit(repo: &Path, text: &str, sign: Option<&Path>) -> String {
    commit_file(repo, "policies/p.yaml", text, sign)
}

/// Writes `file` (relative to `repo`) and commits everything, signed with the SSH key
/// `sign` (None: unsigned); returns the commit.
pub(crate) fn commit_file(repo: &Path, file: &str, text: &str, sign: Option<&Path>) -> String {
    let path = repo.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    git(repo, &["add", "-A"]);
    match sign {
        None => git(repo, &["commit", "-q", "-m", "change"]),
        Some(key) => git(
            repo,
            &[
                "-c",
                "gpg.format=ssh",
                "-c",
                &format!("user.signingkey={}", key.display()),
                "commit",
                "-q",
                "-S",
                "-m",
                "signed change",
            ],
        ),
    };
    git(repo, &["rev-parse", "HEAD"]).trim().to_string()
}

pub(crate) fn keygen(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    let key = dir.join(name);
    run(
        dir,
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            name,
            "-f",
            key.to_str().unwrap(),
        ],
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (key, public.trim().to_string())
}

#[test]
fn git_revisions_follow_the_branch_and_read_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "not a policy").unwrap();
    let first = commit(&repo, POLICY, None);
    let src = Source {
        url: format!("file://{}", repo.display()),
        reference: Reference::Branch("main".into()),
        path: Some("policies".into()),
        cache: tmp.path().join("cache"),
        signers: None,
        credentials: None,
    };
    let rev = src.revision().unwrap();
    assert_eq!(rev.id, format!("main@sha1:{first}"));
    assert!(rev.refused.is_none());
    let names: Vec<_> = rev.files.iter().map(|f| f.path.clone()).collect();
    assert_eq!(names, ["policies/p.yaml"]);
    // A new commit is a new revision; the same commit again is the same one.
    let second = commit(&repo, &POLICY.replace("name: p", "name: q"), None);
    let rev = src.revision().unwrap();
    assert_eq!(rev.id, format!("main@sha1:{second}"));
    assert!(rev.files[0].text.contains("name: q"));
    assert_eq!(src.revision().unwrap().id, rev.id);
    // A tag and a commit pin what is read.
    git(&repo, &["tag", "v1", &first]);
    let tagged = Source {
        reference: Reference::Tag("v1".into()),
        ..src.clone()
    };
    assert_eq!(tagged.revision().unwrap().id, format!("v1@sha1:{first}"));
    let pinned = Source {
        reference: Reference::Commit(first.clone()),
        ..src.clone()
    };
    assert!(pinned.revision().unwrap().files[0].text.contains("name: p"));
    // A branch that does not exist is an error, not an empty revision.
    let missing = Source {
        reference: Reference::Branch("nope".into()),
        ..src
    };
    assert!(missing.revision().is_err());
}

#[test]
fn only_commits_signed_by_an_allowed_key_are_used() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let (allowed_key, allowed_pub) = keygen(tmp.path(), "allowed");
    let (other_key, _) = keygen(tmp.path(), "other");
    let signers = AllowedSigners::parse(&format!("ops@example.com {allowed_pub}\n")).unwrap();
    let src = Source {
        url: repo.display().to_string(),
        reference: Reference::Branch("main".into()),
        path: None,
        cache: tmp.path().join("cache"),
        signers: Some(signers),
        credentials: None,
    };
    // Unsigned: refused, and nothing of it is read.
    let unsigned = commit(&repo, POLICY, None);
    let rev = src.revision().unwrap();
    assert_eq!(
        rev.refused.as_deref(),
        Some(format!("commit {unsigned} is not signed").as_str())
    );
    assert!(rev.files.is_empty());
    // Signed with a key that is not allowed: refused.
    let other = commit(
        &repo,
        &POLICY.replace("name: p", "name: o"),
        Some(&other_key),
    );
    let rev = src.revision().unwrap();
    assert_eq!(
        rev.refused.as_deref(),
        Some(format!("commit {other}: signed with a key that is not an allowed signer").as_str())
    );
    // Signed with the allowed key: used. git itself agrees the signature is good.
    let good = commit(
        &repo,
        &POLICY.replace("name: p", "name: g"),
        Some(&allowed_key),
    );
    let rev = src.revision().unwrap();
    assert_eq!(rev.refused, None, "{:?}", rev.refused);
    assert_eq!(rev.id, format!("main@sha1:{good}"));
    assert!(rev.files[0].text.contains("name: g"));
    let signers_file = tmp.path().join("allowed_signers");
    std::fs::write(&signers_file, format!("ops@example.com {allowed_pub}\n")).unwrap();
    git(
        &repo,
        &[
            "-c",
            &format!("gpg.ssh.allowedSignersFile={}", signers_file.display()),
            "verify-commit",
            &good,
        ],
    );
}

#[test]
fn a_directory_revision_changes_with_its_files_only() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("p.yaml"), POLICY).unwrap();
    let a = kilter::sync::dir::read(tmp.path()).unwrap();
    let b = kilter::sync::dir::read(tmp.path()).unwrap();
    assert_eq!(a.id, b.id);
    assert!(a.id.starts_with("dir@"));
    std::fs::write(
        tmp.path().join("p.yaml"),
        POLICY.replace("name: p", "name: q"),
    )
    .unwrap();
    assert_ne!(kilter::sync::dir::read(tmp.path()).unwrap().id, a.id);
}
