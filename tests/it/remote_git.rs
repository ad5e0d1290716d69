//! Remote Git with credentials: smart HTTP with basic authentication, served by git's own
//! `git http-backend` behind a small listener that demands the credentials, and SSH with a
//! key against a real `sshd` (ignored unless asked for: it needs openssh-server and root).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kilter::sync::git::{Credentials, Reference, Source};

use crate::sync::git;

/// `Authorization` header value for `kilter:s3cret-token` (base64 of it).
const BASIC: &str = "Basic a2lsdGVyOnMzY3JldC10b2tlbg==";

/// A bare repository `policies.git` under `root` holding one policy, and its commit.
fn bare_repo(root: &Path) -> String {
    let work = root.join("work");
    std::fs::create_dir_all(work.join("clusters/prod")).unwrap();
    std::fs::write(
        work.join("clusters/prod/p.yaml"),
        "apiVersion: kilter.dev/v1alpha1\nkind: Policy\nmetadata: { name: remote }\nspec:\n  action: { cordon: {} }\n",
    )
    .unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "policy"]);
    let bare = root.join("policies.git");
    git(
        root,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    git(&work, &["rev-parse", "HEAD"]).trim().to_string()
}

/// Serves the repositories under `root` over smart HTTP on a free port, asking for basic
/// authentication; each connection answers one request.
fn serve_http(root: PathBuf) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let _ = answer(stream, &root);
            });
        }
    });
    port
}

fn answer(stream: TcpStream, root: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let header = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if let Some(n) = header("content-length").and_then(|n| n.parse::<usize>().ok()) {
        body.resize(n, 0);
        reader.read_exact(&mut body)?;
    } else if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    let mut out = stream;
    if header("authorization").as_deref() != Some(BASIC) {
        return out.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut cgi = Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header("content-type").unwrap_or_default())
        .env("CONTENT_LENGTH", body.len().to_string())
        .env(
            "HTTP_CONTENT_ENCODING",
            header("content-encoding").unwrap_or_default(),
        )
        .env("GIT_PROTOCOL", header("git-protocol").unwrap_or_default())
        .env("REMOTE_USER", "kilter")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    cgi.stdin.take().unwrap().write_all(&body)?;
    let output = cgi.wait_with_output()?;
    let split = output
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| {
            output
                .stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
        })
        .unwrap_or((output.stdout.len(), 0));
    let head = String::from_utf8_lossy(&output.stdout[..split.0]).to_string();
    let payload = &output.stdout[split.0 + split.1..];
    let mut status = "200 OK".to_string();
    let mut response = String::new();
    for h in head.lines() {
        match h.strip_prefix("Status:") {
            Some(s) => status = s.trim().to_string(),
            None => response.push_str(&format!("{h}\r\n")),
        }
    }
    out.write_all(
        format!(
            "HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n",
            payload.len()
        )
        .as_bytes(),
    )?;
    out.write_all(payload)
}

fn source(url: String, cache: PathBuf, credentials: Option<Credentials>) -> Source {
    Source {
        url,
        reference: Reference::Branch("main".into()),
        path: Some("clusters/prod".into()),
        cache,
        signers: None,
        credentials,
    }
}

/// A `--git-secret` directory with these files.
fn secret(dir: &Path, files: &[(&str, &str)]) -> Credentials {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    Credentials::read(dir).unwrap()
}

#[test]
fn an_http_repository_is_read_with_its_credentials_and_refused_without_them() {
    let tmp = tempfile::tempdir().unwrap();
    let commit = bare_repo(tmp.path());
    let port = serve_http(tmp.path().to_path_buf());
    let url = format!("http://127.0.0.1:{port}/policies.git");
    let good = secret(
        &tmp.path().join("good"),
        &[("username", "kilter\n"), ("password", "s3cret-token\n")],
    );
    let rev = source(url.clone(), tmp.path().join("cache-good"), Some(good))
        .revision()
        .unwrap();
    assert_eq!(rev.id, format!("main@sha1:{commit}"));
    assert_eq!(rev.files.len(), 1);
    assert_eq!(rev.files[0].path, "clusters/prod/p.yaml");
    assert!(rev.files[0].text.contains("name: remote"));
    // A wrong token, and none at all: refused, and nothing is read.
    let wrong = secret(
        &tmp.path().join("wrong"),
        &[("username", "kilter"), ("password", "expired")],
    );
    for (name, creds) in [("wrong", Some(wrong)), ("none", None)] {
        let err = source(url.clone(), tmp.path().join(format!("cache-{name}")), creds)
            .revision()
            .unwrap_err();
        assert!(
            err.contains("authentication") || err.contains("401"),
            "{name}: {err}"
        );
    }
}

#[test]
fn a_secret_directory_must_hold_usable_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = Credentials::read(&empty).unwrap_err();
    assert!(
        err.contains("no `password` (HTTP) or `identity` (SSH) file"),
        "{err}"
    );
    let ssh = tmp.path().join("ssh");
    std::fs::create_dir(&ssh).unwrap();
    std::fs::write(
        ssh.join("identity"),
        "-----BEGIN OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = Credentials::read(&ssh).unwrap_err();
    assert!(err.contains("needs a `known_hosts` file"), "{err}");
    std::fs::write(
        ssh.join("known_hosts"),
        "example.com ssh-ed25519 not-base64!\n",
    )
    .unwrap();
    let err = Credentials::read(&ssh).unwrap_err();
    assert!(err.contains("known_hosts"), "{err}");
    // The secrets never appear in debug output (logs).
    let c = secret(
        &tmp.path().join("http"),
        &[("username", "kilter"), ("password", "s3cret-token")],
    );
    assert!(!format!("{c:?}").contains("s3cret"));
}

/// A real `sshd` on a free port of 127.0.0.1, trusting `authorized` for the current user;
/// killed when dropped.
struct Sshd {
    child: std::process::Child,
    port: u16,
    host_key: String,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sshd(dir: &Path, authorized: &str) -> Sshd {
    // sshd checks its privilege-separation directory exists.
    std::fs::create_dir_all("/run/sshd").unwrap();
    let (host, host_pub) = crate::sync::keygen(dir, "host_ed25519");
    std::fs::write(dir.join("authorized_keys"), format!("{authorized}\n")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n",
            host.display(),
            dir.join("authorized_keys").display(),
            dir.join("sshd.pid").display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sshd (openssh-server)");
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Sshd {
        child,
        port,
        host_key: host_pub,
    }
}

#[test]
#[ignore = "needs sshd (openssh-server) and root; scripts/test runs it"]
fn an_ssh_repository_is_read_with_a_key_from_a_known_host_only() {
    let tmp = tempfile::tempdir().unwrap();
    let commit = bare_repo(tmp.path());
    let (key, key_pub) = crate::sync::keygen(tmp.path(), "deploy");
    let (stranger, _) = crate::sync::keygen(tmp.path(), "stranger");
    let server = sshd(tmp.path(), &key_pub);
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let url = format!(
        "ssh://{user}@127.0.0.1:{}{}",
        server.port,
        tmp.path().join("policies.git").display()
    );
    let known = format!("[127.0.0.1]:{} {}\n", server.port, server.host_key);
    let with = |name: &str, identity: &Path, known_hosts: &str| {
        let creds = secret(
            &tmp.path().join(format!("secret-{name}")),
            &[
                ("identity", &std::fs::read_to_string(identity).unwrap()),
                ("known_hosts", known_hosts),
            ],
        );
        source(
            url.clone(),
            tmp.path().join(format!("cache-{name}")),
            Some(creds),
        )
        .revision()
    };
    let rev = with("good", &key, &known).unwrap();
    assert_eq!(rev.id, format!("main@sha1:{commit}"));
    assert!(rev.files[0].text.contains("name: remote"));
    // A key the server does not authorize: refused.
    let err = with("stranger", &stranger, &known).unwrap_err();
    assert!(err.contains("authentication"), "{err}");
    // A host whose key is not the one in known_hosts: refused before authenticating.
    let (_, other_host) = crate::sync::keygen(tmp.path(), "other_host");
    let err = with(
        "spoofed",
        &key,
        &format!("[127.0.0.1]:{} {other_host}\n", server.port),
    )
    .unwrap_err();
    assert!(err.contains("not in known_hosts"), "{err}");
}
