//! CAP 1.0 packages: the CAPROOT root (spec §7.2), the deterministic STORED ZIP writer and strict reader,
//! parallel SHA-256 + zstd packing, and streaming blob verification with bounded memory.

pub mod index;
pub mod pack;
pub mod root;
pub mod scan;
pub mod verify;
pub mod zip;

use crate::error::{Error, PackageErrorKind, Result};
use crate::hash::Digest;

/// Parses 64 **lowercase** hex characters into a digest (uppercase is refused: W10 in cap-format.md §9).
pub fn parse_hex32(s: &[u8]) -> Result<Digest> {
    crate::hex::decode_lower32(s).ok_or_else(|| {
        let shown: String = String::from_utf8_lossy(&s[..s.len().min(80)]).into_owned();
        Error::package(
            PackageErrorKind::InvalidHash,
            format!("{shown:?} is not 64 lowercase hex characters"),
        )
    })
}

/// [`parse_hex32`] over many strings, in parallel for large inputs; the error is the first invalid one in order.
pub fn parse_hex32_many(items: &[&[u8]]) -> Result<Vec<Digest>> {
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    const CHUNK: usize = 1 << 14;
    let mut out = vec![[0u8; 32]; items.len()];
    let first_bad = AtomicUsize::new(usize::MAX);
    let work = |(ci, chunk): (usize, &mut [Digest])| {
        for (j, slot) in chunk.iter_mut().enumerate() {
            let i = ci * CHUNK + j;
            match crate::hex::decode_lower32(items[i]) {
                Some(d) => *slot = d,
                None => {
                    first_bad.fetch_min(i, Ordering::Relaxed);
                    return;
                }
            }
        }
    };
    if items.len() > CHUNK {
        out.par_chunks_mut(CHUNK).enumerate().for_each(work);
    } else {
        out.chunks_mut(CHUNK).enumerate().for_each(work);
    }
    match first_bad.into_inner() {
        usize::MAX => Ok(out),
        i => Err(parse_hex32(items[i])
            .err()
            .unwrap_or_else(|| Error::invalid("internal: hex decode disagreement"))),
    }
}

/// Lowercase hex of a digest.
pub fn hex32(d: &Digest) -> String {
    crate::hex::encode(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejections() {
        let d: Digest = core::array::from_fn(|i| (i * 7) as u8);
        assert_eq!(parse_hex32(hex32(&d).as_bytes()).unwrap(), d);
        let upper = hex32(&d).to_uppercase();
        assert!(matches!(
            parse_hex32(upper.as_bytes()),
            Err(Error::Package {
                kind: PackageErrorKind::InvalidHash,
                ..
            })
        ));
        assert!(parse_hex32(b"ab").is_err());
        assert!(parse_hex32(&[b'g'; 64]).is_err());
        // The table-driven bulk decoder agrees with the scalar one, and reports the first invalid item.
        let good = hex32(&d);
        let mut all: Vec<String> = (0..40_000u32)
            .map(|i| hex32(&core::array::from_fn(|j| (i as usize * 31 + j) as u8)))
            .collect();
        let refs: Vec<&[u8]> = all.iter().map(|s| s.as_bytes()).collect();
        let parsed = parse_hex32_many(&refs).unwrap();
        assert!(refs.iter().zip(&parsed).all(|(s, d)| parse_hex32(s).unwrap() == *d));
        for bad in [
            upper.clone(),
            "g".repeat(64),
            good[..63].to_owned(),
            format!("{good}0"),
            good.replacen('0', "/", 1),
        ] {
            all[30_000] = bad.clone();
            all[35_000] = "x".into();
            let refs: Vec<&[u8]> = all.iter().map(|s| s.as_bytes()).collect();
            let e = parse_hex32_many(&refs).unwrap_err().to_string();
            assert!(e.contains(&format!("{:?}", &bad[..bad.len().min(80)])), "{e}");
        }
    }
}
