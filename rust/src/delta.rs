//! Delta sets for store servers: which blobs of a new index does a client not have yet?
//!
//! `have` goes into hash sets that store the 32-byte hashes by value (no pointer chasing on lookup). The hash
//! function is keyed by a per-process random seed and mixes all 32 bytes: hashes are client-supplied, so a fixed
//! function (or one that looks at a prefix only) would let a client craft colliding keys. Large inputs are split
//! into two shards by one bit of the keyed hash, built and probed on two threads; each missing hash is reported once,
//! at its first position in the index.

use crate::hash::Digest;
use rayon::prelude::*;
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

    /// The keyed hash of one digest (what the sets use).
    #[inline]
    pub fn hash_digest(&self, d: &Digest) -> u64 {
        let w = |i: usize| {
            u64::from_le_bytes([
                d[i],
                d[i + 1],
                d[i + 2],
                d[i + 3],
                d[i + 4],
                d[i + 5],
                d[i + 6],
                d[i + 7],
            ])
        };
        let a = fold(w(0) ^ self.k[0], w(8) ^ self.k[1]);
        let b = fold(w(16) ^ self.k[2], w(24) ^ self.k[3]);
        fold(a ^ self.k[3].rotate_left(29), b ^ self.k[1].rotate_left(17))
    }
}

pub struct SeededHasher {
    build: SeededBuild,
    acc: u64,
}

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hasher for SeededHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        if let Ok(d) = <&Digest>::try_from(bytes) {
            self.acc ^= self.build.hash_digest(d);
            return;
        }
        // Other lengths (not used by the sets here): 16 bytes at a time.
        for (i, c) in bytes.chunks(16).enumerate() {
            let mut a = [0u8; 8];
            let mut b = [0u8; 8];
            let (x, y) = c.split_at(c.len().min(8));
            a[..x.len()].copy_from_slice(x);
            b[..y.len()].copy_from_slice(y);
            let k = &self.build.k;
            let w = fold(
                u64::from_le_bytes(a) ^ k[(2 * i) & 3],
                u64::from_le_bytes(b) ^ k[(2 * i + 1) & 3],
            );
            self.acc = fold(self.acc ^ w, k[i & 3].rotate_left(17) | 1);
        }
    }
    #[inline]
    fn write_usize(&mut self, _len: usize) {
        // The length prefix of a `[u8; 32]` key is always 32: nothing to mix.
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.acc
    }
}

impl BuildHasher for SeededBuild {
    type Hasher = SeededHasher;
    #[inline]
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher { build: *self, acc: 0 }
    }
}

/// Inputs with fewer hashes than this use one plain set.
const PARTITION_MIN: usize = 1 << 15;
/// Large inputs are split into this many partitions by 8 bits of the keyed hash (bits 40..48: hashbrown takes
/// bucket positions from the low bits and tags from the top 7, so each partition's table stays uniformly filled).
/// A partition's set then fits in the L2 cache, so neither building nor probing waits on main memory.
const PARTS: usize = 256;

/// Positions (in `index`) of the hashes not in `have`; each distinct missing hash appears once, first position.
pub fn missing_blobs(index: &[Digest], have: &[Digest]) -> Vec<usize> {
    let build = SeededBuild::random();
    let absent: Vec<usize> = if index.len() + have.len() < PARTITION_MIN || index.len() > u32::MAX as usize {
        let mut set: HashSet<Digest, SeededBuild> = HashSet::with_capacity_and_hasher(have.len(), build);
        set.extend(have.iter().copied());
        (0..index.len()).filter(|&i| !set.contains(&index[i])).collect()
    } else {
        let part = |d: &Digest| ((build.hash_digest(d) >> 40) as usize) % PARTS;
        let ((have_starts, have_parted, _), (index_starts, index_parted, index_pos)) =
            rayon::join(|| partition(have, part, false), || partition(index, part, true));
        let mut absent: Vec<usize> = (0..PARTS)
            .into_par_iter()
            .flat_map_iter(|p| {
                let mine = &have_parted[have_starts[p]..have_starts[p + 1]];
                let mut set: HashSet<Digest, SeededBuild> = HashSet::with_capacity_and_hasher(mine.len(), build);
                set.extend(mine.iter().copied());
                let (a, b) = (index_starts[p], index_starts[p + 1]);
                let found: Vec<usize> = (a..b)
                    .filter(|&k| !set.contains(&index_parted[k]))
                    .map(|k| index_pos[k] as usize)
                    .collect();
                found.into_iter()
            })
            .collect();
        absent.sort_unstable();
        absent
    };
    // Absent hashes are usually few: dedupe them in index order.
    let mut reported: HashSet<Digest, SeededBuild> = HashSet::with_capacity_and_hasher(absent.len(), build);
    absent.into_iter().filter(|&i| reported.insert(index[i])).collect()
}

/// Counting sort of `items` by `part`: partition start offsets (`PARTS + 1` of them), the items grouped by
/// partition (input order kept inside each), and, with `positions`, each grouped item's input position.
fn partition(
    items: &[Digest],
    part: impl Fn(&Digest) -> usize + Sync,
    positions: bool,
) -> (Vec<usize>, Vec<Digest>, Vec<u32>) {
    let ids: Vec<u8> = items.par_iter().with_min_len(1 << 14).map(|d| part(d) as u8).collect();
    let mut starts = vec![0usize; PARTS + 1];
    for &id in &ids {
        starts[id as usize + 1] += 1;
    }
    for p in 0..PARTS {
        starts[p + 1] += starts[p];
    }
    let mut next = starts.clone();
    let mut grouped = vec![[0u8; 32]; items.len()];
    let mut pos = if positions { vec![0u32; items.len()] } else { Vec::new() };
    for (i, (d, &id)) in items.iter().zip(&ids).enumerate() {
        let slot = &mut next[id as usize];
        grouped[*slot] = *d;
        if positions {
            pos[*slot] = i as u32;
        }
        *slot += 1;
    }
    (starts, grouped, pos)
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

    #[test]
    fn parallel_path_agrees_with_a_plain_set() {
        let mk = |i: u64| -> Digest {
            let mut d = [0u8; 32];
            let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            d[..8].copy_from_slice(&x.to_le_bytes());
            d[8..16].copy_from_slice(&i.to_le_bytes());
            d
        };
        let have: Vec<Digest> = (0..60_000).map(mk).collect();
        // index: mostly present, some absent, with repeats of absent ones
        let index: Vec<Digest> = (0..50_000u64)
            .map(|i| if i % 7 == 0 { mk(1_000_000 + i % 700) } else { mk(i) })
            .collect();
        let set: std::collections::HashSet<Digest> = have.iter().copied().collect();
        let mut seen = std::collections::HashSet::new();
        let want: Vec<usize> = (0..index.len())
            .filter(|&i| !set.contains(&index[i]) && seen.insert(index[i]))
            .collect();
        assert_eq!(want.len(), 100);
        assert_eq!(missing_blobs(&index, &have), want);
        // keys that share a long prefix still spread (the whole key is hashed)
        let b = SeededBuild::random();
        let same_prefix: std::collections::HashSet<u64> = (0..1000u64)
            .map(|i| {
                let mut d = [0xAB; 32];
                d[24..].copy_from_slice(&i.to_le_bytes());
                b.hash_digest(&d)
            })
            .collect();
        assert_eq!(same_prefix.len(), 1000);
    }
}
