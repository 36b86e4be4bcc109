//! Fast open of a `.cap` for signature-only verification: every check that needs no key, in one pass and without
//! building per-entry Python objects.
//!
//! [`scan`] parses the archive strictly ([`super::zip::read_entries`]; its errors propagate), reads the `_cap/`
//! metadata, decodes the canonical index ([`super::index::parse_canonical`]) and checks what the Python model of a
//! package checks on open: only metadata and `blobs/<sha256>.zst` entries; caps and CRC-32 of the metadata; root
//! text and signature shapes; an embedded key of 32 bytes; `zstd` only; sizes below 2^63; one size pair per blob;
//! paths of plain printable ASCII that pass every path rule; no collisions (case-insensitive, file vs directory);
//! exactly one blob entry of the indexed compressed size per blob, and no other. It then computes the root.
//!
//! It is an accelerator with the same accept set as the general path: on **any** doubt (a non-ASCII path, a
//! non-canonical index, a failed check) it returns `None` and the caller runs the general path, which names the
//! exact problem. It never accepts what that path would refuse.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use sha2::{Digest as _, Sha256};

use super::index::parse_canonical;
use super::root::cap_root;
use super::zip::{read_entries, Entry, Source};
use crate::error::Result;
use crate::hash::Digest;

pub const MANIFEST: &str = "_cap/manifest.cbor";
pub const INDEX: &str = "_cap/index.cbor";
pub const ROOT: &str = "_cap/root.sha256";
pub const SIGNATURE: &str = "_cap/signature.ed25519";
pub const PUBKEY: &str = "_cap/publisher.ed25519.pk";

/// What a clean package holds, for the caller to finish (manifest validation, entry points, the signature).
#[derive(Debug)]
pub struct Scan {
    /// The `_cap/` entries, in archive order.
    pub meta: Vec<Entry>,
    pub manifest: Vec<u8>,
    pub index: Vec<u8>,
    pub root_text: Vec<u8>,
    pub signature: Vec<u8>,
    pub public_key: Option<Vec<u8>>,
    /// CAPROOT over SHA-256(manifest) and the index (spec §7.2); equal to `root_text`'s hex.
    pub root: Digest,
    /// The index paths, in index (bytewise) order.
    pub paths: Vec<String>,
    /// The number of distinct blobs (= blob entries).
    pub blobs: usize,
}

fn hex_digit(c: u8) -> bool {
    c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
}

/// The hash of `blobs/<64 lowercase hex>.zst`, else `None`.
fn blob_hash(name: &str) -> Option<&str> {
    let h = name.strip_prefix("blobs/")?.strip_suffix(".zst")?;
    (h.len() == 64 && h.bytes().all(hex_digit)).then_some(h)
}

const RESERVED: [&str; 4] = ["con", "prn", "aux", "nul"];

/// A component named like a Windows device (`con`, `nul.txt`, `COM1`, ...), case-insensitively.
fn reserved(comp: &str) -> bool {
    let stem = comp.split('.').next().unwrap_or(comp).to_ascii_lowercase();
    let b = stem.as_bytes();
    RESERVED.contains(&stem.as_str())
        || (b.len() == 4 && (b.starts_with(b"com") || b.starts_with(b"lpt")) && b[3].is_ascii_digit())
}

/// The plain-ASCII subset of the virtual path rules (python/capfast/cap/paths.py): printable ASCII without `\`
/// and `:`, at most 1024 bytes, components non-empty, not `.`/`..`, not ending in a dot or space, at most 255
/// bytes, no device names. Anything else (e.g. a non-ASCII name) is left to the general path.
fn plain_safe(path: &str) -> bool {
    if path.is_empty() || path.len() > 1024 {
        return false;
    }
    if !path
        .bytes()
        .all(|c| (0x20..=0x7e).contains(&c) && c != b'\\' && c != b':')
    {
        return false;
    }
    path.split('/')
        .all(|c| !c.is_empty() && c.len() <= 255 && !c.ends_with('.') && !c.ends_with(' ') && !reserved(c))
}

/// `s` in ASCII lowercase, allocating only when it has an uppercase letter.
fn folded(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|c| c.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// The index's directory prefixes (`a/b/c` → `a`, `a/b`).
fn dirs_of<'a>(paths: impl Iterator<Item = &'a str>) -> HashSet<&'a str> {
    let mut dirs = HashSet::new();
    for p in paths {
        let mut end = p.len();
        while let Some(i) = p[..end].rfind('/') {
            if !dirs.insert(&p[..i]) {
                break;
            }
            end = i;
        }
    }
    dirs
}

/// See the module documentation. `Err` only for a malformed archive (the same error the strict reader gives).
pub fn scan(
    src: &(impl Source + ?Sized),
    max_entries: usize,
    max_manifest: u64,
    max_index: u64,
) -> Result<Option<Scan>> {
    let entries = read_entries(src, max_entries)?;
    let mut meta: Vec<Entry> = Vec::new();
    let mut blobs: HashMap<&str, u64> = HashMap::with_capacity(entries.len());
    for e in &entries {
        if [MANIFEST, INDEX, ROOT, SIGNATURE, PUBKEY].contains(&e.name.as_str()) {
            meta.push(e.clone());
        } else if let Some(h) = blob_hash(&e.name) {
            blobs.insert(h, e.size);
        } else {
            return Ok(None);
        }
    }
    let read = |name: &str, cap: u64| -> Option<Vec<u8>> {
        let e = meta.iter().find(|e| e.name == name)?;
        if e.size > cap {
            return None;
        }
        let mut buf = vec![0u8; usize::try_from(e.size).ok()?];
        src.read_exact_at(&mut buf, e.data_offset).ok()?;
        (crc32fast::hash(&buf) == e.crc).then_some(buf)
    };
    let (Some(manifest), Some(index), Some(root_text), Some(signature)) = (
        read(MANIFEST, max_manifest),
        read(INDEX, max_index),
        read(ROOT, 65),
        read(SIGNATURE, 64),
    ) else {
        return Ok(None);
    };
    let public_key = match meta.iter().any(|e| e.name == PUBKEY) {
        true => match read(PUBKEY, 32) {
            Some(k) if k.len() == 32 => Some(k),
            _ => return Ok(None),
        },
        false => None,
    };
    if root_text.len() != 65 || root_text[64] != b'\n' || !root_text[..64].iter().all(|&c| hex_digit(c)) {
        return Ok(None);
    }
    if signature.len() != 64 {
        return Ok(None);
    }
    let Some(rows) = parse_canonical(&index) else {
        return Ok(None);
    };

    // Entries: zstd, sizes below 2^63, one (size, compressed size) per blob, plain safe paths.
    let mut sizes: HashMap<&str, (u64, u64)> = HashMap::with_capacity(rows.len());
    for r in &rows {
        if r.compression != "zstd" || r.size >= 1 << 63 || r.compressed_size >= 1 << 63 || !plain_safe(r.path) {
            return Ok(None);
        }
        if *sizes.entry(r.hash).or_insert((r.size, r.compressed_size)) != (r.size, r.compressed_size) {
            return Ok(None);
        }
    }
    // Collisions, case-insensitively (ASCII): files, directories, and a file against a directory.
    let files: HashSet<Cow<'_, str>> = rows.iter().map(|r| folded(r.path)).collect();
    if files.len() != rows.len() {
        return Ok(None);
    }
    let dirs = dirs_of(rows.iter().map(|r| r.path));
    let folded_dirs: HashSet<Cow<'_, str>> = dirs.iter().map(|d| folded(d)).collect();
    if folded_dirs.len() != dirs.len() || folded_dirs.iter().any(|d| files.contains(d)) {
        return Ok(None);
    }
    // Blobs: exactly one archive entry per indexed blob, of the indexed compressed size.
    if blobs.len() != sizes.len() || sizes.iter().any(|(h, &(_, csize))| blobs.get(h) != Some(&csize)) {
        return Ok(None);
    }

    let mut hashed: Vec<(&[u8], Digest)> = Vec::with_capacity(rows.len());
    for r in &rows {
        hashed.push((r.path.as_bytes(), super::parse_hex32(r.hash.as_bytes())?));
    }
    let manifest_hash: Digest = Sha256::digest(&manifest).into();
    let root = cap_root(&manifest_hash, &mut hashed)?;
    if !root.iter().zip(root_text.chunks_exact(2)).all(|(b, hx)| {
        let nib = |c: u8| if c.is_ascii_digit() { c - b'0' } else { c - b'a' + 10 };
        (nib(hx[0]) << 4 | nib(hx[1])) == *b
    }) {
        return Ok(None);
    }
    let paths = rows.iter().map(|r| r.path.to_owned()).collect();
    let blob_count = sizes.len();
    drop((hashed, sizes, files, folded_dirs, dirs, rows));
    Ok(Some(Scan {
        meta,
        manifest,
        index,
        root_text,
        signature,
        public_key,
        root,
        paths,
        blobs: blob_count,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rules() {
        for ok in [
            "ui/index.html",
            "a",
            "a/b.c/d",
            "ui/con2/x",
            "ui/console.js",
            "ui/com10",
        ] {
            assert!(plain_safe(ok), "{ok}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "./a",
            "a/../b",
            "a.",
            "a ",
            "a\\b",
            "C:x",
            "con",
            "ui/NUL.txt",
            "ui/com1",
            "LPT9.log",
            "caf\u{e9}",
            "a\u{7f}",
            "a\nb",
        ] {
            assert!(!plain_safe(bad), "{bad:?}");
        }
        assert!(!plain_safe(&"a".repeat(256)));
        assert!(plain_safe(&"a".repeat(255)));
        assert!(!plain_safe(&["a"; 513].join("/")));
    }

    #[test]
    fn blob_names() {
        let h = "ab".repeat(32);
        assert_eq!(blob_hash(&format!("blobs/{h}.zst")), Some(h.as_str()));
        assert_eq!(blob_hash(&format!("blobs/{}.zst", h.to_uppercase())), None);
        assert_eq!(blob_hash("blobs/x.zst"), None);
        assert_eq!(blob_hash(&format!("blob/{h}.zst")), None);
    }

    #[test]
    fn directories() {
        let d = dirs_of(["a/b/c", "a/b/d", "x"].into_iter());
        assert_eq!(d, ["a", "a/b"].into_iter().collect());
    }
}
