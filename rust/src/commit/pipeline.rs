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
    batch_plan, count_lines, first_invalid_utf8, last_boundary, parse_record, Fields, Located, Outcome,
    DEFAULT_MAX_RECORD, MAX_COLUMNS,
};
use super::salt::{row_salt, SALT_DOMAIN};
use crate::error::{CsvErrorKind, Error, Result};
use crate::hash::{b3x8, sha3x8};
use crate::hash::{Digest, HashAlg, LEAF_PREFIX};
use crate::merkle::{compact_range_of, decompose, perfect_root_with, CompactRange};
use rayon::prelude::*;
use std::collections::HashSet;
use std::io::Read;
use std::mem::MaybeUninit;

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
        Options {
            alg,
            columns: None,
            salt_key: None,
            retain_leaves: false,
            chunk_size: 0,
            max_record: 0,
        }
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

    /// Appends rows already hashed by their compact range (starting at `self.count()`); their leaf hashes, if
    /// retained, are the caller's to add.
    fn append_range(&mut self, range: &CompactRange) -> Result<()> {
        self.range.append(range)?;
        self.count = range.end();
        Ok(())
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
    /// Runs `work` on `pending()[..n]`, then consumes those `n` bytes. Inputs that read may use the time `work`
    /// takes to read ahead, so that at least `ahead` bytes are pending afterwards unless the input ends first.
    fn process_and_consume(&mut self, n: usize, ahead: usize, work: &mut ChunkWork<'_>) -> Result<()> {
        let _ = ahead;
        let r = work(&self.pending()[..n]);
        self.consume(n);
        r
    }
}

/// The per-chunk work run by `Input::process_and_consume` (possibly next to a read on another thread).
pub type ChunkWork<'a> = dyn FnMut(&[u8]) -> Result<()> + Send + 'a;

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

/// A streamed input over any `Read` (files are read directly by Rust). With `with_read_ahead`, the next chunk is
/// read into a second buffer on another thread while the current one is processed (`process_and_consume`); that is
/// only for readers whose reads have no visible side effects (files), since it changes when they happen.
pub struct ReadInput<R: Read> {
    r: R,
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    eof: bool,
    spare: Vec<u8>,
    ahead: bool,
}

impl<R: Read> ReadInput<R> {
    pub fn new(r: R) -> Self {
        ReadInput {
            r,
            buf: Vec::new(),
            start: 0,
            filled: 0,
            eof: false,
            spare: Vec::new(),
            ahead: false,
        }
    }

    /// Reads the next chunk while the current one is processed.
    pub fn with_read_ahead(mut self) -> Self {
        self.ahead = true;
        self
    }
}

/// Reads into `buf[filled..want]` until it is full or the reader ends: (new `filled`, reached the end).
fn read_until<R: Read>(r: &mut R, buf: &mut [u8], mut filled: usize, want: usize) -> Result<(usize, bool)> {
    while filled < want {
        match r.read(&mut buf[filled..want]) {
            Ok(0) => return Ok((filled, true)),
            Ok(k) => filled += k.min(want - filled),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Io(e)),
        }
    }
    Ok((filled, false))
}

impl<R: Read + Send> Input for ReadInput<R> {
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
        let (filled, eof) = read_until(&mut self.r, &mut self.buf, self.filled, want)?;
        self.filled = filled;
        self.eof = eof;
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
    fn process_and_consume(&mut self, n: usize, ahead: usize, work: &mut ChunkWork<'_>) -> Result<()> {
        let from = self.start + n;
        let tail = self.filled - from;
        if !self.ahead || self.eof || tail >= ahead {
            let r = work(&self.buf[self.start..from]);
            self.start = from;
            return r;
        }
        // The next window starts with the unconsumed tail; the rest is read while `work` runs.
        if self.spare.len() < ahead {
            self.spare.resize(ahead, 0);
        }
        self.spare[..tail].copy_from_slice(&self.buf[from..self.filled]);
        let (cur, spare, r) = (&self.buf[self.start..from], &mut self.spare, &mut self.r);
        let (done, read) = rayon::join(|| work(cur), || read_until(r, spare, tail, ahead));
        std::mem::swap(&mut self.buf, &mut self.spare);
        self.start = 0;
        // After a read error the window is left empty: the error is returned and the input is not used again.
        (self.filled, self.eof) = match &read {
            Ok((filled, eof)) => (*filled, *eof),
            Err(_) => (0, true),
        };
        done?;
        read.map(|_| ())
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
    pool: Vec<Work>,
}

/// One parallel batch's buffers, pooled across chunks so that steady-state processing allocates nothing.
#[derive(Default)]
struct Work {
    /// The rows' leaf messages back to back: `0x00 ‖ [salt ‖] cbor` (the salt bytes are filled in by `hash_batch`).
    msgs: Vec<u8>,
    /// End offset of each row's message in `msgs`.
    ends: Vec<usize>,
    leaves: Vec<Digest>,
    salt_msgs: Vec<[u8; SALT_MSG_LEN]>,
    salts: Vec<Digest>,
    level: Vec<Digest>,
    next: Vec<Digest>,
    /// LF bytes in the batch's input.
    lines: u64,
    err: Option<Located>,
    /// The rows' compact range, once hashed (at the index the batch was hashed for).
    range: Option<(u64, CompactRange)>,
}

const SALT_MSG_LEN: usize = SALT_DOMAIN.len() + 8;
const SALT_LEN: usize = 32;

/// Parses, validates and encodes the records of `buf[b0..]` into `w` (stops at the first problem, kept in `w.err`).
fn parse_batch(w: &mut Work, buf: &[u8], b0: usize, eof: bool, table: &Table, max_record: usize, salted: bool) {
    w.msgs.clear();
    w.ends.clear();
    w.err = None;
    w.range = None;
    w.lines = count_lines(&buf[b0..]);
    let bad = first_invalid_utf8(&buf[b0..], eof).map(|p| p + b0);
    let mut f = Fields::with_cap(table.ncols + 1);
    let seg = buf.len() - b0;
    w.msgs.reserve(seg + seg / 4 + 64 + if salted { seg / 2 } else { 0 });
    let mut pos = b0;
    while pos < buf.len() {
        match parse_record(buf, pos, eof, max_record, bad.filter(|&p| p >= pos), &mut f) {
            Ok(Outcome::Empty { end }) => pos = end,
            Ok(Outcome::Record { end }) => {
                if f.count() != table.ncols {
                    w.err = Some(ragged(pos, table.ncols, f.count()));
                    return;
                }
                w.msgs.push(LEAF_PREFIX);
                if salted {
                    w.msgs.extend_from_slice(&[0u8; SALT_LEN]);
                }
                table.layout.encode(&mut w.msgs, |i| f.get(buf, i));
                w.ends.push(w.msgs.len());
                pos = end;
            }
            Ok(Outcome::Incomplete) => {
                // Only reachable when quote parity was already broken by an earlier (reported) error.
                w.err = Some(Located {
                    at: pos,
                    kind: CsvErrorKind::Quote,
                    message: "record crosses a batch boundary".into(),
                });
                return;
            }
            Err(l) => {
                w.err = Some(l);
                return;
            }
        }
    }
}

/// Fills in the salts (rows numbered from `first`), hashes the leaves and computes the batch's compact range.
fn hash_batch(w: &mut Work, alg: HashAlg, key: Option<&[u8; 32]>, first: u64) -> Result<()> {
    let n = w.ends.len();
    let start = |k: usize| if k == 0 { 0 } else { w.ends[k - 1] };
    if let Some(key) = key {
        w.salt_msgs.clear();
        w.salt_msgs.extend((0..n as u64).map(|k| {
            let mut m = [0u8; SALT_MSG_LEN];
            m[..SALT_DOMAIN.len()].copy_from_slice(SALT_DOMAIN);
            m[SALT_DOMAIN.len()..].copy_from_slice(&(first + k).to_be_bytes());
            m
        }));
        w.salts.clear();
        let msgs = &w.salt_msgs;
        b3x8::hash_each(n, Some(key), |k| &msgs[k][..], &mut w.salts);
        for (k, salt) in w.salts.iter().enumerate() {
            let at = start(k) + 1;
            w.msgs[at..at + SALT_LEN].copy_from_slice(salt);
        }
    }
    w.leaves.clear();
    let (msgs, ends) = (&w.msgs, &w.ends);
    let msg = |k: usize| &msgs[if k == 0 { 0 } else { ends[k - 1] }..ends[k]];
    match alg {
        HashAlg::Blake3 => b3x8::hash_each(n, None, msg, &mut w.leaves),
        HashAlg::Sha3_256 => sha3x8::hash_each(n, msg, &mut w.leaves),
        HashAlg::Sha256 => w.leaves.extend((0..n).map(|k| alg.hash(msg(k)))),
    }
    let end = first + n as u64;
    let mut roots = Vec::new();
    for (s, lvl) in decompose(first, end) {
        let lo = (s - first) as usize;
        roots.push(perfect_root_with(
            alg,
            &w.leaves[lo..lo + (1usize << lvl)],
            &mut w.level,
            &mut w.next,
        ));
    }
    w.range = Some((first, CompactRange::from_parts(alg, first, end, roots)?));
    Ok(())
}

fn ragged(at: usize, want: usize, got: usize) -> Located {
    Located {
        at,
        kind: CsvErrorKind::RaggedRow,
        message: format!("expected {want} fields, got {got}"),
    }
}

impl State<'_> {
    fn error(&self, chunk: &[u8], l: Located) -> Error {
        let line = self.lines + count_lines(&chunk[..l.at.min(chunk.len())]) + 1;
        Error::csv(line, l.kind, l.message)
    }

    fn make_table(&self, buf: &[u8], f: &Fields, at: usize) -> std::result::Result<Table, Located> {
        let loc = |kind, message: String| Located { at, kind, message };
        if f.count() > MAX_COLUMNS {
            return Err(loc(
                CsvErrorKind::TooLarge,
                format!("header has more than {MAX_COLUMNS} columns"),
            ));
        }
        let mut names = Vec::with_capacity(f.count());
        for i in 0..f.count() {
            // The record passed the UTF-8 check, so this cannot fail; stay panic-free regardless.
            let s = std::str::from_utf8(f.get(buf, i))
                .map_err(|_| loc(CsvErrorKind::InvalidUtf8, "invalid UTF-8 in the header".into()))?;
            if s.contains('\u{feff}') {
                // A BOM inside the header (a second one after the skipped leading BOM, or files concatenated) would
                // silently become part of a column name.
                return Err(loc(
                    CsvErrorKind::ByteOrderMark,
                    format!(
                        "column \"{}\" contains a byte order mark (U+FEFF): remove it",
                        s.replace('\u{feff}', "")
                    ),
                ));
            }
            names.push(s.to_owned());
        }
        let mut seen = HashSet::with_capacity(names.len());
        for n in &names {
            if !seen.insert(n.as_str()) {
                return Err(loc(
                    CsvErrorKind::DuplicateColumn,
                    format!("column \"{n}\" appears more than once"),
                ));
            }
        }
        let selected: Vec<usize> = match &self.opts.columns {
            None => (0..names.len()).collect(),
            Some(cols) => {
                for c in cols {
                    if !seen.contains(c.as_str()) {
                        return Err(loc(
                            CsvErrorKind::UnknownColumn,
                            format!("column \"{c}\" is not in the header"),
                        ));
                    }
                }
                let want: HashSet<&str> = cols.iter().map(String::as_str).collect();
                (0..names.len()).filter(|&i| want.contains(names[i].as_str())).collect()
            }
        };
        let keys: Vec<&str> = selected.iter().map(|&i| names[i].as_str()).collect();
        let layout = MapLayout::new(&keys, &selected).map_err(|e| loc(CsvErrorKind::DuplicateColumn, e.to_string()))?;
        let columns = keys.iter().map(|s| s.to_string()).collect();
        Ok(Table {
            ncols: names.len(),
            layout,
            columns,
        })
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
                            Located {
                                at: pos,
                                kind: CsvErrorKind::Quote,
                                message: "incomplete header record".into(),
                            },
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
        // One parallel pass per chunk: each batch is parsed, encoded, salted and hashed, and its compact range
        // computed, at the row index predicted by the plan's record counts. A batch whose count differs from the
        // prediction (only possible for unusual line ends or malformed input) is hashed again below, together
        // with every batch after it whose start moved.
        let plan: Vec<(usize, usize, u64)> = {
            let mut from = pos;
            batch_plan(&chunk[pos..], chunk.len() - pos, self.piece)
                .into_iter()
                .map(|(e, n)| {
                    let b = (from, e + pos, n);
                    from = e + pos;
                    b
                })
                .collect()
        };
        #[cfg(test)]
        let plan: Vec<(usize, usize, u64)> = if tests::MISPREDICT.load(std::sync::atomic::Ordering::Relaxed) {
            plan.into_iter().map(|(a, b, n)| (a, b, n ^ (a as u64 & 1))).collect()
        } else {
            plan
        };
        let nb = plan.len();
        let mut firsts = Vec::with_capacity(nb);
        let mut next = self.acc.count();
        for &(_, _, n) in &plan {
            firsts.push(next);
            next = next.saturating_add(n);
        }
        if self.pool.len() < nb {
            self.pool.resize_with(nb, Work::default);
        }
        let mut works = self.pool.split_off(self.pool.len() - nb);
        let (alg, key, max_record) = (self.opts.alg, self.opts.salt_key, self.max_record);
        let salted = key.is_some();
        // Retained leaves are written in place, by the batches themselves, at their predicted positions; they only
        // count (`set_len`) if every prediction held.
        let predicted = (next - self.acc.count()) as usize;
        let mut retained = self.acc.leaves.take();
        let results: Vec<Result<()>> = {
            let mut slots: Vec<&mut [MaybeUninit<Digest>]> = Vec::with_capacity(nb);
            match retained.as_mut() {
                Some(all) => {
                    all.reserve(predicted);
                    let mut rest = &mut all.spare_capacity_mut()[..predicted];
                    for &(_, _, n) in &plan {
                        let (slot, tail) = rest.split_at_mut(n as usize);
                        slots.push(slot);
                        rest = tail;
                    }
                }
                None => slots.resize_with(nb, || &mut []),
            }
            works
                .par_iter_mut()
                .zip(slots.par_iter_mut())
                .enumerate()
                .map(|(j, (w, slot))| {
                    let (b0, b1, n) = plan[j];
                    parse_batch(w, &chunk[..b1], b0, eof && j + 1 == nb, table, max_record, salted);
                    if w.err.is_none() && w.ends.len() as u64 == n {
                        hash_batch(w, alg, key.as_ref(), firsts[j])?;
                        for (d, s) in slot.iter_mut().zip(&w.leaves) {
                            d.write(*s);
                        }
                    }
                    Ok(())
                })
                .collect()
        };
        let outcome = self.absorb_works(chunk, &mut works, results, head_lines, retained.as_mut(), predicted);
        self.acc.leaves = retained;
        self.pool.append(&mut works);
        outcome
    }

    /// Reports the first parse error of the batches, or re-hashes mispredicted batches and appends all in order.
    fn absorb_works(
        &mut self,
        chunk: &[u8],
        works: &mut [Work],
        results: Vec<Result<()>>,
        head_lines: u64,
        retained: Option<&mut Vec<Digest>>,
        predicted: usize,
    ) -> Result<()> {
        if let Some(l) = works.iter().find_map(|w| w.err.clone()) {
            return Err(self.error(chunk, l));
        }
        results.into_iter().collect::<Result<Vec<()>>>()?;
        let mut actual = Vec::with_capacity(works.len());
        let mut next = self.acc.count();
        for w in works.iter() {
            actual.push(next);
            next += w.ends.len() as u64;
        }
        let stale = |w: &Work, first: u64| w.range.as_ref().map(|r| r.0) != Some(first);
        let predicted_right = works.iter().zip(&actual).all(|(w, &first)| !stale(w, first));
        let (alg, key) = (self.opts.alg, self.opts.salt_key);
        works
            .par_iter_mut()
            .zip(actual.par_iter())
            .filter(|(w, &first)| stale(w, first))
            .map(|(w, &first)| hash_batch(w, alg, key.as_ref(), first))
            .collect::<Result<Vec<()>>>()?;
        let mut retained = retained;
        if predicted_right {
            if let Some(all) = retained.take() {
                debug_assert_eq!(next - self.acc.count(), predicted as u64);
                // SAFETY: every batch was hashed at its predicted first row with its predicted row count, and wrote
                // its leaves to its slot; the slots tile `all`'s spare capacity `[len, len + predicted)` exactly.
                unsafe { all.set_len(all.len() + predicted) };
            }
        }
        let mut lines = head_lines;
        for w in works.iter() {
            lines += w.lines;
            if let Some((_, range)) = &w.range {
                self.acc.append_range(range)?;
                if let Some(all) = retained.as_mut() {
                    all.extend_from_slice(&w.leaves);
                }
            }
        }
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
pub fn commit_csv(
    input: &mut dyn Input,
    opts: &Options,
    progress: &mut dyn FnMut(u64) -> Result<()>,
) -> Result<Output> {
    if let Some(cols) = &opts.columns {
        check_selection(cols)?;
    }
    let chunk = if opts.chunk_size == 0 {
        DEFAULT_CHUNK
    } else {
        opts.chunk_size
    };
    let max_record = if opts.max_record == 0 {
        DEFAULT_MAX_RECORD
    } else {
        opts.max_record
    };
    let cap = max_record.saturating_add(8).max(chunk);
    let mut st = State {
        opts,
        max_record,
        piece: (chunk / 4).clamp(1, PIECE),
        table: None,
        acc: Accumulator::new(opts.alg, opts.salt_key, opts.retain_leaves),
        lines: 0,
        pool: Vec::new(),
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
            (split, win_eof && split == wlen)
        };
        let (split, eof) = split;
        input.process_and_consume(split, chunk, &mut |data: &[u8]| st.process(data, eof))?;
        consumed += split as u64;
        want = chunk;
        progress(consumed)?;
    }
    let Some(table) = st.table else {
        return Err(Error::csv(
            1,
            CsvErrorKind::MissingHeader,
            "no header row (the input has no records)",
        ));
    };
    let (count, root, leaves) = st.acc.finish()?;
    Ok(Output {
        columns: table.columns,
        count,
        root,
        leaves,
    })
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

    /// Test hook: perturbs the planned record counts so that the re-hashing fallback runs (results must not change).
    pub(super) static MISPREDICT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    fn opts(alg: HashAlg) -> Options {
        Options {
            retain_leaves: true,
            ..Options::new(alg)
        }
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
                    let o = Options {
                        chunk_size: chunk,
                        salt_key: key,
                        ..opts(alg)
                    };
                    let got = commit_bytes(text.as_bytes(), &o).unwrap();
                    assert_eq!(got.root, want, "chunk {chunk}");
                    assert_eq!(got.count, 300);
                    let got = commit_csv(&mut ReadInput::new(text.as_bytes()), &o, &mut |_| Ok(())).unwrap();
                    assert_eq!(got.root, want, "reader chunk {chunk}");
                    let mut ahead = ReadInput::new(text.as_bytes()).with_read_ahead();
                    let got = commit_csv(&mut ahead, &o, &mut |_| Ok(())).unwrap();
                    assert_eq!(got.root, want, "read-ahead chunk {chunk}");
                }
            }
        }
    }

    #[test]
    fn mispredicted_batches_are_rehashed_at_their_true_rows() {
        let mut text = String::from("name,tier\n");
        for i in 0..500 {
            text.push_str(&format!("S {i},T{}\n", i % 3));
        }
        MISPREDICT.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut got = Vec::new();
        for key in [None, Some([3u8; 32])] {
            for chunk in [100usize, 1000, 0] {
                let o = Options {
                    chunk_size: chunk,
                    salt_key: key,
                    ..opts(HashAlg::Blake3)
                };
                got.push((key, commit_bytes(text.as_bytes(), &o).unwrap()));
            }
        }
        MISPREDICT.store(false, std::sync::atomic::Ordering::Relaxed);
        for (key, out) in got {
            assert_eq!(out.root, oracle(HashAlg::Blake3, &text, key));
            assert_eq!(out.count, 500);
            let leaves = out.leaves.unwrap();
            assert_eq!(root_of_leaf_hashes(HashAlg::Blake3, &leaves), out.root);
        }
    }

    #[test]
    fn quoted_newlines_across_chunks_and_errors_with_lines() {
        let text = "a,b\n\"x\ny\",\"1,2\"\n\"p\"\"q\",r\n";
        let base = commit_bytes(text.as_bytes(), &opts(HashAlg::Sha256)).unwrap();
        assert_eq!(base.count, 2);
        for chunk in 1..12 {
            let o = Options {
                chunk_size: chunk,
                ..opts(HashAlg::Sha256)
            };
            let got = commit_csv(&mut ReadInput::new(text.as_bytes()), &o, &mut |_| Ok(())).unwrap();
            assert_eq!(got.root, base.root, "chunk {chunk}");
            let mut ahead = ReadInput::new(text.as_bytes()).with_read_ahead();
            let got = commit_csv(&mut ahead, &o, &mut |_| Ok(())).unwrap();
            assert_eq!(got.root, base.root, "read-ahead chunk {chunk}");
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
        // one leading BOM is skipped; a second one would become part of the first column's name
        assert!(commit_bytes(b"\xEF\xBB\xBFa,b\n1,2\n", &opts(HashAlg::Blake3)).is_ok());
        for bad in [&b"\xEF\xBB\xBF\xEF\xBB\xBFa,b\n1,2\n"[..], b"a,\xEF\xBB\xBFb\n1,2\n"] {
            match commit_bytes(bad, &opts(HashAlg::Blake3)) {
                Err(Error::Csv { kind, line, .. }) => assert_eq!((line, kind), (1, CsvErrorKind::ByteOrderMark)),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn oversized_records_are_rejected_without_unbounded_buffering() {
        let mut text = b"a\nshort\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 1000));
        text.push(b'\n');
        let o = Options {
            chunk_size: 16,
            max_record: 100,
            ..opts(HashAlg::Blake3)
        };
        match commit_csv(&mut ReadInput::new(&text[..]), &o, &mut |_| Ok(())) {
            Err(Error::Csv { line, kind, .. }) => assert_eq!((line, kind), (3, CsvErrorKind::TooLarge)),
            other => panic!("{other:?}"),
        }
    }
}
