//! Bindings for `crate::wallet`: Keccak-256, EIP-55 and EIP-191 over secp256k1. Recovery of many signatures runs
//! in parallel with the GIL released. Twin: `capfast/_py/wallet.py`.

use super::{maybe_detach, ByteView};
use crate::error::Error;
use crate::wallet as core;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

fn digest_arg(view: &ByteView<'_>) -> PyResult<[u8; 32]> {
    let s = view.as_slice();
    s.try_into()
        .map_err(|_| Error::invalid(format!("digest must be 32 bytes, got {}", s.len())).into())
}

fn address_arg(view: &ByteView<'_>) -> PyResult<core::Address> {
    let s = view.as_slice();
    s.try_into()
        .map_err(|_| Error::invalid(format!("address must be 20 bytes, got {}", s.len())).into())
}

/// Keccak-256 of `data` (32 bytes).
#[pyfunction]
fn keccak256<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let view = ByteView::new(data)?;
    let d = view.as_slice();
    let out = maybe_detach(py, d.len(), || core::keccak256(d));
    Ok(PyBytes::new(py, &out))
}

/// The EIP-191 `personal_sign` hash of `msg`.
#[pyfunction]
fn wallet_personal_hash<'py>(py: Python<'py>, msg: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let view = ByteView::new(msg)?;
    let m = view.as_slice();
    let out = maybe_detach(py, m.len(), || core::personal_hash(m));
    Ok(PyBytes::new(py, &out))
}

/// A fresh random 32-byte secp256k1 secret key.
#[pyfunction]
fn wallet_generate(py: Python<'_>) -> PyResult<Bound<'_, PyBytes>> {
    Ok(PyBytes::new(py, &core::generate()?))
}

/// The 20-byte address of a 32-byte secret key.
#[pyfunction]
fn wallet_address<'py>(py: Python<'py>, sk: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let view = ByteView::new(sk)?;
    Ok(PyBytes::new(py, &core::address_of(view.as_slice())?))
}

/// EIP-55 text of a 20-byte address.
#[pyfunction]
fn wallet_checksum_address(addr: &Bound<'_, PyAny>) -> PyResult<String> {
    let view = ByteView::new(addr)?;
    Ok(core::checksum_address(&address_arg(&view)?))
}

/// The 20 bytes of an address text (`0x` + 40 hex; mixed case must carry a valid EIP-55 checksum).
#[pyfunction]
fn wallet_parse_address<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &core::parse_address(text)?))
}

/// `r ‖ s ‖ v` (65 bytes, v = 27 or 28) over a 32-byte digest.
#[pyfunction]
fn wallet_sign_hash<'py>(
    py: Python<'py>,
    sk: &Bound<'py, PyAny>,
    digest: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let sk_view = ByteView::new(sk)?;
    let d_view = ByteView::new(digest)?;
    Ok(PyBytes::new(
        py,
        &core::sign_hash(sk_view.as_slice(), &digest_arg(&d_view)?)?,
    ))
}

/// EIP-191 `personal_sign` of `msg` (65 bytes).
#[pyfunction]
fn wallet_sign_message<'py>(
    py: Python<'py>,
    sk: &Bound<'py, PyAny>,
    msg: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let sk_view = ByteView::new(sk)?;
    let m_view = ByteView::new(msg)?;
    Ok(PyBytes::new(
        py,
        &core::sign_message(sk_view.as_slice(), m_view.as_slice())?,
    ))
}

/// The 20-byte address that signed `digest`, or `None` (invalid under the rule of docs/wallet.md).
#[pyfunction]
fn wallet_recover_hash<'py>(
    py: Python<'py>,
    digest: &Bound<'py, PyAny>,
    sig: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let d_view = ByteView::new(digest)?;
    let digest = digest_arg(&d_view)?;
    let s_view = ByteView::new(sig)?;
    let s = s_view.as_slice();
    Ok(py
        .detach(|| core::recover_hash(&digest, s))
        .map(|a| PyBytes::new(py, &a)))
}

/// The 20-byte address that `personal_sign`ed `msg`, or `None`.
#[pyfunction]
fn wallet_recover_message<'py>(
    py: Python<'py>,
    msg: &Bound<'py, PyAny>,
    sig: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let m_view = ByteView::new(msg)?;
    let s_view = ByteView::new(sig)?;
    let (m, s) = (m_view.as_slice(), s_view.as_slice());
    Ok(py.detach(|| core::recover_message(m, s)).map(|a| PyBytes::new(py, &a)))
}

/// [`wallet_recover_message`] for each pair, in parallel with the GIL released.
#[pyfunction]
fn wallet_recover_messages<'py>(
    py: Python<'py>,
    msgs: &Bound<'py, PyAny>,
    sigs: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let m_views: Vec<ByteView<'py>> = msgs.try_iter()?.map(|o| ByteView::new(&o?)).collect::<PyResult<_>>()?;
    let s_views: Vec<ByteView<'py>> = sigs.try_iter()?.map(|o| ByteView::new(&o?)).collect::<PyResult<_>>()?;
    let m: Vec<&[u8]> = m_views.iter().map(ByteView::as_slice).collect();
    let s: Vec<&[u8]> = s_views.iter().map(ByteView::as_slice).collect();
    let out = py.detach(|| core::recover_messages(&m, &s))?;
    PyList::new(py, out.into_iter().map(|a| a.map(|a| PyBytes::new(py, &a))))
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(keccak256, m)?)?;
    m.add_function(wrap_pyfunction!(wallet_personal_hash, m)?)?;
    m.add_function(wrap_pyfunction!(wallet_generate, m)?)?;
    m.add_function(wrap_pyfunction!(wallet_address, m)?)?;
    m.add_function(wrap_pyfunction!(wallet_checksum_address, m)?)?;
    m.add_function(wrap_pyfunction!(wallet_parse_address, m)?)?;
    m.add_function(wrap_pyfunction!(wallet_sign_hash, m)?)?;
    m.add_function(wrap_pyfunction!(wallet_sign_message, m)?)?;
    m.add_function(wrap_pyfunction!(wallet_recover_hash, m)?)?;
    m.add_function(wrap_pyfunction!(wallet_recover_message, m)?)?;
    m.add_function(wrap_pyfunction!(wallet_recover_messages, m)?)?;
    Ok(())
}
