"""The pure-Python twin of ``capfast._native``: same flat names, same signatures, same bytes out.

Each area lives in its own module, mirroring the Rust crate (``_py/merkle.py`` twins ``rust/src/merkle.rs`` and its
binding ``rust/src/py/merkle.rs``; ``_py/cap/`` twins ``rust/src/cap/`` file for file; ``_py/delta.py`` twins
``rust/src/delta.rs``) and is re-exported here.
"""

from capfast._py.cap.index import cap_index_rows
from capfast._py.cap.pack import cap_pack_files
from capfast._py.cap.root import cap_root
from capfast._py.cap.scan import cap_scan
from capfast._py.cap.verify import cap_read_blob, cap_verify_blobs
from capfast._py.cap.zip import zip_entries, zip_write
from capfast._py.captoken import captoken_parse, captoken_verify_batch
from capfast._py.commit import (
    commit_csv,
    commit_prove,
    commit_row_cbor,
    commit_row_leaf,
    commit_row_salt,
    commit_rows,
)
from capfast._py.delta import missing_blobs
from capfast._py.ed25519 import (
    ed25519_generate,
    ed25519_public_key,
    ed25519_sign,
    ed25519_verify,
    ed25519_verify_batch,
    ed25519_verify_batch_all,
)
from capfast._py.hashes import hash_bytes
from capfast._py.merkle import (
    MerkleBuilder,
    merkle_consistency_proof,
    merkle_inclusion_proof,
    merkle_leaf_hash,
    merkle_root,
    merkle_verify_consistency,
    merkle_verify_inclusion,
)
from capfast._py.wallet import (
    keccak256,
    wallet_address,
    wallet_checksum_address,
    wallet_generate,
    wallet_parse_address,
    wallet_personal_hash,
    wallet_recover_hash,
    wallet_recover_message,
    wallet_recover_messages,
    wallet_sign_hash,
    wallet_sign_message,
)

__all__ = [
    "cap_index_rows",
    "cap_pack_files",
    "cap_read_blob",
    "cap_root",
    "cap_scan",
    "cap_verify_blobs",
    "missing_blobs",
    "zip_entries",
    "zip_write",
    "commit_csv",
    "commit_prove",
    "commit_row_cbor",
    "commit_row_leaf",
    "commit_row_salt",
    "commit_rows",
    "ed25519_generate",
    "ed25519_public_key",
    "ed25519_sign",
    "ed25519_verify",
    "ed25519_verify_batch",
    "ed25519_verify_batch_all",
    "hash_bytes",
    "MerkleBuilder",
    "merkle_consistency_proof",
    "merkle_inclusion_proof",
    "merkle_leaf_hash",
    "merkle_root",
    "merkle_verify_consistency",
    "merkle_verify_inclusion",
    "captoken_parse",
    "captoken_verify_batch",
    "keccak256",
    "wallet_address",
    "wallet_checksum_address",
    "wallet_generate",
    "wallet_parse_address",
    "wallet_personal_hash",
    "wallet_recover_hash",
    "wallet_recover_message",
    "wallet_recover_messages",
    "wallet_sign_hash",
    "wallet_sign_message",
]
