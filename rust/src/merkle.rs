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
        CompactRange {
            alg,
            begin,
            end: begin,
            nodes: Vec::new(),
        }
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
            if top_level != level || !parent_start.is_multiple_of(1u64 << parent_level) || parent_start < self.begin {
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
        return perfect_root_with(alg, leaves, &mut Vec::new(), &mut Vec::new());
    }
    let (l, r) = leaves.split_at(leaves.len() / 2);
    let (lh, rh) = rayon::join(|| perfect_root(alg, l), || perfect_root(alg, r));
    alg.node(&lh, &rh)
}

/// Root of a perfect subtree (`leaves.len()` a power of two) on the current thread, level by level so that each
/// level's parents are hashed eight at a time ([`HashAlg::parents`]). `level` and `next` are scratch buffers the
/// caller may reuse across calls.
pub fn perfect_root_with(alg: HashAlg, leaves: &[Digest], level: &mut Vec<Digest>, next: &mut Vec<Digest>) -> Digest {
    debug_assert!(leaves.len().is_power_of_two());
    if leaves.len() == 1 {
        return leaves[0];
    }
    next.clear();
    alg.parents(leaves, next);
    while next.len() > 1 {
        std::mem::swap(level, next);
        next.clear();
        alg.parents(level, next);
    }
    next[0]
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

// ---------------------------------------------------------------------------------------------------------------
// Inclusion and consistency proofs (RFC 6962 §2.1.1-2.1.2, verification as in RFC 9162 §2.1.3.2 and §2.1.4.2).
// ---------------------------------------------------------------------------------------------------------------

/// No valid proof for a tree of fewer than 2^64 leaves has more elements than this (inclusion ≤ 64, consistency
/// ≤ 65). Readers of untrusted proofs may stop after `MAX_PROOF_LEN + 1` elements: the proof cannot verify.
pub const MAX_PROOF_LEN: usize = 128;

/// Largest power of two strictly below `n` (`n >= 2`): the split point `k` of RFC 6962 §2.1.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// One step of the RFC 9162 verification walk: `true` when the proof element is a left sibling (or the walk is
/// on the right border), and the bookkeeping shift of `fnode`/`snode`. Shared by the length oracle and the
/// verifiers so that the two can never disagree.
#[inline]
fn walk_step(fnode: &mut u64, snode: &mut u64) -> bool {
    let left = *fnode & 1 == 1 || *fnode == *snode;
    if left && *fnode & 1 == 0 {
        // On the right border: skip the levels where the node has no right sibling.
        while *fnode & 1 == 0 && *fnode != 0 {
            *fnode >>= 1;
            *snode >>= 1;
        }
    }
    *fnode >>= 1;
    *snode >>= 1;
    left
}

/// Number of elements in the inclusion proof of leaf `index` in a tree of `tree_size` leaves, or `None` when
/// `index >= tree_size` (no proof exists).
pub fn inclusion_proof_len(index: u64, tree_size: u64) -> Option<usize> {
    if index >= tree_size {
        return None;
    }
    let (mut fnode, mut snode) = (index, tree_size - 1);
    let mut n = 0;
    while snode != 0 {
        walk_step(&mut fnode, &mut snode);
        n += 1;
    }
    Some(n)
}

/// Number of elements in the consistency proof from `old_size` to `new_size` leaves, or `None` when no proof is
/// defined (`old_size == 0` or `old_size > new_size`). Equal sizes need the empty proof.
pub fn consistency_proof_len(old_size: u64, new_size: u64) -> Option<usize> {
    if old_size == 0 || old_size > new_size {
        return None;
    }
    if old_size == new_size {
        return Some(0);
    }
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut n = 1; // the seed: the subtree root the walk starts from
    while snode != 0 {
        walk_step(&mut fnode, &mut snode);
        n += 1;
    }
    // When `old_size` is a power of two the seed is the old root itself and is left out of the proof.
    Some(if old_size.is_power_of_two() { n - 1 } else { n })
}

/// The subtree ranges `[lo, hi)` whose roots form a proof, listed from the leaves up (the proof order): PATH(m,
/// D[n]) of RFC 6962 §2.1.1 for `consistency == false` (`target` is the leaf index), SUBPROOF(m, D[n], true) of
/// §2.1.2 otherwise (`target` is the old size, `0 < target <= size`).
fn proof_ranges(target: u64, size: u64, consistency: bool) -> Vec<(u64, u64)> {
    // Walk down from the whole tree, recording the sibling range at each split; reversed at the end.
    let mut out = Vec::new();
    let (mut lo, mut hi) = (0u64, size);
    let mut m = target; // index (inclusion) or old size (consistency), relative to `lo`
    let mut complete = true; // SUBPROOF's `b`: the current subtree is the whole old tree's left part
    loop {
        let n = hi - lo;
        if consistency {
            if m == n {
                if !complete {
                    out.push((lo, hi));
                }
                break;
            }
        } else if n == 1 {
            break;
        }
        let k = split_point(n);
        if m < k || (consistency && m == k) {
            out.push((lo + k, hi));
            hi = lo + k;
        } else {
            out.push((lo, lo + k));
            lo += k;
            m -= k;
            complete = false;
        }
    }
    out.reverse();
    out
}

fn roots_of_ranges(alg: HashAlg, leaf_hashes: &[Digest], ranges: &[(u64, u64)]) -> Vec<Digest> {
    // The ranges are disjoint, so the total work is at most one pass over the leaves; big subtrees are also
    // split across threads inside `root_of_leaf_hashes`.
    ranges
        .par_iter()
        .map(|&(lo, hi)| root_of_leaf_hashes(alg, &leaf_hashes[lo as usize..hi as usize]))
        .collect()
}

/// RFC 6962 §2.1.1 audit path of leaf `index` in the tree of `leaf_hashes`, from the leaf level up.
pub fn inclusion_proof(alg: HashAlg, leaf_hashes: &[Digest], index: u64) -> Result<Vec<Digest>> {
    let size = leaf_hashes.len() as u64;
    if index >= size {
        return Err(Error::invalid(format!(
            "leaf index {index} is out of range for a tree of {size} leaves"
        )));
    }
    Ok(roots_of_ranges(alg, leaf_hashes, &proof_ranges(index, size, false)))
}

/// RFC 6962 §2.1.2 consistency proof from the tree of the first `old_size` leaves to the tree of all of
/// `leaf_hashes`. Needs `0 < old_size <= len`; equal sizes give the empty proof.
pub fn consistency_proof(alg: HashAlg, leaf_hashes: &[Digest], old_size: u64) -> Result<Vec<Digest>> {
    let size = leaf_hashes.len() as u64;
    if old_size == 0 {
        return Err(Error::invalid(
            "a consistency proof needs old_size > 0 (the empty tree proves nothing)",
        ));
    }
    if old_size > size {
        return Err(Error::invalid(format!(
            "old_size {old_size} is larger than the tree ({size} leaves)"
        )));
    }
    Ok(roots_of_ranges(alg, leaf_hashes, &proof_ranges(old_size, size, true)))
}

fn as_digest(bytes: &[u8]) -> Option<&Digest> {
    bytes.try_into().ok()
}

/// Verifies an RFC 6962 inclusion proof with the RFC 9162 §2.1.3.2 algorithm.
///
/// Returns `false`, never an error, for anything that does not prove inclusion: `index >= tree_size`, a proof
/// with a different number of elements than `(index, tree_size)` implies, any digest (root, leaf hash, proof
/// element) that is not 32 bytes, or a mismatching root.
pub fn verify_inclusion<P: AsRef<[u8]>>(
    alg: HashAlg,
    root: &[u8],
    tree_size: u64,
    index: u64,
    leaf_hash: &[u8],
    proof: &[P],
) -> bool {
    if inclusion_proof_len(index, tree_size) != Some(proof.len()) {
        return false;
    }
    let (Some(root), Some(leaf)) = (as_digest(root), as_digest(leaf_hash)) else {
        return false;
    };
    let (mut fnode, mut snode) = (index, tree_size - 1);
    let mut r = *leaf;
    for p in proof {
        let Some(p) = as_digest(p.as_ref()) else {
            return false;
        };
        r = if walk_step(&mut fnode, &mut snode) {
            alg.node(p, &r)
        } else {
            alg.node(&r, p)
        };
    }
    snode == 0 && r == *root
}

/// Verifies an RFC 6962 consistency proof with the RFC 9162 §2.1.4.2 algorithm.
///
/// Conventions at the edges (as the transparency-dev reference vectors expect): `old_size == 0` or
/// `old_size > new_size` is always `false` (nothing to prove); equal sizes verify iff the proof is empty and the
/// two roots are the same bytes. Otherwise `false` for a wrong element count, a digest that is not 32 bytes, or a
/// mismatch of either root.
pub fn verify_consistency<P: AsRef<[u8]>>(
    alg: HashAlg,
    old_root: &[u8],
    old_size: u64,
    new_root: &[u8],
    new_size: u64,
    proof: &[P],
) -> bool {
    if consistency_proof_len(old_size, new_size) != Some(proof.len()) {
        return false;
    }
    if old_size == new_size {
        return old_root == new_root;
    }
    let (Some(old_root), Some(new_root)) = (as_digest(old_root), as_digest(new_root)) else {
        return false;
    };
    let mut elems = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        elems.push(old_root);
    }
    for p in proof {
        match as_digest(p.as_ref()) {
            Some(d) => elems.push(d),
            None => return false,
        }
    }
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let Some((&seed, rest)) = elems.split_first() else {
        return false;
    };
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if walk_step(&mut fnode, &mut snode) {
            fr = alg.node(c, &fr);
            sr = alg.node(c, &sr);
        } else {
            sr = alg.node(&sr, c);
        }
    }
    snode == 0 && fr == *old_root && sr == *new_root
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

    /// Textbook PATH(m, D[n]) of RFC 6962 §2.1.1, used as the oracle.
    fn path(alg: HashAlg, m: usize, leaves: &[Digest]) -> Vec<Digest> {
        let n = leaves.len();
        if n <= 1 {
            return vec![];
        }
        let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
        if m < k {
            let mut p = path(alg, m, &leaves[..k]);
            p.push(mth(alg, &leaves[k..]));
            p
        } else {
            let mut p = path(alg, m - k, &leaves[k..]);
            p.push(mth(alg, &leaves[..k]));
            p
        }
    }

    /// Textbook SUBPROOF(m, D[n], b) of RFC 6962 §2.1.2, used as the oracle.
    fn subproof(alg: HashAlg, m: usize, leaves: &[Digest], b: bool) -> Vec<Digest> {
        let n = leaves.len();
        if m == n {
            return if b { vec![] } else { vec![mth(alg, leaves)] };
        }
        let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
        if m <= k {
            let mut p = subproof(alg, m, &leaves[..k], b);
            p.push(mth(alg, &leaves[k..]));
            p
        } else {
            let mut p = subproof(alg, m - k, &leaves[k..], false);
            p.push(mth(alg, &leaves[..k]));
            p
        }
    }

    fn flip(p: &[Digest], i: usize) -> Vec<Digest> {
        let mut q = p.to_vec();
        q[i][0] ^= 8;
        q
    }

    #[test]
    fn inclusion_proofs_match_the_recursive_definition_and_verify() {
        for alg in HashAlg::ALL {
            for n in 1..40usize {
                let l = leaves(alg, n);
                let root = mth(alg, &l);
                for m in 0..n {
                    let p = inclusion_proof(alg, &l, m as u64).unwrap();
                    assert_eq!(p, path(alg, m, &l), "n={n} m={m}");
                    assert_eq!(inclusion_proof_len(m as u64, n as u64), Some(p.len()));
                    let (idx, sz) = (m as u64, n as u64);
                    assert!(verify_inclusion(alg, &root, sz, idx, &l[m], &p), "n={n} m={m}");
                    // Mutations: each must be rejected.
                    assert!(!verify_inclusion(alg, &root, sz, idx, &l[(m + 1) % n], &p) || n == 1);
                    assert!(!verify_inclusion(alg, &root, sz * 2, idx, &l[m], &p));
                    assert!(!verify_inclusion(alg, &root, sz, sz, &l[m], &p));
                    assert!(!verify_inclusion(
                        alg,
                        &root,
                        sz,
                        idx,
                        &l[m],
                        &[p.clone(), vec![root]].concat()
                    ));
                    assert!(!verify_inclusion(
                        alg,
                        &root,
                        sz,
                        idx,
                        &l[m],
                        &[vec![root], p.clone()].concat()
                    ));
                    for i in 0..p.len() {
                        assert!(!verify_inclusion(alg, &root, sz, idx, &l[m], &flip(&p, i)));
                    }
                    if !p.is_empty() {
                        assert!(!verify_inclusion(alg, &root, sz, idx, &l[m], &p[..p.len() - 1]));
                    }
                    let mut bad_root = root;
                    bad_root[31] ^= 1;
                    assert!(!verify_inclusion(alg, &bad_root, sz, idx, &l[m], &p));
                    assert!(!verify_inclusion(alg, &root[..31], sz, idx, &l[m], &p));
                    assert!(!verify_inclusion(alg, &root, sz, idx, &l[m][..31], &p));
                }
                assert!(inclusion_proof(alg, &l, n as u64).is_err());
            }
        }
    }

    #[test]
    fn consistency_proofs_match_the_recursive_definition_and_verify() {
        for alg in HashAlg::ALL {
            for n in 1..34usize {
                let l = leaves(alg, n);
                let new_root = mth(alg, &l);
                for m in 1..=n {
                    let old_root = mth(alg, &l[..m]);
                    let p = consistency_proof(alg, &l, m as u64).unwrap();
                    assert_eq!(p, subproof(alg, m, &l, true), "n={n} m={m}");
                    assert_eq!(consistency_proof_len(m as u64, n as u64), Some(p.len()));
                    let (ms, ns) = (m as u64, n as u64);
                    assert!(verify_consistency(alg, &old_root, ms, &new_root, ns, &p), "n={n} m={m}");
                    if m == n {
                        assert!(p.is_empty());
                        assert!(!verify_consistency(alg, &old_root, ms, &new_root, ns, &[new_root]));
                        continue;
                    }
                    assert!(!verify_consistency(alg, &new_root, ms, &old_root, ns, &p));
                    assert!(!verify_consistency(alg, &old_root, ms, &new_root, ns, &[] as &[Digest]));
                    assert!(!verify_consistency(alg, &old_root, ms - 1, &new_root, ns, &p));
                    assert!(!verify_consistency(alg, &old_root, ms, &new_root, ns * 2, &p));
                    assert!(!verify_consistency(
                        alg,
                        &old_root,
                        ms,
                        &new_root,
                        ns,
                        &[p.clone(), vec![old_root]].concat()
                    ));
                    assert!(!verify_consistency(
                        alg,
                        &old_root,
                        ms,
                        &new_root,
                        ns,
                        &[vec![p[0]], p.clone()].concat()
                    ));
                    assert!(!verify_consistency(
                        alg,
                        &old_root,
                        ms,
                        &new_root,
                        ns,
                        &p[..p.len() - 1]
                    ));
                    for i in 0..p.len() {
                        assert!(
                            !verify_consistency(alg, &old_root, ms, &new_root, ns, &flip(&p, i)),
                            "n={n} m={m} i={i}"
                        );
                    }
                }
                assert!(consistency_proof(alg, &l, 0).is_err());
                assert!(consistency_proof(alg, &l, n as u64 + 1).is_err());
            }
        }
    }

    #[test]
    fn proof_lengths_stay_in_bounds_for_huge_trees() {
        for (a, b) in [
            (0u64, u64::MAX),
            (u64::MAX - 1, u64::MAX),
            (1 << 63, u64::MAX),
            (12345, 1 << 40),
        ] {
            let inc = inclusion_proof_len(a, b).unwrap();
            assert!(inc <= 64);
            const { assert!(65 <= MAX_PROOF_LEN) };
            if a > 0 {
                let c = consistency_proof_len(a, b).unwrap();
                assert!(c <= 65);
            }
        }
        assert_eq!(inclusion_proof_len(5, 5), None);
        assert_eq!(consistency_proof_len(0, 5), None);
        assert_eq!(consistency_proof_len(6, 5), None);
        // Equal sizes: empty proof and identical roots; size 0 never verifies.
        let e = HashAlg::Sha256.empty_root();
        assert!(!verify_consistency(HashAlg::Sha256, &e, 0, &e, 0, &[] as &[Digest]));
        assert!(!verify_consistency(HashAlg::Sha256, &e, 0, &e, 3, &[] as &[Digest]));
    }

    #[test]
    fn large_proofs_use_the_parallel_path_and_still_verify() {
        let alg = HashAlg::Blake3;
        let n = 3 * PAR_THRESHOLD + 5;
        let l = leaves(alg, n);
        let root = root_of_leaf_hashes(alg, &l);
        for m in [0, 1, PAR_THRESHOLD, n - 1] {
            let p = inclusion_proof(alg, &l, m as u64).unwrap();
            assert!(verify_inclusion(alg, &root, n as u64, m as u64, &l[m], &p));
        }
        for m in [1, PAR_THRESHOLD + 3, n - 1] {
            let p = consistency_proof(alg, &l, m as u64).unwrap();
            let old = root_of_leaf_hashes(alg, &l[..m]);
            assert!(verify_consistency(alg, &old, m as u64, &root, n as u64, &p));
        }
    }
}
