"""RFC 6962 Merkle trees: roots, inclusion and consistency proofs, streaming builders and mergeable shards.

Tree shape and hashing follow RFC 6962 §2.1 (unchanged in RFC 9162 §2.1) with a choice of hash function
(``hash="blake3"`` by default, ``"sha3-256"`` or ``"sha256"``; every digest is 32 bytes):

- leaf hash: ``H(0x00 ‖ data)``; interior node: ``H(0x01 ‖ left ‖ right)``; the empty tree: ``H("")``;
- a tree of ``n > 1`` leaves splits at ``k``, the largest power of two below ``n``: root =
  ``node(MTH(leaves[:k]), MTH(leaves[k:]))``. With ``hash="sha256"`` roots and proofs are byte-identical to
  Certificate Transparency's.

Proofs are lists of 32-byte digests, ordered from the leaf level up, exactly as RFC 6962 §2.1.1 (audit path) and
§2.1.2 (consistency proof) define them; verification runs the RFC 9162 §2.1.3.2 and §2.1.4.2 algorithms.

Verification never raises for a claim that is merely false: ``verify_inclusion`` and ``verify_consistency`` return
``False`` for a wrong index or size, a proof with the wrong number of elements, any digest that is not 32 bytes, or
mismatching roots. They raise ``TypeError`` for arguments of the wrong type (``str`` instead of bytes, a float
size), ``BufferError`` for non-contiguous buffers and :class:`~capfast.errors.InvalidArgumentError` for an unknown
hash name or a size/index outside ``[0, 2**64)``. Edge cases follow RFC 9162 and the transparency-dev reference
vectors: a consistency proof from the empty tree (``old_size == 0``) never verifies, and equal sizes verify iff the
proof is empty and the two roots are identical.

For big inputs the native core hashes leaves and subtrees on all cores with the GIL released. Leaves are any
iterable of bytes-like objects (``bytes``, ``bytearray``, ``memoryview``, ``array('B')``, numpy ``uint8``).

Shards hashed separately (on other threads or machines) combine through compact ranges::

    a = TreeBuilder(hash="sha256"); a.extend(rows[:1000])
    b = TreeBuilder(hash="sha256", begin=1000); b.extend(rows[1000:])
    wire = b.compact_range().to_dict()                      # JSON-friendly
    a.merge(CompactRange.from_dict(wire))
    assert a.root() == root(rows, hash="sha256")
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from capfast._backend import core
from capfast.errors import InvalidArgumentError, ProofError

__all__ = [
    "DEFAULT_HASH",
    "HASHES",
    "CompactRange",
    "TreeBuilder",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

#: The hash used when none is named.
DEFAULT_HASH = "blake3"
#: The supported hash names.
HASHES = ("blake3", "sha3-256", "sha256")

_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
_DICT_KEYS = frozenset({"hash", "begin", "end", "hashes"})


def leaf_hash(data: Any, *, hash: str = DEFAULT_HASH) -> bytes:
    """RFC 6962 leaf hash ``H(0x00 ‖ data)`` of one bytes-like ``data``."""
    return core.merkle_leaf_hash(data, hash)


def node_hash(left: Any, right: Any, *, hash: str = DEFAULT_HASH) -> bytes:
    """RFC 6962 interior node hash ``H(0x01 ‖ left ‖ right)`` of two 32-byte child hashes."""
    children = []
    for name, value in (("left", left), ("right", right)):
        if isinstance(value, str) or not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"{name} must be a bytes-like object, got {type(value).__name__}")
        value = bytes(value)
        if len(value) != 32:
            raise InvalidArgumentError(f"{name} must be 32 bytes, got {len(value)}")
        children.append(value)
    return core.hash_bytes(b"\x01" + children[0] + children[1], hash)


def root(leaves: Iterable[Any], *, hash: str = DEFAULT_HASH) -> bytes:
    """RFC 6962 Merkle tree hash of the leaf data ``leaves`` (``H("")`` for no leaves)."""
    return core.merkle_root(leaves, hash)


def inclusion_proof(leaves: Iterable[Any], index: int, *, hash: str = DEFAULT_HASH) -> list[bytes]:
    """RFC 6962 §2.1.1 audit path of leaf ``index`` in the tree of ``leaves``, from the leaf level up.

    Raises :class:`~capfast.errors.InvalidArgumentError` when ``index`` is not a leaf of the tree.
    """
    return core.merkle_inclusion_proof(leaves, index, hash)


def verify_inclusion(
    root: Any,
    tree_size: int,
    index: int,
    leaf_hash: Any,
    proof: Iterable[Any],
    *,
    hash: str = DEFAULT_HASH,
) -> bool:
    """Whether ``proof`` shows that the leaf with hash ``leaf_hash`` is leaf ``index`` of the tree of
    ``tree_size`` leaves whose root is ``root`` (RFC 9162 §2.1.3.2).

    ``leaf_hash`` is the leaf *hash* (see :func:`leaf_hash`), not the data. ``False`` for every proof that does
    not verify (see the module docs); raises only for wrong argument types and out-of-range ints.
    """
    return core.merkle_verify_inclusion(root, tree_size, index, leaf_hash, proof, hash)


def consistency_proof(leaves: Iterable[Any], old_size: int, *, hash: str = DEFAULT_HASH) -> list[bytes]:
    """RFC 6962 §2.1.2 proof that the tree of the first ``old_size`` leaves is a prefix of the tree of all.

    Needs ``0 < old_size <= len(leaves)`` (else :class:`~capfast.errors.InvalidArgumentError`); equal sizes give
    the empty proof.
    """
    return core.merkle_consistency_proof(leaves, old_size, hash)


def verify_consistency(
    old_root: Any,
    old_size: int,
    new_root: Any,
    new_size: int,
    proof: Iterable[Any],
    *,
    hash: str = DEFAULT_HASH,
) -> bool:
    """Whether ``proof`` shows that the tree (``old_size``, ``old_root``) is a prefix of (``new_size``,
    ``new_root``) (RFC 9162 §2.1.4.2).

    ``False`` for every proof that does not verify, for ``old_size == 0`` and for ``old_size > new_size``; equal
    sizes verify iff ``proof`` is empty and the roots are identical. Raises only for wrong argument types and
    out-of-range ints.
    """
    return core.merkle_verify_consistency(old_root, old_size, new_root, new_size, proof, hash)


@dataclass(frozen=True)
class CompactRange:
    """The compact range of leaves ``[begin, end)``: the roots of the maximal aligned perfect subtrees that tile
    the range, left to right (at most about ``2 * log2(end)`` digests).

    Adjacent ranges :meth:`merge` into the range of their union, so shards hashed separately combine into the
    root of the whole tree. :meth:`to_dict` / :meth:`from_dict` give a JSON-friendly form (hex digests).
    Construction validates the shape: a wrong number of digests for ``[begin, end)``, a digest that is not
    32 bytes or ``begin > end`` raise :class:`~capfast.errors.ProofError`.
    """

    hash: str
    begin: int
    end: int
    hashes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        builder = core.MerkleBuilder.from_compact_range(self.hash, self.begin, self.end, tuple(self.hashes))
        begin, end, hashes = builder.compact_range()
        object.__setattr__(self, "begin", begin)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "hashes", tuple(hashes))

    @property
    def size(self) -> int:
        """Number of leaves covered: ``end - begin``."""
        return self.end - self.begin

    def _builder(self) -> Any:
        return core.MerkleBuilder.from_compact_range(self.hash, self.begin, self.end, self.hashes)

    def merge(self, other: CompactRange) -> CompactRange:
        """The range of the union with the adjacent ``other`` (same hash, ``other.begin == self.end``)."""
        if not isinstance(other, CompactRange):
            raise TypeError(f"expected a CompactRange, got {type(other).__name__}")
        builder = self._builder()
        builder.merge(other._builder())
        return _from_core(builder)

    def root(self) -> bytes:
        """RFC 6962 root of leaves ``[0, end)``; :class:`~capfast.errors.ProofError` unless ``begin == 0``."""
        return self._builder().root()

    def to_dict(self) -> dict[str, Any]:
        """``{"hash": ..., "begin": ..., "end": ..., "hashes": [lowercase hex, ...]}``."""
        return {"hash": self.hash, "begin": self.begin, "end": self.end, "hashes": [h.hex() for h in self.hashes]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompactRange:
        """Parses :meth:`to_dict` output (e.g. from JSON). Anything malformed is a
        :class:`~capfast.errors.ProofError` (an unknown hash name an ``InvalidArgumentError``)."""
        if not isinstance(data, Mapping):
            raise ProofError(f"a compact range must be a mapping, got {type(data).__name__}")
        keys = set(data)
        if keys != _DICT_KEYS:
            missing, extra = sorted(_DICT_KEYS - keys), sorted(map(str, keys - _DICT_KEYS))
            raise ProofError(f"compact range keys: missing {missing}, unexpected {extra}")
        hash_name, begin, end, hashes = data["hash"], data["begin"], data["end"], data["hashes"]
        if not isinstance(hash_name, str):
            raise ProofError(f"compact range 'hash' must be a string, got {type(hash_name).__name__}")
        for key, value in (("begin", begin), ("end", end)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ProofError(f"compact range {key!r} must be an integer, got {type(value).__name__}")
            if not 0 <= value < 1 << 64:
                raise ProofError(f"compact range {key!r} must be between 0 and 2**64 - 1, got {value}")
        if not isinstance(hashes, (list, tuple)):
            raise ProofError(f"compact range 'hashes' must be a list, got {type(hashes).__name__}")
        digests = []
        for i, h in enumerate(hashes):
            if not isinstance(h, str) or not _HEX_DIGEST.fullmatch(h):
                raise ProofError(f"compact range hash {i} must be 64 hex digits, got {h!r:.80}")
            digests.append(bytes.fromhex(h))
        return cls(hash_name, begin, end, tuple(digests))


def _from_core(builder: Any) -> CompactRange:
    begin, end, hashes = builder.compact_range()
    return CompactRange(builder.hash, begin, end, tuple(hashes))


class TreeBuilder:
    """Streaming RFC 6962 tree over leaves ``[begin, end)`` in O(log n) memory.

    Append leaf data (:meth:`append`, :meth:`extend`) or leaf hashes (:meth:`append_leaf_hash`); :meth:`root`
    gives the root of leaves ``[0, end)`` (needs ``begin == 0``). A builder for a shard starts at ``begin`` and
    exports its :meth:`compact_range`; the builder of the preceding leaves :meth:`merge` s it. Thread-safe.
    """

    __slots__ = ("_core",)

    def __init__(self, *, hash: str = DEFAULT_HASH, begin: int = 0) -> None:
        self._core = core.MerkleBuilder(hash, begin)

    @classmethod
    def from_compact_range(cls, compact_range: CompactRange) -> TreeBuilder:
        """A builder continuing from an exported compact range."""
        if not isinstance(compact_range, CompactRange):
            raise TypeError(f"expected a CompactRange, got {type(compact_range).__name__}")
        tb = cls.__new__(cls)
        tb._core = compact_range._builder()
        return tb

    def append(self, data: Any) -> None:
        """Appends one leaf (its data; hashed as ``H(0x00 ‖ data)``)."""
        self._core.append(data)

    def append_leaf_hash(self, leaf_hash: Any) -> None:
        """Appends one leaf by its 32-byte leaf hash (else :class:`~capfast.errors.InvalidArgumentError`)."""
        self._core.append_leaf_hash(leaf_hash)

    def extend(self, leaves: Iterable[Any]) -> None:
        """Appends every leaf of ``leaves``; all or nothing when an item is not bytes-like."""
        self._core.extend(leaves)

    def merge(self, other: TreeBuilder | CompactRange) -> None:
        """Appends the adjacent leaves of ``other`` (same hash, ``other.begin == self.end``); else ProofError."""
        if isinstance(other, TreeBuilder):
            self._core.merge(other._core)
        elif isinstance(other, CompactRange):
            self._core.merge(other._builder())
        else:
            raise TypeError(f"expected a TreeBuilder or CompactRange, got {type(other).__name__}")

    def root(self) -> bytes:
        """RFC 6962 root of leaves ``[0, end)``; :class:`~capfast.errors.ProofError` unless ``begin == 0``."""
        return self._core.root()

    def compact_range(self) -> CompactRange:
        """The current state as a :class:`CompactRange` (a snapshot; the builder stays usable)."""
        return _from_core(self._core)

    @property
    def hash(self) -> str:
        return self._core.hash

    @property
    def begin(self) -> int:
        return self._core.begin

    @property
    def end(self) -> int:
        return self._core.end

    @property
    def size(self) -> int:
        """Number of leaves appended: ``end - begin``."""
        return self._core.size

    def __repr__(self) -> str:
        return f"TreeBuilder(hash={self.hash!r}, begin={self.begin}, end={self.end})"
