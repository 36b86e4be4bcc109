//! The three tree hashes capfast supports, with RFC 6962 domain separation.
//!
//! leaf = H(0x00 ‖ data), node = H(0x01 ‖ left ‖ right), empty tree = H("").
//!
//! `b3x8` and `sha3x8` hash eight independent messages at once with SIMD (AVX2 / AVX-512, detected at run time,
//! scalar fallback); [`HashAlg::parents`] uses them for whole tree levels.

pub mod b3x8;
mod lanes;
pub mod sha3x8;

use crate::error::{Error, Result};
use sha2::Digest as _;

/// A 32-byte digest.
pub type Digest = [u8; 32];

pub const LEAF_PREFIX: u8 = 0x00;
pub const NODE_PREFIX: u8 = 0x01;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    Blake3,
    Sha3_256,
    Sha256,
}

impl HashAlg {
    pub const ALL: [HashAlg; 3] = [HashAlg::Blake3, HashAlg::Sha3_256, HashAlg::Sha256];

    /// Parses the public name (`"blake3"`, `"sha3-256"`, `"sha256"`).
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "blake3" => Ok(HashAlg::Blake3),
            "sha3-256" => Ok(HashAlg::Sha3_256),
            "sha256" => Ok(HashAlg::Sha256),
            other => Err(Error::invalid(format!(
                "unknown hash {other:?}: expected one of \"blake3\", \"sha3-256\", \"sha256\""
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Blake3 => "blake3",
            HashAlg::Sha3_256 => "sha3-256",
            HashAlg::Sha256 => "sha256",
        }
    }

    /// H(concatenation of `parts`), without building the concatenation.
    pub fn hash_parts(self, parts: &[&[u8]]) -> Digest {
        match self {
            HashAlg::Blake3 => {
                let mut h = blake3::Hasher::new();
                for p in parts {
                    h.update(p);
                }
                *h.finalize().as_bytes()
            }
            HashAlg::Sha3_256 => {
                let mut h = sha3::Sha3_256::new();
                for p in parts {
                    h.update(p);
                }
                h.finalize().into()
            }
            HashAlg::Sha256 => {
                let mut h = sha2::Sha256::new();
                for p in parts {
                    h.update(p);
                }
                h.finalize().into()
            }
        }
    }

    /// Plain hash of `data` (no domain prefix).
    pub fn hash(self, data: &[u8]) -> Digest {
        self.hash_parts(&[data])
    }

    /// Root of the empty tree: H("").
    pub fn empty_root(self) -> Digest {
        self.hash_parts(&[])
    }

    /// RFC 6962 leaf hash: H(0x00 ‖ data).
    pub fn leaf(self, data: &[u8]) -> Digest {
        self.hash_parts(&[&[LEAF_PREFIX], data])
    }

    /// Leaf hash of the concatenation of `parts`: H(0x00 ‖ parts[0] ‖ parts[1] ‖ …).
    pub fn leaf_parts(self, parts: &[&[u8]]) -> Digest {
        match parts {
            [a] => self.hash_parts(&[&[LEAF_PREFIX], a]),
            [a, b] => self.hash_parts(&[&[LEAF_PREFIX], a, b]),
            _ => {
                let mut all: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
                all.push(&[LEAF_PREFIX]);
                all.extend_from_slice(parts);
                self.hash_parts(&all)
            }
        }
    }

    /// Appends the RFC 6962 parents `node(level[2i], level[2i+1])` of consecutive pairs of `level` (even length) to
    /// `out`, eight at a time where the CPU allows.
    pub fn parents(self, level: &[Digest], out: &mut Vec<Digest>) {
        match self {
            HashAlg::Blake3 => b3x8::parents(level, out),
            HashAlg::Sha3_256 => sha3x8::parents(level, out),
            HashAlg::Sha256 => out.extend(level.chunks_exact(2).map(|p| self.node(&p[0], &p[1]))),
        }
    }

    /// RFC 6962 interior node hash: H(0x01 ‖ left ‖ right).
    pub fn node(self, left: &Digest, right: &Digest) -> Digest {
        // One contiguous 65-byte block hashes faster than three updates for every algorithm here.
        let mut buf = [0u8; 65];
        buf[0] = NODE_PREFIX;
        buf[1..33].copy_from_slice(left);
        buf[33..].copy_from_slice(right);
        self.hash(&buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_inputs_match_published_digests() {
        // FIPS 180-4 / FIPS 202 / BLAKE3 digests of the empty string.
        assert_eq!(
            crate::hex::encode(&HashAlg::Sha256.empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            crate::hex::encode(&HashAlg::Sha3_256.empty_root()),
            "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
        );
        assert_eq!(
            crate::hex::encode(&HashAlg::Blake3.empty_root()),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn leaf_parts_equals_leaf_of_concatenation() {
        for alg in HashAlg::ALL {
            assert_eq!(alg.leaf_parts(&[b"ab", b"cd"]), alg.leaf(b"abcd"));
            assert_eq!(alg.leaf_parts(&[b"a", b"b", b"cd"]), alg.leaf(b"abcd"));
        }
    }

    #[test]
    fn names_round_trip_and_unknown_is_rejected() {
        for alg in HashAlg::ALL {
            assert_eq!(HashAlg::from_name(alg.name()).unwrap(), alg);
        }
        assert!(HashAlg::from_name("md5").is_err());
    }
}
