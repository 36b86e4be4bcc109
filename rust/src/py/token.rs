//! Bindings for `crate::token`: read one CapToken (claims, signed bytes, signature) and verify many at once with
//! the GIL released. Twin: `capfast/_py/captoken.py`.

use super::ByteView;
use crate::error::Error;
use crate::token::{self as core, batch, Claims};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

fn claims_dict<'py>(py: Python<'py>, c: &Claims) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("audience", &c.audience)?;
    if let Some(b) = &c.binding {
        d.set_item("binding", b)?;
    }
    d.set_item("cap_level", c.cap_level)?;
    if let Some(dev) = &c.device {
        d.set_item("device", dev)?;
    }
    if let Some(e) = &c.effect {
        d.set_item("effect", e)?;
    }
    d.set_item("issued_at", c.issued_at)?;
    d.set_item("issuer", &c.issuer)?;
    d.set_item("not_before", c.not_before)?;
    d.set_item("revocation_id", &c.revocation_id)?;
    d.set_item("role", &c.role)?;
    d.set_item("scope", PyList::new(py, &c.scope)?)?;
    d.set_item("token_id", &c.token_id)?;
    d.set_item("valid_until", c.valid_until)?;
    if let Some(w) = &c.wallet {
        d.set_item("wallet", w)?;
    }
    Ok(d)
}

/// `(claims: dict, signed: bytes, signature: bytes)` of one token; a malformed token raises its
/// `TokenFormatError`/`TokenTooLargeError`.
#[pyfunction]
fn captoken_parse<'py>(py: Python<'py>, raw: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
    let view = ByteView::new(raw)?;
    let data = view.as_slice();
    let parsed = py.detach(|| core::parse(data))?;
    PyTuple::new(
        py,
        [
            claims_dict(py, &parsed.claims)?.into_any(),
            PyBytes::new(py, &parsed.signed).into_any(),
            PyBytes::new(py, &parsed.signature).into_any(),
        ],
    )
}

/// Per token `(None, "", claims)` when its signature verifies under a pinned issuer, else
/// `(kind, message, None)` with kind one of `"format"`, `"too_large"`, `"untrusted_issuer"`, `"signature"`.
/// `kids`/`keys` pin Ed25519 issuers (16-byte KID, 32-byte key), `wallets` pins 20-byte issuer addresses.
#[pyfunction]
fn captoken_verify_batch<'py>(
    py: Python<'py>,
    tokens: &Bound<'py, PyAny>,
    kids: &Bound<'py, PyAny>,
    keys: &Bound<'py, PyAny>,
    wallets: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let mut pinned = batch::Pinned::default();
    let kid_views: Vec<ByteView<'py>> = kids.try_iter()?.map(|o| ByteView::new(&o?)).collect::<PyResult<_>>()?;
    let key_views: Vec<ByteView<'py>> = keys.try_iter()?.map(|o| ByteView::new(&o?)).collect::<PyResult<_>>()?;
    if kid_views.len() != key_views.len() {
        return Err(Error::invalid("kids and keys differ in length").into());
    }
    for (k, v) in kid_views.iter().zip(&key_views) {
        let kid: [u8; 16] = k
            .as_slice()
            .try_into()
            .map_err(|_| Error::invalid(format!("a kid must be 16 bytes, got {}", k.as_slice().len())))?;
        let pk = crate::ed25519::public_key_arg(v.as_slice(), "issuer key")?;
        pinned.keys.insert(kid, pk);
    }
    for w in wallets.try_iter()? {
        let view = ByteView::new(&w?)?;
        let addr: [u8; 20] = view
            .as_slice()
            .try_into()
            .map_err(|_| Error::invalid(format!("a wallet must be 20 bytes, got {}", view.as_slice().len())))?;
        pinned.wallets.insert(addr);
    }
    let views: Vec<ByteView<'py>> = tokens
        .try_iter()?
        .map(|o| ByteView::new(&o?))
        .collect::<PyResult<_>>()?;
    let raw: Vec<&[u8]> = views.iter().map(ByteView::as_slice).collect();
    let results = py.detach(|| batch::verify_batch(&raw, &pinned))?;
    let out = PyList::empty(py);
    for r in results {
        let item = match r {
            Ok(claims) => PyTuple::new(
                py,
                [
                    py.None().into_bound(py),
                    "".into_pyobject(py)?.into_any(),
                    claims_dict(py, &claims)?.into_any(),
                ],
            )?,
            Err(Error::Token { kind, message }) => PyTuple::new(
                py,
                [
                    kind.as_str().into_pyobject(py)?.into_any(),
                    message.into_pyobject(py)?.into_any(),
                    py.None().into_bound(py),
                ],
            )?,
            Err(e) => return Err(e.into()),
        };
        out.append(item)?;
    }
    Ok(out)
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(captoken_parse, m)?)?;
    m.add_function(wrap_pyfunction!(captoken_verify_batch, m)?)?;
    Ok(())
}
