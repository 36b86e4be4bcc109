//! Many SHA3-256 hashes at once: eight independent Keccak-f[1600] states, one per 64-bit lane of AVX-512 registers.
//!
//! The SHA3-256 counterpart of `b3x8`: a commitment's per-row messages (leaf ~150 bytes = two sponge blocks, node
//! 65 bytes = one) are absorbed eight at a time. The sponge is FIPS 202's: rate 136 bytes, the message followed by
//! the SHA-3 domain bits `01` and `pad10*1` (bytes `0x06 … 0x80`), the digest the first 32 bytes of the state. Each
//! lane finishes after its own block count (its digest is taken then; later permutations of that lane are
//! discarded). Messages over `MAX_LEN` bytes, and machines without AVX-512F, use the `sha3` crate; the tests compare
//! both for every length around the block boundaries and every lane mix.

use crate::hash::Digest;
use sha3::Digest as _;

/// Messages per SIMD call.
pub use super::lanes::LANES;
const RATE: usize = 136;
/// Longest message the SIMD path takes (bounds the work of lanes idling next to a long one).
const MAX_LEN: usize = 4096;

const RC: [u64; 24] = [
    0x0000000000000001,
    0x0000000000008082,
    0x800000000000808A,
    0x8000000080008000,
    0x000000000000808B,
    0x0000000080000001,
    0x8000000080008081,
    0x8000000000008009,
    0x000000000000008A,
    0x0000000000000088,
    0x0000000080008009,
    0x000000008000000A,
    0x000000008000808B,
    0x800000000000008B,
    0x8000000000008089,
    0x8000000000008003,
    0x8000000000008002,
    0x8000000000000080,
    0x000000000000800A,
    0x800000008000000A,
    0x8000000080008081,
    0x8000000000008080,
    0x0000000080000001,
    0x8000000080008008,
];

/// True when the SIMD path can run on this machine (checked once, then cached by std).
#[inline]
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn scalar(m: &[u8]) -> Digest {
    sha3::Sha3_256::digest(m).into()
}

/// SHA3-256 of up to eight messages, into `out[..msgs.len()]`.
fn hash_group(msgs: &[&[u8]], out: &mut [Digest]) {
    debug_assert!(msgs.len() <= LANES && out.len() >= msgs.len());
    #[cfg(target_arch = "x86_64")]
    if available() && msgs.len() > 1 {
        let mut lanes: [&[u8]; LANES] = [&[]; LANES];
        for (l, m) in lanes.iter_mut().zip(msgs) {
            if m.len() <= MAX_LEN {
                *l = m;
            }
        }
        let mut res = [[0u8; 32]; LANES];
        // SAFETY: AVX-512F support was just checked at run time.
        unsafe { avx512::hash8(&lanes, &mut res) };
        for (i, m) in msgs.iter().enumerate() {
            out[i] = if m.len() <= MAX_LEN { res[i] } else { scalar(m) };
        }
        return;
    }
    for (o, m) in out.iter_mut().zip(msgs) {
        *o = scalar(m);
    }
}

/// Appends SHA3-256(`msg(k)`) for `k` in `0..n` to `out`.
pub fn hash_each<'a>(n: usize, msg: impl Fn(usize) -> &'a [u8], out: &mut Vec<Digest>) {
    super::lanes::each(n, msg, out, hash_group);
}

/// Appends the RFC 6962 parent hashes SHA3-256(0x01 ‖ l ‖ r) of consecutive pairs of `level` (even length).
pub fn parents(level: &[Digest], out: &mut Vec<Digest>) {
    super::lanes::parents(level, out, hash_group);
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{LANES, RATE, RC};
    use std::arch::x86_64::*;

    // Safe `#[target_feature]` functions: callable without `unsafe` from functions that enable AVX-512F too
    // (everything here runs inside `hash8`), and inlined there.

    /// a ^ b ^ c.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn xor3(a: __m512i, b: __m512i, c: __m512i) -> __m512i {
        _mm512_ternarylogic_epi64::<0x96>(a, b, c)
    }

    /// a ^ (!b & c).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn chi(a: __m512i, b: __m512i, c: __m512i) -> __m512i {
        _mm512_ternarylogic_epi64::<0xD2>(a, b, c)
    }

    /// Keccak-f[1600] on eight states (`a[x + 5y]` holds lane (x, y) of each).
    #[target_feature(enable = "avx512f")]
    fn keccak_f(a: &mut [__m512i; 25]) {
        for rc in RC {
            round(a);
            a[0] = _mm512_xor_si512(a[0], _mm512_set1_epi64(rc as i64));
        }
    }

    /// One round without iota.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn round(a: &mut [__m512i; 25]) {
        // theta
        let c0 = xor3(xor3(a[0], a[5], a[10]), a[15], a[20]);
        let c1 = xor3(xor3(a[1], a[6], a[11]), a[16], a[21]);
        let c2 = xor3(xor3(a[2], a[7], a[12]), a[17], a[22]);
        let c3 = xor3(xor3(a[3], a[8], a[13]), a[18], a[23]);
        let c4 = xor3(xor3(a[4], a[9], a[14]), a[19], a[24]);
        let d0 = _mm512_xor_si512(c4, _mm512_rol_epi64::<1>(c1));
        let d1 = _mm512_xor_si512(c0, _mm512_rol_epi64::<1>(c2));
        let d2 = _mm512_xor_si512(c1, _mm512_rol_epi64::<1>(c3));
        let d3 = _mm512_xor_si512(c2, _mm512_rol_epi64::<1>(c4));
        let d4 = _mm512_xor_si512(c3, _mm512_rol_epi64::<1>(c0));
        // rho and pi (with theta's column update folded in)
        let b0 = _mm512_xor_si512(a[0], d0);
        let b16 = _mm512_rol_epi64::<36>(_mm512_xor_si512(a[5], d0));
        let b7 = _mm512_rol_epi64::<3>(_mm512_xor_si512(a[10], d0));
        let b23 = _mm512_rol_epi64::<41>(_mm512_xor_si512(a[15], d0));
        let b14 = _mm512_rol_epi64::<18>(_mm512_xor_si512(a[20], d0));
        let b10 = _mm512_rol_epi64::<1>(_mm512_xor_si512(a[1], d1));
        let b1 = _mm512_rol_epi64::<44>(_mm512_xor_si512(a[6], d1));
        let b17 = _mm512_rol_epi64::<10>(_mm512_xor_si512(a[11], d1));
        let b8 = _mm512_rol_epi64::<45>(_mm512_xor_si512(a[16], d1));
        let b24 = _mm512_rol_epi64::<2>(_mm512_xor_si512(a[21], d1));
        let b20 = _mm512_rol_epi64::<62>(_mm512_xor_si512(a[2], d2));
        let b11 = _mm512_rol_epi64::<6>(_mm512_xor_si512(a[7], d2));
        let b2 = _mm512_rol_epi64::<43>(_mm512_xor_si512(a[12], d2));
        let b18 = _mm512_rol_epi64::<15>(_mm512_xor_si512(a[17], d2));
        let b9 = _mm512_rol_epi64::<61>(_mm512_xor_si512(a[22], d2));
        let b5 = _mm512_rol_epi64::<28>(_mm512_xor_si512(a[3], d3));
        let b21 = _mm512_rol_epi64::<55>(_mm512_xor_si512(a[8], d3));
        let b12 = _mm512_rol_epi64::<25>(_mm512_xor_si512(a[13], d3));
        let b3 = _mm512_rol_epi64::<21>(_mm512_xor_si512(a[18], d3));
        let b19 = _mm512_rol_epi64::<56>(_mm512_xor_si512(a[23], d3));
        let b15 = _mm512_rol_epi64::<27>(_mm512_xor_si512(a[4], d4));
        let b6 = _mm512_rol_epi64::<20>(_mm512_xor_si512(a[9], d4));
        let b22 = _mm512_rol_epi64::<39>(_mm512_xor_si512(a[14], d4));
        let b13 = _mm512_rol_epi64::<8>(_mm512_xor_si512(a[19], d4));
        let b4 = _mm512_rol_epi64::<14>(_mm512_xor_si512(a[24], d4));
        // chi
        a[0] = chi(b0, b1, b2);
        a[1] = chi(b1, b2, b3);
        a[2] = chi(b2, b3, b4);
        a[3] = chi(b3, b4, b0);
        a[4] = chi(b4, b0, b1);
        a[5] = chi(b5, b6, b7);
        a[6] = chi(b6, b7, b8);
        a[7] = chi(b7, b8, b9);
        a[8] = chi(b8, b9, b5);
        a[9] = chi(b9, b5, b6);
        a[10] = chi(b10, b11, b12);
        a[11] = chi(b11, b12, b13);
        a[12] = chi(b12, b13, b14);
        a[13] = chi(b13, b14, b10);
        a[14] = chi(b14, b10, b11);
        a[15] = chi(b15, b16, b17);
        a[16] = chi(b16, b17, b18);
        a[17] = chi(b17, b18, b19);
        a[18] = chi(b18, b19, b15);
        a[19] = chi(b19, b15, b16);
        a[20] = chi(b20, b21, b22);
        a[21] = chi(b21, b22, b23);
        a[22] = chi(b22, b23, b24);
        a[23] = chi(b23, b24, b20);
        a[24] = chi(b24, b20, b21);
    }

    /// SHA3-256 of eight messages. Calling it needs AVX-512F (checked by the caller).
    #[target_feature(enable = "avx512f")]
    pub(super) fn hash8(msgs: &[&[u8]; LANES], out: &mut [[u8; 32]; LANES]) {
        let nblocks: [usize; LANES] = std::array::from_fn(|l| msgs[l].len() / RATE + 1);
        let steps = nblocks.iter().copied().max().unwrap_or(1);
        let mut a = [_mm512_setzero_si512(); 25];
        let mut pad = [[0u8; RATE]; LANES];
        let zero = [0u8; RATE];
        for b in 0..steps {
            let mut ptrs: [*const u8; LANES] = [zero.as_ptr(); LANES];
            for l in 0..LANES {
                if b >= nblocks[l] {
                    continue;
                }
                let (m, off) = (msgs[l], b * RATE);
                if off + RATE <= m.len() {
                    ptrs[l] = m[off..off + RATE].as_ptr();
                } else {
                    // The last block: the tail, the domain bits and pad10*1.
                    let rem = m.len() - off;
                    pad[l] = [0u8; RATE];
                    pad[l][..rem].copy_from_slice(&m[off..]);
                    pad[l][rem] ^= 0x06;
                    pad[l][RATE - 1] ^= 0x80;
                    ptrs[l] = pad[l].as_ptr();
                }
            }
            for (w, lane) in a.iter_mut().enumerate().take(RATE / 8) {
                // SAFETY: every pointer addresses RATE readable bytes, and 8 * w + 8 <= RATE.
                let words: [u64; LANES] =
                    std::array::from_fn(|l| unsafe { (ptrs[l].add(8 * w) as *const u64).read_unaligned() });
                // SAFETY: reading 64 bytes from an array of eight u64.
                let v = unsafe { _mm512_loadu_si512(words.as_ptr() as *const _) };
                *lane = _mm512_xor_si512(*lane, v);
            }
            keccak_f(&mut a);
            if nblocks.contains(&(b + 1)) {
                let mut words = [[0u64; LANES]; 4];
                for (w, dst) in words.iter_mut().enumerate() {
                    // SAFETY: writing 64 bytes into an array of eight u64.
                    unsafe { _mm512_storeu_si512(dst.as_mut_ptr() as *mut _, a[w]) };
                }
                for l in 0..LANES {
                    if nblocks[l] == b + 1 {
                        for (w, ws) in words.iter().enumerate() {
                            out[l][8 * w..8 * w + 8].copy_from_slice(&ws[l].to_le_bytes());
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed)).collect()
    }

    #[test]
    fn fips202_empty_and_abc() {
        // FIPS 202 / NIST example values for SHA3-256("") and SHA3-256("abc").
        let mut out = Vec::new();
        hash_each(2, |k| if k == 0 { &b""[..] } else { &b"abc"[..] }, &mut out);
        assert_eq!(
            crate::hex::encode(&out[0]),
            "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
        );
        assert_eq!(
            crate::hex::encode(&out[1]),
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
        );
    }

    #[test]
    fn every_length_and_lane_mix_matches_the_crate() {
        for base in 0..=700usize {
            let lens: Vec<usize> = (0..LANES)
                .map(|l| if l == 5 { base * 7 % 5000 } else { (base + l * 41) % 700 })
                .collect();
            let msgs: Vec<Vec<u8>> = lens.iter().enumerate().map(|(l, &n)| data(n, l as u8)).collect();
            for count in [1usize, 2, 6, LANES] {
                let mut got = Vec::new();
                hash_each(count, |k| &msgs[k][..], &mut got);
                let want: Vec<Digest> = msgs[..count].iter().map(|m| scalar(m)).collect();
                assert_eq!(got, want, "base {base}, count {count}");
            }
        }
    }

    #[test]
    fn parents_match_the_node_hash() {
        let level: Vec<Digest> = (0..38u8).map(|i| scalar(&[i])).collect();
        for n in (0..=level.len()).step_by(2) {
            let mut got = Vec::new();
            parents(&level[..n], &mut got);
            let want: Vec<Digest> = level[..n]
                .chunks_exact(2)
                .map(|p| crate::hash::HashAlg::Sha3_256.node(&p[0], &p[1]))
                .collect();
            assert_eq!(got, want, "n={n}");
        }
    }
}
