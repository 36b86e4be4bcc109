"""Pure-Python twin of the native Merkle functions (``rust/src/merkle.rs`` and ``rust/src/py/merkle.rs``).

RFC 6962 §2.1 trees: leaf = H(0x00 ‖ data), node = H(0x01 ‖ left ‖ right), empty tree = H(""). Proofs are
generated as RFC 6962 §2.1.1/§2.1.2 define them and verified with the RFC 9162 §2.1.3.2/§2.1.4.2 algorithms.

Argument conventions (identical in the native core):

- leaves are any iterable of bytes-like objects (unsigned-byte buffers); ``str`` is a ``TypeError``, a
  non-contiguous buffer a ``BufferError``;
- sizes and indices are ints in ``[0, 2**64)``: other types are a ``TypeError``, out of range an
  ``InvalidArgumentError``;
- ``merkle_verify_*`` return ``False`` for anything that does not prove the claim (wrong sizes or index, wrong
  number of proof elements, digests that are not 32 bytes, mismatching roots); they raise only for wrong types,
  out-of-range ints and unknown hash names. A proof iterable is read for at most ``MAX_PROOF_LEN + 1`` elements;
- builder inputs: a leaf hash that is not 32 bytes is an ``InvalidArgumentError``; a malformed compact range (hash
  not 32 bytes, wrong count, begin > end, non-adjacent merge, other hash) is a ``ProofError``.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Iterable, Sequence

from capfast._py.hashes import Hasher, as_bytes, hasher_for, leaf, node
from capfast.errors import InvalidArgumentError, ProofError

__all__ = [
    "MerkleBuilder",
    "merkle_consistency_proof",
    "merkle_inclusion_proof",
    "merkle_leaf_hash",
    "merkle_root",
    "merkle_verify_consistency",
    "merkle_verify_inclusion",
]

#: No valid proof for a tree of fewer than 2**64 leaves has more elements (inclusion <= 64, consistency <= 65).
MAX_PROOF_LEN = 128
#: The compact range of any ``[begin, end)`` with ``end < 2**64`` has fewer nodes than this.
MAX_COMPACT_RANGE_LEN = 128
_U64_END = 1 << 64


def _u64(value: object, what: str) -> int:
    """An int argument that must fit in 64 unsigned bits (``operator.index`` semantics, like the native core)."""
    try:
        v = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"'{type(value).__name__}' object cannot be interpreted as an integer") from None
    if not 0 <= v < _U64_END:
        raise InvalidArgumentError(f"{what} must be between 0 and 2**64 - 1, got {value}")
    return v


def _leaf_hashes(h: Hasher, leaves: Iterable[object]) -> list[bytes]:
    return [leaf(h, data) for data in leaves]


def _fold_right(h: Hasher, hashes: Sequence[bytes]) -> bytes:
    """node(h0, node(h1, … node(h_{k-2}, h_{k-1}))); H("") for none."""
    if not hashes:
        return bytes(h(b"").digest())
    acc = hashes[-1]
    for d in reversed(hashes[:-1]):
        acc = node(h, d, acc)
    return acc


def _root_of_leaf_hashes(h: Hasher, hashes: Sequence[bytes]) -> bytes:
    """RFC 6962 MTH of a list of leaf hashes, with a stack of perfect subtrees (O(log n) extra memory)."""
    stack: list[tuple[int, bytes]] = []  # (level, digest), left to right
    for d in hashes:
        level = 0
        while stack and stack[-1][0] == level:
            d = node(h, stack.pop()[1], d)
            level += 1
        stack.append((level, d))
    return _fold_right(h, [d for _, d in stack])


def _split_point(n: int) -> int:
    """Largest power of two strictly below ``n`` (``n >= 2``): the ``k`` of RFC 6962 §2.1."""
    return 1 << ((n - 1).bit_length() - 1)


def _proof_ranges(target: int, size: int, consistency: bool) -> list[tuple[int, int]]:
    """Subtree ranges whose roots form PATH(target, D[size]) or SUBPROOF(target, D[size], true), leaves up."""
    out: list[tuple[int, int]] = []
    lo, hi = 0, size
    m = target
    complete = True
    while True:
        n = hi - lo
        if consistency:
            if m == n:
                if not complete:
                    out.append((lo, hi))
                break
        elif n == 1:
            break
        k = _split_point(n)
        if m < k or (consistency and m == k):
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
            m -= k
            complete = False
    out.reverse()
    return out


def _walk_step(fn: int, sn: int) -> tuple[bool, int, int]:
    """One step of the RFC 9162 verification walk: (proof element is a left sibling, new fn, new sn)."""
    left = fn & 1 == 1 or fn == sn
    if left and fn & 1 == 0:
        while fn & 1 == 0 and fn != 0:
            fn >>= 1
            sn >>= 1
    return left, fn >> 1, sn >> 1


def _inclusion_proof_len(index: int, tree_size: int) -> int | None:
    if index >= tree_size:
        return None
    fn, sn, n = index, tree_size - 1, 0
    while sn != 0:
        _, fn, sn = _walk_step(fn, sn)
        n += 1
    return n


def _consistency_proof_len(old_size: int, new_size: int) -> int | None:
    if old_size == 0 or old_size > new_size:
        return None
    if old_size == new_size:
        return 0
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    n = 1
    while sn != 0:
        _, fn, sn = _walk_step(fn, sn)
        n += 1
    is_pow2 = old_size & (old_size - 1) == 0
    return n - 1 if is_pow2 else n


def _read_proof(proof: Iterable[object]) -> list[bytes] | None:
    """The proof elements as bytes, or ``None`` when there are more than ``MAX_PROOF_LEN`` (the rest unread)."""
    out: list[bytes] = []
    for item in proof:
        if len(out) == MAX_PROOF_LEN:
            return None
        out.append(bytes(as_bytes(item)))
    return out


def merkle_leaf_hash(data: object, hash: str = "blake3") -> bytes:
    """H(0x00 ‖ data)."""
    return leaf(hasher_for(hash), data)


def merkle_root(leaves: Iterable[object], hash: str = "blake3") -> bytes:
    """RFC 6962 root of the given leaf data."""
    h = hasher_for(hash)
    return _root_of_leaf_hashes(h, _leaf_hashes(h, leaves))


def merkle_inclusion_proof(leaves: Iterable[object], index: int, hash: str = "blake3") -> list[bytes]:
    """RFC 6962 §2.1.1 inclusion proof (audit path) of leaf ``index``, from the leaf level up."""
    h = hasher_for(hash)
    hashes = _leaf_hashes(h, leaves)
    idx = _u64(index, "index")
    if idx >= len(hashes):
        raise InvalidArgumentError(f"leaf index {idx} is out of range for a tree of {len(hashes)} leaves")
    return [_root_of_leaf_hashes(h, hashes[lo:hi]) for lo, hi in _proof_ranges(idx, len(hashes), False)]


def merkle_consistency_proof(leaves: Iterable[object], old_size: int, hash: str = "blake3") -> list[bytes]:
    """RFC 6962 §2.1.2 consistency proof from the first ``old_size`` leaves to all (``0 < old_size <= len``)."""
    h = hasher_for(hash)
    hashes = _leaf_hashes(h, leaves)
    m = _u64(old_size, "old_size")
    if m == 0:
        raise InvalidArgumentError("a consistency proof needs old_size > 0 (the empty tree proves nothing)")
    if m > len(hashes):
        raise InvalidArgumentError(f"old_size {m} is larger than the tree ({len(hashes)} leaves)")
    return [_root_of_leaf_hashes(h, hashes[lo:hi]) for lo, hi in _proof_ranges(m, len(hashes), True)]


def merkle_verify_inclusion(
    root: object,
    tree_size: int,
    index: int,
    leaf_hash: object,
    proof: Iterable[object],
    hash: str = "blake3",
) -> bool:
    """RFC 9162 §2.1.3.2 inclusion proof verification; ``False`` for anything that does not prove inclusion."""
    h = hasher_for(hash)
    root_b = bytes(as_bytes(root))
    size = _u64(tree_size, "tree_size")
    idx = _u64(index, "index")
    leaf_b = bytes(as_bytes(leaf_hash))
    path = _read_proof(proof)
    if path is None or _inclusion_proof_len(idx, size) != len(path):
        return False
    if len(root_b) != 32 or len(leaf_b) != 32 or any(len(p) != 32 for p in path):
        return False
    fn, sn, r = idx, size - 1, leaf_b
    for p in path:
        left, fn, sn = _walk_step(fn, sn)
        r = node(h, p, r) if left else node(h, r, p)
    return sn == 0 and r == root_b


def merkle_verify_consistency(
    old_root: object,
    old_size: int,
    new_root: object,
    new_size: int,
    proof: Iterable[object],
    hash: str = "blake3",
) -> bool:
    """RFC 9162 §2.1.4.2 consistency proof verification; ``False`` for anything that does not prove consistency.

    ``old_size == 0`` or ``old_size > new_size`` is always ``False``; equal sizes verify iff the proof is empty and
    the two roots are the same bytes.
    """
    h = hasher_for(hash)
    old_b = bytes(as_bytes(old_root))
    m = _u64(old_size, "old_size")
    new_b = bytes(as_bytes(new_root))
    n = _u64(new_size, "new_size")
    path = _read_proof(proof)
    if path is None or _consistency_proof_len(m, n) != len(path):
        return False
    if m == n:
        return old_b == new_b
    if len(old_b) != 32 or len(new_b) != 32 or any(len(p) != 32 for p in path):
        return False
    if m & (m - 1) == 0:
        path = [old_b, *path]
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        left, fn, sn = _walk_step(fn, sn)
        if left:
            fr = node(h, c, fr)
            sr = node(h, c, sr)
        else:
            sr = node(h, sr, c)
    return sn == 0 and fr == old_b and sr == new_b


def _decompose(begin: int, end: int) -> list[tuple[int, int]]:
    """``[begin, end)`` as maximal aligned perfect subtrees ``(start, level)``, left to right."""
    out: list[tuple[int, int]] = []
    while begin < end:
        align = 63 if begin == 0 else (begin & -begin).bit_length() - 1
        fit = (end - begin).bit_length() - 1
        level = min(align, fit)
        out.append((begin, level))
        begin += 1 << level
    return out


class MerkleBuilder:
    """Streaming RFC 6962 tree builder over leaves ``[begin, end)`` holding only the compact range.

    Thread-safe (one lock per builder). ``root()`` needs ``begin == 0``; ``compact_range()`` exports the state so
    that builders of adjacent shards (even on other machines) ``merge`` into the builder of their union.
    """

    __slots__ = ("_alg", "_h", "_lock", "_begin", "_end", "_nodes")

    def __init__(self, hash: str = "blake3", begin: int | None = None) -> None:
        self._h = hasher_for(hash)
        self._alg = hash
        self._begin = 0 if begin is None else _u64(begin, "begin")
        self._end = self._begin
        self._nodes: list[tuple[int, bytes]] = []  # (level, digest) of the perfect subtrees, left to right
        self._lock = threading.Lock()

    @staticmethod
    def from_compact_range(hash: str, begin: int, end: int, hashes: Iterable[object]) -> MerkleBuilder:
        """Rebuilds a builder from an exported compact range ``(begin, end, hashes)``."""
        builder = MerkleBuilder(hash)
        b = _u64(begin, "begin")
        e = _u64(end, "end")
        digests: list[bytes] = []
        for item in hashes:
            if len(digests) == MAX_COMPACT_RANGE_LEN:
                raise ProofError(f"a compact range has at most {MAX_COMPACT_RANGE_LEN} hashes, got more")
            d = bytes(as_bytes(item))
            if len(d) != 32:
                raise ProofError(f"compact range hash {len(digests)} must be 32 bytes, got {len(d)}")
            digests.append(d)
        if b > e:
            raise ProofError(f"compact range begin {b} is after end {e}")
        shape = _decompose(b, e)
        if len(shape) != len(digests):
            raise ProofError(f"compact range [{b}, {e}) needs {len(shape)} hashes, got {len(digests)}")
        builder._begin, builder._end = b, e
        builder._nodes = [(level, d) for (_, level), d in zip(shape, digests, strict=True)]
        return builder

    def _push_node(self, level: int, digest: bytes) -> None:
        start = self._end
        self._end += 1 << level
        while self._nodes:
            top_level, top = self._nodes[-1]
            parent_start = start - (1 << level)
            if top_level != level or parent_start % (1 << (level + 1)) != 0 or parent_start < self._begin:
                break
            self._nodes.pop()
            digest = node(self._h, top, digest)
            level += 1
            start = parent_start
        self._nodes.append((level, digest))

    def _check_room(self, extra: int) -> None:
        if self._end + extra >= _U64_END:
            raise InvalidArgumentError(
                f"cannot append {extra} leaves at index {self._end}: a tree holds at most 2**64 - 1 leaves"
            )

    def append(self, data: object) -> None:
        """Appends one leaf: hashes ``data`` as H(0x00 ‖ data)."""
        d = leaf(self._h, data)
        with self._lock:
            self._check_room(1)
            self._push_node(0, d)

    def append_leaf_hash(self, leaf_hash: object) -> None:
        """Appends one leaf given by its 32-byte leaf hash (already H(0x00 ‖ data))."""
        d = bytes(as_bytes(leaf_hash))
        if len(d) != 32:
            raise InvalidArgumentError(f"leaf_hash must be 32 bytes, got {len(d)}")
        with self._lock:
            self._check_room(1)
            self._push_node(0, d)

    def extend(self, leaves: Iterable[object]) -> None:
        """Appends every item of ``leaves``. All or nothing: a bad item appends none."""
        hashes = _leaf_hashes(self._h, leaves)
        if not hashes:
            return
        with self._lock:
            self._check_room(len(hashes))
            for d in hashes:
                self._push_node(0, d)

    def merge(self, other: MerkleBuilder) -> None:
        """Appends the leaves of ``other`` (same hash, ``other.begin == self.end``). ``other`` is unchanged."""
        if not isinstance(other, MerkleBuilder):
            raise TypeError(f"argument 'other': expected MerkleBuilder, got {type(other).__name__}")
        with other._lock:
            alg, begin, end, nodes = other._alg, other._begin, other._end, list(other._nodes)
        with self._lock:
            if alg != self._alg:
                raise ProofError(f"cannot merge a {alg} range into a {self._alg} range")
            if begin != self._end:
                raise ProofError(
                    f"ranges are not adjacent: [{self._begin}, {self._end}) then [{begin}, {end})"
                )
            for level, d in nodes:
                self._push_node(level, d)

    def root(self) -> bytes:
        """RFC 6962 root of leaves ``[0, end)``; a ``ProofError`` unless ``begin == 0``."""
        with self._lock:
            if self._begin != 0:
                raise ProofError(f"a root needs a range starting at leaf 0, this one starts at {self._begin}")
            return _fold_right(self._h, [d for _, d in self._nodes])

    def compact_range(self) -> tuple[int, int, list[bytes]]:
        """The exportable state: ``(begin, end, [subtree roots left to right])``."""
        with self._lock:
            return (self._begin, self._end, [d for _, d in self._nodes])

    @property
    def hash(self) -> str:
        return self._alg

    @property
    def begin(self) -> int:
        return self._begin

    @property
    def end(self) -> int:
        with self._lock:
            return self._end

    @property
    def size(self) -> int:
        """Number of leaves appended: ``end - begin``."""
        with self._lock:
            return self._end - self._begin

    def __repr__(self) -> str:
        with self._lock:
            return f'MerkleBuilder(hash="{self._alg}", begin={self._begin}, end={self._end})'
