//! Zero-copy access to bytes-like arguments (`bytes`, `bytearray`, `memoryview`, numpy arrays, `array('B')`).

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyBufferError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// A borrowed view of a bytes-like object. The guard keeps the exporter's buffer alive (and a `bytearray` from
/// resizing) for as long as the view exists, including while the GIL is released.
pub(crate) enum ByteView<'py> {
    Bytes(Bound<'py, PyBytes>),
    Buffer(PyBuffer<u8>),
}

impl<'py> ByteView<'py> {
    pub(crate) fn new(obj: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(ByteView::Bytes(b.clone()));
        }
        if obj.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "expected a bytes-like object, got str (encode it first)",
            ));
        }
        let buf = PyBuffer::<u8>::get(obj).map_err(|_| {
            PyTypeError::new_err(format!(
                "expected a bytes-like object, got {}",
                obj.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_else(|_| "?".into())
            ))
        })?;
        if !buf.is_c_contiguous() {
            return Err(PyBufferError::new_err("buffer must be C-contiguous"));
        }
        Ok(ByteView::Buffer(buf))
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            ByteView::Bytes(b) => b.as_bytes(),
            ByteView::Buffer(buf) => {
                if buf.len_bytes() == 0 {
                    return &[];
                }
                // SAFETY: the buffer is C-contiguous with item size 1 (checked in `new`, enforced by
                // `PyBuffer<u8>`), `buf_ptr` points at `len_bytes` readable bytes, and the `PyBuffer` guard borrowed
                // by `self` keeps the export (and so the memory) alive for the returned lifetime.
                unsafe { std::slice::from_raw_parts(buf.buf_ptr() as *const u8, buf.len_bytes()) }
            }
        }
    }
}

/// Reads a 32-byte digest argument.
pub(crate) fn digest_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<crate::hash::Digest> {
    let view = ByteView::new(obj)?;
    let s = view.as_slice();
    s.try_into()
        .map_err(|_| crate::error::Error::invalid(format!("{what} must be 32 bytes, got {}", s.len())).into())
}
