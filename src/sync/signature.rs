//! Commit signatures: SSH signatures (`gpg.format = ssh`) checked against a file in git's
//! `allowed_signers` format, as `git verify-commit` with `gpg.ssh.allowedSignersFile` does.

use ssh_key::{PublicKey, SshSig};

/// The keys allowed to sign commits.
#[derive(Clone, Debug)]
pub struct AllowedSigners {
    keys: Vec<(String, PublicKey)>,
}

const KEY_TYPES: [&str; 4] = ["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"];

impl AllowedSigners {
    /// Reads `principals [options] keytype base64 [comment]` lines; `#` starts a comment.
    /// A key whose `namespaces="…"` option leaves out `git` is not allowed to sign commits.
    pub fn parse(text: &str) -> Result<AllowedSigners, String> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let tokens: Vec<&str> = line.split_whitespace().collect();
            let Some(at) = tokens
                .iter()
                .position(|t| KEY_TYPES.iter().any(|k| t.starts_with(k)))
            else {
                return Err(format!("line {}: no key type (like ssh-ed25519)", n + 1));
            };
            let options = tokens[1..at].join(" ");
            if options.contains("cert-authority") {
                return Err(format!(
                    "line {}: cert-authority keys are not supported",
                    n + 1
                ));
            }
            if let Some(ns) = options
                .split("namespaces=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                && !ns.split(',').any(|n| n.trim() == "git")
            {
                continue;
            }
            let key = tokens
                .get(at + 1)
                .map(|b64| format!("{} {b64}", tokens[at]))
                .ok_or_else(|| format!("line {}: the key is missing", n + 1))?;
            let key = PublicKey::from_openssh(&key)
                .map_err(|e| format!("line {}: not a public key: {e}", n + 1))?;
            keys.push((tokens[0].to_string(), key));
        }
        if keys.is_empty() {
            return Err("no key may sign commits".into());
        }
        Ok(AllowedSigners { keys })
    }

    /// Checks an armored signature over `data`; returns the signer's principals.
    pub fn verify(&self, signature: &[u8], data: &[u8]) -> Result<String, String> {
        let sig = SshSig::from_pem(signature).map_err(|_| {
            "the signature is not an SSH signature (only SSH signatures are checked)".to_string()
        })?;
        if sig.namespace() != "git" {
            return Err(format!(
                "the signature is for namespace `{}`, not `git`",
                sig.namespace()
            ));
        }
        let Some((who, key)) = self
            .keys
            .iter()
            .find(|(_, k)| k.key_data() == sig.public_key())
        else {
            return Err("signed with a key that is not an allowed signer".into());
        };
        key.verify("git", data, &sig)
            .map_err(|e| format!("the signature does not verify: {e}"))?;
        Ok(who.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBoOjXGz4hlcn8jV8hX3Y5cBd1zI7o6kS0hNfYr3l8Q2";

    #[test]
    fn allowed_signers_lines_are_read_as_git_reads_them() {
        let text = format!(
            "# team\nalice@example.com {KEY} alice\nbob@example.com namespaces=\"file\" {KEY}\n"
        );
        let a = AllowedSigners::parse(&text).unwrap();
        assert_eq!(a.keys.len(), 1);
        assert_eq!(a.keys[0].0, "alice@example.com");
        assert!(
            AllowedSigners::parse("x nothing here\n")
                .unwrap_err()
                .contains("line 1")
        );
        assert!(AllowedSigners::parse("# none\n").is_err());
        assert!(
            AllowedSigners::parse(&format!("a cert-authority {KEY}\n"))
                .unwrap_err()
                .contains("cert-authority")
        );
        assert!(a.verify(b"not a signature", b"data").is_err());
    }
}
