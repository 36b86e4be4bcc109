//! A deterministic STORED ZIP writer and a strict reader for CAP containers.
//!
//! Writer: entries in the caller's order, method 0 (STORED), DOS time 00:00:00 1980-01-01, version made by 0x032D
//! (Unix, 4.5), version needed 10, external attributes 0o100644 << 16, no extra fields, no comments, classic EOCD.
//! The same entries give the same bytes on any machine.
//!
//! Reader: accepts only what such a writer can produce. The EOCD must be the last 22 bytes (no comment, no trailing
//! data); the central directory must end where the EOCD starts; every entry must be STORED, unencrypted, without a
//! data descriptor; local and central headers must agree on flags, method, CRC, sizes and name; names must be unique
//! UTF-8; and the entries must tile the bytes before the central directory exactly (no prepended data, gaps or
//! overlaps). Nothing is allocated from a declared size before it is checked against the file length.

use crate::error::{Error, PackageErrorKind, Result};
use std::collections::HashSet;
use std::io::Write;

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const DOS_DATE: u16 = 0x0021; // 1980-01-01
const DOS_TIME: u16 = 0;
const MADE_BY: u16 = 0x032D;
const NEEDED: u16 = 10;
const EXTERNAL_ATTR: u32 = 0o100644 << 16;
const FLAG_UTF8: u16 = 1 << 11;

fn zerr(msg: impl Into<String>) -> Error {
    Error::package(PackageErrorKind::ZipFormat, msg)
}

/// Streams a deterministic STORED ZIP to `w`.
pub struct ZipWriter<W: Write> {
    w: W,
    offset: u64,
    central: Vec<u8>,
    count: usize,
    names: HashSet<String>,
}

impl<W: Write> ZipWriter<W> {
    pub fn new(w: W) -> Self {
        ZipWriter {
            w,
            offset: 0,
            central: Vec::new(),
            count: 0,
            names: HashSet::new(),
        }
    }

    /// Appends one STORED entry. Names must be unique; sizes must fit the classic (non-ZIP64) format.
    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<()> {
        if name.is_empty() || name.len() > 0xFFFF {
            return Err(Error::invalid(format!(
                "zip entry name length {} out of range",
                name.len()
            )));
        }
        if !self.names.insert(name.to_owned()) {
            return Err(Error::package(
                PackageErrorKind::DuplicateEntry,
                format!("duplicate zip entry {name:?}"),
            ));
        }
        if self.count >= 0xFFFF {
            return Err(Error::invalid("more than 65,534 zip entries (ZIP64 is not supported)"));
        }
        let size = data.len() as u64;
        let end = self.offset + 30 + name.len() as u64 + size;
        if size >= 0xFFFF_FFFF || end >= 0xFFFF_FFFF {
            return Err(Error::invalid("package larger than 4 GiB (ZIP64 is not supported)"));
        }
        let crc = crc32fast::hash(data);
        let flags = if name.is_ascii() { 0 } else { FLAG_UTF8 };
        let mut h = Vec::with_capacity(30 + name.len());
        put32(&mut h, LOCAL_SIG);
        put16(&mut h, NEEDED);
        put16(&mut h, flags);
        put16(&mut h, 0);
        put16(&mut h, DOS_TIME);
        put16(&mut h, DOS_DATE);
        put32(&mut h, crc);
        put32(&mut h, size as u32);
        put32(&mut h, size as u32);
        put16(&mut h, name.len() as u16);
        put16(&mut h, 0);
        h.extend_from_slice(name.as_bytes());
        self.w.write_all(&h)?;
        self.w.write_all(data)?;

        let c = &mut self.central;
        put32(c, CENTRAL_SIG);
        put16(c, MADE_BY);
        put16(c, NEEDED);
        put16(c, flags);
        put16(c, 0);
        put16(c, DOS_TIME);
        put16(c, DOS_DATE);
        put32(c, crc);
        put32(c, size as u32);
        put32(c, size as u32);
        put16(c, name.len() as u16);
        put16(c, 0);
        put16(c, 0);
        put16(c, 0);
        put16(c, 0);
        put32(c, EXTERNAL_ATTR);
        put32(c, self.offset as u32);
        c.extend_from_slice(name.as_bytes());
        self.offset = end;
        self.count += 1;
        Ok(())
    }

    /// Writes the central directory and EOCD; returns the total archive size.
    pub fn finish(mut self) -> Result<u64> {
        let cd_size = self.central.len() as u64;
        if self.offset + cd_size + 22 >= 0xFFFF_FFFF {
            return Err(Error::invalid("package larger than 4 GiB (ZIP64 is not supported)"));
        }
        self.w.write_all(&self.central)?;
        let mut e = Vec::with_capacity(22);
        put32(&mut e, EOCD_SIG);
        put16(&mut e, 0);
        put16(&mut e, 0);
        put16(&mut e, self.count as u16);
        put16(&mut e, self.count as u16);
        put32(&mut e, cd_size as u32);
        put32(&mut e, self.offset as u32);
        put16(&mut e, 0);
        self.w.write_all(&e)?;
        self.w.flush()?;
        Ok(self.offset + cd_size + 22)
    }
}

fn put16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn put32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn get16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// One entry of a strictly parsed archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// Offset of the stored bytes.
    pub data_offset: u64,
    pub size: u64,
    pub crc: u32,
}

/// Random-access source (a file via `pread`, or a byte slice in tests).
pub trait Source: Sync {
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
}

impl Source for std::fs::File {
    fn len(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
        }
        #[cfg(windows)]
        {
            let mut done = 0;
            while done < buf.len() {
                let n = std::os::windows::fs::FileExt::seek_read(self, &mut buf[done..], offset + done as u64)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                done += n;
            }
            Ok(())
        }
    }
}

impl Source for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        let end = start.checked_add(buf.len()).filter(|&e| e <= <[u8]>::len(self));
        match end {
            Some(end) => {
                buf.copy_from_slice(&self[start..end]);
                Ok(())
            }
            None => Err(std::io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

fn read_at(src: &(impl Source + ?Sized), len: usize, offset: u64, what: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_at_into(src, src.len(), &mut buf, len, offset, || what.to_owned())?;
    Ok(buf)
}

/// Reads `len` bytes at `offset` into `buf` (reusing its allocation); `file_len` is the source's length, `what`
/// names the structure for the error (built only on failure).
fn read_at_into(
    src: &(impl Source + ?Sized),
    file_len: u64,
    buf: &mut Vec<u8>,
    len: usize,
    offset: u64,
    what: impl Fn() -> String,
) -> Result<()> {
    let end = offset
        .checked_add(len as u64)
        .ok_or_else(|| zerr(format!("{}: offset overflow", what())))?;
    if end > file_len {
        return Err(zerr(format!(
            "truncated archive: {} ends at byte {end}, file has {file_len}",
            what()
        )));
    }
    buf.clear();
    buf.resize(len, 0);
    src.read_exact_at(buf, offset).map_err(|e| {
        zerr(format!(
            "truncated archive: cannot read {} at byte {offset}: {e}",
            what()
        ))
    })
}

/// Strictly parses the archive's structure (see the module docs). Entries come back in central-directory order.
pub fn read_entries(src: &(impl Source + ?Sized), max_entries: usize) -> Result<Vec<Entry>> {
    let file_len = src.len();
    if file_len < 22 {
        return Err(zerr(format!(
            "truncated archive: {file_len} bytes, no end-of-central-directory record"
        )));
    }
    let eocd_at = file_len - 22;
    let eocd = read_at(src, 22, eocd_at, "end-of-central-directory record")?;
    if get32(&eocd, 0) != EOCD_SIG {
        return Err(zerr(
            "no end-of-central-directory record in the last 22 bytes (truncated, trailing data or archive comment)",
        ));
    }
    let (disk, cd_disk) = (get16(&eocd, 4), get16(&eocd, 6));
    let (n_disk, n_total) = (get16(&eocd, 8), get16(&eocd, 10));
    let (cd_size, cd_offset) = (get32(&eocd, 12) as u64, get32(&eocd, 16) as u64);
    if get16(&eocd, 20) != 0 {
        return Err(zerr("archive comment is not allowed"));
    }
    if disk != 0 || cd_disk != 0 || n_disk != n_total {
        return Err(zerr("multi-disk archives are not supported"));
    }
    if n_total == 0xFFFF || cd_offset == 0xFFFF_FFFF || cd_size == 0xFFFF_FFFF {
        return Err(zerr("ZIP64 archives are not supported"));
    }
    let n = n_total as usize;
    if n > max_entries {
        return Err(zerr(format!("{n} entries, more than the limit of {max_entries}")));
    }
    if cd_offset.checked_add(cd_size) != Some(eocd_at) {
        return Err(zerr(format!(
            "central directory ({cd_size} bytes at {cd_offset}) does not end at the end-of-central-directory record \
             (byte {eocd_at}): prepended, appended or hidden data"
        )));
    }
    if cd_size < 46 * n as u64 {
        return Err(zerr(format!(
            "central directory of {cd_size} bytes cannot hold {n} entries"
        )));
    }
    let cd = read_at(src, cd_size as usize, cd_offset, "central directory")?;
    let mut entries: Vec<(u64, Entry)> = Vec::with_capacity(n);
    let mut names: HashSet<&[u8]> = HashSet::with_capacity(n);
    let mut pos = 0usize;
    let mut local: Vec<u8> = Vec::with_capacity(256);
    for i in 0..n {
        if pos + 46 > cd.len() || get32(&cd, pos) != CENTRAL_SIG {
            return Err(zerr(format!(
                "central directory entry {i} is malformed (bad signature or truncated)"
            )));
        }
        let needed = get16(&cd, pos + 6);
        let flags = get16(&cd, pos + 8);
        let method = get16(&cd, pos + 10);
        let crc = get32(&cd, pos + 16);
        let csize = get32(&cd, pos + 20) as u64;
        let usize_ = get32(&cd, pos + 24) as u64;
        let nlen = get16(&cd, pos + 28) as usize;
        let elen = get16(&cd, pos + 30) as usize;
        let clen = get16(&cd, pos + 32) as usize;
        let disk_start = get16(&cd, pos + 34);
        let header_offset = get32(&cd, pos + 42) as u64;
        let name_end = pos + 46 + nlen;
        if name_end + elen + clen > cd.len() {
            return Err(zerr(format!("central directory entry {i} is truncated")));
        }
        let raw_name = &cd[pos + 46..name_end];
        let name = std::str::from_utf8(raw_name)
            .map_err(|_| Error::package(PackageErrorKind::UnsafePath, format!("entry {i}: name is not UTF-8")))?;
        if method != 0 {
            return Err(zerr(format!(
                "entry {name:?}: compression method {method} (only STORED is allowed)"
            )));
        }
        if flags & !FLAG_UTF8 != 0 {
            return Err(zerr(format!(
                "entry {name:?}: general-purpose flags {flags:#06x} (encryption and data descriptors are not allowed)"
            )));
        }
        if needed > 20 {
            return Err(zerr(format!("entry {name:?}: needs ZIP version {needed}")));
        }
        if csize != usize_ {
            return Err(zerr(format!(
                "entry {name:?}: STORED entry with different compressed and uncompressed sizes"
            )));
        }
        if disk_start != 0 {
            return Err(zerr(format!("entry {name:?}: multi-disk entry")));
        }
        if !names.insert(raw_name) {
            return Err(Error::package(
                PackageErrorKind::DuplicateEntry,
                format!("duplicate zip entry {name:?}"),
            ));
        }
        // Local header: must agree with the central record. Header and name are read with one `pread` when both
        // are inside the file (10,000 entries: 10,000 syscalls instead of 20,000); a truncated archive takes the
        // two-step path below so the error names the part that is missing.
        let joined = header_offset
            .checked_add(30 + nlen as u64)
            .is_some_and(|end| end <= file_len);
        let head_len = if joined { 30 + nlen } else { 30 };
        read_at_into(src, file_len, &mut local, head_len, header_offset, || {
            format!("local header of {name:?}")
        })?;
        if get32(&local, 0) != LOCAL_SIG {
            return Err(zerr(format!("entry {name:?}: no local header at byte {header_offset}")));
        }
        let l_nlen = get16(&local, 26) as usize;
        let l_elen = get16(&local, 28) as u64;
        if get16(&local, 6) != flags
            || get16(&local, 8) != method
            || get32(&local, 14) != crc
            || get32(&local, 18) as u64 != csize
            || get32(&local, 22) as u64 != usize_
            || l_nlen != nlen
        {
            return Err(zerr(format!(
                "entry {name:?}: local header disagrees with the central directory"
            )));
        }
        if joined {
            local.drain(..30);
        } else {
            read_at_into(src, file_len, &mut local, nlen, header_offset + 30, || {
                format!("local name of {name:?}")
            })?;
        }
        if local != raw_name {
            return Err(zerr(format!("entry {name:?}: local header names a different file")));
        }
        let data_offset = header_offset + 30 + nlen as u64 + l_elen;
        let data_end = data_offset + csize;
        if data_end > cd_offset {
            return Err(zerr(format!(
                "entry {name:?}: data runs into the central directory (truncated or overlapping)"
            )));
        }
        entries.push((
            header_offset,
            Entry {
                name: name.to_owned(),
                data_offset,
                size: csize,
                crc,
            },
        ));
        pos = name_end + elen + clen;
    }
    if pos != cd.len() {
        return Err(zerr("central directory has trailing bytes"));
    }
    // The entries must tile [0, cd_offset) exactly: no prepended data, no gaps, no overlaps.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| entries[i].0);
    let mut expect = 0u64;
    for &i in &order {
        let (start, e) = &entries[i];
        if *start != expect {
            return Err(zerr(if *start < expect {
                format!("entry {:?} overlaps the previous entry (possible zip bomb)", e.name)
            } else {
                format!("{} unaccounted bytes before entry {:?}", start - expect, e.name)
            }));
        }
        expect = e.data_offset + e.size;
    }
    if expect != cd_offset {
        return Err(zerr(format!(
            "{} unaccounted bytes before the central directory",
            cd_offset - expect
        )));
    }
    Ok(entries.into_iter().map(|(_, e)| e).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = ZipWriter::new(Vec::new());
        for (n, d) in entries {
            w.add(n, d).unwrap();
        }
        let mut out = Vec::new();
        let mut w2 = ZipWriter::new(&mut out);
        for (n, d) in entries {
            w2.add(n, d).unwrap();
        }
        w2.finish().unwrap();
        assert_eq!(w.finish().unwrap(), out.len() as u64);
        out
    }

    fn kind(r: Result<Vec<Entry>>) -> PackageErrorKind {
        match r {
            Err(Error::Package { kind, .. }) => kind,
            other => panic!("expected a package error, got {other:?}"),
        }
    }

    #[test]
    fn round_trip_and_deterministic() {
        let a = build(&[("a.txt", b"hello"), ("b/c", b"")]);
        let b = build(&[("a.txt", b"hello"), ("b/c", b"")]);
        assert_eq!(a, b);
        let e = read_entries(a.as_slice(), 100).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(&a[e[0].data_offset as usize..][..5], b"hello");
        assert_eq!(e[0].crc, crc32fast::hash(b"hello"));
    }

    #[test]
    fn hostile_archives() {
        let good = build(&[("a", b"xyz"), ("b", b"123")]);
        // trailing byte
        let mut t = good.clone();
        t.push(0);
        assert_eq!(kind(read_entries(t.as_slice(), 10)), PackageErrorKind::ZipFormat);
        // prepended byte
        let mut p = vec![0u8];
        p.extend_from_slice(&good);
        assert_eq!(kind(read_entries(p.as_slice(), 10)), PackageErrorKind::ZipFormat);
        // truncated
        assert_eq!(
            kind(read_entries(&good[..good.len() - 30], 10)),
            PackageErrorKind::ZipFormat
        );
        // non-STORED: patch central method
        let cd = good.len() - 22 - (46 + 1) * 2;
        let mut m = good.clone();
        m[cd + 10] = 8;
        assert_eq!(kind(read_entries(m.as_slice(), 10)), PackageErrorKind::ZipFormat);
        // local/central CRC mismatch
        let mut c = good.clone();
        c[14] ^= 1;
        assert_eq!(kind(read_entries(c.as_slice(), 10)), PackageErrorKind::ZipFormat);
        // too many entries
        assert_eq!(kind(read_entries(good.as_slice(), 1)), PackageErrorKind::ZipFormat);
        // duplicate name: rename "b" to "a" in both headers
        let mut d = good.clone();
        let second_local = 30 + 1 + 3;
        d[second_local + 30] = b'a';
        d[cd + 47 + 46] = b'a';
        assert_eq!(kind(read_entries(d.as_slice(), 10)), PackageErrorKind::DuplicateEntry);
        // overlap: point the second central record at the first local header
        let mut o = good.clone();
        o[cd + 47 + 42..cd + 47 + 46].copy_from_slice(&0u32.to_le_bytes());
        o[cd + 47 + 46] = b'a';
        assert!(read_entries(o.as_slice(), 10).is_err());
    }
}
