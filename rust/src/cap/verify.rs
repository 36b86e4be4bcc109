//! Streaming blob verification: each blob must be exactly one zstd frame whose output has the declared size and
//! SHA-256. Output is produced in 128 KiB chunks and hashed as it comes, so memory per blob is bounded by the zstd
//! window (capped) plus the compressed payload; decoding stops one chunk past the declared size.

use super::zip::Source;
use crate::error::{Error, PackageErrorKind as K, Result};
use crate::hash::Digest;
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};
use zstd::stream::raw::{DParameter, Decoder, InBuffer, Operation, OutBuffer};

/// Caps applied before and during decompression.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest declared size of one blob.
    pub max_blob: u64,
    /// Largest sum of declared sizes of all distinct blobs.
    pub max_total: u64,
    /// Largest declared size / compressed size, for blobs above `RATIO_FLOOR`.
    pub max_ratio: u64,
    /// Largest zstd window, as a power of two.
    pub window_log_max: u32,
}

/// Blobs up to this size are never refused for their compression ratio.
pub const RATIO_FLOOR: u64 = 1 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_blob: 1 << 30,
            max_total: 4 << 30,
            max_ratio: 10_000,
            window_log_max: 25,
        }
    }
}

/// One blob to check: where its payload is in the archive and what the index says it must decode to.
#[derive(Debug, Clone)]
pub struct BlobRef {
    pub hash: Digest,
    pub offset: u64,
    pub csize: u64,
    pub crc: u32,
    pub size: u64,
}

fn err(kind: K, msg: String) -> Error {
    Error::package(kind, msg)
}

/// Checks declared sizes against the caps before anything is read or allocated.
pub fn check_declared(blobs: &[BlobRef], limits: &Limits) -> Result<()> {
    let mut total: u64 = 0;
    for b in blobs {
        let h = super::hex32(&b.hash);
        if b.size > limits.max_blob {
            return Err(err(
                K::DecompressionBomb,
                format!(
                    "blob {h}: declared size {} exceeds the {}-byte cap",
                    b.size, limits.max_blob
                ),
            ));
        }
        if b.size > RATIO_FLOOR && b.size > b.csize.saturating_mul(limits.max_ratio) {
            return Err(err(
                K::DecompressionBomb,
                format!(
                    "blob {h}: {} bytes from {} compressed exceeds the {}:1 ratio cap",
                    b.size, b.csize, limits.max_ratio
                ),
            ));
        }
        total = total.saturating_add(b.size);
        if total > limits.max_total {
            return Err(err(
                K::DecompressionBomb,
                format!("blobs declare more than the {}-byte total cap", limits.max_total),
            ));
        }
    }
    Ok(())
}

/// Validates the frame header: zstd magic (no skippable frame), no dictionary, window within the cap, and a
/// frame content size (if present) equal to the declared size.
pub fn check_frame_header(data: &[u8], declared: u64, limits: &Limits, h: &str) -> Result<()> {
    if data.len() < 6 {
        return Err(err(
            K::BlobMismatch,
            format!("blob {h}: {} bytes is too short for a zstd frame", data.len()),
        ));
    }
    let magic = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
        return Err(err(
            K::BlobMismatch,
            format!("blob {h}: skippable zstd frame (exactly one data frame is allowed)"),
        ));
    }
    if magic != 0xFD2F_B528 {
        return Err(err(K::BlobMismatch, format!("blob {h}: not a zstd frame")));
    }
    let fhd = data[4];
    let single_segment = fhd & 0x20 != 0;
    let dict_flag = fhd & 3;
    let fcs_flag = fhd >> 6;
    if dict_flag != 0 {
        return Err(err(K::BlobMismatch, format!("blob {h}: zstd frame needs a dictionary")));
    }
    let mut pos = 5;
    if !single_segment {
        let wd = data[5];
        let log = 10 + (wd >> 3) as u32;
        let base = 1u64 << log;
        let window = base + (base / 8) * (wd & 7) as u64;
        if window > 1u64 << limits.window_log_max {
            return Err(err(
                K::DecompressionBomb,
                format!("blob {h}: zstd window of {window} bytes exceeds the cap"),
            ));
        }
        pos = 6;
    }
    let fcs_len = match (fcs_flag, single_segment) {
        (0, true) => 1,
        (0, false) => 0,
        (1, _) => 2,
        (2, _) => 4,
        _ => 8,
    };
    if fcs_len > 0 {
        if data.len() < pos + fcs_len {
            return Err(err(K::BlobMismatch, format!("blob {h}: truncated zstd frame header")));
        }
        let mut v = [0u8; 8];
        v[..fcs_len].copy_from_slice(&data[pos..pos + fcs_len]);
        let mut fcs = u64::from_le_bytes(v);
        if fcs_len == 2 {
            fcs += 256;
        }
        if fcs != declared {
            return Err(err(
                K::BlobMismatch,
                format!("blob {h}: frame content size {fcs} differs from the index size {declared}"),
            ));
        }
    }
    Ok(())
}

/// Reusable decoding state: one zstd context and one output chunk, kept across blobs by a worker thread so that
/// small blobs do not pay for a fresh context (and its window allocation) and a fresh 128 KiB buffer each.
pub struct Scratch {
    dec: Option<Decoder<'static>>,
    window_log_max: u32,
    chunk: Vec<u8>,
    one_shot: Option<zstd::zstd_safe::DCtx<'static>>,
    out: Vec<u8>,
}

/// Blobs up to this declared size are first decoded in one shot into a reused buffer (faster than streaming);
/// anything unexpected there is decoded again by the streaming path, which names the problem.
pub const ONE_SHOT_MAX: u64 = 8 << 20;

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            dec: None,
            window_log_max: 0,
            chunk: Vec::new(),
            one_shot: None,
            out: Vec::new(),
        }
    }

    /// One-shot decode of a frame that must span all of `data` into `self.out`; `Some(())` only if it decoded
    /// cleanly to exactly `size` bytes.
    fn decode_one_shot(&mut self, data: &[u8], size: u64) -> Option<()> {
        let size = usize::try_from(size).ok()?;
        if zstd::zstd_safe::find_frame_compressed_size(data).ok()? != data.len() {
            return None;
        }
        if self.one_shot.is_none() {
            self.one_shot = Some(zstd::zstd_safe::DCtx::try_create()?);
        }
        let dctx = self.one_shot.as_mut()?;
        self.out.clear();
        // Room for exactly `size` bytes (a reused buffer may hold more; a longer output is caught below).
        self.out.reserve(size);
        let n = dctx.decompress(&mut self.out, data).ok()?;
        (n == size && self.out.len() == size).then_some(())
    }

    fn decoder(&mut self, window_log_max: u32) -> Result<&mut Decoder<'static>> {
        match &mut self.dec {
            Some(d) if self.window_log_max == window_log_max => {
                d.reinit()?;
            }
            slot => {
                let mut d = Decoder::new()?;
                d.set_parameter(DParameter::WindowLogMax(window_log_max))?;
                *slot = Some(d);
                self.window_log_max = window_log_max;
            }
        }
        self.dec
            .as_mut()
            .ok_or_else(|| Error::invalid("internal: zstd decoder missing"))
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

/// Decodes one blob payload, feeding each output chunk to `sink`. Enforces exactly one frame, no trailing bytes,
/// output size == `declared` (stops one chunk past it) and the SHA-256.
pub fn decode_checked(data: &[u8], b: &BlobRef, limits: &Limits, sink: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
    decode_checked_with(&mut Scratch::new(), data, b, limits, sink)
}

/// [`decode_checked`] with caller-provided (reused) decoding state.
pub fn decode_checked_with(
    scratch: &mut Scratch,
    data: &[u8],
    b: &BlobRef,
    limits: &Limits,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let hx = || super::hex32(&b.hash);
    check_frame_header(data, b.size, limits, &hx())?;
    if b.size <= ONE_SHOT_MAX && scratch.decode_one_shot(data, b.size).is_some() {
        let got: Digest = Sha256::digest(&scratch.out).into();
        if got != b.hash {
            return Err(err(
                K::BlobMismatch,
                format!("blob {}: content hashes to {}", hx(), super::hex32(&got)),
            ));
        }
        return sink(&scratch.out);
    }
    if scratch.chunk.len() != 1 << 17 {
        scratch.chunk = vec![0u8; 1 << 17];
    }
    let mut chunk = std::mem::take(&mut scratch.chunk);
    let r = (|| -> Result<()> {
        let dec = scratch.decoder(limits.window_log_max)?;
        let mut input = InBuffer::around(data);
        let mut produced: u64 = 0;
        let mut hasher = Sha256::new();
        loop {
            let mut ob = OutBuffer::around(&mut chunk[..]);
            let hint = dec
                .run(&mut input, &mut ob)
                .map_err(|e| err(K::BlobMismatch, format!("blob {}: corrupt zstd data: {e}", hx())))?;
            let n = ob.pos();
            produced += n as u64;
            if produced > b.size {
                return Err(err(
                    K::DecompressionBomb,
                    format!("blob {}: decompresses to more than its declared {} bytes", hx(), b.size),
                ));
            }
            hasher.update(&chunk[..n]);
            sink(&chunk[..n])?;
            if hint == 0 {
                break;
            }
            if input.pos >= data.len() && n == 0 {
                return Err(err(K::BlobMismatch, format!("blob {}: truncated zstd frame", hx())));
            }
        }
        if input.pos != data.len() {
            return Err(err(
                K::BlobMismatch,
                format!("blob {}: {} bytes after the zstd frame", hx(), data.len() - input.pos),
            ));
        }
        if produced != b.size {
            return Err(err(
                K::BlobMismatch,
                format!(
                    "blob {}: decompressed size {produced} differs from the index size {}",
                    hx(),
                    b.size
                ),
            ));
        }
        let got: Digest = hasher.finalize().into();
        if got != b.hash {
            return Err(err(
                K::BlobMismatch,
                format!("blob {}: content hashes to {}", hx(), super::hex32(&got)),
            ));
        }
        Ok(())
    })();
    scratch.chunk = chunk;
    if r.is_err() {
        // A failed frame may leave the context mid-frame: never reuse it.
        scratch.dec = None;
    }
    r
}

fn read_payload(src: &(impl Source + ?Sized), b: &BlobRef) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    read_payload_into(src, src.len(), b, &mut data)?;
    Ok(data)
}

/// Reads a blob's payload into `data` (resized to fit, reusing its allocation) and checks its CRC-32.
fn read_payload_into(src: &(impl Source + ?Sized), src_len: u64, b: &BlobRef, data: &mut Vec<u8>) -> Result<()> {
    let h = || super::hex32(&b.hash);
    let end = b.offset.checked_add(b.csize).filter(|&e| e <= src_len);
    if end.is_none() {
        return Err(err(
            K::ZipFormat,
            format!("blob {}: payload lies outside the archive", h()),
        ));
    }
    let len = usize::try_from(b.csize).map_err(|_| err(K::ZipFormat, format!("blob {}: payload too large", h())))?;
    data.clear();
    data.resize(len, 0);
    src.read_exact_at(data, b.offset)
        .map_err(|e| err(K::ZipFormat, format!("blob {}: cannot read payload: {e}", h())))?;
    if crc32fast::hash(data) != b.crc {
        return Err(err(
            K::ZipFormat,
            format!("blob {}: CRC-32 mismatch in the archive", h()),
        ));
    }
    Ok(())
}

/// Verifies every blob (in parallel); reports the first violation in the given order.
pub fn verify_blobs(src: &(impl Source + ?Sized), blobs: &[BlobRef], limits: &Limits) -> Result<()> {
    check_declared(blobs, limits)?;
    let src_len = src.len();
    let failure = blobs
        .par_iter()
        .map_init(
            || (Scratch::new(), Vec::new()),
            |(scratch, data), b| -> Result<()> {
                read_payload_into(src, src_len, b, data)?;
                let r = decode_checked_with(scratch, data, b, limits, |_| Ok(()));
                if data.capacity() > 1 << 24 {
                    *data = Vec::new(); // do not keep a huge payload buffer per thread
                }
                r
            },
        )
        .find_first(|r| r.is_err());
    match failure {
        Some(Err(e)) => Err(e),
        _ => Ok(()),
    }
}

/// Reads, checks and returns one blob's decompressed content.
pub fn read_blob(src: &(impl Source + ?Sized), b: &BlobRef, limits: &Limits) -> Result<Vec<u8>> {
    check_declared(std::slice::from_ref(b), limits)?;
    let data = read_payload(src, b)?;
    let mut out = Vec::with_capacity(usize::try_from(b.size).unwrap_or(0).min(1 << 26));
    decode_checked(&data, b, limits, |c| {
        out.extend_from_slice(c);
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cap::pack::compress;

    fn blob(data: &[u8], payload: &[u8]) -> BlobRef {
        BlobRef {
            hash: Sha256::digest(data).into(),
            offset: 0,
            csize: payload.len() as u64,
            crc: crc32fast::hash(payload),
            size: data.len() as u64,
        }
    }

    fn kind(r: Result<()>) -> K {
        match r {
            Err(Error::Package { kind, .. }) => kind,
            other => panic!("expected a package error, got {other:?}"),
        }
    }

    #[test]
    fn good_and_bad_blobs() {
        let l = Limits::default();
        let data = b"abc".repeat(1000);
        let c = compress(&data, 10).unwrap();
        assert!(verify_blobs(c.as_slice(), &[blob(&data, &c)], &l).is_ok());
        assert_eq!(read_blob(c.as_slice(), &blob(&data, &c), &l).unwrap(), data);
        // wrong declared hash
        let mut b = blob(&data, &c);
        b.hash[0] ^= 1;
        assert_eq!(kind(verify_blobs(c.as_slice(), &[b], &l)), K::BlobMismatch);
        // declared smaller than real: bomb
        let mut b = blob(&data, &c);
        b.size = 10;
        assert_eq!(kind(verify_blobs(c.as_slice(), &[b], &l)), K::DecompressionBomb);
        // declared larger than real: mismatch
        let mut b = blob(&data, &c);
        b.size += 1;
        assert_eq!(kind(verify_blobs(c.as_slice(), &[b], &l)), K::BlobMismatch);
        // trailing garbage / two frames
        let mut two = c.clone();
        two.extend_from_slice(&c);
        assert_eq!(
            kind(verify_blobs(two.as_slice(), &[blob(&data, &two)], &l)),
            K::BlobMismatch
        );
        // huge declared size and ratio caps
        let mut b = blob(&data, &c);
        b.size = 1 << 40;
        assert_eq!(kind(verify_blobs(c.as_slice(), &[b], &l)), K::DecompressionBomb);
        let zeros = vec![0u8; 64 << 20];
        let z = compress(&zeros, 3).unwrap();
        let strict = Limits { max_ratio: 100, ..l };
        assert_eq!(
            kind(verify_blobs(z.as_slice(), &[blob(&zeros, &z)], &strict)),
            K::DecompressionBomb
        );
    }
}
