//! Ed25519 (RFC 8032) under capfast's one validity rule, `docs/ed25519-validity.md`.
//!
//! A signature `(R, S)` by key `A` on message `M` is valid iff
//! 1. `S < L` (canonical scalar);
//! 2. `A` and `R` are canonical encodings (`y < p`, no "negative zero") of curve points;
//! 3. neither `A` nor `R` is of small order (order dividing 8, the identity included);
//! 4. both `A` and `R` lie in the prime-order subgroup (no torsion component);
//! 5. `R = [S]B − [k]A` with `k = SHA-512(R ‖ A ‖ M) mod L` (cofactorless).
//!
//! Because of 4, every point of the equation lies in the prime-order subgroup, where multiplying by the cofactor 8
//! is injective: the cofactored and the cofactorless equations give the same answer, and so does a random linear
//! combination of many equations (false acceptance ≤ 2⁻¹²⁷ per combination). [`verify_batch`] checks rules 1–4 per
//! signature (they are deterministic), combines the survivors' equations with secret random 127-bit weights, and
//! bisects a failing combination down to single equations, so its answer is exactly the per-signature answer.
//!
//! Signing derives the public key from the 32-byte seed alone (never from a caller-supplied key: RUSTSEC-2022-0093).

use std::collections::HashMap;
use std::sync::Mutex;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use rayon::prelude::*;
use sha2::{Digest as _, Sha512};

use crate::error::{Error, Result};

pub const SECRET_KEY_LEN: usize = 32;
pub const PUBLIC_KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;
/// Largest batch accepted in one call (hostile-input bound; callers split larger work).
pub const MAX_BATCH: usize = 1 << 24;

pub type PublicKey = [u8; PUBLIC_KEY_LEN];
pub type SecretKey = [u8; SECRET_KEY_LEN];
pub type Signature = [u8; SIGNATURE_LEN];

/// Signatures per combined equation before bisection; large enough for Pippenger to pay off, small enough that a
/// failing chunk is cheap to bisect and that chunks spread over the rayon pool.
const CHUNK: usize = 2048;
/// Below this many signatures a sub-batch is settled by single equations (bisection overhead beats the saving).
const LEAF: usize = 4;

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    getrandom::getrandom(&mut out).map_err(|e| {
        Error::Io(std::io::Error::other(format!(
            "operating system random source failed: {e}"
        )))
    })?;
    Ok(out)
}

/// A fresh random 32-byte secret key (seed) and its public key.
pub fn generate() -> Result<(SecretKey, PublicKey)> {
    let seed: SecretKey = random_bytes()?;
    let pk = public_key(&seed);
    Ok((seed, pk))
}

/// The public key of a 32-byte seed (RFC 8032 §5.1.5).
pub fn public_key(seed: &SecretKey) -> PublicKey {
    ed25519_dalek::SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// RFC 8032 signature of `msg` by `seed`. The public key is derived from the seed, never supplied.
pub fn sign(seed: &SecretKey, msg: &[u8]) -> Signature {
    use ed25519_dalek::Signer as _;
    ed25519_dalek::SigningKey::from_bytes(seed).sign(msg).to_bytes()
}

/// Checks lengths and converts; the error names the argument.
pub fn secret_key_arg(bytes: &[u8], what: &str) -> Result<SecretKey> {
    bytes
        .try_into()
        .map_err(|_| Error::invalid(format!("{what} must be {SECRET_KEY_LEN} bytes, got {}", bytes.len())))
}
pub fn public_key_arg(bytes: &[u8], what: &str) -> Result<PublicKey> {
    bytes
        .try_into()
        .map_err(|_| Error::invalid(format!("{what} must be {PUBLIC_KEY_LEN} bytes, got {}", bytes.len())))
}
pub fn signature_arg(bytes: &[u8], what: &str) -> Result<Signature> {
    bytes
        .try_into()
        .map_err(|_| Error::invalid(format!("{what} must be {SIGNATURE_LEN} bytes, got {}", bytes.len())))
}

/// Rules 2–4 for one encoded point: canonical, not of small order, torsion-free.
fn decode_strict(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    let point = CompressedEdwardsY(*bytes).decompress()?;
    // `decompress` reduces y mod p and accepts x = 0 with the sign bit set; re-encoding exposes both.
    if point.compress().as_bytes() != bytes || point.is_small_order() || !point.is_torsion_free() {
        return None;
    }
    Some(point)
}

/// Validated public keys, so that a loop of single verifications by one signer pays the subgroup check once.
/// A pure function of the bytes, so caching cannot change a verdict.
static KEY_CACHE: Mutex<Option<HashMap<PublicKey, EdwardsPoint>>> = Mutex::new(None);
const KEY_CACHE_MAX: usize = 1024;

fn decode_key(pk: &PublicKey) -> Option<EdwardsPoint> {
    if let Ok(guard) = KEY_CACHE.lock() {
        if let Some(p) = guard.as_ref().and_then(|m| m.get(pk)) {
            return Some(*p);
        }
    }
    let point = decode_strict(pk)?;
    if let Ok(mut guard) = KEY_CACHE.lock() {
        let map = guard.get_or_insert_with(HashMap::new);
        if map.len() >= KEY_CACHE_MAX {
            map.clear();
        }
        map.insert(*pk, point);
    }
    Some(point)
}

fn challenge(r: &[u8], pk: &PublicKey, msg: &[u8]) -> Scalar {
    let mut h = Sha512::new();
    h.update(r);
    h.update(pk);
    h.update(msg);
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

fn split_sig(sig: &Signature) -> ([u8; 32], [u8; 32]) {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    r.copy_from_slice(&sig[..32]);
    s.copy_from_slice(&sig[32..]);
    (r, s)
}

/// Single verification under the validity rule.
pub fn verify(pk: &PublicKey, msg: &[u8], sig: &Signature) -> bool {
    let (r_bytes, s_bytes) = split_sig(sig);
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };
    let Some(a) = decode_key(pk) else {
        return false;
    };
    let k = challenge(&r_bytes, pk, msg);
    let expected = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &(-a), &s);
    // Equal encodings make R canonical and equal to a point of the prime-order subgroup (A and B are torsion-free),
    // so rules 2 and 4 for R follow from the equation; rule 3 is checked on the computed point.
    expected.compress().as_bytes() == &r_bytes && !expected.is_small_order()
}

/// Checked-length form of [`verify`]: malformed sizes are an error, never `false`.
pub fn verify_checked(pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<bool> {
    Ok(verify(
        &public_key_arg(pk, "public key")?,
        msg,
        &signature_arg(sig, "signature")?,
    ))
}

/// One signature that passed rules 1–4, ready for the equation.
struct Prepared {
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
    key: usize,
    z: Scalar,
}

impl Prepared {
    fn equation_holds(&self, keys: &[Option<EdwardsPoint>]) -> bool {
        match keys[self.key] {
            Some(a) => EdwardsPoint::vartime_double_scalar_mul_basepoint(&self.k, &(-a), &self.s) == self.r,
            None => false,
        }
    }
}

/// Σ zᵢRᵢ + Σ_A (Σ zᵢkᵢ) A − (Σ zᵢSᵢ) B = O over the given signatures, public keys merged.
fn combined_holds(items: &[&Prepared], keys: &[Option<EdwardsPoint>]) -> bool {
    let mut key_coeff: HashMap<usize, Scalar> = HashMap::new();
    let mut scalars: Vec<Scalar> = Vec::with_capacity(items.len() + 8);
    let mut points: Vec<EdwardsPoint> = Vec::with_capacity(items.len() + 8);
    let mut b_coeff = Scalar::ZERO;
    for p in items {
        scalars.push(p.z);
        points.push(p.r);
        *key_coeff.entry(p.key).or_insert(Scalar::ZERO) += p.z * p.k;
        b_coeff -= p.z * p.s;
    }
    for (key, coeff) in key_coeff {
        match keys[key] {
            Some(a) => {
                scalars.push(coeff);
                points.push(a);
            }
            None => return false,
        }
    }
    scalars.push(b_coeff);
    points.push(ED25519_BASEPOINT_POINT);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

/// Marks every signature of `items` whose equation fails, bisecting failing combinations.
fn settle(items: &[&Prepared], keys: &[Option<EdwardsPoint>], out: &mut Vec<usize>, idx: &[usize]) {
    if items.len() <= LEAF {
        for (p, &i) in items.iter().zip(idx) {
            if !p.equation_holds(keys) {
                out.push(i);
            }
        }
        return;
    }
    if combined_holds(items, keys) {
        return;
    }
    let mid = items.len() / 2;
    settle(&items[..mid], keys, out, &idx[..mid]);
    settle(&items[mid..], keys, out, &idx[mid..]);
}

/// Decoded distinct public keys (`None` = invalid) and the per-signature preparation (`None` = rules 1–4 failed).
type PreparedBatch = (Vec<Option<EdwardsPoint>>, Vec<Option<Prepared>>);

/// Rules 1–4 for every signature (in parallel), with public keys decoded once per distinct key.
fn prepare(pks: &[&PublicKey], msgs: &[&[u8]], sigs: &[&Signature]) -> Result<PreparedBatch> {
    let mut key_index: HashMap<&PublicKey, usize> = HashMap::new();
    let mut distinct: Vec<&PublicKey> = Vec::new();
    let slots: Vec<usize> = pks
        .iter()
        .map(|pk| {
            *key_index.entry(pk).or_insert_with(|| {
                distinct.push(pk);
                distinct.len() - 1
            })
        })
        .collect();
    let keys: Vec<Option<EdwardsPoint>> = distinct.par_iter().map(|pk| decode_key(pk)).collect();

    // Secret random weights: a keyed BLAKE3 stream under a fresh OS-random key (one syscall per batch).
    let weight_key: [u8; 32] = random_bytes()?;
    let mut stream = blake3::Hasher::new_keyed(&weight_key)
        .update(b"capfast/ed25519-batch/v1")
        .finalize_xof();
    let mut weights = vec![0u8; 16 * sigs.len()];
    stream.fill(&mut weights);

    let prepared: Vec<Option<Prepared>> = (0..sigs.len())
        .into_par_iter()
        .with_min_len(32)
        .map(|i| {
            let (r_bytes, s_bytes) = split_sig(sigs[i]);
            let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
            keys[slots[i]]?;
            let r = decode_strict(&r_bytes)?;
            let k = challenge(&r_bytes, pks[i], msgs[i]);
            let mut z = [0u8; 32];
            z[..16].copy_from_slice(&weights[16 * i..16 * i + 16]);
            z[0] |= 1; // never zero
            Some(Prepared {
                r,
                s,
                k,
                key: slots[i],
                z: Scalar::from_bytes_mod_order(z),
            })
        })
        .collect();
    Ok((keys, prepared))
}

fn check_counts(n_pks: usize, n_msgs: usize, n_sigs: usize) -> Result<()> {
    if n_pks != n_msgs || n_pks != n_sigs {
        return Err(Error::invalid(format!(
            "pks, msgs and sigs must have the same length, got {n_pks}, {n_msgs} and {n_sigs}"
        )));
    }
    if n_pks > MAX_BATCH {
        return Err(Error::invalid(format!(
            "batch of {n_pks} signatures exceeds the limit of {MAX_BATCH}"
        )));
    }
    Ok(())
}

/// Per-signature verdicts, identical to calling [`verify`] on each triple.
pub fn verify_batch(pks: &[&PublicKey], msgs: &[&[u8]], sigs: &[&Signature]) -> Result<Vec<bool>> {
    check_counts(pks.len(), msgs.len(), sigs.len())?;
    let (keys, prepared) = prepare(pks, msgs, sigs)?;
    let mut verdict: Vec<bool> = prepared.iter().map(Option::is_some).collect();
    let (idx, items): (Vec<usize>, Vec<&Prepared>) = prepared
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.as_ref().map(|p| (i, p)))
        .unzip();
    let bad: Vec<usize> = items
        .par_chunks(CHUNK)
        .zip(idx.par_chunks(CHUNK))
        .flat_map_iter(|(chunk, chunk_idx)| {
            let mut out = Vec::new();
            settle(chunk, &keys, &mut out, chunk_idx);
            out
        })
        .collect();
    for i in bad {
        verdict[i] = false;
    }
    Ok(verdict)
}

/// `true` iff every signature is valid (same answer as `verify_batch(..).all()`, without locating failures).
pub fn verify_batch_all(pks: &[&PublicKey], msgs: &[&[u8]], sigs: &[&Signature]) -> Result<bool> {
    check_counts(pks.len(), msgs.len(), sigs.len())?;
    let (keys, prepared) = prepare(pks, msgs, sigs)?;
    let mut items = Vec::with_capacity(prepared.len());
    for p in &prepared {
        match p {
            Some(p) => items.push(p),
            None => return Ok(false),
        }
    }
    Ok(items.par_chunks(CHUNK).all(|chunk| combined_holds(chunk, &keys)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        crate::hex::decode(s).unwrap()
    }

    /// RFC 8032 §7.1 TEST 1 and TEST 2 (typed from the RFC).
    #[test]
    fn rfc8032_vectors() {
        let cases = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
        ];
        for (sk, pk, msg, sig) in cases {
            let seed: SecretKey = hex(sk).try_into().unwrap();
            let pk: PublicKey = hex(pk).try_into().unwrap();
            let sig: Signature = hex(sig).try_into().unwrap();
            let msg = hex(msg);
            assert_eq!(public_key(&seed), pk);
            assert_eq!(sign(&seed, &msg), sig);
            assert!(verify(&pk, &msg, &sig));
            let mut bad = sig;
            bad[0] ^= 1;
            assert!(!verify(&pk, &msg, &bad));
        }
    }

    #[test]
    fn malformed_sizes_are_errors() {
        assert!(verify_checked(&[0u8; 31], b"", &[0u8; 64]).is_err());
        assert!(verify_checked(&[0u8; 32], b"", &[0u8; 65]).is_err());
        assert!(secret_key_arg(&[0u8; 64], "sk").is_err());
        let pk = [0u8; 32];
        let sig = [0u8; 64];
        assert!(verify_batch(&[&pk], &[], &[&sig]).is_err());
    }

    /// Adds the order-2 point (0, −1) to a point: the result has a torsion component.
    fn with_torsion(p: EdwardsPoint) -> EdwardsPoint {
        let mut t = [0u8; 32];
        t[0] = 0xec;
        t[1..31].fill(0xff);
        t[31] = 0x7f; // y = p − 1
        p + CompressedEdwardsY(t).decompress().unwrap()
    }

    #[test]
    fn rejects_torsion_in_r_even_when_cofactored_equation_holds() {
        let seed = [7u8; 32];
        let pk = public_key(&seed);
        let msg = b"torsion";
        let sig = sign(&seed, msg);
        assert!(verify(&pk, msg, &sig));
        // Sign with R' = [r]B + T (T of order 2) and the S that matches R': the cofactored check passes.
        let expanded: [u8; 64] = Sha512::digest(seed).into();
        let mut a_bytes = [0u8; 32];
        a_bytes.copy_from_slice(&expanded[..32]);
        a_bytes[0] &= 248;
        a_bytes[31] &= 127;
        a_bytes[31] |= 64;
        let a = Scalar::from_bytes_mod_order(a_bytes);
        let nonce = Scalar::from(123_456_789u64);
        let r_point = with_torsion(EdwardsPoint::mul_base(&nonce));
        let r_enc = r_point.compress().to_bytes();
        let k = challenge(&r_enc, &pk, msg);
        let s = nonce + k * a;
        let mut forged = [0u8; 64];
        forged[..32].copy_from_slice(&r_enc);
        forged[32..].copy_from_slice(s.as_bytes());
        let a_point = CompressedEdwardsY(pk).decompress().unwrap();
        // The cofactored equation accepts it, the rule rejects it, single and batch alike.
        let lhs = EdwardsPoint::mul_base(&s).mul_by_cofactor();
        let rhs = (r_point + k * a_point).mul_by_cofactor();
        assert_eq!(lhs, rhs);
        assert!(!verify(&pk, msg, &forged));
        let good = sign(&seed, b"other");
        let verdicts = verify_batch(&[&pk, &pk], &[msg.as_slice(), b"other"], &[&forged, &good]).unwrap();
        assert_eq!(verdicts, vec![false, true]);
    }

    #[test]
    fn batch_finds_exactly_the_bad_ones() {
        let n = 600;
        let seeds: Vec<SecretKey> = (0..n).map(|i| [(i % 7) as u8 + 1; 32]).collect();
        let pks: Vec<PublicKey> = seeds.iter().map(public_key).collect();
        let msgs: Vec<Vec<u8>> = (0..n).map(|i| format!("message {i}").into_bytes()).collect();
        let mut sigs: Vec<Signature> = seeds.iter().zip(&msgs).map(|(s, m)| sign(s, m)).collect();
        let bad = [3usize, 4, 250, 599];
        sigs[3][40] ^= 0x10; // S altered
        sigs[4][1] ^= 0x01; // R altered
        sigs[250][63] |= 0xf0; // S >= L
        let mut msgs = msgs;
        msgs[599].push(b'!'); // message altered
        let pk_refs: Vec<&PublicKey> = pks.iter().collect();
        let msg_refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        let sig_refs: Vec<&Signature> = sigs.iter().collect();
        let verdicts = verify_batch(&pk_refs, &msg_refs, &sig_refs).unwrap();
        for (i, v) in verdicts.iter().enumerate() {
            assert_eq!(*v, !bad.contains(&i), "signature {i}");
            assert_eq!(*v, verify(pk_refs[i], msg_refs[i], sig_refs[i]));
        }
        assert!(!verify_batch_all(&pk_refs, &msg_refs, &sig_refs).unwrap());
        let good: Vec<usize> = (0..n).filter(|i| !bad.contains(i)).collect();
        let gp: Vec<&PublicKey> = good.iter().map(|&i| pk_refs[i]).collect();
        let gm: Vec<&[u8]> = good.iter().map(|&i| msg_refs[i]).collect();
        let gs: Vec<&Signature> = good.iter().map(|&i| sig_refs[i]).collect();
        assert!(verify_batch_all(&gp, &gm, &gs).unwrap());
        assert!(verify_batch(&[], &[], &[]).unwrap().is_empty());
    }

    #[test]
    fn small_order_and_noncanonical_keys_rejected() {
        // Identity (y = 1) and its non-canonical twin y = p + 1.
        let mut id = [0u8; 32];
        id[0] = 1;
        assert!(decode_strict(&id).is_none());
        let mut id_nc = [0xffu8; 32];
        id_nc[0] = 0xee;
        id_nc[31] = 0x7f;
        assert!(decode_strict(&id_nc).is_none());
        // A valid key passes; the same key plus torsion does not.
        let pk = public_key(&[9u8; 32]);
        let p = decode_strict(&pk).unwrap();
        assert!(decode_strict(&with_torsion(p).compress().to_bytes()).is_none());
    }
}
