//! Deterministic CBOR (RFC 8949 §4.2.1, "core deterministic encoding") for the one shape capfast commits: a map
//! from text-string keys to text-string values.
//!
//! Rules applied: definite lengths only; every head uses the shortest argument encoding (§4.2.1 "preferred
//! serialization" of integers/lengths); map keys sorted by the bytewise lexicographic order of their *encoded*
//! form. For text keys the encoded form is head ‖ UTF-8, and heads grow with the length, so the order is "shorter
//! key first, then bytewise" — but we sort the encoded bytes directly, exactly as the RFC states it.

use crate::error::{Error, Result};

/// CBOR major types used here.
pub const MAJOR_TEXT: u8 = 3;
pub const MAJOR_MAP: u8 = 5;

/// Appends the head of a data item of `major` type with argument `n`, shortest form (RFC 8949 §3, §4.2.1).
#[inline]
pub fn write_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let mt = major << 5;
    if n < 24 {
        out.push(mt | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[mt | 24, n as u8]);
    } else if n <= 0xffff {
        out.push(mt | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(mt | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(mt | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Appends a text string (the caller guarantees `s` is UTF-8).
#[inline]
pub fn write_text(out: &mut Vec<u8>, s: &[u8]) {
    write_head(out, MAJOR_TEXT, s.len() as u64);
    out.extend_from_slice(s);
}

/// The precomputed shape of one table's row maps: the map head and the encoded keys in deterministic order, each
/// with the index of the source field that holds its value.
#[derive(Debug, Clone)]
pub struct MapLayout {
    head: Vec<u8>,
    /// (encoded key, source field index), sorted by encoded key.
    entries: Vec<(Vec<u8>, usize)>,
}

impl MapLayout {
    /// `keys[i]` is the column name whose value is source field `fields[i]`. Keys must be distinct.
    pub fn new(keys: &[&str], fields: &[usize]) -> Result<Self> {
        if keys.len() != fields.len() {
            return Err(Error::invalid("MapLayout: keys and fields differ in length"));
        }
        let mut entries: Vec<(Vec<u8>, usize)> = keys
            .iter()
            .zip(fields)
            .map(|(k, &f)| {
                let mut enc = Vec::with_capacity(k.len() + 9);
                write_text(&mut enc, k.as_bytes());
                (enc, f)
            })
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        if entries.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(Error::invalid("duplicate map key"));
        }
        let mut head = Vec::with_capacity(9);
        write_head(&mut head, MAJOR_MAP, entries.len() as u64);
        Ok(MapLayout { head, entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends the encoded map; `value(i)` returns the UTF-8 bytes of source field `i`.
    #[inline]
    pub fn encode<'a>(&self, out: &mut Vec<u8>, value: impl Fn(usize) -> &'a [u8]) {
        out.extend_from_slice(&self.head);
        for (key, field) in &self.entries {
            out.extend_from_slice(key);
            write_text(out, value(*field));
        }
    }
}

/// Encodes one map from (key, value) text pairs (any order; keys must be distinct). Used for single-row leaves.
pub fn encode_text_map(pairs: &[(&str, &str)]) -> Result<Vec<u8>> {
    let keys: Vec<&str> = pairs.iter().map(|p| p.0).collect();
    let idx: Vec<usize> = (0..pairs.len()).collect();
    let layout = MapLayout::new(&keys, &idx)?;
    let mut out = Vec::new();
    layout.encode(&mut out, |i| pairs[i].1.as_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex::encode as to_hex;

    fn text(s: &str) -> String {
        let mut v = Vec::new();
        write_text(&mut v, s.as_bytes());
        to_hex(&v)
    }

    #[test]
    fn rfc8949_appendix_a_text_strings() {
        // RFC 8949 Appendix A: "" → 0x60, "a" → 0x6161, "IETF" → 0x6449455446, "\u00fc" → 0x62c3bc,
        // "\u6c34" → 0x63e6b0b4.
        assert_eq!(text(""), "60");
        assert_eq!(text("a"), "6161");
        assert_eq!(text("IETF"), "6449455446");
        assert_eq!(text("\u{00fc}"), "62c3bc");
        assert_eq!(text("\u{6c34}"), "63e6b0b4");
    }

    #[test]
    fn heads_use_the_shortest_form_at_every_boundary() {
        // §3.1: arguments 0..23 inline; 24..255 one byte (ai 24); up to 2^16-1 two bytes (ai 25); then four (26).
        let cases: [(u64, &str); 8] = [
            (0, "60"),
            (23, "77"),
            (24, "7818"),
            (255, "78ff"),
            (256, "790100"),
            (65535, "79ffff"),
            (65536, "7a00010000"),
            (1 << 32, "7b0000000100000000"),
        ];
        for (n, want) in cases {
            let mut v = Vec::new();
            write_head(&mut v, MAJOR_TEXT, n);
            assert_eq!(to_hex(&v), want, "n={n}");
        }
    }

    #[test]
    fn rfc8949_appendix_a_map_and_key_order() {
        // Appendix A: {"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"} →
        // 0xa56161614161626142616361436164614461656145 (keys already in deterministic order).
        let pairs = [("e", "E"), ("c", "C"), ("a", "A"), ("d", "D"), ("b", "B")];
        assert_eq!(
            to_hex(&encode_text_map(&pairs).unwrap()),
            "a56161614161626142616361436164614461656145"
        );
        // §4.2.1 orders by encoded bytes: "b" (0x6162) sorts before "aa" (0x626161) because its head is smaller.
        let m = encode_text_map(&[("aa", "1"), ("b", "2")]).unwrap();
        assert_eq!(to_hex(&m), "a2616261326261616131");
        assert!(encode_text_map(&[("x", "1"), ("x", "2")]).is_err());
    }
}
