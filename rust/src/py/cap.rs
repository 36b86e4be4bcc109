//! Bindings for `crate::cap` (root, ZIP, packing, blob verification) and `crate::delta`.

use super::buffer::ByteView;
use crate::cap::{
    self as core_cap,
    verify::{BlobRef, Limits},
};
use crate::error::Error;
use crate::hash::Digest;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use std::collections::HashMap;
use std::path::PathBuf;

fn open(path: &PathBuf) -> PyResult<std::fs::File> {
    std::fs::File::open(path).map_err(|e| super::errors::os_error(&e, Some(path)))
}

/// A tuple snapshot of a sequence argument: the tuple holds a reference to every item, and cannot change, for as
/// long as it lives (a list could be mutated by another thread while the GIL is released).
fn snapshot<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
    if let Ok(t) = obj.cast::<PyTuple>() {
        return Ok(t.clone());
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return Ok(list.to_tuple());
    }
    let items: Vec<Bound<'py, PyAny>> = obj.try_iter()?.collect::<PyResult<_>>()?;
    PyTuple::new(obj.py(), items)
}

/// The UTF-8 bytes of `t[i]` if it is a `str`, borrowed for as long as the tuple is.
fn tuple_str<'a>(t: &'a Bound<'_, PyTuple>, i: usize) -> PyResult<&'a [u8]> {
    let item = t.get_borrowed_item(i)?;
    let string = item.cast::<PyString>()?;
    let s = string.to_str()?;
    // SAFETY: `s` points into the UTF-8 buffer that CPython caches inside the str object and frees only with it. The
    // tuple `t` (immutable) holds a strong reference to that object for the whole of `'a`, so the bytes stay valid and
    // unchanged for `'a`, not just for the temporary borrow that produced them.
    Ok(unsafe { std::slice::from_raw_parts(s.as_ptr(), s.len()) })
}

/// Hints the CPU to fetch the first two cache lines of `t[i]` (object header and, for a short str or bytes, its
/// data), so that walking objects scattered in memory overlaps their cache misses. Out of range: nothing.
#[inline]
fn prefetch_item(t: &Bound<'_, PyTuple>, i: usize) {
    #[cfg(target_arch = "x86_64")]
    if i >= t.len() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if let Ok(item) = t.get_borrowed_item(i) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = item.as_ptr() as *const i8;
        // SAFETY: SSE is part of the x86_64 baseline, so the instruction exists; a prefetch is only a hint that never
        // faults and never makes memory visible to Rust, whatever the address.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p);
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (t, i);
}

/// CAPROOT root (spec §7.2) of `(paths[i], hashes[i])`; hashes are 64 lowercase hex characters.
///
/// Fast path for large, sorted, valid input: while this thread reads the strings (GIL held), a worker thread decodes
/// the hex and streams the entries into SHA-256. Anything else (unsorted or duplicate paths, a bad hash, a non-str
/// item) goes through the sequential path, which sorts and reports the first problem exactly like the twin.
#[pyfunction]
fn cap_root<'py>(
    py: Python<'py>,
    manifest_hash: &Bound<'py, PyAny>,
    paths: &Bound<'py, PyAny>,
    hashes: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mh = super::buffer::digest_arg(manifest_hash, "manifest_hash")?;
    let pt = snapshot(paths)?;
    let ht = snapshot(hashes)?;
    let n = pt.len();
    if n != ht.len() {
        return Err(Error::invalid("paths and hashes must have the same length").into());
    }
    const CHUNK: usize = 1 << 14;
    if n >= 4 * CHUNK {
        let streamed = std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(&[u8], &[u8])>>(16);
            let worker = s.spawn(move || core_cap::root::cap_root_sorted_stream(&mh, rx));
            let mut complete = true;
            'gather: for start in (0..n).step_by(CHUNK) {
                let mut chunk = Vec::with_capacity(CHUNK);
                for i in start..n.min(start + CHUNK) {
                    prefetch_item(&pt, i + 12);
                    prefetch_item(&ht, i + 12);
                    match (tuple_str(&pt, i), tuple_str(&ht, i)) {
                        (Ok(p), Ok(h)) => chunk.push((p, h)),
                        _ => {
                            complete = false;
                            break 'gather;
                        }
                    }
                }
                if tx.send(chunk).is_err() {
                    complete = false; // the worker gave up
                    break;
                }
            }
            drop(tx);
            // Only a stream that received every entry gives the root; otherwise fall back below.
            py.detach(|| worker.join()).ok().flatten().filter(|_| complete)
        });
        if let Some(root) = streamed {
            return Ok(PyBytes::new(py, &root));
        }
    }
    let mut path_strs: Vec<&[u8]> = Vec::with_capacity(n);
    for i in 0..n {
        path_strs.push(tuple_str(&pt, i)?);
    }
    let mut hex_strs: Vec<&[u8]> = Vec::with_capacity(n);
    for i in 0..n {
        match tuple_str(&ht, i) {
            Ok(h) => hex_strs.push(h),
            Err(e) => {
                // Same precedence as a sequential decode: an invalid hash before this item is reported first.
                if let Some(bad) = hex_strs.iter().find(|x| core_cap::parse_hex32(x).is_err()) {
                    return Err(core_cap::parse_hex32(bad).err().map_or(e, Into::into));
                }
                return Err(e);
            }
        }
    }
    let root = super::maybe_detach(py, n * 64, || -> crate::error::Result<Digest> {
        let digests = core_cap::parse_hex32_many(&hex_strs)?;
        let mut entries: Vec<(&[u8], Digest)> = path_strs.iter().copied().zip(digests).collect();
        core_cap::root::cap_root(&mh, &mut entries)
    })?;
    Ok(PyBytes::new(py, &root))
}

/// The entries `[(path, hash_hex, size, compressed_size, compression, mime)]` of `_cap/index.cbor` if `data` is
/// exactly the canonical CAP encoding, else `None` (the caller then runs the general strict decoder for the error).
#[pyfunction]
fn cap_index_rows<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyList>>> {
    let view = ByteView::new(data)?;
    let bytes = view.as_slice();
    let rows = super::maybe_detach(py, bytes.len(), || core_cap::index::parse_canonical(bytes));
    let Some(rows) = rows else { return Ok(None) };
    let items = rows.into_iter().map(|r| {
        (
            PyString::new(py, r.path),
            PyString::new(py, r.hash),
            r.size,
            r.compressed_size,
            PyString::new(py, r.compression),
            r.mime.map(|m| PyString::new(py, m)),
        )
            .into_pyobject(py)
    });
    let list = PyList::empty(py);
    for item in items {
        list.append(item?)?;
    }
    Ok(Some(list))
}

/// Reads, hashes and zstd-compresses files in parallel: `[(hash_hex, size, blob)]`, equal contents share a blob.
#[pyfunction]
#[pyo3(signature = (paths, level = 10))]
fn cap_pack_files<'py>(py: Python<'py>, paths: Vec<PathBuf>, level: i32) -> PyResult<Vec<(String, u64, Py<PyBytes>)>> {
    let packed = py.detach(|| core_cap::pack::pack_files(&paths, level))?;
    let mut shared: HashMap<*const Vec<u8>, Py<PyBytes>> = HashMap::new();
    let mut out = Vec::with_capacity(packed.len());
    for p in packed {
        let key = std::sync::Arc::as_ptr(&p.blob);
        let blob = shared
            .entry(key)
            .or_insert_with(|| PyBytes::new(py, &p.blob).unbind())
            .clone_ref(py);
        out.push((core_cap::hex32(&p.hash), p.size, blob));
    }
    Ok(out)
}

/// Writes a deterministic STORED ZIP of `entries` (name, bytes) in the given order; returns its size.
#[pyfunction]
fn zip_write(py: Python<'_>, path: PathBuf, entries: &Bound<'_, PyAny>) -> PyResult<u64> {
    let mut items: Vec<(String, ByteView<'_>)> = Vec::new();
    for item in entries.try_iter()? {
        let (name, data): (String, Bound<'_, PyAny>) = item?.extract()?;
        items.push((name, ByteView::new(&data)?));
    }
    let slices: Vec<(&str, &[u8])> = items.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    let file = std::fs::File::create(&path).map_err(|e| super::errors::os_error(&e, Some(&path)))?;
    py.detach(|| -> crate::error::Result<u64> {
        let mut w = core_cap::zip::ZipWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
        for (n, d) in &slices {
            w.add(n, d)?;
        }
        w.finish()
    })
    .map_err(Into::into)
}

/// Strictly parses a ZIP's structure: `[(name, data_offset, size, crc32)]` in central-directory order.
#[pyfunction]
#[pyo3(signature = (path, max_entries = 65535))]
fn zip_entries(py: Python<'_>, path: PathBuf, max_entries: usize) -> PyResult<Vec<(String, u64, u64, u32)>> {
    let file = open(&path)?;
    let entries = py.detach(|| core_cap::zip::read_entries(&file, max_entries))?;
    Ok(entries
        .into_iter()
        .map(|e| (e.name, e.data_offset, e.size, e.crc))
        .collect())
}

/// The scanned, key-independent parts of a clean package (see `cap::scan`), or `None` when anything needs the
/// general path: `(meta, manifest, index, root_text, signature, public_key, root, paths, blob_count)` with `meta`
/// the `_cap/` entries as `(name, offset, size, crc)`.
#[allow(clippy::type_complexity)]
#[pyfunction]
fn cap_scan<'py>(
    py: Python<'py>,
    path: PathBuf,
    max_entries: usize,
    max_manifest: u64,
    max_index: u64,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let file = open(&path)?;
    let Some(s) = py.detach(|| core_cap::scan::scan(&file, max_entries, max_manifest, max_index))? else {
        return Ok(None);
    };
    let meta: Vec<(String, u64, u64, u32)> = s
        .meta
        .into_iter()
        .map(|e| (e.name, e.data_offset, e.size, e.crc))
        .collect();
    let paths = PyList::new(py, s.paths.iter().map(|p| PyString::new(py, p)))?;
    let out = (
        meta,
        PyBytes::new(py, &s.manifest),
        PyBytes::new(py, &s.index),
        PyBytes::new(py, &s.root_text),
        PyBytes::new(py, &s.signature),
        s.public_key.map(|k| PyBytes::new(py, &k)),
        PyBytes::new(py, &s.root),
        paths,
        s.blobs,
    );
    Ok(Some(out.into_pyobject(py)?))
}

fn blob_refs(blobs: &Bound<'_, PyAny>) -> PyResult<Vec<BlobRef>> {
    blobs
        .try_iter()?
        .map(|item| {
            let (hash, offset, csize, crc, size): (String, u64, u64, u32, u64) = item?.extract()?;
            Ok(BlobRef {
                hash: core_cap::parse_hex32(hash.as_bytes())?,
                offset,
                csize,
                crc,
                size,
            })
        })
        .collect()
}

fn limits(max_blob: u64, max_total: u64, max_ratio: u64, window_log_max: u32) -> PyResult<Limits> {
    if !(10..=31).contains(&window_log_max) {
        return Err(Error::invalid("window_log_max must be between 10 and 31").into());
    }
    Ok(Limits {
        max_blob,
        max_total,
        max_ratio,
        window_log_max,
    })
}

/// Decompresses and checks every blob `(hash_hex, offset, csize, crc32, size)`; raises on the first violation.
#[pyfunction]
#[pyo3(signature = (path, blobs, max_blob = 1 << 30, max_total = 4 << 30, max_ratio = 10_000, window_log_max = 25))]
fn cap_verify_blobs(
    py: Python<'_>,
    path: PathBuf,
    blobs: &Bound<'_, PyAny>,
    max_blob: u64,
    max_total: u64,
    max_ratio: u64,
    window_log_max: u32,
) -> PyResult<()> {
    let refs = blob_refs(blobs)?;
    let lim = limits(max_blob, max_total, max_ratio, window_log_max)?;
    let file = open(&path)?;
    py.detach(|| core_cap::verify::verify_blobs(&file, &refs, &lim))?;
    Ok(())
}

/// Reads one checked blob `(hash_hex, offset, csize, crc32, size)` and returns its content.
#[pyfunction]
#[pyo3(signature = (path, blob, max_blob = 1 << 30, max_total = 4 << 30, max_ratio = 10_000, window_log_max = 25))]
fn cap_read_blob<'py>(
    py: Python<'py>,
    path: PathBuf,
    blob: &Bound<'py, PyAny>,
    max_blob: u64,
    max_total: u64,
    max_ratio: u64,
    window_log_max: u32,
) -> PyResult<Bound<'py, PyBytes>> {
    let (hash, offset, csize, crc, size): (String, u64, u64, u32, u64) = blob.extract()?;
    let b = BlobRef {
        hash: core_cap::parse_hex32(hash.as_bytes())?,
        offset,
        csize,
        crc,
        size,
    };
    let lim = limits(max_blob, max_total, max_ratio, window_log_max)?;
    let file = open(&path)?;
    let data = py.detach(|| core_cap::verify::read_blob(&file, &b, &lim))?;
    Ok(PyBytes::new(py, &data))
}

/// Digests from a packed buffer (n×32 bytes, e.g. a numpy `(n, 32)` uint8 array, borrowed) or an iterable of
/// 32-byte bytes-like items (copied).
enum Hashes<'py> {
    Packed(ByteView<'py>),
    Owned(Vec<Digest>),
}

impl<'py> Hashes<'py> {
    fn new(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        let is_seq = obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>();
        if let Some(view) = if is_seq { None } else { ByteView::new(obj).ok() } {
            let n = view.as_slice().len();
            if n % 32 != 0 {
                return Err(Error::invalid(format!(
                    "{what}: buffer of {n} bytes is not a whole number of 32-byte hashes"
                ))
                .into());
            }
            return Ok(Hashes::Packed(view));
        }
        // Digests are copied out with the GIL held and no Python code running, so a list can be read in place.
        let push = |out: &mut Vec<Digest>, i: usize, item: &Bound<'py, PyAny>| -> PyResult<()> {
            let wrong = |n: usize| Error::invalid(format!("{what}[{i}]: expected 32 bytes, got {n}"));
            if let Ok(b) = item.cast::<PyBytes>() {
                let raw = b.as_bytes();
                out.push(<Digest>::try_from(raw).map_err(|_| wrong(raw.len()))?);
                return Ok(());
            }
            let view = ByteView::new(item)?;
            out.push(<Digest>::try_from(view.as_slice()).map_err(|_| wrong(view.as_slice().len()))?);
            Ok(())
        };
        let mut out = Vec::new();
        if let Ok(list) = obj.cast::<PyList>() {
            out.reserve(list.len());
            for (i, item) in list.iter().enumerate() {
                push(&mut out, i, &item)?;
            }
        } else {
            for (i, item) in obj.try_iter()?.enumerate() {
                push(&mut out, i, &item?)?;
            }
        }
        Ok(Hashes::Owned(out))
    }

    fn as_digests(&self) -> &[Digest] {
        match self {
            Hashes::Owned(v) => v,
            Hashes::Packed(view) => {
                let s = view.as_slice();
                if s.is_empty() {
                    return &[];
                }
                // SAFETY: `[u8; 32]` has size 32 and alignment 1, `s.len()` is a multiple of 32 (checked in `new`), so
                // the cast covers exactly the bytes of `s`, which live as long as `view` (borrowed by `self`).
                unsafe { std::slice::from_raw_parts(s.as_ptr() as *const Digest, s.len() / 32) }
            }
        }
    }
}

/// The hashes of `index_hashes` that are not in `have`, in index order, each once.
#[pyfunction]
fn missing_blobs<'py>(
    py: Python<'py>,
    index_hashes: &Bound<'py, PyAny>,
    have: &Bound<'py, PyAny>,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let index = Hashes::new(index_hashes, "index_hashes")?;
    let have = Hashes::new(have, "have")?;
    let (ix, hv) = (index.as_digests(), have.as_digests());
    let positions = super::maybe_detach(py, (ix.len() + hv.len()) * 32, || crate::delta::missing_blobs(ix, hv));
    Ok(positions.into_iter().map(|i| PyBytes::new(py, &ix[i])).collect())
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cap_root, m)?)?;
    m.add_function(wrap_pyfunction!(cap_index_rows, m)?)?;
    m.add_function(wrap_pyfunction!(cap_pack_files, m)?)?;
    m.add_function(wrap_pyfunction!(zip_write, m)?)?;
    m.add_function(wrap_pyfunction!(zip_entries, m)?)?;
    m.add_function(wrap_pyfunction!(cap_scan, m)?)?;
    m.add_function(wrap_pyfunction!(cap_verify_blobs, m)?)?;
    m.add_function(wrap_pyfunction!(cap_read_blob, m)?)?;
    m.add_function(wrap_pyfunction!(missing_blobs, m)?)?;
    Ok(())
}
