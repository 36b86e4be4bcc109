//! Bindings for `crate::merkle`.

use super::{hash_alg, maybe_detach, ByteView};
use crate::hash::Digest;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

fn views<'py>(leaves: &Bound<'py, PyAny>) -> PyResult<Vec<ByteView<'py>>> {
    leaves.try_iter()?.map(|item| ByteView::new(&item?)).collect()
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
    let views = views(leaves)?;
    let slices: Vec<&[u8]> = views.iter().map(ByteView::as_slice).collect();
    let total: usize = slices.iter().map(|s| s.len()).sum::<usize>() + 64 * slices.len();
    let root = maybe_detach(py, total, || {
        use rayon::prelude::*;
        let hashes: Vec<Digest> = slices.par_iter().map(|s| alg.leaf(s)).collect();
        crate::merkle::root_of_leaf_hashes(alg, &hashes)
    });
    Ok(PyBytes::new(py, &root))
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(merkle_leaf_hash, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_root, m)?)?;
    Ok(())
}
