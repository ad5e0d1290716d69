//! Where policy comes from: a directory (watched) or a Git repository (polled). Each read
//! yields a [`Revision`]: an id and the files, ready for the linter.

pub mod dir;
pub mod files;
pub mod git;
pub mod signature;

use std::sync::Arc;

use crate::syntax::source::SourceFile;

/// One version of the policy files.
#[derive(Clone, Debug)]
pub struct Revision {
    /// `dir@<hash of the files>` or `<ref>@sha1:<commit>` (Flux's form).
    pub id: String,
    pub files: Vec<Arc<SourceFile>>,
    /// Why the revision may not be used at all (an unsigned commit when signatures are
    /// required): it is rejected whole, as one that does not lint clean.
    pub refused: Option<String>,
}

/// A stable 64-bit FNV-1a hash, for revision ids of directories.
pub(crate) fn fnv(parts: impl IntoIterator<Item = impl AsRef<[u8]>>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in p.as_ref().iter().chain(&[0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}
