//! Delta sets for store servers: which blobs of a new index does a client not have yet?
//!
//! `have` goes into hash sets that store the 32-byte hashes by value (no pointer chasing on lookup). The hash
//! function is foldhash keyed with a fresh random seed per call and mixes all 32 bytes: hashes are client-supplied,
//! so a fixed function (or one that looks at a prefix only) would let a client craft colliding keys. Large inputs are split
//! into two shards by one bit of the keyed hash, built and probed on two threads; each missing hash is reported once,
//! at its first position in the index.

use crate::hash::Digest;
use foldhash::fast::SeedableRandomState;
use foldhash::SharedSeed;
use rayon::prelude::*;
use std::collections::HashSet;
use std::hash::BuildHasher;

/// The keyed hasher of one call: foldhash (the hasher hashbrown uses by default), with the process's random shared
/// seed and a fresh 64-bit per-call seed from the OS. Hashes are client-supplied, so a fixed function would let a
/// client craft colliding keys; a per-call random key gives the client nothing to learn across requests.
#[derive(Clone)]
struct Keyed(SeedableRandomState);

impl Keyed {
    fn random() -> Self {
        let mut seed = [0u8; 8];
        // getrandom failing means the OS has no randomness to give: fall back to foldhash's own random state
        // (process-random shared seed, per-instance nondeterminism) rather than a fixed key.
        let state = match getrandom::getrandom(&mut seed) {
            Ok(()) => SeedableRandomState::with_seed(u64::from_le_bytes(seed), SharedSeed::global_random()),
            Err(_) => SeedableRandomState::random(),
        };
        Keyed(state)
    }

    /// The keyed hash of one digest (what the sets use, so also what picks a partition).
    #[inline]
    fn hash_digest(&self, d: &Digest) -> u64 {
        self.0.hash_one(d)
    }
}

impl BuildHasher for Keyed {
    type Hasher = <SeedableRandomState as BuildHasher>::Hasher;
    #[inline]
    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
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
    let build = Keyed::random();
    let absent: Vec<usize> = if index.len() + have.len() < PARTITION_MIN || index.len() > u32::MAX as usize {
        let mut set: HashSet<Digest, Keyed> = HashSet::with_capacity_and_hasher(have.len(), build.clone());
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
                let mut set: HashSet<Digest, Keyed> = HashSet::with_capacity_and_hasher(mine.len(), build.clone());
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
    let mut reported: HashSet<Digest, Keyed> = HashSet::with_capacity_and_hasher(absent.len(), build);
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
        let b = Keyed::random();
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
