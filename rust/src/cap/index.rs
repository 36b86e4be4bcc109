//! Fast path for `_cap/index.cbor`: accepts **only** the canonical CAP encoding (cap-format.md §2.3) and returns
//! its entries; anything else gives `None`, and the caller falls back to the general strict decoder, which names
//! the exact problem. Accepted input is exactly what encoding the returned entries gives back:
//!
//! `{"files": {path: {"hash", "size", "compressed_size", "compression"[, "mime"]}}}` with definite lengths,
//! shortest heads, valid UTF-8 text, paths strictly increasing bytewise (so no duplicates), the entry fields in
//! that order, `hash` 64 lowercase hex characters, and no trailing bytes.

/// One decoded index entry; the strings borrow from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow<'a> {
    pub path: &'a str,
    pub hash: &'a str,
    pub size: u64,
    pub compressed_size: u64,
    pub compression: &'a str,
    pub mime: Option<&'a str>,
}

/// Largest entry count the fast path accepts (the Python model's own cap).
pub const MAX_ROWS: u64 = 2_000_000;

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    #[inline]
    fn take(&mut self, n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len())?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Some(s)
    }

    /// A head of major type `major` with its shortest-form argument.
    #[inline]
    fn head(&mut self, major: u8) -> Option<u64> {
        let b = self.byte()?;
        if b >> 5 != major {
            return None;
        }
        let info = b & 0x1f;
        let (width, min) = match info {
            0..=23 => return Some(u64::from(info)),
            24 => (1, 24),
            25 => (2, 1 << 8),
            26 => (4, 1 << 16),
            27 => (8, 1 << 32),
            _ => return None,
        };
        let raw = self.take(width)?;
        let v = raw.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
        (v >= min).then_some(v)
    }

    #[inline]
    fn text(&mut self) -> Option<&'a str> {
        let n = self.head(3)?;
        std::str::from_utf8(self.take(n)?).ok()
    }

    #[inline]
    fn key(&mut self, want: &[u8]) -> Option<()> {
        // Field names are short (< 24 bytes): one head byte then the name.
        let b = self.byte()?;
        if b != 0x60 | want.len() as u8 || self.take(want.len() as u64)? != want {
            return None;
        }
        Some(())
    }
}

/// The entries of a canonically encoded index, or `None` if `data` is not exactly the canonical encoding.
pub fn parse_canonical(data: &[u8]) -> Option<Vec<IndexRow<'_>>> {
    let mut r = Reader { data, pos: 0 };
    if r.head(5)? != 1 {
        return None;
    }
    r.key(b"files")?;
    let n = r.head(5)?;
    // Each entry takes well over 64 bytes, so a count the input cannot hold is refused before allocating.
    if n > MAX_ROWS || n > (data.len() as u64) / 64 {
        return None;
    }
    let mut rows = Vec::with_capacity(n as usize);
    let mut prev: Option<&str> = None;
    for _ in 0..n {
        let path = r.text()?;
        if let Some(p) = prev {
            if p.as_bytes() >= path.as_bytes() {
                return None;
            }
        }
        prev = Some(path);
        let fields = r.head(5)?;
        if fields != 4 && fields != 5 {
            return None;
        }
        r.key(b"hash")?;
        let hash = r.text()?;
        if !crate::hex::is_lower_hex64(hash.as_bytes()) {
            return None;
        }
        r.key(b"size")?;
        let size = r.head(0)?;
        r.key(b"compressed_size")?;
        let compressed_size = r.head(0)?;
        r.key(b"compression")?;
        let compression = r.text()?;
        let mime = if fields == 5 {
            r.key(b"mime")?;
            Some(r.text()?)
        } else {
            None
        };
        rows.push(IndexRow {
            path,
            hash,
            size,
            compressed_size,
            compression,
            mime,
        });
    }
    (r.pos == data.len()).then_some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(major: u8, v: u64, out: &mut Vec<u8>) {
        let m = major << 5;
        match v {
            0..=23 => out.push(m | v as u8),
            24..=0xff => out.extend_from_slice(&[m | 24, v as u8]),
            0x100..=0xffff => {
                out.push(m | 25);
                out.extend_from_slice(&(v as u16).to_be_bytes())
            }
            0x1_0000..=0xffff_ffff => {
                out.push(m | 26);
                out.extend_from_slice(&(v as u32).to_be_bytes())
            }
            _ => {
                out.push(m | 27);
                out.extend_from_slice(&v.to_be_bytes())
            }
        }
    }

    fn text(s: &str, out: &mut Vec<u8>) {
        head(3, s.len() as u64, out);
        out.extend_from_slice(s.as_bytes());
    }

    fn encode(rows: &[IndexRow<'_>]) -> Vec<u8> {
        let mut out = vec![0xa1];
        text("files", &mut out);
        head(5, rows.len() as u64, &mut out);
        for r in rows {
            text(r.path, &mut out);
            head(5, if r.mime.is_some() { 5 } else { 4 }, &mut out);
            text("hash", &mut out);
            text(r.hash, &mut out);
            text("size", &mut out);
            head(0, r.size, &mut out);
            text("compressed_size", &mut out);
            head(0, r.compressed_size, &mut out);
            text("compression", &mut out);
            text(r.compression, &mut out);
            if let Some(m) = r.mime {
                text("mime", &mut out);
                text(m, &mut out);
            }
        }
        out
    }

    const H: &str = "e0bff5e83b9e00397df12599bc0e99c019040476a05118ba89eb3ee85f434a27";

    fn rows() -> Vec<IndexRow<'static>> {
        vec![
            IndexRow {
                path: "a.txt",
                hash: H,
                size: 0,
                compressed_size: 9,
                compression: "zstd",
                mime: Some("text/plain"),
            },
            IndexRow {
                path: "ui/app.js",
                hash: H,
                size: 1 << 40,
                compressed_size: 300,
                compression: "zstd",
                mime: None,
            },
            IndexRow {
                path: "ui/é",
                hash: H,
                size: 24,
                compressed_size: 23,
                compression: "zstd",
                mime: Some(""),
            },
        ]
    }

    #[test]
    fn round_trip_and_empty() {
        let rs = rows();
        let data = encode(&rs);
        assert_eq!(parse_canonical(&data).unwrap(), rs);
        assert_eq!(parse_canonical(&encode(&[])).unwrap(), vec![]);
    }

    #[test]
    fn non_canonical_is_refused() {
        let rs = rows();
        let good = encode(&rs);
        // trailing byte, truncation
        let mut t = good.clone();
        t.push(0);
        assert!(parse_canonical(&t).is_none());
        for cut in [1, 10, good.len() - 1] {
            assert!(parse_canonical(&good[..cut]).is_none());
        }
        // unsorted and duplicate paths
        let mut swapped = rs.clone();
        swapped.swap(0, 1);
        assert!(parse_canonical(&encode(&swapped)).is_none());
        let mut dup = rs.clone();
        dup[1].path = "a.txt";
        assert!(parse_canonical(&encode(&dup)).is_none());
        // uppercase hash
        let upper = H.to_uppercase();
        let mut u = rs.clone();
        u[0].hash = &upper;
        assert!(parse_canonical(&encode(&u)).is_none());
        // non-shortest size head: 0x18 0x05 instead of 0x05
        let mut one = vec![IndexRow {
            size: 5,
            ..rs[1].clone()
        }];
        let enc = encode(&one);
        let at = enc.windows(5).position(|w| w == b"\x64size").unwrap() + 5;
        let mut long = enc[..at].to_vec();
        long.extend_from_slice(&[0x18, 0x05]);
        long.extend_from_slice(&enc[at + 1..]);
        assert!(parse_canonical(&long).is_none());
        // indefinite-length outer map
        let mut indef = good.clone();
        indef[0] = 0xbf;
        assert!(parse_canonical(&indef).is_none());
        // invalid UTF-8 in a path
        one[0].path = "ab";
        let mut bad = encode(&one);
        let p = bad.windows(2).position(|w| w == b"ab").unwrap();
        bad[p] = 0xff;
        assert!(parse_canonical(&bad).is_none());
        // a huge declared entry count is refused before allocating
        let mut huge = vec![0xa1];
        text("files", &mut huge);
        head(5, 1 << 40, &mut huge);
        assert!(parse_canonical(&huge).is_none());
    }
}
