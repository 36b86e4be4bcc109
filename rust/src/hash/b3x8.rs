//! Many short BLAKE3 hashes at once: eight independent messages per call, one per 32-bit lane of AVX2 registers.
//!
//! A commitment hashes two short messages per row (the leaf `0x00 ‖ [salt ‖] cbor`, ~150 bytes, and an interior
//! node `0x01 ‖ left ‖ right`, 65 bytes). Hashed one at a time, each BLAKE3 compression runs on its own and the
//! per-call set-up costs as much as the compression; here eight messages are compressed side by side, lane `l` of
//! every state vector belonging to message `l`. Only single-chunk messages (≤ 1024 bytes) take this path — they are
//! hashed exactly as the BLAKE3 spec's chunk state does it (counter 0, `CHUNK_START` on the first block,
//! `CHUNK_END | ROOT` on the last, the last block zero-padded with its true length) — anything longer, and every
//! machine without AVX2, goes through the `blake3` crate. The tests compare both for every length and lane mix.

use crate::hash::Digest;

/// Messages per SIMD call.
pub use super::lanes::LANES;
/// Longest message the SIMD path takes (one BLAKE3 chunk).
const MAX_LEN: usize = 1024;

const IV: [u32; 8] = [
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
];
const CHUNK_START: u32 = 1;
const CHUNK_END: u32 = 2;
const ROOT: u32 = 8;
const KEYED_HASH: u32 = 16;

/// The per-round message word order: round 0 is the identity, each next round applies the BLAKE3 permutation.
const SCHEDULE: [[usize; 16]; 7] = {
    const PERM: [usize; 16] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
    let mut s = [[0usize; 16]; 7];
    let mut i = 0;
    while i < 16 {
        s[0][i] = i;
        i += 1;
    }
    let mut r = 1;
    while r < 7 {
        let mut i = 0;
        while i < 16 {
            s[r][i] = s[r - 1][PERM[i]];
            i += 1;
        }
        r += 1;
    }
    s
};

fn key_words(key: &[u8; 32]) -> [u32; 8] {
    let mut w = [0u32; 8];
    for (i, c) in key.chunks_exact(4).enumerate() {
        w[i] = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    w
}

/// True when the SIMD path can run on this machine (checked once, then cached by std).
#[inline]
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// True when AVX-512F and AVX-512VL are there too (single-instruction 32-bit rotations on 256-bit registers).
#[cfg(target_arch = "x86_64")]
#[inline]
fn vl_available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vl")
}

/// Hashes up to eight messages (`msgs.len() <= LANES`) with chaining key `key` and extra flags `flags`
/// (`KEYED_HASH` or 0), writing `out[i]` for each. Messages over one chunk are hashed by the crate.
fn hash_group(msgs: &[&[u8]], key: Option<&[u8; 32]>, out: &mut [Digest]) {
    debug_assert!(msgs.len() <= LANES && out.len() >= msgs.len());
    let scalar = |m: &[u8]| -> Digest {
        match key {
            None => *blake3::hash(m).as_bytes(),
            Some(k) => *blake3::keyed_hash(k, m).as_bytes(),
        }
    };
    #[cfg(target_arch = "x86_64")]
    if available() && msgs.len() > 1 {
        let mut lanes: [&[u8]; LANES] = [&[]; LANES];
        for (l, m) in lanes.iter_mut().zip(msgs) {
            if m.len() <= MAX_LEN {
                *l = m;
            }
        }
        let (words, flags) = match key {
            None => (IV, 0),
            Some(k) => (key_words(k), KEYED_HASH),
        };
        let mut res = [[0u8; 32]; LANES];
        if vl_available() {
            // SAFETY: AVX2, AVX-512F and AVX-512VL support was checked at run time; lanes hold ≤ MAX_LEN bytes.
            unsafe { avx2::hash8_vl(&lanes, &words, flags, &mut res) };
        } else {
            // SAFETY: AVX2 support was just checked at run time; every lane holds at most MAX_LEN bytes.
            unsafe { avx2::hash8(&lanes, &words, flags, &mut res) };
        }
        for (i, m) in msgs.iter().enumerate() {
            out[i] = if m.len() <= MAX_LEN { res[i] } else { scalar(m) };
        }
        return;
    }
    for (o, m) in out.iter_mut().zip(msgs) {
        *o = scalar(m);
    }
}

/// Appends BLAKE3(`msg(k)`) for `k` in `0..n` to `out` (keyed with `key` when given).
pub fn hash_each<'a>(n: usize, key: Option<&[u8; 32]>, msg: impl Fn(usize) -> &'a [u8], out: &mut Vec<Digest>) {
    super::lanes::each(n, msg, out, |group, res| hash_group(group, key, res));
}

/// Appends the RFC 6962 parent hashes BLAKE3(0x01 ‖ l ‖ r) of consecutive pairs of `level` (even length) to `out`.
pub fn parents(level: &[Digest], out: &mut Vec<Digest>) {
    super::lanes::parents(level, out, |group, res| hash_group(group, None, res));
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{CHUNK_END, CHUNK_START, IV, LANES, ROOT, SCHEDULE};
    use std::arch::x86_64::*;

    // The helpers are safe `#[target_feature]` functions: callable without `unsafe` from functions that enable the
    // same features (everything below runs inside `hash8` / `hash8_vl`), and inlined there.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn add(a: __m256i, b: __m256i) -> __m256i {
        _mm256_add_epi32(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn xor(a: __m256i, b: __m256i) -> __m256i {
        _mm256_xor_si256(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn splat(x: u32) -> __m256i {
        _mm256_set1_epi32(x as i32)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn rot16(a: __m256i) -> __m256i {
        let m = _mm256_setr_epi8(
            2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
        );
        _mm256_shuffle_epi8(a, m)
    }
    #[inline]
    #[target_feature(enable = "avx2")]
    fn rot8(a: __m256i) -> __m256i {
        let m = _mm256_setr_epi8(
            1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12, 1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12,
        );
        _mm256_shuffle_epi8(a, m)
    }
    /// Rotate right by `N` with one AVX-512VL `vprord`.
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    fn ror_vl<const N: i32>(a: __m256i) -> __m256i {
        _mm256_ror_epi32::<N>(a)
    }
    /// Rotate right by 12 (one `vprord` with AVX-512VL, else shifts).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn rot12<const VL: bool>(a: __m256i) -> __m256i {
        if VL {
            // SAFETY: the `VL` instantiation is only reached from `hash8_vl`, which enables AVX-512F/VL and is
            // called only after those were detected at run time.
            unsafe { ror_vl::<12>(a) }
        } else {
            _mm256_or_si256(_mm256_srli_epi32::<12>(a), _mm256_slli_epi32::<20>(a))
        }
    }
    /// Rotate right by 7 (as `rot12`).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn rot7<const VL: bool>(a: __m256i) -> __m256i {
        if VL {
            // SAFETY: as for `rot12`.
            unsafe { ror_vl::<7>(a) }
        } else {
            _mm256_or_si256(_mm256_srli_epi32::<7>(a), _mm256_slli_epi32::<25>(a))
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn g<const VL: bool>(v: &mut [__m256i; 16], a: usize, b: usize, c: usize, d: usize, x: __m256i, y: __m256i) {
        v[a] = add(add(v[a], v[b]), x);
        v[d] = rot16(xor(v[d], v[a]));
        v[c] = add(v[c], v[d]);
        v[b] = rot12::<VL>(xor(v[b], v[c]));
        v[a] = add(add(v[a], v[b]), y);
        v[d] = rot8(xor(v[d], v[a]));
        v[c] = add(v[c], v[d]);
        v[b] = rot7::<VL>(xor(v[b], v[c]));
    }

    /// 8×8 transpose of 32-bit words: `r[i]` lane `j` becomes `out[j]` lane `i`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn transpose(r: [__m256i; 8]) -> [__m256i; 8] {
        let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
        let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
        let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
        let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
        let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
        let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
        let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
        let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
        let u0 = _mm256_unpacklo_epi64(t0, t2);
        let u1 = _mm256_unpackhi_epi64(t0, t2);
        let u2 = _mm256_unpacklo_epi64(t1, t3);
        let u3 = _mm256_unpackhi_epi64(t1, t3);
        let u4 = _mm256_unpacklo_epi64(t4, t6);
        let u5 = _mm256_unpackhi_epi64(t4, t6);
        let u6 = _mm256_unpacklo_epi64(t5, t7);
        let u7 = _mm256_unpackhi_epi64(t5, t7);
        [
            _mm256_permute2x128_si256::<0x20>(u0, u4),
            _mm256_permute2x128_si256::<0x20>(u1, u5),
            _mm256_permute2x128_si256::<0x20>(u2, u6),
            _mm256_permute2x128_si256::<0x20>(u3, u7),
            _mm256_permute2x128_si256::<0x31>(u0, u4),
            _mm256_permute2x128_si256::<0x31>(u1, u5),
            _mm256_permute2x128_si256::<0x31>(u2, u6),
            _mm256_permute2x128_si256::<0x31>(u3, u7),
        ]
    }

    /// BLAKE3 of eight single-chunk messages (each ≤ 1024 bytes; shorter lanes idle while longer ones finish; a
    /// longer message would be hashed wrongly, never unsafely). Calling it needs AVX2 (checked by the caller).
    #[target_feature(enable = "avx2")]
    pub(super) fn hash8(msgs: &[&[u8]; LANES], key: &[u32; 8], flags: u32, out: &mut [[u8; 32]; LANES]) {
        hash8_body::<false>(msgs, key, flags, out)
    }

    /// `hash8` with AVX-512VL's single-instruction rotations. Calling it needs AVX2, AVX-512F and AVX-512VL.
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    pub(super) fn hash8_vl(msgs: &[&[u8]; LANES], key: &[u32; 8], flags: u32, out: &mut [[u8; 32]; LANES]) {
        hash8_body::<true>(msgs, key, flags, out)
    }

    /// The body of `hash8` (`VL = false`) and `hash8_vl` (`VL = true`; only ever called from `hash8_vl`).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn hash8_body<const VL: bool>(msgs: &[&[u8]; LANES], key: &[u32; 8], flags: u32, out: &mut [[u8; 32]; LANES]) {
        let nblocks: [usize; LANES] = std::array::from_fn(|l| msgs[l].len().div_ceil(64).max(1));
        let steps = nblocks.iter().copied().max().unwrap_or(1);
        let mut cv: [__m256i; 8] = [
            splat(key[0]),
            splat(key[1]),
            splat(key[2]),
            splat(key[3]),
            splat(key[4]),
            splat(key[5]),
            splat(key[6]),
            splat(key[7]),
        ];
        let mut pad = [[0u8; 64]; LANES];
        for b in 0..steps {
            let mut lens = [0i32; LANES];
            let mut fl = [0i32; LANES];
            let mut active = [0i32; LANES];
            let mut ptrs: [*const u8; LANES] = [std::ptr::null(); LANES];
            for l in 0..LANES {
                let m = msgs[l];
                if b < nblocks[l] {
                    let off = b * 64;
                    let blen = (m.len() - off).min(64);
                    if blen == 64 {
                        ptrs[l] = m[off..off + 64].as_ptr();
                    } else {
                        pad[l] = [0u8; 64];
                        pad[l][..blen].copy_from_slice(&m[off..]);
                        ptrs[l] = pad[l].as_ptr();
                    }
                    lens[l] = blen as i32;
                    let mut f = flags;
                    if b == 0 {
                        f |= CHUNK_START;
                    }
                    if b + 1 == nblocks[l] {
                        f |= CHUNK_END | ROOT;
                    }
                    fl[l] = f as i32;
                    active[l] = -1;
                } else {
                    ptrs[l] = pad[l].as_ptr();
                }
            }
            // SAFETY: each pointer addresses 64 readable bytes (a full block inside its message, or `pad`).
            let lo: [__m256i; 8] = std::array::from_fn(|l| unsafe { _mm256_loadu_si256(ptrs[l] as *const __m256i) });
            // SAFETY: as above, the second 32 bytes of the same 64.
            let hi: [__m256i; 8] =
                std::array::from_fn(|l| unsafe { _mm256_loadu_si256(ptrs[l].add(32) as *const __m256i) });
            let wl = transpose(lo);
            let wh = transpose(hi);
            let m: [__m256i; 16] = std::array::from_fn(|i| if i < 8 { wl[i] } else { wh[i - 8] });
            // SAFETY: reading 8 i32s from arrays of 8.
            let (lens_v, fl_v, act_v) = unsafe {
                (
                    _mm256_loadu_si256(lens.as_ptr() as *const __m256i),
                    _mm256_loadu_si256(fl.as_ptr() as *const __m256i),
                    _mm256_loadu_si256(active.as_ptr() as *const __m256i),
                )
            };
            let mut v: [__m256i; 16] = [
                cv[0],
                cv[1],
                cv[2],
                cv[3],
                cv[4],
                cv[5],
                cv[6],
                cv[7],
                splat(IV[0]),
                splat(IV[1]),
                splat(IV[2]),
                splat(IV[3]),
                splat(0),
                splat(0),
                lens_v,
                fl_v,
            ];
            for s in &SCHEDULE {
                g::<VL>(&mut v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
                g::<VL>(&mut v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
                g::<VL>(&mut v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
                g::<VL>(&mut v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
                g::<VL>(&mut v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
                g::<VL>(&mut v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
                g::<VL>(&mut v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
                g::<VL>(&mut v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
            }
            for i in 0..8 {
                cv[i] = _mm256_blendv_epi8(cv[i], xor(v[i], v[i + 8]), act_v);
            }
        }
        let rows = transpose(cv);
        for l in 0..LANES {
            // SAFETY: `out[l]` is 32 writable bytes.
            unsafe { _mm256_storeu_si256(out[l].as_mut_ptr() as *mut __m256i, rows[l]) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    #[test]
    fn schedule_matches_the_spec_table() {
        // BLAKE3 spec, Table 2 (round 2's order) and the seventh round.
        assert_eq!(SCHEDULE[1], [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8]);
        assert_eq!(SCHEDULE[6], [11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13]);
    }

    #[test]
    fn every_length_and_lane_mix_matches_the_crate() {
        let key = [0x5au8; 32];
        // Lanes of very different lengths side by side (idle lanes, full and partial last blocks, > 1 chunk).
        for base in 0..=1100usize {
            let lens: Vec<usize> = (0..LANES).map(|l| (base + l * 37) % 1100).collect();
            let msgs: Vec<Vec<u8>> = lens.iter().enumerate().map(|(l, &n)| data(n, l as u8)).collect();
            for count in [1usize, 3, LANES] {
                let mut got = Vec::new();
                hash_each(count, None, |k| &msgs[k][..], &mut got);
                let want: Vec<Digest> = msgs[..count].iter().map(|m| *blake3::hash(m).as_bytes()).collect();
                assert_eq!(got, want, "base {base}, count {count}");
                let mut got = Vec::new();
                hash_each(count, Some(&key), |k| &msgs[k][..], &mut got);
                let want: Vec<Digest> = msgs[..count]
                    .iter()
                    .map(|m| *blake3::keyed_hash(&key, m).as_bytes())
                    .collect();
                assert_eq!(got, want, "keyed base {base}, count {count}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn both_simd_variants_match_the_crate() {
        for base in (0..=1024usize).step_by(7) {
            let msgs: Vec<Vec<u8>> = (0..LANES).map(|l| data((base + l * 131) % 1025, l as u8)).collect();
            let lanes: [&[u8]; LANES] = std::array::from_fn(|l| &msgs[l][..]);
            let want: Vec<Digest> = msgs.iter().map(|m| *blake3::hash(m).as_bytes()).collect();
            let mut got = [[0u8; 32]; LANES];
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 was detected; every lane holds at most 1024 bytes.
                unsafe { avx2::hash8(&lanes, &IV, 0, &mut got) };
                assert_eq!(got.to_vec(), want, "avx2, base {base}");
            }
            if std::arch::is_x86_feature_detected!("avx2") && vl_available() {
                // SAFETY: AVX2, AVX-512F and AVX-512VL were detected; every lane holds at most 1024 bytes.
                unsafe { avx2::hash8_vl(&lanes, &IV, 0, &mut got) };
                assert_eq!(got.to_vec(), want, "avx512vl, base {base}");
            }
        }
    }

    #[test]
    fn parents_match_the_node_hash() {
        let level: Vec<Digest> = (0..38u8).map(|i| *blake3::hash(&[i]).as_bytes()).collect();
        for n in (0..=level.len()).step_by(2) {
            let mut got = Vec::new();
            parents(&level[..n], &mut got);
            let want: Vec<Digest> = level[..n]
                .chunks_exact(2)
                .map(|p| crate::hash::HashAlg::Blake3.node(&p[0], &p[1]))
                .collect();
            assert_eq!(got, want, "n={n}");
        }
    }
}
