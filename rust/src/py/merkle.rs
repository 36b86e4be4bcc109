//! Bindings for `crate::merkle` (and the plain `hash_bytes` digest used by the known-answer tests).
//!
//! Argument conventions, identical in the pure-Python twin (`capfast/_py/merkle.py`):
//! - leaves are any iterable of bytes-like objects (`bytes`, `bytearray`, C-contiguous `memoryview`, `array('B')`,
//!   numpy); `str` is a `TypeError`, a non-contiguous buffer a `BufferError`. Buffers are released before return.
//! - sizes and indices are ints in `[0, 2**64)`: other types are a `TypeError`, out of range an
//!   `InvalidArgumentError`.
//! - `merkle_verify_*` return `False` for anything that does not prove the claim (wrong sizes or index, wrong
//!   number of proof elements, digests that are not 32 bytes, mismatching roots); they raise only for wrong types,
//!   out-of-range ints and unknown hash names. A proof iterable is read for at most `MAX_PROOF_LEN + 1` elements.
//! - builder inputs: a leaf hash that is not 32 bytes is an `InvalidArgumentError`; a malformed compact range
//!   (hash not 32 bytes, wrong count, begin > end, non-adjacent merge, other hash) is a `ProofError`.

use super::{hash_alg, maybe_detach, ByteView};
use crate::error::Error;
use crate::hash::{Digest, HashAlg};
use crate::merkle::{self, CompactRange, MAX_PROOF_LEN};
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use rayon::prelude::*;
use std::sync::{Mutex, MutexGuard};

/// Leaves are hashed in chunks of at most this many items / bytes, so a generator's buffers are released early.
const CHUNK_ITEMS: usize = 1 << 16;
const CHUNK_BYTES: usize = 64 << 20;
/// The compact range of any `[begin, end)` with `end < 2**64` has fewer nodes than this.
const MAX_COMPACT_RANGE_LEN: usize = 128;

/// Reads an int argument that must fit in a `u64`.
fn u64_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<u64> {
    match obj.extract::<u64>() {
        Ok(v) => Ok(v),
        Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => {
            Err(Error::invalid(format!("{what} must be between 0 and 2**64 - 1, got {obj}")).into())
        }
        Err(e) => Err(e),
    }
}

/// RFC 6962 leaf hashes of every item of `leaves`, in parallel and with the GIL released for big chunks.
fn leaf_hashes(py: Python<'_>, alg: HashAlg, leaves: &Bound<'_, PyAny>) -> PyResult<Vec<Digest>> {
    let mut out: Vec<Digest> = Vec::new();
    let mut iter = leaves.try_iter()?;
    loop {
        let mut chunk: Vec<ByteView<'_>> = Vec::new();
        let mut work = 0usize;
        let mut exhausted = true;
        for item in iter.by_ref() {
            let view = ByteView::new(&item?)?;
            work += view.as_slice().len() + 64;
            chunk.push(view);
            if chunk.len() >= CHUNK_ITEMS || work >= CHUNK_BYTES {
                exhausted = false;
                break;
            }
        }
        let slices: Vec<&[u8]> = chunk.iter().map(ByteView::as_slice).collect();
        let hashes: Vec<Digest> = maybe_detach(py, work, || slices.par_iter().map(|s| alg.leaf(s)).collect());
        out.extend_from_slice(&hashes);
        if exhausted {
            return Ok(out);
        }
    }
}

/// A proof argument: the elements as views, or `None` when it has more than `MAX_PROOF_LEN` elements (no valid
/// proof does; the rest is not read).
fn proof_views<'py>(proof: &Bound<'py, PyAny>) -> PyResult<Option<Vec<ByteView<'py>>>> {
    let mut out = Vec::new();
    for item in proof.try_iter()? {
        if out.len() == MAX_PROOF_LEN {
            return Ok(None);
        }
        out.push(ByteView::new(&item?)?);
    }
    Ok(Some(out))
}

fn digest_list<'py>(py: Python<'py>, digests: &[Digest]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, digests.iter().map(|d| PyBytes::new(py, d)))
}

/// Plain digest of `data` (no domain prefix).
#[pyfunction]
#[pyo3(signature = (data, hash = "blake3"))]
fn hash_bytes<'py>(py: Python<'py>, data: &Bound<'py, PyAny>, hash: &str) -> PyResult<Bound<'py, PyBytes>> {
    let alg = hash_alg(hash)?;
    let view = ByteView::new(data)?;
    let slice = view.as_slice();
    let d = maybe_detach(py, slice.len(), || alg.hash(slice));
    Ok(PyBytes::new(py, &d))
}

/// H(0x00 ‖ data).
#[pyfunction]
#[pyo3(signature = (data, hash = "blake3"))]
fn merkle_leaf_hash<'py>(py: Python<'py>, data: &Bound<'py, PyAny>, hash: &str) -> PyResult<Bound<'py, PyBytes>> {
    let alg = hash_alg(hash)?;
    let view = ByteView::new(data)?;
    let slice = view.as_slice();
    let d = maybe_detach(py, slice.len(), || alg.leaf(slice));
    Ok(PyBytes::new(py, &d))
}

/// RFC 6962 root of the given leaf data.
#[pyfunction]
#[pyo3(signature = (leaves, hash = "blake3"))]
fn merkle_root<'py>(py: Python<'py>, leaves: &Bound<'py, PyAny>, hash: &str) -> PyResult<Bound<'py, PyBytes>> {
    let alg = hash_alg(hash)?;
    let hashes = leaf_hashes(py, alg, leaves)?;
    let root = maybe_detach(py, hashes.len() * 64, || merkle::root_of_leaf_hashes(alg, &hashes));
    Ok(PyBytes::new(py, &root))
}

/// RFC 6962 §2.1.1 inclusion proof (audit path) of leaf `index`, from the leaf level up.
#[pyfunction]
#[pyo3(signature = (leaves, index, hash = "blake3"))]
fn merkle_inclusion_proof<'py>(
    py: Python<'py>,
    leaves: &Bound<'py, PyAny>,
    index: &Bound<'py, PyAny>,
    hash: &str,
) -> PyResult<Bound<'py, PyList>> {
    let alg = hash_alg(hash)?;
    let hashes = leaf_hashes(py, alg, leaves)?;
    let index = u64_arg(index, "index")?;
    let proof = maybe_detach(py, hashes.len() * 64, || merkle::inclusion_proof(alg, &hashes, index))?;
    digest_list(py, &proof)
}

/// RFC 6962 §2.1.2 consistency proof from the first `old_size` leaves to all of them (`0 < old_size <= len`).
#[pyfunction]
#[pyo3(signature = (leaves, old_size, hash = "blake3"))]
fn merkle_consistency_proof<'py>(
    py: Python<'py>,
    leaves: &Bound<'py, PyAny>,
    old_size: &Bound<'py, PyAny>,
    hash: &str,
) -> PyResult<Bound<'py, PyList>> {
    let alg = hash_alg(hash)?;
    let hashes = leaf_hashes(py, alg, leaves)?;
    let old_size = u64_arg(old_size, "old_size")?;
    let proof = maybe_detach(py, hashes.len() * 64, || {
        merkle::consistency_proof(alg, &hashes, old_size)
    })?;
    digest_list(py, &proof)
}

/// RFC 9162 §2.1.3.2 inclusion proof verification; `False` for anything that does not prove inclusion.
#[pyfunction]
#[pyo3(signature = (root, tree_size, index, leaf_hash, proof, hash = "blake3"))]
fn merkle_verify_inclusion(
    root: &Bound<'_, PyAny>,
    tree_size: &Bound<'_, PyAny>,
    index: &Bound<'_, PyAny>,
    leaf_hash: &Bound<'_, PyAny>,
    proof: &Bound<'_, PyAny>,
    hash: &str,
) -> PyResult<bool> {
    let alg = hash_alg(hash)?;
    let root = ByteView::new(root)?;
    let tree_size = u64_arg(tree_size, "tree_size")?;
    let index = u64_arg(index, "index")?;
    let leaf = ByteView::new(leaf_hash)?;
    let Some(proof) = proof_views(proof)? else {
        return Ok(false);
    };
    let proof: Vec<&[u8]> = proof.iter().map(ByteView::as_slice).collect();
    Ok(merkle::verify_inclusion(
        alg,
        root.as_slice(),
        tree_size,
        index,
        leaf.as_slice(),
        &proof,
    ))
}

/// RFC 9162 §2.1.4.2 consistency proof verification; `False` for anything that does not prove consistency.
#[pyfunction]
#[pyo3(signature = (old_root, old_size, new_root, new_size, proof, hash = "blake3"))]
fn merkle_verify_consistency(
    old_root: &Bound<'_, PyAny>,
    old_size: &Bound<'_, PyAny>,
    new_root: &Bound<'_, PyAny>,
    new_size: &Bound<'_, PyAny>,
    proof: &Bound<'_, PyAny>,
    hash: &str,
) -> PyResult<bool> {
    let alg = hash_alg(hash)?;
    let old_root = ByteView::new(old_root)?;
    let old_size = u64_arg(old_size, "old_size")?;
    let new_root = ByteView::new(new_root)?;
    let new_size = u64_arg(new_size, "new_size")?;
    let Some(proof) = proof_views(proof)? else {
        return Ok(false);
    };
    let proof: Vec<&[u8]> = proof.iter().map(ByteView::as_slice).collect();
    Ok(merkle::verify_consistency(
        alg,
        old_root.as_slice(),
        old_size,
        new_root.as_slice(),
        new_size,
        &proof,
    ))
}

/// Streaming RFC 6962 tree builder over leaves `[begin, end)`, holding only the compact range (O(log n) memory).
///
/// Thread-safe: the state sits behind a mutex that is never held while the GIL/attachment is re-acquired (every
/// critical section runs entirely attached or entirely detached), so concurrent callers cannot deadlock.
#[pyclass(frozen, module = "capfast._native", name = "MerkleBuilder")]
pub(crate) struct MerkleBuilder {
    alg: HashAlg,
    range: Mutex<CompactRange>,
}

impl MerkleBuilder {
    fn lock(&self) -> MutexGuard<'_, CompactRange> {
        // A poisoned lock only means another thread panicked mid-update; the range itself is always consistent
        // (every mutation is a push or an append that completes or returns before changing anything).
        self.range.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Fails unless `extra` more leaves fit below index 2**64 - 1.
fn check_room(range: &CompactRange, extra: u64) -> Result<(), Error> {
    match range.end().checked_add(extra) {
        Some(_) => Ok(()),
        None => Err(Error::invalid(format!(
            "cannot append {extra} leaves at index {}: a tree holds at most 2**64 - 1 leaves",
            range.end()
        ))),
    }
}

#[pymethods]
impl MerkleBuilder {
    #[new]
    #[pyo3(signature = (hash = "blake3", begin = None))]
    fn new(hash: &str, begin: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let alg = hash_alg(hash)?;
        let begin = match begin {
            Some(b) => u64_arg(b, "begin")?,
            None => 0,
        };
        Ok(MerkleBuilder {
            alg,
            range: Mutex::new(CompactRange::new(alg, begin)),
        })
    }

    /// Rebuilds a builder from an exported compact range `(begin, end, hashes)`.
    #[staticmethod]
    #[pyo3(signature = (hash, begin, end, hashes))]
    fn from_compact_range(
        hash: &str,
        begin: &Bound<'_, PyAny>,
        end: &Bound<'_, PyAny>,
        hashes: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let alg = hash_alg(hash)?;
        let begin = u64_arg(begin, "begin")?;
        let end = u64_arg(end, "end")?;
        let mut digests: Vec<Digest> = Vec::new();
        for item in hashes.try_iter()? {
            if digests.len() == MAX_COMPACT_RANGE_LEN {
                return Err(Error::Proof(format!(
                    "a compact range has at most {MAX_COMPACT_RANGE_LEN} hashes, got more"
                ))
                .into());
            }
            let view = ByteView::new(&item?)?;
            let s = view.as_slice();
            let d: Digest = s.try_into().map_err(|_| {
                Error::Proof(format!(
                    "compact range hash {} must be 32 bytes, got {}",
                    digests.len(),
                    s.len()
                ))
            })?;
            digests.push(d);
        }
        let range = CompactRange::from_parts(alg, begin, end, digests)?;
        Ok(MerkleBuilder {
            alg,
            range: Mutex::new(range),
        })
    }

    /// Appends one leaf: hashes `data` as H(0x00 ‖ data).
    fn append(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let view = ByteView::new(data)?;
        let slice = view.as_slice();
        let alg = self.alg;
        let h = maybe_detach(py, slice.len(), || alg.leaf(slice));
        let mut range = self.lock();
        check_room(&range, 1)?;
        range.push(h);
        Ok(())
    }

    /// Appends one leaf given by its 32-byte leaf hash (already H(0x00 ‖ data)).
    fn append_leaf_hash(&self, leaf_hash: &Bound<'_, PyAny>) -> PyResult<()> {
        let h = super::buffer::digest_arg(leaf_hash, "leaf_hash")?;
        let mut range = self.lock();
        check_room(&range, 1)?;
        range.push(h);
        Ok(())
    }

    /// Appends every item of `leaves` (an iterable of bytes-like). All or nothing: a bad item appends none.
    fn extend(&self, py: Python<'_>, leaves: &Bound<'_, PyAny>) -> PyResult<()> {
        let alg = self.alg;
        let hashes = leaf_hashes(py, alg, leaves)?;
        if hashes.is_empty() {
            return Ok(());
        }
        maybe_detach(py, hashes.len() * 64, || {
            let mut range = self.lock();
            check_room(&range, hashes.len() as u64)?;
            let tail = merkle::compact_range_of(alg, range.end(), &hashes);
            range.append(&tail)
        })?;
        Ok(())
    }

    /// Appends the leaves of `other` (same hash, `other.begin == self.end`). `other` is left unchanged.
    fn merge(&self, other: &Bound<'_, MerkleBuilder>) -> PyResult<()> {
        // Copy first and release the other lock: merging a builder into itself must not deadlock.
        let tail = other.get().lock().clone();
        self.lock().append(&tail)?;
        Ok(())
    }

    /// RFC 6962 root of leaves `[0, end)`; a `ProofError` unless `begin == 0`.
    fn root<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let root = self.lock().root()?;
        Ok(PyBytes::new(py, &root))
    }

    /// The exportable state: `(begin, end, [subtree roots left to right])`.
    fn compact_range<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let (begin, end, hashes) = {
            let range = self.lock();
            (range.begin(), range.end(), range.hashes())
        };
        let list = digest_list(py, &hashes)?;
        PyTuple::new(
            py,
            [
                begin.into_pyobject(py)?.into_any(),
                end.into_pyobject(py)?.into_any(),
                list.into_any(),
            ],
        )
    }

    #[getter]
    fn hash(&self) -> &'static str {
        self.alg.name()
    }

    #[getter]
    fn begin(&self) -> u64 {
        self.lock().begin()
    }

    #[getter]
    fn end(&self) -> u64 {
        self.lock().end()
    }

    /// Number of leaves appended: `end - begin`.
    #[getter]
    fn size(&self) -> u64 {
        self.lock().len()
    }

    fn __repr__(&self) -> String {
        let range = self.lock();
        format!(
            "MerkleBuilder(hash={:?}, begin={}, end={})",
            self.alg.name(),
            range.begin(),
            range.end()
        )
    }
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(hash_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_leaf_hash, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_root, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_inclusion_proof, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_consistency_proof, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_verify_inclusion, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_verify_consistency, m)?)?;
    m.add_class::<MerkleBuilder>()?;
    Ok(())
}
