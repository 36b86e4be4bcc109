//! The PyO3 binding layer: argument conversion, GIL release, buffer access and error mapping. No algorithms here.

mod buffer;
mod cap;
mod commit;
mod ed25519;
mod errors;
mod merkle;
mod token;
mod wallet;

use pyo3::prelude::*;

pub(crate) use buffer::ByteView;

/// Inputs smaller than this are hashed without releasing the GIL (releasing costs more than it saves).
pub(crate) const DETACH_THRESHOLD: usize = 2048;

/// Runs `f` with the GIL released when `work_bytes` is large enough to be worth it.
pub(crate) fn maybe_detach<T: Send>(py: Python<'_>, work_bytes: usize, f: impl FnOnce() -> T + Send) -> T {
    if work_bytes >= DETACH_THRESHOLD {
        py.detach(f)
    } else {
        f()
    }
}

pub(crate) fn hash_alg(name: &str) -> PyResult<crate::hash::HashAlg> {
    Ok(crate::hash::HashAlg::from_name(name)?)
}

#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    merkle::register(m)?;
    commit::register(m)?;
    cap::register(m)?;
    ed25519::register(m)?;
    wallet::register(m)?;
    token::register(m)?;
    Ok(())
}
