//! The CAPROOT root of spec §7.2: SHA-256("CAPROOT\0" ‖ manifest_hash ‖ Σ path ‖ 0x00 ‖ hash ‖ 0x0A), paths sorted
//! bytewise. Streams into one hasher; the input is sorted only when it is not already sorted.

use crate::error::{Error, PackageErrorKind, Result};
use crate::hash::Digest;
use sha2::{Digest as _, Sha256};

/// Root over `(path, blob hash)` entries. Sorts them in place (bytewise) when needed; duplicate paths are an error.
pub fn cap_root(manifest_hash: &Digest, entries: &mut [(&[u8], Digest)]) -> Result<Digest> {
    let sorted = entries.windows(2).all(|w| w[0].0 < w[1].0);
    if !sorted {
        use rayon::prelude::*;
        entries.par_sort_unstable_by(|a, b| a.0.cmp(b.0));
        if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::package(
                PackageErrorKind::DuplicateEntry,
                format!("duplicate index path {:?}", String::from_utf8_lossy(w[0].0)),
            ));
        }
    }
    let mut h = Sha256::new();
    h.update(b"CAPROOT\0");
    h.update(manifest_hash);
    // Feed through a staging buffer: one `update` per few KiB instead of four per entry.
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    for (path, hash) in entries.iter() {
        buf.extend_from_slice(path);
        buf.push(0);
        buf.extend_from_slice(hash);
        buf.push(b'\n');
        if buf.len() >= (1 << 16) - 1024 {
            h.update(&buf);
            buf.clear();
        }
    }
    h.update(&buf);
    Ok(h.finalize().into())
}

/// Root over entries that arrive in chunks of `(path, hash as 64 lowercase hex)`, hashed as they come (so the work
/// overlaps with whoever produces the chunks). Returns `Ok(None)` as soon as a hash is invalid or the paths are not
/// strictly increasing: the caller then uses [`cap_root`] on the whole input, which sorts and names the problem.
pub fn cap_root_sorted_stream<'a>(
    manifest_hash: &Digest,
    chunks: impl IntoIterator<Item = Vec<(&'a [u8], &'a [u8])>>,
) -> Option<Digest> {
    let mut h = Sha256::new();
    h.update(b"CAPROOT\0");
    h.update(manifest_hash);
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut prev: Option<&[u8]> = None;
    for chunk in chunks {
        for (path, hex) in chunk {
            if prev.is_some_and(|p| p >= path) {
                return None;
            }
            prev = Some(path);
            let digest = crate::hex::decode_lower32(hex)?;
            buf.extend_from_slice(path);
            buf.push(0);
            buf.extend_from_slice(&digest);
            buf.push(b'\n');
            if buf.len() >= (1 << 16) - 1024 {
                h.update(&buf);
                buf.clear();
            }
        }
    }
    h.update(&buf);
    Some(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        crate::hex::decode(s).unwrap()
    }

    // Vector V1 of cap-format.md §3.6 (manifest hash, one entry a.txt → aa×32).
    #[test]
    fn vector_v1_root() {
        let mh: Digest = unhex("21b39f942745ac3a7b92a1f03253c0c66467cbfec996f74f8a4a3d3766b0884f")
            .try_into()
            .unwrap();
        let mut e = vec![(b"a.txt".as_slice(), [0xaa; 32])];
        assert_eq!(
            cap_root(&mh, &mut e).unwrap().to_vec(),
            unhex("4efa6d8f0bd7f86da035e2159f7e301973d0bf7da9c7528a435747d749b66701")
        );
        assert_eq!(
            cap_root(&mh, &mut []).unwrap().to_vec(),
            unhex("864d4b2e7b2ad858425a450d0a6b7f5e0104349cab587e74c29ccde6dd939237")
        );
    }

    // Vector V2 (hello-cap): the root depends only on the manifest hash and the (path, hash) pairs.
    #[test]
    fn vector_v2_root_any_input_order() {
        let mh: Digest = unhex("4649fc2551f7b000669b4eca7673824327d5c0f7b53a03cc160a4ad13eb9d20c")
            .try_into()
            .unwrap();
        let pairs = [
            (
                "ui/wasm_glue.js",
                "1aea79478e2fbd4e64afe99ca071f94502929880c690afd9a5a495dfe468ba47",
            ),
            (
                "core/hello_cap_core.wasm",
                "e4daa87ed4cf58f48df867be0f6172a157045ee9805524fd2b3a4606cd87f195",
            ),
            (
                "ui/index.html",
                "313d5509ea3613f5802b17102137855e438ee6a895015078348b38ff63b0ae9a",
            ),
            (
                "ui/app.js",
                "e0bff5e83b9e00397df12599bc0e99c019040476a05118ba89eb3ee85f434a27",
            ),
        ];
        let mut e: Vec<(&[u8], Digest)> = pairs
            .iter()
            .map(|(p, h)| (p.as_bytes(), unhex(h).try_into().unwrap()))
            .collect();
        assert_eq!(
            cap_root(&mh, &mut e).unwrap().to_vec(),
            unhex("cf2c0fa1b8c10d92541ef2ef113779906e23b04af76e18c4e7c125c3fe8e9963")
        );
    }

    #[test]
    fn stream_agrees_and_bails_out() {
        let mh = [7u8; 32];
        let paths: Vec<String> = (0..5000).map(|i| format!("p/{i:05}")).collect();
        let hexes: Vec<String> = (0..5000u32)
            .map(|i| crate::cap::hex32(&[(i % 251) as u8; 32]))
            .collect();
        let pairs: Vec<(&[u8], &[u8])> = paths
            .iter()
            .zip(&hexes)
            .map(|(p, h)| (p.as_bytes(), h.as_bytes()))
            .collect();
        let mut entries: Vec<(&[u8], Digest)> = pairs
            .iter()
            .map(|(p, h)| (*p, crate::cap::parse_hex32(h).unwrap()))
            .collect();
        let want = cap_root(&mh, &mut entries).unwrap();
        let chunks = pairs.chunks(777).map(|c| c.to_vec());
        assert_eq!(cap_root_sorted_stream(&mh, chunks), Some(want));
        let mut unsorted = pairs.clone();
        unsorted.swap(10, 4000);
        assert_eq!(cap_root_sorted_stream(&mh, [unsorted]), None);
        let mut dup = pairs.clone();
        dup[11].0 = dup[10].0;
        assert_eq!(cap_root_sorted_stream(&mh, [dup]), None);
        let mut bad = pairs.clone();
        bad[3].1 = b"AB";
        assert_eq!(cap_root_sorted_stream(&mh, [bad]), None);
    }

    #[test]
    fn duplicate_paths_rejected() {
        let mut e = vec![
            (b"b".as_slice(), [1; 32]),
            (b"a".as_slice(), [1; 32]),
            (b"b".as_slice(), [2; 32]),
        ];
        assert!(matches!(
            cap_root(&[0; 32], &mut e),
            Err(Error::Package {
                kind: PackageErrorKind::DuplicateEntry,
                ..
            })
        ));
    }
}
