"""``capfast.commit()``: commit to a table of rows with a Merkle root, then prove single rows.

``capfast.commit`` is this module *and* callable: ``capfast.commit(source, ...)`` is :func:`commit`, and
``capfast.commit.verify_row``, ``capfast.commit.iter_rows``, ``capfast.commit.Commitment`` work as attributes.

Scheme ``"merkle-v1"`` (the default)
------------------------------------
* Each row becomes a **deterministic CBOR map** (RFC 8949 §4.2.1 core deterministic encoding: definite lengths,
  shortest heads, keys sorted bytewise by their encoded form — for text keys that is shorter names first, then
  bytewise) from column name (text string) to the field's text (text string). Only the committed columns appear.
* Leaf of row ``i``: ``H(0x00 ‖ cbor_i)``, or with a ``salt_key``: ``H(0x00 ‖ salt_i ‖ cbor_i)`` where
  ``salt_i = BLAKE3-keyed(key=salt_key, msg=b"capfast.commit.salt.v1" ‖ u64_be(i))`` (32 bytes; BLAKE3 whatever
  ``hash`` is). Rows are numbered from 0 in source order; the header and skipped empty lines are not rows.
  A disclosed proof carries only ``salt_i``, which reveals nothing about the key or any other row.
* The root is the RFC 6962 §2.1 Merkle tree hash of the leaves (node = ``H(0x01 ‖ l ‖ r)``; empty table =
  ``H("")``), with ``hash`` one of ``"blake3"``, ``"sha3-256"``, ``"sha256"``.

CSV dialect (both backends, byte for byte)
------------------------------------------
UTF-8 (an invalid byte is an error; one leading BOM is skipped); RFC 4180 fields separated by ``,``; quoted fields
may contain ``,``, CR, LF and ``""`` for a quote; records end with LF or CRLF; completely empty lines are skipped
(so a one-column file writes an empty value as ``""``); nothing is trimmed; the first record is the header. Errors
are :class:`~capfast.errors.CsvFormatError` with ``kind``, ``line`` (1-based physical line; for a bad record the
line it starts on, for a bad character the line it is on; for an unclosed quote the line the quote opens on) and
``file`` (when the source was a path): ``"missing header"`` (no record at all), ``"duplicate column name"``,
``"unknown column"`` (``columns=`` names one the header lacks), ``"ragged row"`` (a record with a different number
of fields than the header), ``"invalid UTF-8"``, ``"malformed quoting"`` (a ``"`` inside an unquoted field, text
after a closing quote, an unclosed quoted field), ``"malformed line ending"`` (a CR not followed by LF outside
quotes), ``"too large"`` (a record over 64 MiB including its line end, or a header over 65,536 columns), ``"byte order
mark"`` (U+FEFF inside a header field: a second BOM, or concatenated files; it would become part of a column name).
The first problem in the input is reported.
"""

from __future__ import annotations

import os
import re
import sys
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from capfast import merkle as _merkle
from capfast._backend import core
from capfast.cap_agent import commit_cap_agent
from capfast.errors import CsvFormatError, InvalidArgumentError, ProofError
from capfast.rows import is_buffer, iter_rows

__all__ = ["Commitment", "RowProof", "commit", "iter_rows", "row_salt", "verify_row"]

SCHEMES = ("merkle-v1", "cap-agent-v1")
_HEX = re.compile(r"(?:0[xX])?([0-9a-fA-F]*)")

Progress = Callable[[int, "int | None"], object]


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _unhex(value: object, what: str, size: int | None = 32) -> bytes:
    if not isinstance(value, str):
        raise ProofError(f"{what} must be a hex string, not {type(value).__name__}")
    m = _HEX.fullmatch(value)
    if m is None or len(m.group(1)) % 2:
        raise ProofError(f"{what} is not valid hex")
    b = bytes.fromhex(m.group(1))
    if size is not None and len(b) != size:
        raise ProofError(f"{what} must be {size} bytes, got {len(b)}")
    return b


@dataclass(frozen=True)
class RowProof:
    """Everything needed to check one row against a root, and nothing about any other row.

    ``row`` maps every committed column to its text; ``salt`` is the row's derived salt (``None`` when the
    commitment is unsalted); ``path`` is the RFC 6962 audit path from the leaf up. JSON form: :meth:`to_dict`.
    """

    index: int
    tree_size: int
    row: dict[str, str]
    salt: bytes | None
    path: list[bytes]
    hash: str = "blake3"
    scheme: str = "merkle-v1"
    columns: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def leaf_hash(self) -> bytes:
        """The row's leaf hash: ``H(0x00 ‖ salt ‖ cbor(row))`` (salt omitted when ``None``)."""
        return core.commit_row_leaf(list(self.row.keys()), list(self.row.values()), self.salt, self.hash)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (bytes as ``"0x"`` + lowercase hex)."""
        return {
            "scheme": self.scheme,
            "hash": self.hash,
            "index": self.index,
            "tree_size": self.tree_size,
            "row": dict(self.row),
            "salt": None if self.salt is None else _hex(self.salt),
            "path": [_hex(p) for p in self.path],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RowProof:
        """Parses :meth:`to_dict` output. Malformed input raises :class:`~capfast.errors.ProofError`."""
        if not isinstance(d, Mapping):
            raise ProofError(f"a row proof must be a mapping, not {type(d).__name__}")
        missing = {"scheme", "hash", "index", "tree_size", "row", "salt", "path"} - set(d)
        if missing:
            raise ProofError(f"row proof lacks {', '.join(sorted(missing))}")
        index, size = d["index"], d["tree_size"]
        for name, v in (("index", index), ("tree_size", size)):
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 64:
                raise ProofError(f"{name} must be an integer in [0, 2**64)")
        row = d["row"]
        if not isinstance(row, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in row.items()):
            raise ProofError("row must map column names (str) to values (str)")
        path = d["path"]
        if not isinstance(path, list) or len(path) > 128:
            raise ProofError("path must be a list of at most 128 hex digests")
        if d["hash"] not in ("blake3", "sha3-256", "sha256"):
            raise ProofError(f"unknown hash {d['hash']!r}")
        if d["scheme"] != "merkle-v1":
            raise ProofError(f"unsupported scheme {d['scheme']!r} (only merkle-v1 has row proofs)")
        salt = None if d["salt"] is None else _unhex(d["salt"], "salt")
        return cls(
            index=index,
            tree_size=size,
            row=dict(row),
            salt=salt,
            path=[_unhex(p, f"path[{i}]") for i, p in enumerate(path)],
            hash=d["hash"],
            scheme=d["scheme"],
        )


def row_salt(salt_key: bytes, index: int) -> bytes:
    """The salt of row ``index`` under a 32-byte ``salt_key`` (see the module docstring): what a salted commitment
    puts in front of the row's CBOR in its leaf, and what a proof of that row discloses."""
    return core.commit_row_salt(salt_key, index)


def verify_row(root: bytes | str, proof: RowProof) -> bool:
    """Whether ``proof.row`` is row ``proof.index`` of the commitment with this ``root`` (bytes or hex string).

    Recomputes the CBOR leaf from ``proof.row`` and ``proof.salt`` and checks the Merkle inclusion path; needs no
    other row. ``False`` for anything that does not verify (changed field, salt, index, size, path or root, or a
    malformed root). As with any RFC 6962 root, the root alone does not fix the tree size: take ``tree_size``
    from a trusted source (``Commitment.verify`` checks it against the commitment's ``count``).
    """
    if not isinstance(proof, RowProof):
        raise TypeError(f"proof must be a RowProof, not {type(proof).__name__}")
    if proof.scheme != "merkle-v1":
        return False
    if isinstance(root, str):
        try:
            root = _unhex(root, "root")
        except ProofError:
            return False
    try:
        leaf = proof.leaf_hash()
        return _merkle.verify_inclusion(root, proof.tree_size, proof.index, leaf, proof.path, hash=proof.hash)
    except (InvalidArgumentError, TypeError, ValueError):
        return False


class Commitment:
    """The result of :func:`commit` with ``scheme="merkle-v1"``.

    Attributes: ``root`` (32 bytes), ``root_hex`` (``"0x"`` + 64 lowercase hex), ``count`` (rows), ``hash``,
    ``scheme``, ``columns`` (committed columns in header order, or the first mapping's key order), ``salted``.
    """

    __slots__ = ("root", "count", "hash", "scheme", "columns", "salted", "_leaves", "_source", "_salt_key", "_opts")

    def __init__(
        self,
        root: bytes,
        count: int,
        hash: str,
        columns: Sequence[str],
        salted: bool,
        leaves: bytes | None,
        source: object,
        salt_key: bytes | None,
        opts: dict[str, Any],
    ) -> None:
        self.root = root
        self.count = count
        self.hash = hash
        self.scheme = "merkle-v1"
        self.columns = tuple(columns)
        self.salted = salted
        self._leaves = leaves
        self._source = source
        self._salt_key = salt_key
        self._opts = opts

    @property
    def root_hex(self) -> str:
        return _hex(self.root)

    def __repr__(self) -> str:
        return (
            f"Commitment(root_hex={self.root_hex!r}, count={self.count}, hash={self.hash!r}, "
            f"columns={self.columns!r}, salted={self.salted})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (no leaves, no salt key)."""
        return {
            "scheme": self.scheme,
            "hash": self.hash,
            "root": self.root_hex,
            "count": self.count,
            "columns": list(self.columns),
            "salted": self.salted,
        }

    def _reread(self) -> Any:
        src = self._source
        if src is None:
            raise InvalidArgumentError(
                "this commitment's rows were consumed (iterable or non-seekable file) and its leaves were not "
                "retained: commit again with retain_leaves=True, or pass row= to prove()"
            )
        if isinstance(src, tuple):  # (seekable file object, start offset)
            f, pos = src
            f.seek(pos)
            return f
        return src

    def _leaf_bytes(self) -> bytes:
        if self._leaves is not None:
            return self._leaves
        src = self._reread()
        _, count, root, leaves = core.commit_csv(
            src, self.hash, self._opts["columns"], self._salt_key, True, None, *self._opts["limits"]
        )
        if root != self.root or count != self.count or leaves is None:
            raise InvalidArgumentError("the source changed since it was committed (its root differs)")
        return leaves

    def _row(self, index: int) -> dict[str, str]:
        if self._source is None:
            raise InvalidArgumentError(
                "the rows of an iterable source are consumed once: pass the row's mapping as prove(i, row=...)"
            )
        src = self._reread()
        cols = list(self.columns)
        for i, r in enumerate(iter_rows(src, columns=cols, _limits=self._opts["limits"])):
            if i == index:
                return r
        raise InvalidArgumentError(f"row {index} is no longer in the source (it changed since it was committed)")

    def prove(self, index: int, row: Mapping[str, str] | None = None) -> RowProof:
        """Inclusion proof for row ``index`` (0-based).

        With retained leaves the path is computed from them (O(n) hashing, no I/O); otherwise a path or bytes
        source is re-read (holding 32 bytes per row while proving). The row's values are read back from a
        re-readable source, or taken from ``row=`` (required for an iterable-of-mappings source); a ``row`` that
        does not match the committed leaf is an :class:`~capfast.errors.InvalidArgumentError`.
        """
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"index must be an int, not {type(index).__name__}")
        if not 0 <= index < self.count:
            raise InvalidArgumentError(f"row index {index} is out of range for {self.count} rows")
        if row is not None:
            values = {c: row[c] if c in row else None for c in self.columns}
            missing = [c for c, v in values.items() if v is None]
            if missing:
                raise InvalidArgumentError(f"row lacks column(s) {', '.join(missing)}")
            got: dict[str, str] = {c: v for c, v in values.items() if v is not None}
        else:
            got = self._row(index)
        salt = None if self._salt_key is None else core.commit_row_salt(self._salt_key, index)
        leaves = self._leaf_bytes()
        leaf = core.commit_row_leaf(list(got.keys()), list(got.values()), salt, self.hash)
        if leaves[index * 32 : index * 32 + 32] != leaf:
            raise InvalidArgumentError(f"the given row does not match committed row {index}")
        path = core.commit_prove(leaves, index, self.hash)
        return RowProof(index, self.count, got, salt, path, self.hash, self.scheme, self.columns)

    def verify(self, proof: RowProof) -> bool:
        """Whether ``proof`` proves a row of *this* commitment (same root, size and hash)."""
        return proof.tree_size == self.count and proof.hash == self.hash and verify_row(self.root, proof)


def commit(
    source: Any,
    *,
    hash: str = "blake3",
    columns: Sequence[str] | None = None,
    salt_key: bytes | None = None,
    scheme: str = "merkle-v1",
    progress: Progress | None = None,
    retain_leaves: bool = True,
    _chunk_size: int = 0,
    _max_record: int = 0,
) -> Commitment:
    """Commit to a table; see the module docstring for the leaf encoding, salts and the CSV dialect.

    ``source``:
      * a path (``str`` or ``os.PathLike``) to a CSV file — read by the native core in chunks, so memory does not
        grow with the file (a ``str`` is always a path: pass CSV *text* as ``bytes``);
      * ``bytes`` or any bytes-like object holding CSV (read in place, not copied);
      * a binary file object (``read(n)`` returning bytes);
      * an iterable of mappings (column name → ``str``). Without ``columns`` the first mapping's keys, in its
        order, are the columns and every row must have exactly those keys; with ``columns`` every row must have
        them and other keys are ignored. Values must be ``str`` (no silent ``str()`` of numbers or ``None``: the
        commitment would depend on Python's formatting); anything else is an
        :class:`~capfast.errors.InvalidArgumentError` naming the row and column. The rows are consumed once.

    ``columns``: commit only these columns (each must exist; the order given does not matter: rows are maps).
    ``salt_key``: 32 bytes making the commitment hiding (see module docs). ``progress(bytes_done, total_bytes |
    None)`` is called between chunks of a CSV source (Ctrl-C interrupts a running commit). ``retain_leaves``: keep
    the 32-byte leaf hashes (32 B/row) so :meth:`Commitment.prove` needs no I/O; with ``False`` memory stays
    O(log n) and proving re-reads a path, bytes or seekable-file source.

    ``scheme="cap-agent-v1"`` computes cap-agent's legacy root instead (no proofs; see
    :func:`capfast.cap_agent.commit_cap_agent`); it takes neither ``salt_key`` nor a hash other than
    ``"blake3"``. ``_chunk_size`` / ``_max_record`` are testing knobs (bytes per read chunk, record limit).
    """
    if scheme == "cap-agent-v1":
        if salt_key is not None:
            raise InvalidArgumentError('scheme "cap-agent-v1" has no salts: salt_key is not supported')
        if hash != "blake3":
            raise InvalidArgumentError(f'scheme "cap-agent-v1" always uses BLAKE3, not {hash!r}')
        return commit_cap_agent(source, columns=columns)  # type: ignore[return-value]
    if scheme != "merkle-v1":
        raise InvalidArgumentError(f"unknown scheme {scheme!r}: expected one of {', '.join(SCHEMES)}")
    if isinstance(columns, str):
        raise InvalidArgumentError("columns must be a sequence of column names, not a str")
    cols = None if columns is None else list(columns)
    key = None if salt_key is None else bytes(salt_key)
    if key is not None and len(key) != 32:
        raise InvalidArgumentError(f"salt_key must be 32 bytes, got {len(key)}")
    limits = (int(_chunk_size), int(_max_record))
    opts = {"columns": cols, "limits": limits}
    path: str | None = None
    keep: object = None
    if isinstance(source, (str, os.PathLike)):
        path = os.fsdecode(os.fspath(source))
        src: Any = path
        keep = path
    elif is_buffer(source):
        src = keep = source
    elif hasattr(source, "read"):
        src = source
        try:
            if source.seekable():
                keep = (source, source.tell())
        except (AttributeError, OSError, ValueError):
            keep = None
    elif isinstance(source, Mapping):
        raise InvalidArgumentError("source is a single mapping: pass an iterable of mappings (one per row)")
    elif isinstance(source, Iterable):
        names, count, root, leaves = core.commit_rows(source, cols, hash, key, retain_leaves)
        return Commitment(root, count, hash, names, key is not None, leaves, None, key, opts)
    else:
        raise InvalidArgumentError(
            "source must be a CSV path, bytes, a binary file object or an iterable of mappings, not "
            + type(source).__name__
        )
    try:
        names, count, root, leaves = core.commit_csv(src, hash, cols, key, retain_leaves, progress, *limits)
    except CsvFormatError as e:
        if path is not None and e.file is None:
            raise e.with_file(path) from None
        raise
    return Commitment(root, count, hash, names, key is not None, leaves, keep, key, opts)


class _CallableModule(types.ModuleType):
    """Lets ``capfast.commit(...)`` call :func:`commit` while ``capfast.commit.verify_row`` etc. stay attributes."""

    def __call__(self, source: Any, **kwargs: Any) -> Commitment:
        return commit(source, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
