//! Ethereum-style wallets: Keccak-256, EIP-55 checksum addresses and EIP-191 `personal_sign` signatures over
//! secp256k1, under one validity rule (`docs/wallet.md`):
//!
//! * a signature is 65 bytes `r ‖ s ‖ v` with `1 ≤ r, s < n`, **`s ≤ n/2`** (low-S, EIP-2: one signature per
//!   message and key, no malleated twin) and `v ∈ {27, 28}` (or the raw recovery ids `{0, 1}`, which some wallets
//!   emit); the x-overflow recovery ids 2 and 3 are refused;
//! * `personal_sign(m)` signs `keccak256("\x19Ethereum Signed Message:\n" ‖ decimal(len(m)) ‖ m)`;
//! * the address of a public key is the last 20 bytes of `keccak256(x ‖ y)`.
//!
//! Signing is RFC 6979 deterministic with low-S normalisation, so it produces byte for byte what eth-account
//! (libsecp256k1) produces for the same key and message.

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey};
use k256::elliptic_curve::group::Group as _;
use k256::elliptic_curve::ops::{Invert as _, LinearCombination as _};
use k256::elliptic_curve::point::DecompressPoint as _;
use k256::elliptic_curve::sec1::ToEncodedPoint as _;
use k256::elliptic_curve::subtle::Choice;
use k256::{AffinePoint, ProjectivePoint, Scalar, U256};
use rayon::prelude::*;
use sha3::{Digest as _, Keccak256};

use crate::error::{Error, Result};

pub const SECRET_KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 65;
pub const ADDRESS_LEN: usize = 20;
/// Largest batch accepted in one call (hostile-input bound).
pub const MAX_BATCH: usize = 1 << 24;

pub type Address = [u8; ADDRESS_LEN];

/// Keccak-256 (the original Keccak padding, not FIPS 202 SHA3-256).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// The EIP-191 version-0x45 hash that `personal_sign` signs.
pub fn personal_hash(msg: &[u8]) -> [u8; 32] {
    let mut h = Keccak256::new();
    h.update(b"\x19Ethereum Signed Message:\n");
    h.update(msg.len().to_string().as_bytes());
    h.update(msg);
    h.finalize().into()
}

/// The EIP-55 mixed-case checksum text (`0x` + 40 hex digits) of a 20-byte address.
pub fn checksum_address(addr: &Address) -> String {
    let lower = hex_lower(addr);
    let hash = keccak256(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
        if c.is_ascii_alphabetic() && nibble >= 8 {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Parses `0x` + 40 hex digits. All-lowercase and all-uppercase texts carry no checksum and are accepted;
/// mixed case must be the exact EIP-55 checksum (else an error naming the expected spelling).
pub fn parse_address(text: &str) -> Result<Address> {
    let Some(hex) = text.strip_prefix("0x") else {
        return Err(Error::wallet(format!("address must start with 0x: {}", shown(text))));
    };
    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::wallet(format!(
            "address must be 0x and 40 hex digits: {}",
            shown(text)
        )));
    }
    let mut addr = [0u8; 20];
    for (i, chunk) in hex.as_bytes().chunks_exact(2).enumerate() {
        addr[i] = (hex_val(chunk[0]) << 4) | hex_val(chunk[1]);
    }
    let has_lower = hex.bytes().any(|b| b.is_ascii_lowercase());
    let has_upper = hex.bytes().any(|b| b.is_ascii_uppercase());
    if has_lower && has_upper {
        let expected = checksum_address(&addr);
        if expected != text {
            return Err(Error::wallet(format!(
                "address {text} has a wrong EIP-55 checksum (expected {expected})"
            )));
        }
    }
    Ok(addr)
}

/// `text` for an error message: its first 50 characters, quoted, with anything but printable ASCII (and `"`, `\\`)
/// shown as `?` (the twin renders the same string).
pub fn shown(text: &str) -> String {
    let inner: String = text
        .chars()
        .take(50)
        .map(|c| {
            if (' '..='~').contains(&c) && c != '"' && c != '\\' {
                c
            } else {
                '?'
            }
        })
        .collect();
    format!("\"{inner}\"")
}

fn hex_val(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

fn signing_key(sk: &[u8]) -> Result<SigningKey> {
    if sk.len() != SECRET_KEY_LEN {
        return Err(Error::invalid(format!(
            "wallet secret key must be {SECRET_KEY_LEN} bytes, got {}",
            sk.len()
        )));
    }
    SigningKey::from_slice(sk).map_err(|_| Error::invalid("wallet secret key is zero or not below the curve order"))
}

fn address_of_key(vk: &VerifyingKey) -> Address {
    let point = vk.to_encoded_point(false);
    let hash = keccak256(&point.as_bytes()[1..]);
    let mut out = [0u8; 20];
    out.copy_from_slice(&hash[12..]);
    out
}

/// A fresh random secret key (valid scalar) from the operating system's random source.
pub fn generate() -> Result<[u8; 32]> {
    loop {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| {
            Error::Io(std::io::Error::other(format!(
                "operating system random source failed: {e}"
            )))
        })?;
        if SigningKey::from_slice(&seed).is_ok() {
            return Ok(seed);
        }
    }
}

/// The address of a 32-byte secret key.
pub fn address_of(sk: &[u8]) -> Result<Address> {
    Ok(address_of_key(signing_key(sk)?.verifying_key()))
}

/// `r ‖ s ‖ v` (v = 27 + recovery id) over a 32-byte digest; RFC 6979 nonce, low-S.
pub fn sign_hash(sk: &[u8], digest: &[u8; 32]) -> Result<[u8; 65]> {
    let key = signing_key(sk)?;
    let (sig, recid) = key
        .sign_prehash_recoverable(digest)
        .map_err(|e| Error::invalid(format!("signing failed: {e}")))?;
    // k256 already returns the low-S form (adjusting the recovery id); keep the invariant explicit.
    let (sig, recid) = match sig.normalize_s() {
        Some(low) => (low, RecoveryId::new(!recid.is_y_odd(), recid.is_x_reduced())),
        None => (sig, recid),
    };
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&sig.to_bytes());
    out[64] = 27 + recid.to_byte();
    Ok(out)
}

/// EIP-191 `personal_sign` of `msg`.
pub fn sign_message(sk: &[u8], msg: &[u8]) -> Result<[u8; 65]> {
    sign_hash(sk, &personal_hash(msg))
}

/// Why a signature is refused before any curve arithmetic (rule of the module doc).
fn parse_signature(sig: &[u8]) -> std::result::Result<(Signature, RecoveryId), &'static str> {
    if sig.len() != SIGNATURE_LEN {
        return Err("signature must be 65 bytes (r, s, v)");
    }
    let recid = match sig[64] {
        0 | 27 => 0u8,
        1 | 28 => 1u8,
        _ => return Err("v must be 27 or 28 (or 0 or 1)"),
    };
    let signature = Signature::from_slice(&sig[..64]).map_err(|_| "r or s is zero or not below the curve order")?;
    if signature.normalize_s().is_some() {
        return Err("s is in the upper half of the curve order (malleable, EIP-2)");
    }
    let recid = RecoveryId::from_byte(recid).ok_or("bad recovery id")?;
    Ok((signature, recid))
}

/// `Q = r⁻¹(s·R − z·G)` with `R` the curve point whose x is `r` and whose y parity is the recovery id.
///
/// By construction `s·R = z·G + r·Q`, which is exactly what ECDSA verification of `(r, s)` under `Q` checks, so a
/// second verification (as `VerifyingKey::recover_from_prehash` does) cannot fail and is skipped; `Q = O` (no key)
/// is refused.
fn recover_point(digest: &[u8; 32], signature: &Signature, recid: RecoveryId) -> Option<AffinePoint> {
    let (r, s) = signature.split_scalars();
    let z = <Scalar as k256::elliptic_curve::ops::Reduce<U256>>::reduce_bytes(digest.into());
    let big_r: Option<AffinePoint> =
        AffinePoint::decompress(&r.to_bytes(), Choice::from(u8::from(recid.is_y_odd()))).into();
    let big_r = ProjectivePoint::from(big_r?);
    let r_inv: Scalar = *r.invert();
    let u1 = -(r_inv * z);
    let u2 = r_inv * *s;
    let q = ProjectivePoint::lincomb(&ProjectivePoint::GENERATOR, &u1, &big_r, &u2);
    if bool::from(q.is_identity()) {
        return None;
    }
    Some(q.to_affine())
}

fn address_of_point(point: &AffinePoint) -> Address {
    let encoded = point.to_encoded_point(false);
    let hash = keccak256(&encoded.as_bytes()[1..]);
    let mut out = [0u8; 20];
    out.copy_from_slice(&hash[12..]);
    out
}

/// The address that signed `digest`, or `None` when the signature is invalid under the rule.
pub fn recover_hash(digest: &[u8; 32], sig: &[u8]) -> Option<Address> {
    let (signature, recid) = parse_signature(sig).ok()?;
    recover_point(digest, &signature, recid).map(|p| address_of_point(&p))
}

/// `recover_hash` through k256's own `recover_from_prehash` (recovery plus a verification); the tests check that
/// the fast path agrees with it.
#[cfg(test)]
fn recover_hash_reference(digest: &[u8; 32], sig: &[u8]) -> Option<Address> {
    let (signature, recid) = parse_signature(sig).ok()?;
    let vk = VerifyingKey::recover_from_prehash(digest, &signature, recid).ok()?;
    Some(address_of_key(&vk))
}

/// The address that `personal_sign`ed `msg`, or `None`.
pub fn recover_message(msg: &[u8], sig: &[u8]) -> Option<Address> {
    recover_hash(&personal_hash(msg), sig)
}

/// [`recover_message`] for many pairs, in parallel. Each answer is exactly the single call's.
pub fn recover_messages(msgs: &[&[u8]], sigs: &[&[u8]]) -> Result<Vec<Option<Address>>> {
    if msgs.len() != sigs.len() {
        return Err(Error::invalid(format!(
            "msgs and sigs differ in length ({} vs {})",
            msgs.len(),
            sigs.len()
        )));
    }
    if msgs.len() > MAX_BATCH {
        return Err(Error::invalid(format!("batch of {} exceeds {MAX_BATCH}", msgs.len())));
    }
    Ok(msgs
        .par_iter()
        .zip(sigs.par_iter())
        .with_min_len(16)
        .map(|(m, s)| recover_message(m, s))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s = s.trim_start_matches("0x");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn keccak_known_answers() {
        // Keccak-256 of "" and "abc" (Keccak team's KAT, as used by Ethereum).
        assert_eq!(
            hex_lower(&keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        assert_eq!(
            hex_lower(&keccak256(b"abc")),
            "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
        );
    }

    #[test]
    fn eip55_examples() {
        // EIP-55's own test addresses.
        for a in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let parsed = parse_address(a).unwrap();
            assert_eq!(checksum_address(&parsed), a);
            assert!(parse_address(&a.to_lowercase()).is_ok());
        }
        assert!(parse_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD").is_err());
        assert!(parse_address("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed").is_err());
        assert!(parse_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe").is_err());
    }

    #[test]
    fn eth_account_sign_message_example() {
        // eth-account's documented Account.sign_message example (message "I♥SF").
        let sk = unhex("b25c7db31feed9122727bf0939dc769a96564b2de4c4726d035b36ecf1e5b364");
        let msg = "I♥SF".as_bytes();
        assert_eq!(
            hex_lower(&personal_hash(msg)),
            "1476abb745d423bf09273f1afd887d951181d25adc66c4834a70491911b7f750"
        );
        let sig = sign_message(&sk, msg).unwrap();
        assert_eq!(
            hex_lower(&sig),
            "e6ca9bba58c88611fad66a6ce8f996908195593807c4b38bd528d2cff09d4eb3\
             3e5bfbbf4d3e39b1a2fd816a7680c19ebebaf3a141b239934ad43cb33fcec8ce1c"
        );
        let addr = address_of(&sk).unwrap();
        assert_eq!(checksum_address(&addr), "0x5ce9454909639D2D17A3F753ce7d93fa0b9aB12E");
        assert_eq!(recover_message(msg, &sig), Some(addr));
        assert_ne!(recover_message(b"I<3SF", &sig), Some(addr));
    }

    #[test]
    fn malleable_and_malformed_signatures_are_refused() {
        let sk = [7u8; 32];
        let sig = sign_message(&sk, b"m").unwrap();
        assert!(recover_message(b"m", &sig).is_some());
        // s' = n - s, v flipped: the classic malleated twin recovers the same key, but the rule refuses it.
        let n = unhex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
        let mut high = sig;
        let mut borrow = 0i32;
        for i in (0..32).rev() {
            let d = n[i] as i32 - sig[32 + i] as i32 - borrow;
            high[32 + i] = d.rem_euclid(256) as u8;
            borrow = i32::from(d < 0);
        }
        high[64] = if sig[64] == 27 { 28 } else { 27 };
        assert_eq!(recover_message(b"m", &high), None);
        let mut raw_v = sig;
        raw_v[64] -= 27;
        assert_eq!(recover_message(b"m", &raw_v), recover_message(b"m", &sig));
        let mut bad_v = sig;
        bad_v[64] = 29;
        assert_eq!(recover_message(b"m", &bad_v), None);
        assert_eq!(recover_message(b"m", &sig[..64]), None);
        assert_eq!(recover_message(b"m", &[0u8; 65]), None);
    }

    #[test]
    fn fast_recovery_equals_k256_recovery() {
        for i in 0u8..64 {
            let sk = [i.wrapping_add(1); 32];
            let digest = keccak256(&[i]);
            let mut sig = sign_hash(&sk, &digest).unwrap();
            assert_eq!(recover_hash(&digest, &sig), recover_hash_reference(&digest, &sig));
            assert_eq!(recover_hash(&digest, &sig), Some(address_of(&sk).unwrap()));
            sig[(i as usize) % 64] ^= 1 << (i % 8);
            assert_eq!(recover_hash(&digest, &sig), recover_hash_reference(&digest, &sig));
            sig[64] ^= 1;
            assert_eq!(recover_hash(&digest, &sig), recover_hash_reference(&digest, &sig));
        }
    }

    #[test]
    fn batch_equals_single() {
        let sk = [9u8; 32];
        let msgs: Vec<Vec<u8>> = (0..40).map(|i| format!("msg {i}").into_bytes()).collect();
        let mut sigs: Vec<[u8; 65]> = msgs.iter().map(|m| sign_message(&sk, m).unwrap()).collect();
        sigs[3][5] ^= 1;
        let m: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        let s: Vec<&[u8]> = sigs.iter().map(|x| x.as_slice()).collect();
        let batch = recover_messages(&m, &s).unwrap();
        for i in 0..40 {
            assert_eq!(batch[i], recover_message(m[i], s[i]));
        }
        assert_ne!(batch[3], Some(address_of(&sk).unwrap()));
    }
}
