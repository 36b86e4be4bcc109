//! RFC 6962 §2.1 Merkle trees: roots, compact ranges and a streaming builder.
//!
//! A *compact range* over leaves `[begin, end)` is the list of roots of the maximal perfect, aligned subtrees that
//! tile the range, left to right. Two adjacent ranges merge into the compact range of their union, so shards hashed
//! separately (even on different machines) combine to the root of the whole. Memory is O(log n).

use crate::error::{Error, Result};
use crate::hash::{Digest, HashAlg};
use rayon::prelude::*;

/// The canonical decomposition of `[begin, end)` into aligned perfect subtrees: `(start, level)` left to right,
/// where a node at `level` covers `2^level` leaves starting at `start`.
pub fn decompose(mut begin: u64, end: u64) -> Vec<(u64, u32)> {
    let mut out = Vec::new();
    while begin < end {
        // Largest aligned block at `begin` that still fits.
        let align = if begin == 0 { 63 } else { begin.trailing_zeros() };
        let fit = 63 - (end - begin).leading_zeros();
        let level = align.min(fit);
        out.push((begin, level));
        begin += 1u64 << level;
    }
    out
}

/// Compact range of leaves `[begin, end)`; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactRange {
    alg: HashAlg,
    begin: u64,
    end: u64,
    /// Stack of (level, hash) of the perfect subtrees, left to right.
    nodes: Vec<(u32, Digest)>,
}

impl CompactRange {
    /// An empty range starting at leaf index `begin`.
    pub fn new(alg: HashAlg, begin: u64) -> Self {
        CompactRange { alg, begin, end: begin, nodes: Vec::new() }
    }

    /// Rebuilds a range from its exported form. Fails if `hashes` has the wrong length for `[begin, end)`.
    pub fn from_parts(alg: HashAlg, begin: u64, end: u64, hashes: Vec<Digest>) -> Result<Self> {
        if begin > end {
            return Err(Error::Proof(format!("compact range begin {begin} is after end {end}")));
        }
        let shape = decompose(begin, end);
        if shape.len() != hashes.len() {
            return Err(Error::Proof(format!(
                "compact range [{begin}, {end}) needs {} hashes, got {}",
                shape.len(),
                hashes.len()
            )));
        }
        let nodes = shape.iter().map(|&(_, level)| level).zip(hashes).collect();
        Ok(CompactRange { alg, begin, end, nodes })
    }

    pub fn alg(&self) -> HashAlg {
        self.alg
    }
    pub fn begin(&self) -> u64 {
        self.begin
    }
    pub fn end(&self) -> u64 {
        self.end
    }
    pub fn len(&self) -> u64 {
        self.end - self.begin
    }
    pub fn is_empty(&self) -> bool {
        self.begin == self.end
    }
    /// The subtree roots, left to right (the exported form together with `begin` and `end`).
    pub fn hashes(&self) -> Vec<Digest> {
        self.nodes.iter().map(|&(_, h)| h).collect()
    }

    /// Pushes a perfect subtree of `level` whose first leaf is `self.end`, merging siblings on the right border.
    fn push_node(&mut self, level: u32, hash: Digest) {
        let mut level = level;
        let mut hash = hash;
        let mut start = self.end;
        self.end += 1u64 << level;
        while let Some(&(top_level, top_hash)) = self.nodes.last() {
            // The top node is our left sibling iff it has our level and the parent is aligned and inside the range.
            let parent_level = level + 1;
            let parent_start = start - (1u64 << level);
            if top_level != level || parent_start % (1u64 << parent_level) != 0 || parent_start < self.begin {
                break;
            }
            self.nodes.pop();
            hash = self.alg.node(&top_hash, &hash);
            level = parent_level;
            start = parent_start;
        }
        self.nodes.push((level, hash));
    }

    /// Appends one leaf hash (already `H(0x00 ‖ data)`).
    pub fn push(&mut self, leaf_hash: Digest) {
        self.push_node(0, leaf_hash);
    }

    /// Appends the adjacent range `other` (`other.begin == self.end`).
    pub fn append(&mut self, other: &CompactRange) -> Result<()> {
        if other.alg != self.alg {
            return Err(Error::Proof(format!(
                "cannot merge a {} range into a {} range",
                other.alg.name(),
                self.alg.name()
            )));
        }
        if other.begin != self.end {
            return Err(Error::Proof(format!(
                "ranges are not adjacent: [{}, {}) then [{}, {})",
                self.begin, self.end, other.begin, other.end
            )));
        }
        for &(level, hash) in &other.nodes {
            self.push_node(level, hash);
        }
        Ok(())
    }

    /// RFC 6962 root of leaves `[0, end)`. Only defined for ranges that start at leaf 0.
    pub fn root(&self) -> Result<Digest> {
        if self.begin != 0 {
            return Err(Error::Proof(format!(
                "a root needs a range starting at leaf 0, this one starts at {}",
                self.begin
            )));
        }
        Ok(fold_right(self.alg, &self.nodes))
    }
}

/// Folds subtree roots right to left: node(h0, node(h1, … node(h_{k-2}, h_{k-1}))).
fn fold_right(alg: HashAlg, nodes: &[(u32, Digest)]) -> Digest {
    let mut iter = nodes.iter().rev();
    match iter.next() {
        None => alg.empty_root(),
        Some(&(_, last)) => iter.fold(last, |acc, &(_, h)| alg.node(&h, &acc)),
    }
}

/// Below this many leaves a subtree is hashed on the current thread.
const PAR_THRESHOLD: usize = 1 << 14;

/// Root of a perfect subtree (`leaves.len()` a power of two), splitting across threads for large inputs.
fn perfect_root(alg: HashAlg, leaves: &[Digest]) -> Digest {
    debug_assert!(leaves.len().is_power_of_two());
    if leaves.len() <= PAR_THRESHOLD {
        let mut range = CompactRange::new(alg, 0);
        for h in leaves {
            range.push(*h);
        }
        return range.nodes[0].1;
    }
    let (l, r) = leaves.split_at(leaves.len() / 2);
    let (lh, rh) = rayon::join(|| perfect_root(alg, l), || perfect_root(alg, r));
    alg.node(&lh, &rh)
}

/// Compact range of the given leaf hashes starting at `begin`, hashing perfect subtrees in parallel.
pub fn compact_range_of(alg: HashAlg, begin: u64, leaf_hashes: &[Digest]) -> CompactRange {
    let end = begin + leaf_hashes.len() as u64;
    let shape = decompose(begin, end);
    let nodes: Vec<(u32, Digest)> = shape
        .par_iter()
        .map(|&(start, level)| {
            let lo = (start - begin) as usize;
            let hi = lo + (1usize << level);
            (level, perfect_root(alg, &leaf_hashes[lo..hi]))
        })
        .collect();
    CompactRange { alg, begin, end, nodes }
}

/// RFC 6962 Merkle tree hash of a list of leaf hashes.
pub fn root_of_leaf_hashes(alg: HashAlg, leaf_hashes: &[Digest]) -> Digest {
    fold_right(alg, &compact_range_of(alg, 0, leaf_hashes).nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Textbook recursive MTH from RFC 6962 §2.1, used as the oracle.
    fn mth(alg: HashAlg, leaves: &[Digest]) -> Digest {
        match leaves.len() {
            0 => alg.empty_root(),
            1 => leaves[0],
            n => {
                let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
                alg.node(&mth(alg, &leaves[..k]), &mth(alg, &leaves[k..]))
            }
        }
    }

    fn leaves(alg: HashAlg, n: usize) -> Vec<Digest> {
        (0..n).map(|i| alg.leaf(format!("leaf {i}").as_bytes())).collect()
    }

    #[test]
    fn decompose_tiles_the_range_with_maximal_aligned_nodes() {
        assert_eq!(decompose(0, 0), vec![]);
        assert_eq!(decompose(0, 7), vec![(0, 2), (4, 1), (6, 0)]);
        assert_eq!(decompose(3, 9), vec![(3, 0), (4, 2), (8, 0)]);
        assert_eq!(decompose(5, 6), vec![(5, 0)]);
    }

    #[test]
    fn streaming_root_matches_recursive_definition() {
        for alg in HashAlg::ALL {
            for n in 0..70 {
                let l = leaves(alg, n);
                let mut r = CompactRange::new(alg, 0);
                l.iter().for_each(|h| r.push(*h));
                assert_eq!(r.root().unwrap(), mth(alg, &l), "n={n}");
                assert_eq!(root_of_leaf_hashes(alg, &l), mth(alg, &l), "n={n}");
            }
        }
    }

    #[test]
    fn parallel_root_matches_for_large_trees() {
        let alg = HashAlg::Blake3;
        let l = leaves(alg, 3 * PAR_THRESHOLD + 17);
        assert_eq!(root_of_leaf_hashes(alg, &l), mth(alg, &l));
    }

    #[test]
    fn arbitrary_splits_merge_to_the_same_root() {
        let alg = HashAlg::Sha256;
        let l = leaves(alg, 37);
        let want = mth(alg, &l);
        for a in 0..=37usize {
            for b in a..=37usize {
                let mut left = compact_range_of(alg, 0, &l[..a]);
                let mid = compact_range_of(alg, a as u64, &l[a..b]);
                let right = compact_range_of(alg, b as u64, &l[b..]);
                // Exported and re-imported form is accepted.
                let mid = CompactRange::from_parts(alg, mid.begin(), mid.end(), mid.hashes()).unwrap();
                left.append(&mid).unwrap();
                left.append(&right).unwrap();
                assert_eq!(left.root().unwrap(), want, "split {a} {b}");
            }
        }
    }

    #[test]
    fn bad_merges_are_rejected() {
        let alg = HashAlg::Sha256;
        let l = leaves(alg, 8);
        let mut a = compact_range_of(alg, 0, &l[..3]);
        let gap = compact_range_of(alg, 4, &l[4..]);
        assert!(a.append(&gap).is_err());
        let other_alg = compact_range_of(HashAlg::Blake3, 3, &leaves(HashAlg::Blake3, 8)[3..]);
        assert!(a.append(&other_alg).is_err());
        assert!(CompactRange::from_parts(alg, 0, 3, vec![l[0]]).is_err());
        assert!(compact_range_of(alg, 2, &l[2..]).root().is_err());
    }
}
