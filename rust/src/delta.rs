//! Delta sets for store servers: which blobs of a new index does a client not have yet?
//!
//! `have` is put into a hash set keyed by a per-process random seed (hashes are client-supplied, so a fixed hash
//! function would let a client craft collisions); the index is scanned in order and each missing hash is reported
//! once, at its first position.

use crate::hash::Digest;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

/// A seeded hasher for 32-byte keys: two folded 64×64→128 multiplies over the key words and the seed.
#[derive(Clone, Copy)]
pub struct SeededBuild {
    k: [u64; 4],
}

impl SeededBuild {
    pub fn random() -> Self {
        let rs = std::collections::hash_map::RandomState::new();
        let mut k = [0u64; 4];
        for (i, slot) in k.iter_mut().enumerate() {
            let mut h = rs.build_hasher();
            h.write_usize(i);
            *slot = h.finish() | 1;
        }
        SeededBuild { k }
    }
}

pub struct SeededHasher {
    k: [u64; 4],
    acc: u64,
}

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hasher for SeededHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Keys are 32 bytes; any other length is hashed 8 bytes at a time.
        for (i, c) in bytes.chunks(16).enumerate() {
            let mut a = [0u8; 8];
            let mut b = [0u8; 8];
            let (x, y) = c.split_at(c.len().min(8));
            a[..x.len()].copy_from_slice(x);
            b[..y.len()].copy_from_slice(y);
            let w = fold(u64::from_le_bytes(a) ^ self.k[(2 * i) & 3], u64::from_le_bytes(b) ^ self.k[(2 * i + 1) & 3]);
            self.acc = fold(self.acc ^ w, self.k[i & 3].rotate_left(17) | 1);
        }
    }
    fn finish(&self) -> u64 {
        self.acc
    }
}

impl BuildHasher for SeededBuild {
    type Hasher = SeededHasher;
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher { k: self.k, acc: self.k[0] ^ self.k[3] }
    }
}

/// Positions (in `index`) of the hashes not in `have`; each distinct missing hash appears once, first position.
pub fn missing_blobs(index: &[Digest], have: &[Digest]) -> Vec<usize> {
    let build = SeededBuild::random();
    let mut have_set: HashSet<&Digest, SeededBuild> = HashSet::with_capacity_and_hasher(have.len(), build);
    have_set.extend(have.iter());
    let mut reported: HashSet<&Digest, SeededBuild> = HashSet::with_hasher(build);
    let mut out = Vec::new();
    for (i, h) in index.iter().enumerate() {
        if !have_set.contains(h) && reported.insert(h) {
            out.push(i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_in_order_once() {
        let h = |b: u8| [b; 32];
        let index = [h(1), h(2), h(3), h(2), h(4)];
        let have = [h(1), h(4), h(9)];
        assert_eq!(missing_blobs(&index, &have), vec![1, 2]);
        assert_eq!(missing_blobs(&index, &[]), vec![0, 1, 2, 4]);
        assert!(missing_blobs(&[], &have).is_empty());
    }
}
