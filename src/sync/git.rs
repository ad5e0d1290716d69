//! A Git repository: fetched into a local cache, each new commit checked out into its own
//! directory and read as a directory is. Local paths, `file://`, HTTP(S) and SSH URLs;
//! credentials as Flux reads them from a Secret (see [`Credentials`]).

use std::path::{Path, PathBuf};

use git2::{
    CertificateCheckStatus, Cred, CredentialType, FetchOptions, Oid, RemoteCallbacks, Repository,
};

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
    /// How to authenticate to a remote repository (None: anonymously).
    pub credentials: Option<Credentials>,
}

/// Credentials for a remote repository, read from a directory holding the keys of a
/// Kubernetes Secret (mounted as files), named as Flux names them: `username` and `password`
/// for HTTP(S) basic authentication (a token goes in `password`), `identity` (an SSH private
/// key, OpenSSH or PEM) with `known_hosts` (the host keys to trust, in OpenSSH's format) for
/// SSH. An SSH host not in `known_hosts` is refused; there is no trust on first use.
#[derive(Clone, Default)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<String>,
    pub identity: Option<String>,
    pub known_hosts: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets themselves.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("identity", &self.identity.as_ref().map(|_| "…"))
            .field("known_hosts", &self.known_hosts.is_some())
            .finish()
    }
}

impl Credentials {
    /// Reads the files present in `dir`; at least one of `password` and `identity` must be,
    /// and `identity` needs `known_hosts`.
    pub fn read(dir: &Path) -> Result<Credentials, String> {
        let file = |name: &str| -> Result<Option<String>, String> {
            let p = dir.join(name);
            match std::fs::read_to_string(&p) {
                Ok(t) => Ok(Some(t)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("{}: {e}", p.display())),
            }
        };
        let trimmed = |v: Option<String>| v.map(|t| t.trim().to_string());
        let c = Credentials {
            username: trimmed(file("username")?),
            password: trimmed(file("password")?),
            identity: file("identity")?,
            known_hosts: file("known_hosts")?,
        };
        if c.password.is_none() && c.identity.is_none() {
            return Err(format!(
                "{}: no `password` (HTTP) or `identity` (SSH) file",
                dir.display()
            ));
        }
        if c.identity.is_some() && c.known_hosts.is_none() {
            return Err(format!(
                "{}: an SSH `identity` needs a `known_hosts` file",
                dir.display()
            ));
        }
        if let Some(k) = &c.known_hosts {
            for entry in ssh_key::known_hosts::KnownHosts::new(k) {
                entry.map_err(|e| format!("{}: {e}", dir.join("known_hosts").display()))?;
            }
        }
        Ok(c)
    }

    /// Whether an SSH host key is one `known_hosts` trusts for `host` (plain host patterns,
    /// `[host]:port` included; hashed entries are not matched).
    fn trusts(&self, host: &str, key: &[u8]) -> bool {
        let (Some(known), Ok(key)) = (&self.known_hosts, ssh_key::PublicKey::from_bytes(key))
        else {
            return false;
        };
        ssh_key::known_hosts::KnownHosts::new(known)
            .flatten()
            .filter(|e| e.marker().is_none())
            .any(|e| {
                let named = match e.host_patterns() {
                    ssh_key::known_hosts::HostPatterns::Patterns(ps) => ps.iter().any(|p| {
                        p == host
                            || p.strip_prefix('[')
                                .and_then(|r| r.split_once("]:"))
                                .is_some_and(|(h, _)| h == host)
                    }),
                    ssh_key::known_hosts::HostPatterns::HashedName { .. } => false,
                };
                named && e.public_key().key_data() == key.key_data()
            })
    }
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
        fo.remote_callbacks(self.callbacks());
        remote
            .fetch(&[self.refspec()], Some(&mut fo), None)
            .map_err(|e| {
                // libgit2 replaces the callback's message with its own.
                let why = if e.class() == git2::ErrorClass::Ssh
                    && e.code() == git2::ErrorCode::Certificate
                {
                    "the server's SSH host key is not in known_hosts".to_string()
                } else {
                    e.message().to_string()
                };
                format!("fetching {} from {}: {why}", self.ref_name(), self.url)
            })?;
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

    /// Authentication (each kind of credential offered once: libgit2 asks again after a
    /// refusal) and SSH host keys checked against `known_hosts`; HTTPS certificates are
    /// checked by libgit2 against the system's trusted authorities.
    fn callbacks(&self) -> RemoteCallbacks<'static> {
        let creds = self.credentials.clone().unwrap_or_default();
        let mut cb = RemoteCallbacks::new();
        let offered = std::cell::Cell::new(CredentialType::empty());
        let for_auth = creds.clone();
        cb.credentials(move |url, user_from_url, allowed| {
            let user = user_from_url
                .map(str::to_string)
                .or_else(|| for_auth.username.clone())
                .unwrap_or_else(|| "git".into());
            let pick =
                |kind: CredentialType| allowed.contains(kind) && !offered.get().contains(kind);
            let refused = || git2::Error::from_str(&format!("authentication to {url} failed"));
            if pick(CredentialType::SSH_KEY)
                && let Some(key) = &for_auth.identity
            {
                offered.set(offered.get() | CredentialType::SSH_KEY);
                return Cred::ssh_key_from_memory(&user, None, key, None);
            }
            if pick(CredentialType::USER_PASS_PLAINTEXT)
                && let Some(password) = &for_auth.password
            {
                offered.set(offered.get() | CredentialType::USER_PASS_PLAINTEXT);
                return Cred::userpass_plaintext(&user, password);
            }
            if pick(CredentialType::USERNAME) {
                offered.set(offered.get() | CredentialType::USERNAME);
                return Cred::username(&user);
            }
            Err(refused())
        });
        cb.certificate_check(move |cert, host| match cert.as_hostkey() {
            Some(h) => match h.hostkey() {
                Some(key) if creds.trusts(host, key) => Ok(CertificateCheckStatus::CertificateOk),
                _ => Err(git2::Error::new(
                    git2::ErrorCode::Certificate,
                    git2::ErrorClass::Ssh,
                    format!("the SSH host key of {host} is not in known_hosts"),
                )),
            },
            None => Ok(CertificateCheckStatus::CertificatePassthrough),
        });
        cb
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
