//! capfast's CSV dialect: a strict RFC 4180 record parser and a parallel, quote-aware record-boundary finder.
//!
//! The dialect (both backends implement exactly this):
//! * fields are separated by `,`; a field is either unquoted (no `"`, `,`, CR or LF inside) or enclosed in `"`
//!   with `""` standing for one `"`; quoted fields may hold commas, CR and LF. A `"` inside an unquoted field is an
//!   error ("malformed quoting"), as is anything but `,`, a line end or the end of input after a closing quote,
//!   and a quoted field still open at the end of input.
//! * records end with LF or CRLF (any run of CRs directly before the LF is part of the line end, and a final
//!   record may end with CRs or nothing at the end of input). A CR followed by anything else outside quotes is an
//!   error ("malformed line ending"). Lines that are completely empty (nothing but their line end) are skipped.
//! * no trimming: spaces are data.
//! * a record (from its first byte through its line end) longer than `max_record` bytes is "too large".
//!
//! Errors are reported for the first record that has one. Within that record the earliest problem wins, where an
//! invalid UTF-8 byte at or before the point a syntax error is detected takes precedence.

use crate::error::CsvErrorKind;
use rayon::prelude::*;

/// Default limit on one record's size (bytes from its first byte through its line end).
pub const DEFAULT_MAX_RECORD: usize = 64 << 20;
/// No header may declare more columns than this.
pub const MAX_COLUMNS: usize = 1 << 16;

/// A parse problem at a byte position of the buffer being parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// Position whose line is reported.
    pub at: usize,
    pub kind: CsvErrorKind,
    pub message: String,
}

impl Located {
    fn new(at: usize, kind: CsvErrorKind, message: impl Into<String>) -> Self {
        Located {
            at,
            kind,
            message: message.into(),
        }
    }
}

/// Result of parsing one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A completely empty line; `end` is just after its line end.
    Empty { end: usize },
    /// A record whose fields are in the `Fields`; `end` is just after its line end (or the end of input).
    Record { end: usize },
    /// The buffer ends inside the record (only when not at the end of input).
    Incomplete,
}

/// Reusable storage for one record's fields: spans into the source, or into `scratch` for quoted fields with
/// `""` escapes. Only the first `cap` fields are kept; `count` counts them all.
#[derive(Debug, Default)]
pub struct Fields {
    spans: Vec<(usize, usize, bool)>,
    scratch: Vec<u8>,
    count: usize,
    cap: usize,
}

impl Fields {
    pub fn with_cap(cap: usize) -> Self {
        Fields {
            spans: Vec::with_capacity(cap.min(1024)),
            scratch: Vec::new(),
            count: 0,
            cap,
        }
    }
    fn clear(&mut self) {
        self.spans.clear();
        self.scratch.clear();
        self.count = 0;
    }
    #[inline]
    fn push(&mut self, start: usize, end: usize, in_scratch: bool) {
        if self.spans.len() < self.cap {
            self.spans.push((start, end, in_scratch));
        }
        self.count += 1;
    }
    pub fn count(&self) -> usize {
        self.count
    }
    /// Bytes of kept field `i` (`i < min(count, cap)`), given the buffer the record was parsed from.
    #[inline]
    pub fn get<'a>(&'a self, buf: &'a [u8], i: usize) -> &'a [u8] {
        let (s, e, scratch) = self.spans[i];
        if scratch {
            &self.scratch[s..e]
        } else {
            &buf[s..e]
        }
    }
}

/// Bytes that end an unquoted field or make it malformed.
static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b',' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'"' as usize] = true;
    t
};

/// Position of the first `SPECIAL` byte at or after `j` (`buf.len()` if none), 16 bytes per step where possible.
#[inline]
fn find_special(buf: &[u8], mut j: usize) -> usize {
    let n = buf.len();
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86_64 baseline, so the intrinsics are always available; every load reads
        // the 16 bytes at `j` with `j + 16 <= buf.len()`, inside `buf` (unaligned loads).
        unsafe {
            let comma = _mm_set1_epi8(b',' as i8);
            let lf = _mm_set1_epi8(b'\n' as i8);
            let cr = _mm_set1_epi8(b'\r' as i8);
            let quote = _mm_set1_epi8(b'"' as i8);
            while j + 16 <= n {
                let v = _mm_loadu_si128(buf.as_ptr().add(j) as *const __m128i);
                let hit = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, lf)),
                    _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, quote)),
                );
                let mask = _mm_movemask_epi8(hit) as u32;
                if mask != 0 {
                    return j + mask.trailing_zeros() as usize;
                }
                j += 16;
            }
        }
    }
    while j < n && !SPECIAL[buf[j] as usize] {
        j += 1;
    }
    j
}

const MSG_STRAY: &str = "'\"' inside an unquoted field (enclose the field in quotes and double the quote)";
const MSG_AFTER_CLOSE: &str =
    "unexpected character after a closing quote (expected ',', a line end or the end of input)";
const MSG_UNTERMINATED: &str = "quoted field is not closed before the end of the input";
const MSG_BARE_CR: &str = "carriage return not followed by a line feed";

/// Syntax-only parse of the record starting at `start`. `eof`: `buf` ends where the input ends.
/// On error returns `(problem, detected_at)` where `detected_at` is the byte at which the problem was found
/// (`buf.len()` for an unterminated quote).
fn parse_syntax(buf: &[u8], start: usize, eof: bool, f: &mut Fields) -> Result<Outcome, (Located, usize)> {
    f.clear();
    let n = buf.len();
    // Line end at `i` (buf[i] is CR or LF): Ok(Some(end)) | Ok(None) = incomplete | Err.
    let line_end = |i: usize| -> Result<Option<usize>, (Located, usize)> {
        let mut j = i;
        while j < n && buf[j] == b'\r' {
            j += 1;
        }
        if j < n {
            if buf[j] == b'\n' {
                Ok(Some(j + 1))
            } else {
                Err((Located::new(j, CsvErrorKind::LineEnding, MSG_BARE_CR), j))
            }
        } else if eof {
            Ok(Some(n))
        } else {
            Ok(None)
        }
    };
    let mut i = start;
    if i < n && (buf[i] == b'\n' || buf[i] == b'\r') {
        return Ok(match line_end(i)? {
            Some(end) => Outcome::Empty { end },
            None => Outcome::Incomplete,
        });
    }
    loop {
        // START_FIELD at i.
        if i >= n {
            if !eof {
                return Ok(Outcome::Incomplete);
            }
            f.push(i, i, false);
            return Ok(Outcome::Record { end: n });
        }
        if buf[i] == b'"' {
            let open = i;
            let mut seg = i + 1;
            let mut j = i + 1;
            let mut scratch_from: Option<usize> = None;
            let close = loop {
                match memchr::memchr(b'"', &buf[j..]) {
                    None => {
                        if eof {
                            return Err((Located::new(open, CsvErrorKind::Quote, MSG_UNTERMINATED), n));
                        }
                        return Ok(Outcome::Incomplete);
                    }
                    Some(o) => {
                        let q = j + o;
                        if q + 1 < n && buf[q + 1] == b'"' {
                            scratch_from.get_or_insert(f.scratch.len());
                            f.scratch.extend_from_slice(&buf[seg..=q]);
                            j = q + 2;
                            seg = j;
                        } else if q + 1 >= n && !eof {
                            return Ok(Outcome::Incomplete);
                        } else {
                            break q;
                        }
                    }
                }
            };
            match scratch_from {
                None => f.push(open + 1, close, false),
                Some(from) => {
                    f.scratch.extend_from_slice(&buf[seg..close]);
                    let to = f.scratch.len();
                    f.push(from, to, true);
                }
            }
            i = close + 1;
            if i >= n {
                // `eof` must hold here (checked above).
                return Ok(Outcome::Record { end: n });
            }
            match buf[i] {
                b',' => i += 1,
                b'\n' => return Ok(Outcome::Record { end: i + 1 }),
                b'\r' => {
                    return Ok(match line_end(i)? {
                        Some(end) => Outcome::Record { end },
                        None => Outcome::Incomplete,
                    })
                }
                _ => return Err((Located::new(i, CsvErrorKind::Quote, MSG_AFTER_CLOSE), i)),
            }
        } else {
            let j = find_special(buf, i);
            if j < n && buf[j] == b'"' {
                return Err((Located::new(j, CsvErrorKind::Quote, MSG_STRAY), j));
            }
            f.push(i, j, false);
            if j >= n {
                if !eof {
                    return Ok(Outcome::Incomplete);
                }
                return Ok(Outcome::Record { end: n });
            }
            match buf[j] {
                b',' => i = j + 1,
                b'\n' => return Ok(Outcome::Record { end: j + 1 }),
                _ => {
                    return Ok(match line_end(j)? {
                        Some(end) => Outcome::Record { end },
                        None => Outcome::Incomplete,
                    })
                }
            }
        }
    }
}

/// First invalid UTF-8 byte of `s` (offset), ignoring a sequence cut off by the end of `s` unless `eof`.
pub fn first_invalid_utf8(s: &[u8], eof: bool) -> Option<usize> {
    // Fast yes/no check first (SIMD); only invalid input needs the exact position.
    if simdutf8::basic::from_utf8(s).is_ok() {
        return None;
    }
    match std::str::from_utf8(s) {
        Ok(_) => None,
        Err(e) => {
            if e.error_len().is_none() && !eof {
                None
            } else {
                Some(e.valid_up_to())
            }
        }
    }
}

/// Parses the record at `start` and applies the size limit and the UTF-8 rule. `bad_utf8` is the position of the
/// first invalid UTF-8 byte at or after `start` in `buf` (if any).
pub fn parse_record(
    buf: &[u8],
    start: usize,
    eof: bool,
    max_record: usize,
    bad_utf8: Option<usize>,
    f: &mut Fields,
) -> Result<Outcome, Located> {
    let limit = start.saturating_add(max_record); // first byte position beyond the limit
    let res = parse_syntax(buf, start, eof, f);
    // `reach`: one past the last byte the record occupies (complete) or the parser examined (error/incomplete).
    let (reach, syntax) = match &res {
        Ok(Outcome::Empty { end }) | Ok(Outcome::Record { end }) => (*end, None),
        Ok(Outcome::Incomplete) => (buf.len(), None),
        Err((loc, detected)) => (
            (*detected).saturating_add(1).min(buf.len().max(*detected)),
            Some(loc.clone()),
        ),
    };
    let too_large = reach > limit || (matches!(res, Ok(Outcome::Incomplete)) && buf.len() > limit);
    let examined = if too_large { limit.saturating_add(1) } else { reach };
    if let Some(p) = bad_utf8 {
        if p < examined {
            return Err(Located::new(
                p,
                CsvErrorKind::InvalidUtf8,
                format!("invalid UTF-8 byte 0x{:02x}", buf[p]),
            ));
        }
    }
    if too_large {
        return Err(Located::new(
            start,
            CsvErrorKind::TooLarge,
            format!("record is longer than {max_record} bytes"),
        ));
    }
    match syntax {
        Some(loc) => Err(loc),
        None => res.map_err(|(l, _)| l),
    }
}

/// Occurrences of `b` in `s`. Counts per byte lane in `u8` accumulators (flushed every 255 blocks) so that LLVM
/// vectorises the loop with byte compares and subtracts, not with 64-bit widening (~8× faster than a filter-count).
fn count_byte(s: &[u8], b: u8) -> usize {
    const W: usize = 32;
    let mut total = 0usize;
    let mut blocks = s.chunks_exact(W);
    loop {
        let mut acc = [0u8; W];
        let mut n = 0;
        for c in blocks.by_ref().take(255) {
            for i in 0..W {
                acc[i] = acc[i].wrapping_add(u8::from(c[i] == b));
            }
            n += 1;
        }
        total += acc.iter().map(|&x| x as usize).sum::<usize>();
        if n < 255 {
            break;
        }
    }
    total + blocks.remainder().iter().filter(|&&x| x == b).count()
}

/// Number of LF bytes in `s`.
pub fn count_lines(s: &[u8]) -> u64 {
    count_byte(s, b'\n') as u64
}

/// The last record boundary in `buf` (which starts at a record start), if any.
pub fn last_boundary(buf: &[u8]) -> Option<usize> {
    let total_odd = buf.par_chunks(256 << 10).map(|c| count_byte(c, b'"')).sum::<usize>() % 2 == 1;
    let mut after_odd = false; // parity of quotes in buf[p+1..]
    let mut end = buf.len();
    while end > 0 {
        let p = memchr::memrchr2(b'"', b'\n', &buf[..end])?;
        if buf[p] == b'"' {
            after_odd = !after_odd;
        } else if total_odd == after_odd {
            // quotes before p = total - after: even.
            return Some(p + 1);
        }
        end = p;
    }
    None
}

/// Whether the line starting at boundary `p` holds a record: lines that start with CR or LF are empty (or
/// malformed, which the parser reports), and the position `split` itself starts nothing.
#[inline]
fn starts_record(buf: &[u8], p: usize, split: usize) -> bool {
    p < split && buf[p] != b'\n' && buf[p] != b'\r'
}

/// Scans `buf[from..to]` given the quote parity at `from`: the first record boundary it owns (a boundary just after
/// an LF outside quotes in `[from, to)`, so in `(from, to]`), and how many of its boundaries start a record.
fn scan_piece(buf: &[u8], from: usize, to: usize, split: usize, mut odd: bool) -> (Option<usize>, u64) {
    let mut first = None;
    let mut records = 0u64;
    let mut i = from;
    while i < to {
        let Some(o) = memchr::memchr2(b'"', b'\n', &buf[i..to]) else {
            break;
        };
        let p = i + o;
        if buf[p] == b'"' {
            odd = !odd;
        } else if !odd {
            first.get_or_insert(p + 1);
            records += u64::from(starts_record(buf, p + 1, split));
        }
        i = p + 1;
    }
    (first, records)
}

/// Batches for parallel parsing of `buf[..split]` (`buf` starts at a record start, `split` is a record boundary
/// or the end of input): each batch ends at the first boundary at or after a multiple of `piece` (the last at
/// `split`), with the number of records it holds *if the input is well-formed* (counted from quote parity and line
/// starts; malformed input may make the count wrong, and the parser then reports the problem). Increasing ends.
pub fn batch_plan(buf: &[u8], split: usize, piece: usize) -> Vec<(usize, u64)> {
    let piece = piece.max(1);
    let pieces = split.div_ceil(piece);
    if pieces == 0 {
        return Vec::new();
    }
    let bounds = |k: usize| (k * piece, ((k + 1) * piece).min(split));
    let mut start_odd = vec![false; pieces];
    if pieces > 1 {
        let odd: Vec<bool> = (0..pieces)
            .into_par_iter()
            .map(|k| {
                let (a, b) = bounds(k);
                count_byte(&buf[a..b], b'"') % 2 == 1
            })
            .collect();
        let mut acc = false;
        for (s, o) in start_odd.iter_mut().zip(&odd) {
            *s = acc;
            acc ^= *o;
        }
    }
    let scans: Vec<(Option<usize>, u64)> = (0..pieces)
        .into_par_iter()
        .map(|k| {
            let (a, b) = bounds(k);
            scan_piece(buf, a, b, split, start_odd[k])
        })
        .collect();
    let mut out: Vec<(usize, u64)> = Vec::with_capacity(pieces);
    let mut records = u64::from(starts_record(buf, 0, split));
    for (k, (first, r)) in scans.into_iter().enumerate() {
        if k > 0 {
            if let Some(c) = first {
                if c < split && out.last().is_none_or(|&(l, _)| c > l) {
                    out.push((c, records));
                    records = 0;
                }
            }
        }
        records += r;
    }
    out.push((split, records));
    out
}

/// Batch ends only (see `batch_plan`).
pub fn batch_ends(buf: &[u8], split: usize, piece: usize) -> Vec<usize> {
    batch_plan(buf, split, piece).into_iter().map(|(e, _)| e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<String>>, Located> {
        let mut f = Fields::with_cap(1000);
        let mut out = Vec::new();
        let mut pos = 0;
        let bad = first_invalid_utf8(input, true);
        while pos < input.len() {
            match parse_record(input, pos, true, DEFAULT_MAX_RECORD, bad.filter(|&b| b >= pos), &mut f)? {
                Outcome::Empty { end } => pos = end,
                Outcome::Record { end } => {
                    out.push(
                        (0..f.count())
                            .map(|i| String::from_utf8(f.get(input, i).to_vec()).unwrap())
                            .collect(),
                    );
                    pos = end;
                }
                Outcome::Incomplete => unreachable!(),
            }
        }
        Ok(out)
    }

    #[test]
    fn rfc4180_records() {
        let got = parse_all(b"a,b\r\n\"x,\"\"y\"\"\nz\",\r\n\n,\n\"\"\n").unwrap();
        assert_eq!(
            got,
            vec![vec!["a", "b"], vec!["x,\"y\"\nz", ""], vec!["", ""], vec![""]]
        );
        assert_eq!(parse_all(b"a\r\r\nb\r").unwrap(), vec![vec!["a"], vec!["b"]]);
        assert_eq!(parse_all(b" a , b").unwrap(), vec![vec![" a ", " b"]]);
    }

    #[test]
    fn syntax_errors_are_located() {
        let e = parse_all(b"a,b\nc\"d,e\n").unwrap_err();
        assert_eq!((e.kind, e.at), (CsvErrorKind::Quote, 5));
        let e = parse_all(b"\"ab\"c\n").unwrap_err();
        assert_eq!((e.kind, e.at), (CsvErrorKind::Quote, 4));
        let e = parse_all(b"a\n\"abc\n").unwrap_err();
        assert_eq!((e.kind, e.at), (CsvErrorKind::Quote, 2));
        let e = parse_all(b"a\rb\n").unwrap_err();
        assert_eq!((e.kind, e.at), (CsvErrorKind::LineEnding, 2));
        let e = parse_all(b"a,\xffb\n").unwrap_err();
        assert_eq!((e.kind, e.at), (CsvErrorKind::InvalidUtf8, 2));
        // An invalid byte after the syntax error point loses to it.
        let e = parse_all(b"\"a\"x\xff\n").unwrap_err();
        assert_eq!(e.kind, CsvErrorKind::Quote);
    }

    #[test]
    fn size_limit_counts_the_line_end() {
        let mut f = Fields::with_cap(10);
        assert!(parse_record(b"abc\n", 0, true, 4, None, &mut f).is_ok());
        let e = parse_record(b"abcd\n", 0, true, 4, None, &mut f).unwrap_err();
        assert_eq!(e.kind, CsvErrorKind::TooLarge);
        let e = parse_record(b"abcdefgh", 0, false, 4, None, &mut f).unwrap_err();
        assert_eq!(e.kind, CsvErrorKind::TooLarge);
        assert_eq!(
            parse_record(b"abc", 0, false, 4, None, &mut f).unwrap(),
            Outcome::Incomplete
        );
    }

    #[test]
    fn planned_record_counts_match_the_parser_on_well_formed_input() {
        let text: &[u8] = b"a,\"x\ny\"\r\n\nb,c\r\r\n\"\n\n\",\"\"\"\"\n\r\nd,e\n\n\nf,\"g\"\n";
        for eof_tail in [&b""[..], b"h,i", b"\r", b"\n\r"] {
            let mut buf = text.to_vec();
            buf.extend_from_slice(eof_tail);
            let want = parse_all(&buf).unwrap();
            for piece in 1..buf.len() + 2 {
                let plan = batch_plan(&buf, buf.len(), piece);
                let mut from = 0;
                for &(end, n) in &plan {
                    let got = parse_all(&buf[from..end]).unwrap().len() as u64;
                    assert_eq!(got, n, "piece {piece}, batch {from}..{end}, tail {eof_tail:?}");
                    from = end;
                }
                assert_eq!(plan.iter().map(|p| p.1).sum::<u64>(), want.len() as u64);
            }
        }
    }

    #[test]
    fn find_special_agrees_with_the_byte_table() {
        let mut buf: Vec<u8> = (0..200u8).map(|i| b'a' + i % 26).collect();
        for &(at, c) in &[
            (3usize, b','),
            (17, b'\n'),
            (40, b'\r'),
            (63, b'"'),
            (64, b','),
            (150, b'\n'),
            (199, b'"'),
        ] {
            buf[at] = c;
        }
        for from in 0..=buf.len() {
            let want = (from..buf.len())
                .find(|&k| SPECIAL[buf[k] as usize])
                .unwrap_or(buf.len());
            assert_eq!(find_special(&buf, from), want, "from {from}");
            assert_eq!(
                find_special(&buf[..from], 0),
                (0..from).find(|&k| SPECIAL[buf[k] as usize]).unwrap_or(from)
            );
        }
    }

    #[test]
    fn count_byte_counts_across_flushes_and_tails() {
        for n in [
            0usize,
            1,
            31,
            32,
            33,
            255 * 32 - 1,
            255 * 32,
            255 * 32 + 1,
            3 * 255 * 32 + 77,
        ] {
            let s: Vec<u8> = (0..n)
                .map(|i| if i % 3 == 0 || i % 7 == 0 { b'\n' } else { b'x' })
                .collect();
            assert_eq!(
                count_byte(&s, b'\n'),
                s.iter().filter(|&&c| c == b'\n').count(),
                "n={n}"
            );
            assert_eq!(count_byte(&vec![b'"'; n], b'"'), n);
        }
    }

    #[test]
    fn boundaries_respect_quotes() {
        let buf = b"a,\"x\ny\"\nb,c\n\"\n\n\"\nd\n";
        assert_eq!(last_boundary(buf), Some(buf.len()));
        assert_eq!(last_boundary(b"a\n\"b\nc"), Some(2));
        assert_eq!(buf.len(), 19);
        for piece in 1..20 {
            let ends = batch_ends(buf, buf.len(), piece);
            assert_eq!(ends.last(), Some(&19));
            for e in &ends {
                assert!([8usize, 12, 17, 19].contains(e), "piece {piece}: {ends:?}");
            }
        }
    }
}
