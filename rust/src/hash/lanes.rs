//! The grouping loops shared by the eight-lane hashers (`b3x8`, `sha3x8`): they feed up to [`LANES`] messages at a
//! time to a hasher's `group` function, which writes one digest per message.

use super::{Digest, NODE_PREFIX};

/// Messages hashed side by side.
pub const LANES: usize = 8;

/// Appends `group`'s digest of `msg(k)` for `k` in `0..n` to `out`, in order.
pub fn each<'a>(
    n: usize,
    msg: impl Fn(usize) -> &'a [u8],
    out: &mut Vec<Digest>,
    mut group: impl FnMut(&[&[u8]], &mut [Digest]),
) {
    let mut batch: [&[u8]; LANES] = [&[]; LANES];
    let mut res = [[0u8; 32]; LANES];
    let mut k = 0;
    while k < n {
        let m = (n - k).min(LANES);
        for (j, slot) in batch.iter_mut().enumerate().take(m) {
            *slot = msg(k + j);
        }
        group(&batch[..m], &mut res);
        out.extend_from_slice(&res[..m]);
        k += m;
    }
}

/// Appends the RFC 6962 parents H(0x01 ‖ l ‖ r) of consecutive pairs of `level` (even length) to `out`.
pub fn parents(level: &[Digest], out: &mut Vec<Digest>, mut group: impl FnMut(&[&[u8]], &mut [Digest])) {
    debug_assert!(level.len().is_multiple_of(2));
    let mut bufs = [[0u8; 65]; LANES];
    let mut res = [[0u8; 32]; LANES];
    for pairs in level.chunks(2 * LANES) {
        let m = pairs.len() / 2;
        for (b, pair) in bufs.iter_mut().zip(pairs.chunks_exact(2)) {
            b[0] = NODE_PREFIX;
            b[1..33].copy_from_slice(&pair[0]);
            b[33..].copy_from_slice(&pair[1]);
        }
        let msgs: [&[u8]; LANES] = std::array::from_fn(|i| &bufs[i][..]);
        group(&msgs[..m], &mut res);
        out.extend_from_slice(&res[..m]);
    }
}
