//! Bindings for `crate::commit`: the CSV/rows commitment engine, single-row leaves and proofs from retained leaves.
//!
//! The engine runs with the GIL released; it re-attaches briefly between chunks to report progress and to check
//! for signals (so Ctrl-C interrupts a long commit), and per read when the source is a Python file object.

use super::{hash_alg, ByteView};
use crate::commit::cbor::MapLayout;
use crate::commit::pipeline::{check_selection, row_leaf, Accumulator, EncodedRows, Output};
use crate::commit::salt::row_salt;
use crate::commit::{commit_csv as engine_commit, Options, ReadInput, SliceInput};
use crate::error::Error;
use crate::hash::Digest;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyMapping, PyString};
use std::io::Read;

type Committed<'py> = (Vec<String>, u64, Bound<'py, PyBytes>, Option<Bound<'py, PyBytes>>);

fn key_arg(salt_key: Option<&Bound<'_, PyAny>>) -> PyResult<Option<[u8; 32]>> {
    match salt_key {
        None => Ok(None),
        Some(k) => {
            let view = ByteView::new(k)?;
            let s = view.as_slice();
            let key: [u8; 32] = s
                .try_into()
                .map_err(|_| Error::invalid(format!("salt_key must be 32 bytes, got {}", s.len())))?;
            Ok(Some(key))
        }
    }
}

fn output<'py>(py: Python<'py>, out: Output) -> Committed<'py> {
    let leaves = out.leaves.map(|l| PyBytes::new(py, l.as_flattened()));
    (out.columns, out.count, PyBytes::new(py, &out.root), leaves)
}

/// A Python binary file object read through its `read(n)` method (attaching to the interpreter per call).
struct PyReader<'a> {
    obj: Py<PyAny>,
    err: &'a mut Option<PyErr>,
}

impl Read for PyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let res: PyResult<usize> = Python::attach(|py| {
            let chunk = self.obj.bind(py).call_method1("read", (buf.len(),))?;
            if chunk.is_none() {
                return Ok(0); // non-blocking stream with no data: treat as end (documented)
            }
            if chunk.is_instance_of::<PyString>() {
                return Err(Error::invalid("the file object returned str: open the file in binary mode ('rb')").into());
            }
            let view = ByteView::new(&chunk)?;
            let s = view.as_slice();
            if s.len() > buf.len() {
                return Err(Error::invalid("the file object's read(n) returned more than n bytes").into());
            }
            buf[..s.len()].copy_from_slice(s);
            Ok(s.len())
        });
        res.map_err(|e| {
            *self.err = Some(e);
            std::io::Error::other("python file object failed")
        })
    }
}

/// Commits a CSV source: `str` path (opened and streamed by Rust), bytes-like (read in place) or a binary file
/// object. Returns `(columns, count, root, leaves or None)`; `leaves` is the concatenated 32-byte leaf hashes.
#[pyfunction]
#[pyo3(signature = (source, hash = "blake3", columns = None, salt_key = None, retain_leaves = true, progress = None,
                    chunk_size = 0, max_record = 0))]
#[allow(clippy::too_many_arguments)]
fn commit_csv<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    hash: &str,
    columns: Option<Vec<String>>,
    salt_key: Option<&Bound<'py, PyAny>>,
    retain_leaves: bool,
    progress: Option<Py<PyAny>>,
    chunk_size: usize,
    max_record: usize,
) -> PyResult<Committed<'py>> {
    let opts = Options {
        alg: hash_alg(hash)?,
        columns,
        salt_key: key_arg(salt_key)?,
        retain_leaves,
        chunk_size,
        max_record,
    };
    let mut py_err: Option<PyErr> = None;
    let mut total: Option<u64> = None;
    enum Src<'v> {
        Path(std::fs::File),
        Slice(&'v [u8]),
        File(Py<PyAny>),
    }
    let view;
    let src = if let Ok(path) = source.cast::<PyString>() {
        let path = path.to_str()?.to_owned();
        let file =
            std::fs::File::open(&path).map_err(|e| super::errors::os_error(&e, Some(std::path::Path::new(&path))))?;
        total = file.metadata().ok().map(|m| m.len());
        Src::Path(file)
    } else if let Ok(v) = ByteView::new(source) {
        view = v;
        total = Some(view.as_slice().len() as u64);
        Src::Slice(view.as_slice())
    } else if source.hasattr("read")? {
        Src::File(source.clone().unbind())
    } else {
        return Err(Error::invalid(format!(
            "commit_csv source must be a path (str), bytes-like or a binary file object, not {}",
            source.get_type().name()?
        ))
        .into());
    };
    let result = py.detach(|| {
        let mut cb_err: Option<PyErr> = None;
        let mut report = |done: u64| -> crate::error::Result<()> {
            let r: PyResult<()> = Python::attach(|py| {
                py.check_signals()?;
                if let Some(cb) = &progress {
                    cb.call1(py, (done, total))?;
                }
                Ok(())
            });
            r.map_err(|e| {
                cb_err = Some(e);
                Error::invalid("interrupted")
            })
        };
        let res = match src {
            Src::Path(f) => engine_commit(&mut ReadInput::new(f).with_read_ahead(), &opts, &mut report),
            Src::Slice(s) => engine_commit(&mut SliceInput::new(s), &opts, &mut report),
            Src::File(obj) => {
                let reader = PyReader { obj, err: &mut py_err };
                engine_commit(&mut ReadInput::new(reader), &opts, &mut report)
            }
        };
        (res, cb_err)
    });
    let (res, cb_err) = result;
    if let Some(e) = cb_err.or(py_err) {
        return Err(e);
    }
    Ok(output(py, res?))
}

/// Rows are encoded (GIL held) into sub-batches of this many bytes, and hashed with the GIL released in parallel
/// once `ROWS_SUB_BATCHES` are full.
const ROWS_SUB_BATCH_BYTES: usize = 128 << 10;
const ROWS_SUB_BATCHES: usize = 16;

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Commits an iterable of mappings (column name → str). Without `columns`, the first row's keys (in its order)
/// are the columns and every row must have exactly those keys; with `columns`, each row must have them (others
/// are ignored). Values must be `str`.
#[pyfunction]
#[pyo3(signature = (rows, columns = None, hash = "blake3", salt_key = None, retain_leaves = true))]
fn commit_rows<'py>(
    py: Python<'py>,
    rows: &Bound<'py, PyAny>,
    columns: Option<Vec<String>>,
    hash: &str,
    salt_key: Option<&Bound<'py, PyAny>>,
    retain_leaves: bool,
) -> PyResult<Committed<'py>> {
    let alg = hash_alg(hash)?;
    let key = key_arg(salt_key)?;
    let fixed = columns.is_some();
    if let Some(c) = &columns {
        check_selection(c)?;
    }
    let mut acc = Accumulator::new(alg, key, retain_leaves);
    let mut cols: Option<(Vec<String>, Vec<Bound<'py, PyString>>, MapLayout)> = None;
    let setup = |names: Vec<String>| -> PyResult<(Vec<String>, Vec<Bound<'py, PyString>>, MapLayout)> {
        let keys: Vec<&str> = names.iter().map(String::as_str).collect();
        let idx: Vec<usize> = (0..names.len()).collect();
        let layout = MapLayout::new(&keys, &idx)?;
        let pykeys = names.iter().map(|n| PyString::new(py, n)).collect();
        Ok((names, pykeys, layout))
    };
    if let Some(c) = columns {
        cols = Some(setup(c)?);
    }
    let mut batches: Vec<EncodedRows> = vec![EncodedRows::default()];
    let mut values: Vec<Bound<'py, PyString>> = Vec::new();
    for (i, row) in rows.try_iter()?.enumerate() {
        let row = row?;
        let mapping = row
            .cast::<PyMapping>()
            .map_err(|_| Error::invalid(format!("row {i} is a {}, not a mapping", type_name(&row))))?;
        if cols.is_none() {
            let mut names = Vec::new();
            for (j, k) in mapping.keys()?.iter().enumerate() {
                let s = k
                    .cast::<PyString>()
                    .map_err(|_| Error::invalid(format!("row {i}: column names must be str, not {}", type_name(&k))))?;
                let name = s.to_str().map_err(|_| {
                    Error::invalid(format!(
                        "row {i}: column name {j} is not valid Unicode text (a lone surrogate cannot be UTF-8)"
                    ))
                })?;
                names.push(name.to_owned());
            }
            cols = Some(setup(names)?);
        }
        let Some((names, pykeys, layout)) = cols.as_ref() else {
            return Err(Error::invalid("internal: no columns").into());
        };
        values.clear();
        let dict = row.cast::<PyDict>().ok();
        for (name, k) in names.iter().zip(pykeys) {
            let v = match dict {
                Some(d) => d.get_item(k)?,
                None => {
                    if mapping.contains(k)? {
                        Some(mapping.get_item(k)?)
                    } else {
                        None
                    }
                }
            };
            let v = v.ok_or_else(|| Error::invalid(format!("row {i} has no column \"{name}\"")))?;
            let s = v.cast_into::<PyString>().map_err(|e| {
                Error::invalid(format!(
                    "row {i}, column \"{name}\": value must be str, not {}",
                    type_name(e.into_inner().as_any())
                ))
            })?;
            values.push(s);
        }
        if !fixed && mapping.len()? != names.len() {
            return Err(Error::invalid(format!(
                "row {i} has {} columns, expected {} (the first row's: {})",
                mapping.len()?,
                names.len(),
                names.join(", ")
            ))
            .into());
        }
        let mut strs: Vec<&str> = Vec::with_capacity(values.len());
        for (v, name) in values.iter().zip(names) {
            strs.push(v.to_str().map_err(|_| {
                Error::invalid(format!(
                    "row {i}, column \"{name}\": not valid Unicode text (a lone surrogate cannot be UTF-8)"
                ))
            })?);
        }
        let Some(batch) = batches.last_mut() else {
            return Err(Error::invalid("internal: no batch").into());
        };
        layout.encode(&mut batch.cbor, |j| strs[j].as_bytes());
        batch.ends.push(batch.cbor.len());
        if batch.cbor.len() >= ROWS_SUB_BATCH_BYTES {
            if batches.len() >= ROWS_SUB_BATCHES {
                let full = std::mem::take(&mut batches);
                py.detach(|| acc.absorb(&full))?;
            }
            batches.push(EncodedRows::default());
        }
    }
    py.detach(|| acc.absorb(&batches))?;
    let names = cols.map(|c| c.0).unwrap_or_default();
    let (count, root, leaves) = acc.finish()?;
    Ok(output(
        py,
        Output {
            columns: names,
            count,
            root,
            leaves,
        },
    ))
}

fn pairs_arg(columns: &[String], values: &[String]) -> PyResult<MapLayout> {
    if columns.len() != values.len() {
        return Err(Error::invalid(format!("{} columns but {} values", columns.len(), values.len())).into());
    }
    let keys: Vec<&str> = columns.iter().map(String::as_str).collect();
    let idx: Vec<usize> = (0..columns.len()).collect();
    MapLayout::new(&keys, &idx).map_err(|_| Error::invalid("column names must be distinct").into())
}

/// The deterministic CBOR map of one row (`columns[i]` → `values[i]`).
#[pyfunction]
fn commit_row_cbor<'py>(py: Python<'py>, columns: Vec<String>, values: Vec<String>) -> PyResult<Bound<'py, PyBytes>> {
    let layout = pairs_arg(&columns, &values)?;
    let mut out = Vec::new();
    layout.encode(&mut out, |i| values[i].as_bytes());
    Ok(PyBytes::new(py, &out))
}

/// Leaf hash of one row: H(0x00 ‖ salt ‖ cbor) (salt omitted when `None`).
#[pyfunction]
#[pyo3(signature = (columns, values, salt = None, hash = "blake3"))]
fn commit_row_leaf<'py>(
    py: Python<'py>,
    columns: Vec<String>,
    values: Vec<String>,
    salt: Option<&Bound<'py, PyAny>>,
    hash: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let alg = hash_alg(hash)?;
    let salt: Option<Digest> = match salt {
        None => None,
        Some(s) => {
            let view = ByteView::new(s)?;
            let sl = view.as_slice();
            Some(
                sl.try_into()
                    .map_err(|_| Error::invalid(format!("salt must be 32 bytes, got {}", sl.len())))?,
            )
        }
    };
    let layout = pairs_arg(&columns, &values)?;
    let mut cbor = Vec::new();
    layout.encode(&mut cbor, |i| values[i].as_bytes());
    Ok(PyBytes::new(py, &row_leaf(alg, salt.as_ref(), &cbor)))
}

/// The salt of row `index` under `salt_key` (see `crate::commit::salt`).
#[pyfunction]
fn commit_row_salt<'py>(py: Python<'py>, salt_key: &Bound<'py, PyAny>, index: u64) -> PyResult<Bound<'py, PyBytes>> {
    let key = key_arg(Some(salt_key))?.ok_or_else(|| Error::invalid("salt_key is required"))?;
    Ok(PyBytes::new(py, &row_salt(&key, index)))
}

/// Inclusion proof of leaf `index` from concatenated 32-byte leaf hashes.
#[pyfunction]
#[pyo3(signature = (leaves, index, hash = "blake3"))]
fn commit_prove<'py>(
    py: Python<'py>,
    leaves: &Bound<'py, PyAny>,
    index: u64,
    hash: &str,
) -> PyResult<Bound<'py, PyList>> {
    let alg = hash_alg(hash)?;
    let view = ByteView::new(leaves)?;
    let s = view.as_slice();
    if s.len() % 32 != 0 {
        return Err(Error::invalid(format!("leaves must be a multiple of 32 bytes, got {}", s.len())).into());
    }
    let proof = py.detach(|| {
        let hashes: Vec<Digest> = s.chunks_exact(32).map(|c| c.try_into().unwrap_or([0u8; 32])).collect();
        crate::merkle::inclusion_proof(alg, &hashes, index)
    })?;
    let items: Vec<Bound<'py, PyBytes>> = proof.iter().map(|d| PyBytes::new(py, d)).collect();
    PyList::new(py, items)
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(commit_csv, m)?)?;
    m.add_function(wrap_pyfunction!(commit_rows, m)?)?;
    m.add_function(wrap_pyfunction!(commit_row_cbor, m)?)?;
    m.add_function(wrap_pyfunction!(commit_row_leaf, m)?)?;
    m.add_function(wrap_pyfunction!(commit_row_salt, m)?)?;
    m.add_function(wrap_pyfunction!(commit_prove, m)?)?;
    Ok(())
}
