//! Bindings for `crate::ed25519`. Keys, signatures and messages come as bytes-like objects, as sequences of them,
//! or as C-contiguous 2-D uint8 buffers (numpy `(n, 32)` keys, `(n, 64)` signatures, `(n, m)` messages) read in
//! place. Verification runs with the GIL released.

use super::{maybe_detach, ByteView};
use crate::ed25519 as core;
use crate::error::Error;
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyBufferError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};

/// A batch argument: one buffer holding `n` rows of `width` bytes, or `n` separate bytes-like objects.
enum Rows<'py> {
    Packed { view: ByteView<'py>, width: usize },
    Items(Vec<ByteView<'py>>),
}

impl<'py> Rows<'py> {
    fn read(obj: &Bound<'py, PyAny>, name: &str, width: Option<usize>) -> PyResult<Self> {
        let flat = || -> PyErr {
            let shape = match width {
                Some(w) => format!("(n, {w})"),
                None => "(n, m)".to_string(),
            };
            Error::invalid(format!(
                "{name} must be a sequence of bytes-like objects or a {shape} uint8 array, not one flat buffer"
            ))
            .into()
        };
        if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyByteArray>() || obj.is_instance_of::<PyString>() {
            return Err(flat());
        }
        if !(obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>()) {
            if let Ok(buf) = PyBuffer::<u8>::get(obj) {
                if buf.dimensions() != 2 {
                    return Err(flat());
                }
                let shape = buf.shape();
                let (rows, cols) = (shape[0], shape[1]);
                if let Some(w) = width {
                    if cols != w {
                        return Err(
                            Error::invalid(format!("{name} must have shape (n, {w}), got ({rows}, {cols})")).into(),
                        );
                    }
                }
                if !buf.is_c_contiguous() {
                    return Err(PyBufferError::new_err(format!("{name} must be C-contiguous")));
                }
                return Ok(Rows::Packed {
                    view: ByteView::Buffer(buf),
                    width: cols,
                });
            }
        }
        let mut items = Vec::new();
        for (i, item) in obj.try_iter()?.enumerate() {
            let view = ByteView::new(&item?)?;
            if let Some(w) = width {
                let len = view.as_slice().len();
                if len != w {
                    return Err(Error::invalid(format!("{name}[{i}] must be {w} bytes, got {len}")).into());
                }
            }
            items.push(view);
        }
        Ok(Rows::Items(items))
    }

    fn slices(&self) -> Vec<&[u8]> {
        match self {
            Rows::Packed { view, width } => {
                let data = view.as_slice();
                if *width == 0 {
                    // (n, 0) messages: n empty rows; the buffer holds no bytes to say how many, so use its shape.
                    let n = match view {
                        ByteView::Buffer(b) => b.shape()[0],
                        ByteView::Bytes(_) => 0,
                    };
                    return vec![&data[..0]; n];
                }
                data.chunks_exact(*width).collect()
            }
            Rows::Items(items) => items.iter().map(ByteView::as_slice).collect(),
        }
    }
}

fn fixed<'a, const N: usize>(slices: &[&'a [u8]]) -> PyResult<Vec<&'a [u8; N]>> {
    slices
        .iter()
        .map(|s| <&[u8; N]>::try_from(*s).map_err(|_| Error::invalid(format!("expected {N} bytes")).into()))
        .collect()
}

struct Batch<'py> {
    pks: Rows<'py>,
    msgs: Rows<'py>,
    sigs: Rows<'py>,
}

impl<'py> Batch<'py> {
    fn read(pks: &Bound<'py, PyAny>, msgs: &Bound<'py, PyAny>, sigs: &Bound<'py, PyAny>) -> PyResult<Self> {
        Ok(Batch {
            pks: Rows::read(pks, "pks", Some(core::PUBLIC_KEY_LEN))?,
            msgs: Rows::read(msgs, "msgs", None)?,
            sigs: Rows::read(sigs, "sigs", Some(core::SIGNATURE_LEN))?,
        })
    }
}

/// A fresh random key pair: (32-byte secret seed, 32-byte public key).
#[pyfunction]
fn ed25519_generate<'py>(py: Python<'py>) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let (sk, pk) = core::generate()?;
    Ok((PyBytes::new(py, &sk), PyBytes::new(py, &pk)))
}

/// The 32-byte public key of a 32-byte secret seed.
#[pyfunction]
fn ed25519_public_key<'py>(py: Python<'py>, sk: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let view = ByteView::new(sk)?;
    let seed = core::secret_key_arg(view.as_slice(), "secret key")?;
    Ok(PyBytes::new(py, &core::public_key(&seed)))
}

/// RFC 8032 signature (64 bytes) of `msg` by the 32-byte secret seed `sk`.
#[pyfunction]
fn ed25519_sign<'py>(
    py: Python<'py>,
    sk: &Bound<'py, PyAny>,
    msg: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let sk_view = ByteView::new(sk)?;
    let seed = core::secret_key_arg(sk_view.as_slice(), "secret key")?;
    let msg_view = ByteView::new(msg)?;
    let m = msg_view.as_slice();
    let sig = maybe_detach(py, m.len(), || core::sign(&seed, m));
    Ok(PyBytes::new(py, &sig))
}

/// Single verification under capfast's validity rule (docs/ed25519-validity.md).
#[pyfunction]
fn ed25519_verify(
    py: Python<'_>,
    pk: &Bound<'_, PyAny>,
    msg: &Bound<'_, PyAny>,
    sig: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let pk_view = ByteView::new(pk)?;
    let pk = core::public_key_arg(pk_view.as_slice(), "public key")?;
    let sig_view = ByteView::new(sig)?;
    let sig = core::signature_arg(sig_view.as_slice(), "signature")?;
    let msg_view = ByteView::new(msg)?;
    let m = msg_view.as_slice();
    Ok(py.detach(|| core::verify(&pk, m, &sig)))
}

/// Per-signature verdicts, each identical to `ed25519_verify` on the same triple.
#[pyfunction]
fn ed25519_verify_batch<'py>(
    py: Python<'py>,
    pks: &Bound<'py, PyAny>,
    msgs: &Bound<'py, PyAny>,
    sigs: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let batch = Batch::read(pks, msgs, sigs)?;
    let (p, m, s) = (batch.pks.slices(), batch.msgs.slices(), batch.sigs.slices());
    let (p, s) = (fixed::<32>(&p)?, fixed::<64>(&s)?);
    let verdicts = py.detach(|| core::verify_batch(&p, &m, &s))?;
    PyList::new(py, verdicts)
}

/// `True` iff every signature is valid (`all(ed25519_verify_batch(...))`, without locating failures).
#[pyfunction]
fn ed25519_verify_batch_all(
    py: Python<'_>,
    pks: &Bound<'_, PyAny>,
    msgs: &Bound<'_, PyAny>,
    sigs: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let batch = Batch::read(pks, msgs, sigs)?;
    let (p, m, s) = (batch.pks.slices(), batch.msgs.slices(), batch.sigs.slices());
    let (p, s) = (fixed::<32>(&p)?, fixed::<64>(&s)?);
    Ok(py.detach(|| core::verify_batch_all(&p, &m, &s))?)
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ed25519_generate, m)?)?;
    m.add_function(wrap_pyfunction!(ed25519_public_key, m)?)?;
    m.add_function(wrap_pyfunction!(ed25519_sign, m)?)?;
    m.add_function(wrap_pyfunction!(ed25519_verify, m)?)?;
    m.add_function(wrap_pyfunction!(ed25519_verify_batch, m)?)?;
    m.add_function(wrap_pyfunction!(ed25519_verify_batch_all, m)?)?;
    Ok(())
}
