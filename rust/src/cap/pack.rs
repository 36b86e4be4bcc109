//! Content addressing and compression: SHA-256 of each file's raw bytes, one zstd frame per distinct content.
//!
//! Frames are made exactly like the reference (`zstd::stream::encode_all(raw, level)`): the streaming API with no
//! pledged size, so no frame content size, no checksum, no dictionary. One compression context per worker thread
//! is reused across files (zstd output does not depend on context reuse).

use crate::error::{Error, Result};
use crate::hash::Digest;
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use zstd::stream::raw::{Encoder, InBuffer, Operation, OutBuffer};

/// Largest single input file accepted by the builder.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Compresses `data` into one streaming zstd frame with a reusable encoder.
pub fn compress_with(enc: &mut Encoder<'static>, data: &[u8]) -> Result<Vec<u8>> {
    enc.reinit()?;
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    let mut chunk = vec![0u8; 1 << 17];
    let mut input = InBuffer::around(data);
    while input.pos < data.len() {
        let mut ob = OutBuffer::around(&mut chunk[..]);
        enc.run(&mut input, &mut ob)?;
        let n = ob.pos();
        out.extend_from_slice(&chunk[..n]);
    }
    loop {
        let mut ob = OutBuffer::around(&mut chunk[..]);
        let remaining = enc.finish(&mut ob, true)?;
        let n = ob.pos();
        out.extend_from_slice(&chunk[..n]);
        if remaining == 0 {
            break;
        }
    }
    Ok(out)
}

/// One-shot helper: a fresh encoder at `level`.
pub fn compress(data: &[u8], level: i32) -> Result<Vec<u8>> {
    let mut enc = Encoder::new(level)?;
    compress_with(&mut enc, data)
}

pub fn check_level(level: i32) -> Result<()> {
    if !(1..=19).contains(&level) {
        return Err(Error::invalid(format!(
            "zstd level must be between 1 and 19, got {level}"
        )));
    }
    Ok(())
}

/// A packed input file: its content hash, raw size and the (shared) compressed blob for that content.
pub struct Packed {
    pub hash: Digest,
    pub size: u64,
    pub blob: Arc<Vec<u8>>,
}

/// One file after the parallel pass: its hash, size, and the compressed blob if this file claimed the content first.
type Staged = (Digest, u64, Option<Vec<u8>>);

/// Reads, hashes and compresses `paths` in parallel; identical contents are compressed once and share one blob.
/// Results are in input order; the first failing path (in input order) is reported.
pub fn pack_files(paths: &[PathBuf], level: i32) -> Result<Vec<Packed>> {
    check_level(level)?;
    let claimed: Mutex<HashMap<Digest, ()>> = Mutex::new(HashMap::new());
    let staged: Vec<Result<Staged>> = paths
        .par_iter()
        .map_init(
            || Encoder::new(level),
            |enc, path| -> Result<Staged> {
                let meta = std::fs::metadata(path).map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
                if meta.len() > MAX_FILE_BYTES {
                    return Err(Error::invalid(format!(
                        "{}: {} bytes, larger than the {MAX_FILE_BYTES}-byte limit",
                        path.display(),
                        meta.len()
                    )));
                }
                let data = std::fs::read(path).map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
                let hash: Digest = Sha256::digest(&data).into();
                let first = claimed.lock().map(|mut m| m.insert(hash, ()).is_none()).unwrap_or(true);
                if !first {
                    return Ok((hash, data.len() as u64, None));
                }
                let enc = match enc {
                    Ok(e) => e,
                    Err(e) => return Err(Error::invalid(format!("zstd encoder: {e}"))),
                };
                let blob = compress_with(enc, &data)?;
                Ok((hash, data.len() as u64, Some(blob)))
            },
        )
        .collect();
    let mut blobs: HashMap<Digest, Arc<Vec<u8>>> = HashMap::new();
    let mut rows = Vec::with_capacity(staged.len());
    for r in staged {
        let (hash, size, blob) = r?;
        if let Some(b) = blob {
            blobs.insert(hash, Arc::new(b));
        }
        rows.push((hash, size));
    }
    rows.into_iter()
        .map(|(hash, size)| {
            let blob = blobs
                .get(&hash)
                .cloned()
                .ok_or_else(|| Error::invalid("internal: blob missing after packing"))?;
            Ok(Packed { hash, size, blob })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_no_content_size_and_round_trip() {
        let data = b"hello hello hello hello".repeat(100);
        let c = compress(&data, 10).unwrap();
        assert_eq!(&c[..5], &[0x28, 0xb5, 0x2f, 0xfd, 0x00]);
        assert_eq!(zstd::stream::decode_all(&c[..]).unwrap(), data);
        // Context reuse gives the same bytes as a fresh context.
        let mut enc = Encoder::new(10).unwrap();
        let other = compress_with(&mut enc, b"something else entirely").unwrap();
        assert_eq!(compress_with(&mut enc, &data).unwrap(), c);
        assert_ne!(other, c);
    }

    #[test]
    fn pack_dedupes() {
        let dir = std::env::temp_dir().join(format!("capfast-pack-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
        std::fs::write(&a, b"same").unwrap();
        std::fs::write(&b, b"same").unwrap();
        std::fs::write(&c, b"other").unwrap();
        let r = pack_files(&[a, b, c], 10).unwrap();
        assert!(Arc::ptr_eq(&r[0].blob, &r[1].blob));
        assert_eq!(r[0].hash, <[u8; 32]>::from(Sha256::digest(b"same")));
        assert_eq!(r[2].size, 5);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(pack_files(&[dir.join("missing")], 10).is_err());
        assert!(pack_files(&[], 0).is_err());
    }
}
