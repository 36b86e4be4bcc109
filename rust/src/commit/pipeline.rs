//! The streaming, parallel commitment pipeline.
//!
//! The input is read in chunks of a few MiB. Each chunk is cut at its last record boundary (an LF outside quotes,
//! found by quote parity), split into ~64 KiB batches at record boundaries (parity counted per piece in parallel),
//! and the batches are parsed, validated and CBOR-encoded by rayon workers (phase 1). Once the row count of each
//! batch is known, the rows' leaf hashes (with their salts, which depend on the global row index) and each batch's
//! compact range are computed in parallel (phase 2) and appended in order to the running compact range. Memory is
//! bounded by the chunk size plus the record limit, independent of the number of rows (unless `retain_leaves`).

use super::cbor::MapLayout;
use super::csv::{
    batch_ends, count_lines, first_invalid_utf8, last_boundary, parse_record, Fields, Located, Outcome,
    DEFAULT_MAX_RECORD, MAX_COLUMNS,
};
use super::salt::row_salt;
use crate::error::{CsvErrorKind, Error, Result};
use crate::hash::{Digest, HashAlg};
use crate::merkle::{compact_range_of, CompactRange};
use rayon::prelude::*;
use std::collections::HashSet;
use std::io::Read;

/// Default chunk size read from the input at a time.
pub const DEFAULT_CHUNK: usize = 4 << 20;
/// Target size of one parallel parse batch.
const PIECE: usize = 64 << 10;
const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, Clone)]
pub struct Options {
    pub alg: HashAlg,
    /// Columns to commit (must exist in the header); `None` = all.
    pub columns: Option<Vec<String>>,
    pub salt_key: Option<[u8; 32]>,
    pub retain_leaves: bool,
    /// Bytes per read chunk; 0 = default.
    pub chunk_size: usize,
    /// Largest accepted record in bytes; 0 = default (64 MiB).
    pub max_record: usize,
}

impl Options {
    pub fn new(alg: HashAlg) -> Self {
        Options { alg, columns: None, salt_key: None, retain_leaves: false, chunk_size: 0, max_record: 0 }
    }
}

#[derive(Debug, Clone)]
pub struct Output {
    /// Committed column names, in header order.
    pub columns: Vec<String>,
    pub count: u64,
    pub root: Digest,
    pub leaves: Option<Vec<Digest>>,
}

/// Checks a `columns=` selection: non-empty, no repeats.
pub fn check_selection(cols: &[String]) -> Result<()> {
    if cols.is_empty() {
        return Err(Error::invalid("columns must name at least one column"));
    }
    let mut seen = HashSet::new();
    for c in cols {
        if !seen.insert(c.as_str()) {
            return Err(Error::invalid(format!("columns names \"{c}\" more than once")));
        }
    }
    Ok(())
}

/// Leaf hash of one row: H(0x00 ‖ salt ‖ cbor), or H(0x00 ‖ cbor) without salt.
#[inline]
pub fn row_leaf(alg: HashAlg, salt: Option<&Digest>, cbor: &[u8]) -> Digest {
    match salt {
        Some(s) => alg.leaf_parts(&[s, cbor]),
        None => alg.leaf_parts(&[cbor]),
    }
}

/// Rows encoded by one worker: concatenated CBOR maps and the end offset of each.
#[derive(Debug, Default)]
pub struct EncodedRows {
    pub cbor: Vec<u8>,
    pub ends: Vec<usize>,
}

/// Turns encoded rows into leaves and folds them into the running compact range.
pub struct Accumulator {
    alg: HashAlg,
    salt_key: Option<[u8; 32]>,
    range: CompactRange,
    count: u64,
    leaves: Option<Vec<Digest>>,
}

impl Accumulator {
    pub fn new(alg: HashAlg, salt_key: Option<[u8; 32]>, retain_leaves: bool) -> Self {
        Accumulator {
            alg,
            salt_key,
            range: CompactRange::new(alg, 0),
            count: 0,
            leaves: if retain_leaves { Some(Vec::new()) } else { None },
        }
    }

    /// Appends the rows of `batches`, in order (hashing in parallel).
    pub fn absorb(&mut self, batches: &[EncodedRows]) -> Result<()> {
        let mut starts = Vec::with_capacity(batches.len());
        let mut c = self.count;
        for b in batches {
            starts.push(c);
            c += b.ends.len() as u64;
        }
        let (alg, key) = (self.alg, self.salt_key);
        let parts: Vec<(Vec<Digest>, CompactRange)> = batches
            .par_iter()
            .zip(starts.par_iter())
            .map(|(b, &first)| {
                let mut leaves = Vec::with_capacity(b.ends.len());
                let mut from = 0;
                for (k, &to) in b.ends.iter().enumerate() {
                    let salt = key.as_ref().map(|key| row_salt(key, first + k as u64));
                    leaves.push(row_leaf(alg, salt.as_ref(), &b.cbor[from..to]));
                    from = to;
                }
                let range = compact_range_of(alg, first, &leaves);
                (leaves, range)
            })
            .collect();
        for (leaves, range) in parts {
            self.range.append(&range)?;
            if let Some(all) = self.leaves.as_mut() {
                all.extend_from_slice(&leaves);
            }
        }
        self.count = c;
        Ok(())
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// (count, root, retained leaves).
    pub fn finish(self) -> Result<(u64, Digest, Option<Vec<Digest>>)> {
        Ok((self.count, self.range.root()?, self.leaves))
    }
}

/// A source of bytes with a sliding window.
pub trait Input {
    /// Makes at least `want` bytes pending, unless the input ends first.
    fn fill(&mut self, want: usize) -> Result<()>;
    fn pending(&self) -> &[u8];
    /// True when `pending()` reaches the end of the input.
    fn exhausted(&self) -> bool;
    fn consume(&mut self, n: usize);
}

/// An in-memory input (no copies).
pub struct SliceInput<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> SliceInput<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        SliceInput { data, pos: 0 }
    }
}

impl Input for SliceInput<'_> {
    fn fill(&mut self, _want: usize) -> Result<()> {
        Ok(())
    }
    fn pending(&self) -> &[u8] {
        &self.data[self.pos..]
    }
    fn exhausted(&self) -> bool {
        true
    }
    fn consume(&mut self, n: usize) {
        self.pos += n;
    }
}

/// A streamed input over any `Read` (files are read directly by Rust).
pub struct ReadInput<R: Read> {
    r: R,
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    eof: bool,
}

impl<R: Read> ReadInput<R> {
    pub fn new(r: R) -> Self {
        ReadInput { r, buf: Vec::new(), start: 0, filled: 0, eof: false }
    }
}

impl<R: Read> Input for ReadInput<R> {
    fn fill(&mut self, want: usize) -> Result<()> {
        if self.filled - self.start >= want || self.eof {
            return Ok(());
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
        }
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        while self.filled < want {
            match self.r.read(&mut self.buf[self.filled..want]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => self.filled += k.min(want - self.filled),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Io(e)),
            }
        }
        Ok(())
    }
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.filled]
    }
    fn exhausted(&self) -> bool {
        self.eof
    }
    fn consume(&mut self, n: usize) {
        self.start += n;
    }
}

struct Table {
    ncols: usize,
    layout: MapLayout,
    columns: Vec<String>,
}

struct State<'o> {
    opts: &'o Options,
    max_record: usize,
    piece: usize,
    table: Option<Table>,
    acc: Accumulator,
    /// LFs in the input before the current chunk.
    lines: u64,
}

struct Batch {
    rows: EncodedRows,
    lines: u64,
    err: Option<Located>,
}

fn parse_batch(buf: &[u8], b0: usize, eof: bool, table: &Table, max_record: usize) -> Batch {
    let bad = first_invalid_utf8(&buf[b0..], eof).map(|p| p + b0);
    let mut f = Fields::with_cap(table.ncols + 1);
    let seg = buf.len() - b0;
    let mut rows = EncodedRows { cbor: Vec::with_capacity(seg + seg / 4 + 64), ends: Vec::with_capacity(seg / 64 + 1) };
    let mut err = None;
    let mut pos = b0;
    while pos < buf.len() {
        match parse_record(buf, pos, eof, max_record, bad.filter(|&p| p >= pos), &mut f) {
            Ok(Outcome::Empty { end }) => pos = end,
            Ok(Outcome::Record { end }) => {
                if f.count() != table.ncols {
                    err = Some(ragged(pos, table.ncols, f.count()));
                    break;
                }
                table.layout.encode(&mut rows.cbor, |i| f.get(buf, i));
                rows.ends.push(rows.cbor.len());
                pos = end;
            }
            Ok(Outcome::Incomplete) => {
                // Only reachable when quote parity was already broken by an earlier (reported) error.
                err = Some(Located { at: pos, kind: CsvErrorKind::Quote, message: "record crosses a batch boundary".into() });
                break;
            }
            Err(l) => {
                err = Some(l);
                break;
            }
        }
    }
    Batch { rows, lines: count_lines(&buf[b0..]), err }
}

fn ragged(at: usize, want: usize, got: usize) -> Located {
    Located { at, kind: CsvErrorKind::RaggedRow, message: format!("expected {want} fields, got {got}") }
}

impl State<'_> {
    fn error(&self, chunk: &[u8], l: Located) -> Error {
        let line = self.lines + count_lines(&chunk[..l.at.min(chunk.len())]) + 1;
        Error::csv(line, l.kind, l.message)
    }

    fn make_table(&self, buf: &[u8], f: &Fields, at: usize) -> std::result::Result<Table, Located> {
        let loc = |kind, message: String| Located { at, kind, message };
        if f.count() > MAX_COLUMNS {
            return Err(loc(CsvErrorKind::TooLarge, format!("header has more than {MAX_COLUMNS} columns")));
        }
        let mut names = Vec::with_capacity(f.count());
        for i in 0..f.count() {
            // The record passed the UTF-8 check, so this cannot fail; stay panic-free regardless.
            let s = std::str::from_utf8(f.get(buf, i))
                .map_err(|_| loc(CsvErrorKind::InvalidUtf8, "invalid UTF-8 in the header".into()))?;
            names.push(s.to_owned());
        }
        let mut seen = HashSet::with_capacity(names.len());
        for n in &names {
            if !seen.insert(n.as_str()) {
                return Err(loc(CsvErrorKind::DuplicateColumn, format!("column \"{n}\" appears more than once")));
            }
        }
        let selected: Vec<usize> = match &self.opts.columns {
            None => (0..names.len()).collect(),
            Some(cols) => {
                for c in cols {
                    if !seen.contains(c.as_str()) {
                        return Err(loc(CsvErrorKind::UnknownColumn, format!("column \"{c}\" is not in the header")));
                    }
                }
                let want: HashSet<&str> = cols.iter().map(String::as_str).collect();
                (0..names.len()).filter(|&i| want.contains(names[i].as_str())).collect()
            }
        };
        let keys: Vec<&str> = selected.iter().map(|&i| names[i].as_str()).collect();
        let layout = MapLayout::new(&keys, &selected).map_err(|e| loc(CsvErrorKind::DuplicateColumn, e.to_string()))?;
        let columns = keys.iter().map(|s| s.to_string()).collect();
        Ok(Table { ncols: names.len(), layout, columns })
    }

    /// Processes `chunk` (starts at a record start, ends at a record boundary or, with `eof`, the input's end).
    fn process(&mut self, chunk: &[u8], eof: bool) -> Result<()> {
        let mut pos = 0;
        if self.table.is_none() {
            let bad = first_invalid_utf8(chunk, eof);
            let mut f = Fields::with_cap(MAX_COLUMNS + 1);
            loop {
                if pos >= chunk.len() {
                    self.lines += count_lines(chunk);
                    return Ok(());
                }
                match parse_record(chunk, pos, eof, self.max_record, bad.filter(|&b| b >= pos), &mut f) {
                    Ok(Outcome::Empty { end }) => pos = end,
                    Ok(Outcome::Record { end }) => {
                        let table = self.make_table(chunk, &f, pos).map_err(|l| self.error(chunk, l))?;
                        self.table = Some(table);
                        pos = end;
                        break;
                    }
                    Ok(Outcome::Incomplete) => {
                        return Err(self.error(
                            chunk,
                            Located { at: pos, kind: CsvErrorKind::Quote, message: "incomplete header record".into() },
                        ))
                    }
                    Err(l) => return Err(self.error(chunk, l)),
                }
            }
        }
        let Some(table) = self.table.as_ref() else {
            return Ok(());
        };
        let head_lines = count_lines(&chunk[..pos]);
        let ends: Vec<usize> =
            batch_ends(&chunk[pos..], chunk.len() - pos, self.piece).into_iter().map(|e| e + pos).collect();
        let starts: Vec<usize> = std::iter::once(pos).chain(ends.iter().copied()).collect();
        let last = ends.len().saturating_sub(1);
        let max_record = self.max_record;
        let batches: Vec<Batch> = (0..ends.len())
            .into_par_iter()
            .map(|j| parse_batch(&chunk[..ends[j]], starts[j], eof && j == last, table, max_record))
            .collect();
        if let Some(l) = batches.iter().find_map(|b| b.err.clone()) {
            return Err(self.error(chunk, l));
        }
        let rows: Vec<EncodedRows> = batches.iter().map(|_| EncodedRows::default()).collect();
        let mut rows = rows;
        let mut lines = head_lines;
        for (slot, b) in rows.iter_mut().zip(batches) {
            lines += b.lines;
            *slot = b.rows;
        }
        self.acc.absorb(&rows)?;
        self.lines += lines;
        Ok(())
    }

    /// Called when no record ends within the record limit: reports what is wrong with the first record, or returns
    /// its end if it does end after all.
    fn first_record_problem(&self, win: &[u8]) -> Result<usize> {
        let bad = first_invalid_utf8(win, false);
        let mut f = Fields::with_cap(MAX_COLUMNS + 1);
        let mut pos = 0;
        loop {
            match parse_record(win, pos, false, self.max_record, bad.filter(|&b| b >= pos), &mut f) {
                Ok(Outcome::Empty { end }) if end < win.len() => pos = end,
                Ok(Outcome::Empty { end }) | Ok(Outcome::Record { end }) => return Ok(end),
                Ok(Outcome::Incomplete) => {
                    let l = Located {
                        at: pos,
                        kind: CsvErrorKind::TooLarge,
                        message: format!("record is longer than {} bytes", self.max_record),
                    };
                    return Err(self.error(win, l));
                }
                Err(l) => return Err(self.error(win, l)),
            }
        }
    }
}

/// Commits a CSV input. `progress(bytes_consumed)` is called after each chunk; an error from it aborts.
pub fn commit_csv(input: &mut dyn Input, opts: &Options, progress: &mut dyn FnMut(u64) -> Result<()>) -> Result<Output> {
    if let Some(cols) = &opts.columns {
        check_selection(cols)?;
    }
    let chunk = if opts.chunk_size == 0 { DEFAULT_CHUNK } else { opts.chunk_size };
    let max_record = if opts.max_record == 0 { DEFAULT_MAX_RECORD } else { opts.max_record };
    let cap = max_record.saturating_add(8).max(chunk);
    let mut st = State {
        opts,
        max_record,
        piece: (chunk / 4).clamp(1, PIECE),
        table: None,
        acc: Accumulator::new(opts.alg, opts.salt_key, opts.retain_leaves),
        lines: 0,
    };
    let mut consumed: u64 = 0;
    input.fill(BOM.len())?;
    if input.pending().starts_with(BOM) {
        input.consume(BOM.len());
        consumed = BOM.len() as u64;
    }
    let mut want = chunk;
    loop {
        input.fill(want)?;
        let split = {
            let pend = input.pending();
            if pend.is_empty() && input.exhausted() {
                break;
            }
            let wlen = pend.len().min(want);
            let win = &pend[..wlen];
            let win_eof = wlen == pend.len() && input.exhausted();
            let split = if win_eof {
                wlen
            } else {
                match last_boundary(win) {
                    Some(s) => s,
                    None if wlen < cap => {
                        want = want.saturating_mul(2).min(cap);
                        continue;
                    }
                    None => st.first_record_problem(win)?,
                }
            };
            st.process(&win[..split], win_eof && split == wlen)?;
            split
        };
        input.consume(split);
        consumed += split as u64;
        want = chunk;
        progress(consumed)?;
    }
    let Some(table) = st.table else {
        return Err(Error::csv(1, CsvErrorKind::MissingHeader, "no header row (the input has no records)"));
    };
    let (count, root, leaves) = st.acc.finish()?;
    Ok(Output { columns: table.columns, count, root, leaves })
}

/// Convenience: commits an in-memory CSV.
pub fn commit_bytes(data: &[u8], opts: &Options) -> Result<Output> {
    commit_csv(&mut SliceInput::new(data), opts, &mut |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::cbor::encode_text_map;
    use crate::merkle::root_of_leaf_hashes;

    fn opts(alg: HashAlg) -> Options {
        Options { retain_leaves: true, ..Options::new(alg) }
    }

    /// Straightforward oracle: split lines, no quotes.
    fn oracle(alg: HashAlg, text: &str, key: Option<[u8; 32]>) -> Digest {
        let mut lines = text.lines().filter(|l| !l.is_empty());
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let leaves: Vec<Digest> = lines
            .enumerate()
            .map(|(i, l)| {
                let pairs: Vec<(&str, &str)> = header.iter().copied().zip(l.split(',')).collect();
                let cbor = encode_text_map(&pairs).unwrap();
                let salt = key.map(|k| row_salt(&k, i as u64));
                row_leaf(alg, salt.as_ref(), &cbor)
            })
            .collect();
        root_of_leaf_hashes(alg, &leaves)
    }

    #[test]
    fn matches_oracle_for_every_chunk_size() {
        let mut text = String::from("name,jurisdiction,tier\n");
        for i in 0..300 {
            text.push_str(&format!("Supplier {i},DE,TIER_{}\n", i % 3));
            if i % 17 == 0 {
                text.push('\n');
            }
        }
        for alg in HashAlg::ALL {
            for key in [None, Some([9u8; 32])] {
                let want = oracle(alg, &text, key);
                for chunk in [7usize, 64, 100, 1000, 0] {
                    let o = Options { chunk_size: chunk, salt_key: key, ..opts(alg) };
                    let got = commit_bytes(text.as_bytes(), &o).unwrap();
                    assert_eq!(got.root, want, "chunk {chunk}");
                    assert_eq!(got.count, 300);
                    let got = commit_csv(&mut ReadInput::new(text.as_bytes()), &o, &mut |_| Ok(())).unwrap();
                    assert_eq!(got.root, want, "reader chunk {chunk}");
                }
            }
        }
    }

    #[test]
    fn quoted_newlines_across_chunks_and_errors_with_lines() {
        let text = "a,b\n\"x\ny\",\"1,2\"\n\"p\"\"q\",r\n";
        let base = commit_bytes(text.as_bytes(), &opts(HashAlg::Sha256)).unwrap();
        assert_eq!(base.count, 2);
        for chunk in 1..12 {
            let o = Options { chunk_size: chunk, ..opts(HashAlg::Sha256) };
            let got = commit_csv(&mut ReadInput::new(text.as_bytes()), &o, &mut |_| Ok(())).unwrap();
            assert_eq!(got.root, base.root, "chunk {chunk}");
        }
        let bad = "a,b\n1,2\n\n3\n";
        match commit_bytes(bad.as_bytes(), &opts(HashAlg::Blake3)) {
            Err(Error::Csv { line, kind, .. }) => assert_eq!((line, kind), (4, CsvErrorKind::RaggedRow)),
            other => panic!("{other:?}"),
        }
        match commit_bytes(b"\n\n", &opts(HashAlg::Blake3)) {
            Err(Error::Csv { kind, .. }) => assert_eq!(kind, CsvErrorKind::MissingHeader),
            other => panic!("{other:?}"),
        }
        match commit_bytes(b"a,a\n", &opts(HashAlg::Blake3)) {
            Err(Error::Csv { kind, line, .. }) => assert_eq!((line, kind), (1, CsvErrorKind::DuplicateColumn)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oversized_records_are_rejected_without_unbounded_buffering() {
        let mut text = b"a\nshort\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 1000));
        text.push(b'\n');
        let o = Options { chunk_size: 16, max_record: 100, ..opts(HashAlg::Blake3) };
        match commit_csv(&mut ReadInput::new(&text[..]), &o, &mut |_| Ok(())) {
            Err(Error::Csv { line, kind, .. }) => assert_eq!((line, kind), (3, CsvErrorKind::TooLarge)),
            other => panic!("{other:?}"),
        }
    }
}
