//! Hexadecimal, once for the whole crate: lowercase encoding and strict decoding.
//!
//! capfast writes hex in lowercase only, and where a format fixes the case (CAP blob hashes: cap-format.md §9, W10)
//! reads only lowercase ([`decode_lower32`], [`is_lower_hex64`]). [`decode`] accepts either case, for inputs where
//! the case carries no meaning (test vectors).

use crate::hash::Digest;

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Value of each byte as a lowercase hex digit; 0xFF marks anything else.
const LOWER: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut c = 0;
    while c < 10 {
        t[b'0' as usize + c] = c as u8;
        c += 1;
    }
    let mut c = 0;
    while c < 6 {
        t[b'a' as usize + c] = 10 + c as u8;
        c += 1;
    }
    t
};

/// Exactly 64 lowercase hex characters as a 32-byte digest (table-driven, branch-free over the digits).
#[inline]
pub fn decode_lower32(s: &[u8]) -> Option<Digest> {
    let s: &[u8; 64] = s.try_into().ok()?;
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for i in 0..32 {
        let hi = LOWER[s[2 * i] as usize];
        let lo = LOWER[s[2 * i + 1] as usize];
        bad |= hi | lo;
        out[i] = (hi << 4) | (lo & 0x0F);
    }
    (bad & 0xF0 == 0).then_some(out)
}

/// Whether `s` is exactly 64 lowercase hex characters.
pub fn is_lower_hex64(s: &[u8]) -> bool {
    s.len() == 64 && s.iter().all(|&c| LOWER[c as usize] != 0xFF)
}

/// Hex of either case and even length as bytes; `None` for anything else.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| LOWER[c.to_ascii_lowercase() as usize];
    b.chunks_exact(2)
        .map(|p| {
            let (hi, lo) = (digit(p[0]), digit(p[1]));
            (hi < 16 && lo < 16).then_some((hi << 4) | lo)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejections() {
        let d: Digest = core::array::from_fn(|i| (i * 7 + 3) as u8);
        let text = encode(&d);
        assert_eq!(text.len(), 64);
        assert!(text.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        assert_eq!(decode_lower32(text.as_bytes()), Some(d));
        assert!(is_lower_hex64(text.as_bytes()));
        let upper = text.to_uppercase();
        assert_eq!(decode_lower32(upper.as_bytes()), None);
        assert!(!is_lower_hex64(upper.as_bytes()));
        assert_eq!(decode(&upper).as_deref(), Some(&d[..]));
        for bad in [
            "g".repeat(64),
            text[..63].to_owned(),
            format!("{text}0"),
            text.replacen('0', "/", 1),
        ] {
            assert_eq!(decode_lower32(bad.as_bytes()), None, "{bad}");
            assert!(!is_lower_hex64(bad.as_bytes()), "{bad}");
        }
        assert_eq!(encode(&[0x00, 0xff, 0x10]), "00ff10");
        assert_eq!(decode("00fF10"), Some(vec![0x00, 0xff, 0x10]));
        assert_eq!(decode("0"), None);
        assert_eq!(decode("zz"), None);
        assert_eq!(decode(""), Some(vec![]));
    }
}
