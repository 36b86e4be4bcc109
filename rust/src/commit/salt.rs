//! Per-row salts for hiding commitments.
//!
//! salt_i = BLAKE3-keyed(key = salt_key, message = "capfast.commit.salt.v1" ‖ u64_be(i)), 32 bytes, whatever tree
//! hash is in use. It is a PRF of the key and the row index: disclosing salt_i reveals nothing about the key or any
//! other row's salt. The leaf of row i is then H(0x00 ‖ salt_i ‖ cbor_i).

use crate::hash::Digest;

/// Domain-separation prefix of the salt PRF input (22 ASCII bytes, no terminator).
pub const SALT_DOMAIN: &[u8] = b"capfast.commit.salt.v1";

/// The 32-byte salt of row `index` (0-based, in source order, header and skipped empty lines not counted).
#[inline]
pub fn row_salt(key: &[u8; 32], index: u64) -> Digest {
    let mut msg = [0u8; SALT_DOMAIN.len() + 8];
    msg[..SALT_DOMAIN.len()].copy_from_slice(SALT_DOMAIN);
    msg[SALT_DOMAIN.len()..].copy_from_slice(&index.to_be_bytes());
    *blake3::keyed_hash(key, &msg).as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salt_is_the_keyed_blake3_of_domain_and_big_endian_index() {
        let key = [7u8; 32];
        let mut h = blake3::Hasher::new_keyed(&key);
        h.update(b"capfast.commit.salt.v1");
        h.update(&[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(row_salt(&key, 258), *h.finalize().as_bytes());
        assert_ne!(row_salt(&key, 0), row_salt(&key, 1));
        assert_ne!(row_salt(&key, 0), row_salt(&[8u8; 32], 0));
    }
}
