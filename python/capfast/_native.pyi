"""Type stubs for ``capfast._native``, the Rust core. One section per area; ``capfast._py`` mirrors every name.

Bytes-like arguments accept ``bytes``, ``bytearray``, C-contiguous ``memoryview``, ``array('B')`` and numpy
``uint8`` arrays (``str`` is a ``TypeError``, a non-contiguous buffer a ``BufferError``).
"""

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, final

if sys.version_info >= (3, 12):
    from collections.abc import Buffer
else:
    from typing_extensions import Buffer

__version__: str

HashName = Literal["blake3", "sha3-256", "sha256"]

# ---------------------------------------------------------------------------------------------------------------
# Hashes and RFC 6962 Merkle trees (rust/src/py/merkle.rs; twins in _py/hashes.py and _py/merkle.py)
# Sizes and indices: ints in [0, 2**64) (TypeError for other types, InvalidArgumentError out of range).
# merkle_verify_* return False for every claim that does not verify, including digests that are not 32 bytes.
# ---------------------------------------------------------------------------------------------------------------

def hash_bytes(data: Buffer, hash: HashName = "blake3") -> bytes: ...
def merkle_leaf_hash(data: Buffer, hash: HashName = "blake3") -> bytes: ...
def merkle_root(leaves: Iterable[Buffer], hash: HashName = "blake3") -> bytes: ...
def merkle_inclusion_proof(leaves: Iterable[Buffer], index: int, hash: HashName = "blake3") -> list[bytes]: ...
def merkle_consistency_proof(leaves: Iterable[Buffer], old_size: int, hash: HashName = "blake3") -> list[bytes]: ...
def merkle_verify_inclusion(
    root: Buffer,
    tree_size: int,
    index: int,
    leaf_hash: Buffer,
    proof: Iterable[Buffer],
    hash: HashName = "blake3",
) -> bool: ...
def merkle_verify_consistency(
    old_root: Buffer,
    old_size: int,
    new_root: Buffer,
    new_size: int,
    proof: Iterable[Buffer],
    hash: HashName = "blake3",
) -> bool: ...

@final
class MerkleBuilder:
    """Streaming RFC 6962 builder over leaves [begin, end); thread-safe; O(log n) state. ``begin=None`` means 0."""

    def __new__(cls, hash: HashName = "blake3", begin: int | None = None) -> MerkleBuilder: ...
    @staticmethod
    def from_compact_range(hash: HashName, begin: int, end: int, hashes: Iterable[Buffer]) -> MerkleBuilder: ...
    def append(self, data: Buffer) -> None: ...
    def append_leaf_hash(self, leaf_hash: Buffer) -> None: ...
    def extend(self, leaves: Iterable[Buffer]) -> None: ...
    def merge(self, other: MerkleBuilder) -> None: ...
    def root(self) -> bytes: ...
    def compact_range(self) -> tuple[int, int, list[bytes]]: ...
    @property
    def hash(self) -> str: ...
    @property
    def begin(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def size(self) -> int: ...

# --- Ed25519 (rust/src/py/ed25519.rs; rule: docs/ed25519-validity.md) --------------------------------------------
# Batch arguments: a sequence of bytes-like objects, or a C-contiguous 2-D uint8 buffer read in place
# (numpy (n, 32) keys, (n, 64) signatures, (n, m) messages). Wrong sizes raise InvalidArgumentError.

def ed25519_generate() -> tuple[bytes, bytes]:
    """A fresh (32-byte secret seed, 32-byte public key) from the OS random source."""

def ed25519_public_key(sk: Buffer) -> bytes: ...
def ed25519_sign(sk: Buffer, msg: Buffer) -> bytes:
    """RFC 8032 signature; the public key is derived from the seed, never supplied."""

def ed25519_verify(pk: Buffer, msg: Buffer, sig: Buffer) -> bool: ...
def ed25519_verify_batch(
    pks: Iterable[Buffer] | Buffer, msgs: Iterable[Buffer] | Buffer, sigs: Iterable[Buffer] | Buffer
) -> list[bool]:
    """Per-signature verdicts, identical to ed25519_verify (random linear combination, bisected on failure)."""

def ed25519_verify_batch_all(
    pks: Iterable[Buffer] | Buffer, msgs: Iterable[Buffer] | Buffer, sigs: Iterable[Buffer] | Buffer
) -> bool:
    """True iff every signature is valid (an empty batch is)."""

# ---------------------------------------------------------------------------------------------------------------
# Commitment engine (rust/src/py/commit.rs; twin in _py/commit.py). Public API: capfast/commit.py.
# commit_csv/commit_rows return (columns in header order, row count, root, concatenated 32-byte leaf hashes or
# None). Leaf of row i = H(0x00 ‖ salt_i ‖ cbor_i) (no salt without a key); salt_i = BLAKE3-keyed(salt_key,
# b"capfast.commit.salt.v1" ‖ u64_be(i)). CSV errors: CsvFormatError(message, line, kind).
# ---------------------------------------------------------------------------------------------------------------

def commit_csv(
    source: str | Buffer | object,
    hash: HashName = "blake3",
    columns: Sequence[str] | None = None,
    salt_key: Buffer | None = None,
    retain_leaves: bool = True,
    progress: Callable[[int, int | None], object] | None = None,
    chunk_size: int = 0,
    max_record: int = 0,
) -> tuple[list[str], int, bytes, bytes | None]:
    """Commit a CSV: a str path (streamed by Rust), a bytes-like (read in place) or a binary file object.

    Runs with the GIL released, in parallel; ``progress(bytes_done, total)`` between chunks (signals checked there).
    ``chunk_size``/``max_record``: 0 = defaults (4 MiB, 64 MiB).
    """

def commit_rows(
    rows: Iterable[Mapping[str, str]],
    columns: Sequence[str] | None = None,
    hash: HashName = "blake3",
    salt_key: Buffer | None = None,
    retain_leaves: bool = True,
) -> tuple[list[str], int, bytes, bytes | None]:
    """Commit an iterable of mappings (values must be str); columns default to the first row's keys."""

def commit_row_cbor(columns: Sequence[str], values: Sequence[str]) -> bytes:
    """Deterministic CBOR map (RFC 8949 §4.2.1) of one row."""

def commit_row_leaf(
    columns: Sequence[str], values: Sequence[str], salt: Buffer | None = None, hash: HashName = "blake3"
) -> bytes:
    """H(0x00 ‖ salt ‖ cbor(row)), salt omitted when None."""

def commit_row_salt(salt_key: Buffer, index: int) -> bytes:
    """The 32-byte salt of row ``index``."""

def commit_prove(leaves: Buffer, index: int, hash: HashName = "blake3") -> list[bytes]:
    """RFC 6962 audit path of leaf ``index`` from concatenated 32-byte leaf hashes."""

# ---------------------------------------------------------------------------------------------------------------
# CAP 1.0 packages and delta sets (rust/src/py/cap.rs; twin in _py/cap.py). Public API: capfast/cap/package.py,
# capfast/cap/delta.py. Hashes are 64 lowercase hex characters (InvalidHashError otherwise); a blob reference is
# (hash_hex, data_offset, compressed_size, crc32, size). Package errors are PackageError subclasses.
# ---------------------------------------------------------------------------------------------------------------

def cap_root(manifest_hash: Buffer, paths: Iterable[str], hashes: Iterable[str]) -> bytes:
    """CAPROOT root (spec §7.2) of ``(paths[i], hashes[i])``; sorts bytewise when needed (duplicate paths:
    DuplicateEntryError)."""

def cap_index_rows(data: Buffer) -> list[tuple[str, str, int, int, str, str | None]] | None:
    """``[(path, hash_hex, size, compressed_size, compression, mime)]`` if ``data`` is exactly the canonical
    ``_cap/index.cbor`` encoding, else None (the caller then decodes strictly for the precise error)."""

def cap_scan(
    path: str | os.PathLike[str], max_entries: int, max_manifest: int, max_index: int
) -> (
    tuple[list[tuple[str, int, int, int]], bytes, bytes, bytes, bytes, bytes | None, bytes, list[str], int] | None
):
    """Every key-independent check of a clean package in one pass (strict ZIP, metadata caps and CRCs, canonical
    index, plain-ASCII safe paths, no collisions, one blob per indexed hash of the indexed size, the root):
    ``(meta, manifest, index, root_text, signature, public_key, root, paths, blob_count)``, or None when anything
    needs the general path (which names the problem). ZIP structure errors raise like :func:`zip_entries`."""

def cap_pack_files(paths: Sequence[str | os.PathLike[str]], level: int = 10) -> list[tuple[str, int, bytes]]:
    """Read, SHA-256 and zstd-compress files in parallel (one streaming frame each, no content size):
    ``[(hash_hex, size, blob)]`` in input order; equal contents share one blob object."""

def zip_write(path: str | os.PathLike[str], entries: Iterable[tuple[str, Buffer]]) -> int:
    """Write a deterministic STORED ZIP of ``(name, data)`` in the given order; returns its size in bytes."""

def zip_entries(path: str | os.PathLike[str], max_entries: int = 65535) -> list[tuple[str, int, int, int]]:
    """Strictly parse a ZIP's structure: ``[(name, data_offset, size, crc32)]`` in central-directory order."""

def cap_verify_blobs(
    path: str | os.PathLike[str],
    blobs: Iterable[tuple[str, int, int, int, int]],
    max_blob: int = ...,
    max_total: int = ...,
    max_ratio: int = 10000,
    window_log_max: int = 25,
) -> None:
    """Decompress and check every blob (size and SHA-256) in parallel with bounded memory; raise on the first
    violation in the given order. Defaults: ``max_blob`` 1 GiB, ``max_total`` 4 GiB."""

def cap_read_blob(
    path: str | os.PathLike[str],
    blob: tuple[str, int, int, int, int],
    max_blob: int = ...,
    max_total: int = ...,
    max_ratio: int = 10000,
    window_log_max: int = 25,
) -> bytes:
    """One checked blob's content."""

def missing_blobs(index_hashes: Iterable[Buffer] | Buffer, have: Iterable[Buffer] | Buffer) -> list[bytes]:
    """The 32-byte hashes of ``index_hashes`` not in ``have``, in index order, each once. Either argument may be a
    packed buffer of n×32 bytes (a numpy ``(n, 32)`` uint8 array is read in place)."""

# ---------------------------------------------------------------------------------------------------------------
# Wallets (rust/src/py/wallet.rs; twin in _py/wallet.py). Public API: capfast/wallet.py. Rule: docs/wallet.md.

def keccak256(data: Buffer) -> bytes:
    """Keccak-256 (not FIPS 202 SHA3-256) of ``data``."""

def wallet_personal_hash(msg: Buffer) -> bytes:
    """The EIP-191 ``personal_sign`` hash of ``msg``."""

def wallet_generate() -> bytes:
    """A fresh random 32-byte secp256k1 secret key."""

def wallet_address(sk: Buffer) -> bytes:
    """The 20-byte address of a 32-byte secret key."""

def wallet_checksum_address(addr: Buffer) -> str:
    """EIP-55 text of a 20-byte address."""

def wallet_parse_address(text: str) -> bytes:
    """The 20 bytes of an address text; mixed case must carry a valid EIP-55 checksum (else WalletError)."""

def wallet_sign_hash(sk: Buffer, digest: Buffer) -> bytes:
    """``r ‖ s ‖ v`` (65 bytes, low-S, v = 27/28) over a 32-byte digest."""

def wallet_sign_message(sk: Buffer, msg: Buffer) -> bytes:
    """EIP-191 ``personal_sign`` of ``msg`` (65 bytes)."""

def wallet_recover_hash(digest: Buffer, sig: Buffer) -> bytes | None:
    """The 20-byte signer of ``digest``, or None when the signature breaks the rule."""

def wallet_recover_message(msg: Buffer, sig: Buffer) -> bytes | None:
    """The 20-byte address that ``personal_sign``ed ``msg``, or None."""

def wallet_recover_messages(msgs: Iterable[Buffer], sigs: Iterable[Buffer]) -> list[bytes | None]:
    """``wallet_recover_message`` for each pair, in parallel with the GIL released."""

# ---------------------------------------------------------------------------------------------------------------
# CapToken JSON wire format (rust/src/py/token.rs; twin in _py/captoken.py). Public API: capfast/captoken.py.
# Format: docs/captoken.md §2.

def captoken_parse(raw: Buffer) -> tuple[dict[str, Any], bytes, bytes]:
    """``(claims, signed bytes, signature)`` of one token; TokenFormatError/TokenTooLargeError when malformed."""

def captoken_verify_batch(
    tokens: Iterable[Buffer], kids: Iterable[Buffer], keys: Iterable[Buffer], wallets: Iterable[Buffer]
) -> list[tuple[str | None, str, dict[str, Any] | None]]:
    """Per token ``(None, "", claims)`` or ``(kind, message, None)``; kind is format, too_large, untrusted_issuer
    or signature."""
