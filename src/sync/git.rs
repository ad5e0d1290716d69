//! A Git repository: fetched into a local cache, each new commit checked out into its own
//! directory and read as a directory is. Local paths and `file://` URLs need nothing more;
//! remote HTTPS and SSH need git2's `https`/`ssh` features (see docs/controller.md).

use std::path::{Path, PathBuf};

use git2::{FetchOptions, Oid, Repository};

use super::Revision;
use super::signature::AllowedSigners;

/// A commit's signature (armored) and the bytes it signs.
pub type Signed = (Vec<u8>, Vec<u8>);

/// Which commit to follow.
#[derive(Clone, Debug, PartialEq)]
pub enum Reference {
    Branch(String),
    Tag(String),
    Commit(String),
}

#[derive(Clone, Debug)]
pub struct Source {
    pub url: String,
    pub reference: Reference,
    /// A folder inside the repository (default: its root).
    pub path: Option<PathBuf>,
    /// Where the bare clone and the checked-out revisions live.
    pub cache: PathBuf,
    /// When set, only commits signed by one of these keys are used.
    pub signers: Option<AllowedSigners>,
}

impl Source {
    fn local(&self) -> bool {
        self.url.starts_with("file://") || Path::new(&self.url).exists()
    }

    fn refspec(&self) -> String {
        match &self.reference {
            Reference::Branch(b) => format!("+refs/heads/{b}:refs/remotes/origin/{b}"),
            Reference::Tag(t) => format!("+refs/tags/{t}:refs/tags/{t}"),
            Reference::Commit(_) => "+refs/heads/*:refs/remotes/origin/*".into(),
        }
    }

    fn ref_name(&self) -> String {
        match &self.reference {
            Reference::Branch(b) => b.clone(),
            Reference::Tag(t) => t.clone(),
            Reference::Commit(c) => c.clone(),
        }
    }

    fn repo(&self) -> Result<Repository, String> {
        let dir = self.cache.join("repo.git");
        Repository::open_bare(&dir)
            .or_else(|_| Repository::init_bare(&dir))
            .map_err(|e| format!("{}: {e}", dir.display()))
    }

    /// Fetches and returns the commit the reference names now.
    pub fn fetch(&self) -> Result<Oid, String> {
        let repo = self.repo()?;
        let mut remote = repo
            .remote_anonymous(&self.url)
            .map_err(|e| format!("{}: {e}", self.url))?;
        let mut fo = FetchOptions::new();
        if !self.local() && !matches!(self.reference, Reference::Commit(_)) {
            fo.depth(1);
        }
        remote
            .fetch(&[self.refspec()], Some(&mut fo), None)
            .map_err(|e| format!("fetching {} from {}: {e}", self.ref_name(), self.url))?;
        let spec = match &self.reference {
            Reference::Branch(b) => format!("refs/remotes/origin/{b}"),
            Reference::Tag(t) => format!("refs/tags/{t}^{{commit}}"),
            Reference::Commit(c) => c.clone(),
        };
        let obj = repo
            .revparse_single(&spec)
            .map_err(|e| format!("{} in {}: {e}", self.ref_name(), self.url))?;
        let commit = obj
            .peel_to_commit()
            .map_err(|e| format!("{} in {}: {e}", self.ref_name(), self.url))?;
        Ok(commit.id())
    }

    /// The signature and signed data of a commit (None: unsigned).
    pub fn signature(&self, oid: Oid) -> Result<Option<Signed>, String> {
        let repo = self.repo()?;
        match repo.extract_signature(&oid, None) {
            Ok((sig, data)) => Ok(Some((sig.to_vec(), data.to_vec()))),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(format!("commit {oid}: {e}")),
        }
    }

    /// Fetches, checks the commit's signature when signers are set, and reads it. A commit
    /// that is unsigned or not signed by an allowed signer is refused, unread.
    pub fn revision(&self) -> Result<Revision, String> {
        let oid = self.fetch()?;
        if let Some(signers) = &self.signers {
            let why = match self.signature(oid)? {
                None => Some(format!("commit {oid} is not signed")),
                Some((sig, data)) => signers
                    .verify(&sig, &data)
                    .err()
                    .map(|e| format!("commit {oid}: {e}")),
            };
            if let Some(why) = why {
                return Ok(Revision {
                    id: format!("{}@sha1:{oid}", self.ref_name()),
                    files: Vec::new(),
                    refused: Some(why),
                });
            }
        }
        self.read(oid)
    }

    /// Checks the commit out into its own directory (once) and reads it.
    pub fn read(&self, oid: Oid) -> Result<Revision, String> {
        let repo = self.repo()?;
        let trees = self.cache.join("trees");
        let dir = trees.join(oid.to_string());
        if !dir.exists() {
            let tmp = trees.join(format!(".{oid}.partial"));
            let _ = std::fs::remove_dir_all(&tmp);
            std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
            let commit = repo.find_commit(oid).map_err(|e| format!("{oid}: {e}"))?;
            let mut co = git2::build::CheckoutBuilder::new();
            co.target_dir(&tmp).force();
            repo.checkout_tree(commit.as_object(), Some(&mut co))
                .map_err(|e| format!("checking out {oid}: {e}"))?;
            std::fs::rename(&tmp, &dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            prune(&trees, &dir);
        }
        let root = match &self.path {
            Some(p) => dir.join(p),
            None => dir.clone(),
        };
        let mut rev = super::dir::read(&root)?;
        // Diagnostics name files as they are in the repository.
        rev.files = rev
            .files
            .into_iter()
            .map(|f| {
                let rel = Path::new(&f.path)
                    .strip_prefix(&dir)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| f.path.clone());
                crate::syntax::source::SourceFile::new(rel, f.text.clone())
            })
            .collect();
        rev.id = format!("{}@sha1:{oid}", self.ref_name());
        Ok(rev)
    }
}

/// Keeps the newest few checked-out revisions.
fn prune(trees: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(trees) else {
        return;
    };
    let mut dirs: Vec<_> = entries
        .flatten()
        .filter(|e| e.path() != keep && !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    dirs.sort();
    let excess = dirs.len().saturating_sub(3);
    for (_, p) in dirs.into_iter().take(excess) {
        let _ = std::fs::remove_dir_all(p);
    }
}
