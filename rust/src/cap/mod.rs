//! CAP 1.0 packages: the CAPROOT root (spec §7.2), the deterministic STORED ZIP writer and strict reader,
//! parallel SHA-256 + zstd packing, and streaming blob verification with bounded memory.

pub mod index;
pub mod pack;
pub mod root;
pub mod verify;
pub mod zip;

use crate::error::{Error, PackageErrorKind, Result};
use crate::hash::Digest;

/// Parses 64 **lowercase** hex characters into a digest (uppercase is refused: W10 in cap-format.md §9).
pub fn parse_hex32(s: &[u8]) -> Result<Digest> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let bad = || {
        let shown: String = String::from_utf8_lossy(&s[..s.len().min(80)]).into_owned();
        Error::package(PackageErrorKind::InvalidHash, format!("{shown:?} is not 64 lowercase hex characters"))
    };
    if s.len() != 64 {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => out[i] = (hi << 4) | lo,
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// Lowercase hex of a digest.
pub fn hex32(d: &Digest) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in d {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
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
            Err(Error::Package { kind: PackageErrorKind::InvalidHash, .. })
        ));
        assert!(parse_hex32(b"ab").is_err());
        assert!(parse_hex32(&[b'g'; 64]).is_err());
    }
}
