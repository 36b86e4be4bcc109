"""Public key lists (sanctions, jurisdictions) as sorted ``merkle-v1`` commitments, and non-membership evidence.

A list is committed as ``merkle-v1`` BLAKE3 rows ``{"key": k}`` with ``k`` the normalised keys (:func:`normalize_key`)
**sorted** bytewise and de-duplicated. Non-membership of ``x`` is two adjacent leaves ``k_j < x < k_{j+1}`` with
inclusion proofs at indices ``j, j+1`` (or the first leaf alone when ``x < k_0``, the last alone when
``x > k_{n-1}``); membership is the leaf itself. :func:`non_membership_evidence` builds that evidence,
:func:`verify_non_membership` checks it against a list root.
"""

from __future__ import annotations

import bisect
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from capfast import merkle
from capfast.commit import RowProof, commit, iter_rows, verify_row
from capfast.errors import ComplianceProofError, CsvFormatError

__all__ = [
    "LIST_COLUMNS",
    "LIST_HASH",
    "ListCommitment",
    "commit_keys",
    "commit_list",
    "non_membership_evidence",
    "normalize_key",
    "verify_non_membership",
]

#: Column of each list file that holds the key compared with the suppliers/UBOs.
LIST_COLUMNS = {"sanctions_root": "name", "jurisdiction_root": "iso_code"}


LIST_HASH = "blake3"


MAX_ROWS = 10_000_000


MAX_PATH = 64


_ROOT = re.compile(r"0x[0-9a-f]{64}")


def normalize_key(text: str) -> str:
    """The comparison key of a name: Unicode NFKC, case-folded, whitespace runs collapsed to one space, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def hex_root(b: bytes) -> str:
    """``"0x"`` + lowercase hex: how proofs write roots, leaves, salts and path nodes."""
    return "0x" + b.hex()


def unhex_root(value: Any, what: str) -> bytes:
    """The 32 bytes of a ``"0x"`` + 64 lowercase hex string, else :class:`ComplianceProofError` naming ``what``."""
    if not isinstance(value, str) or not _ROOT.fullmatch(value):
        raise ComplianceProofError(f"{what} must be 0x + 64 lowercase hex digits")
    return bytes.fromhex(value[2:])


@dataclass
class ListCommitment:
    """A sorted, de-duplicated key list committed as ``merkle-v1`` rows ``{"key": k}`` (BLAKE3, unsalted)."""

    keys: list[str]
    root: bytes
    _commitment: Any = field(repr=False, default=None)

    @property
    def root_hex(self) -> str:
        return hex_root(self.root)

    @property
    def count(self) -> int:
        return len(self.keys)

    def prove(self, index: int) -> dict[str, Any]:
        rp = self._commitment.prove(index, row={"key": self.keys[index]})
        return {"index": index, "key": self.keys[index], "path": [hex_root(p) for p in rp.path]}


def commit_keys(keys: Iterable[str]) -> ListCommitment:
    """Commit a set of already-normalised keys (sorted bytewise, duplicates removed)."""
    ordered = sorted(set(keys), key=lambda k: k.encode("utf-8"))
    c = commit(({"key": k} for k in ordered), hash=LIST_HASH, columns=["key"]) if ordered else None
    root = c.root if c is not None else merkle.root([], hash=LIST_HASH)
    return ListCommitment(ordered, root, c)


def commit_list(path: str | os.PathLike[str], column: str) -> ListCommitment:
    """Commit a public list file (CSV with a ``column`` header, e.g. ``name`` for sanctions)."""
    keys = []
    try:
        for i, row in enumerate(iter_rows(path, columns=[column])):
            if i >= MAX_ROWS:
                raise ComplianceProofError(f"list {path} has more than {MAX_ROWS} rows")
            key = normalize_key(row[column])
            if key:
                keys.append(key)
    except CsvFormatError:
        raise
    return commit_keys(keys)


def non_membership_evidence(lst: ListCommitment, item: str) -> dict[str, Any]:
    enc = [k.encode("utf-8") for k in lst.keys]
    x = item.encode("utf-8")
    pos = bisect.bisect_left(enc, x)
    if pos < len(enc) and enc[pos] == x:
        return {"item": item, "member": lst.prove(pos)}
    return {
        "item": item,
        "lower": lst.prove(pos - 1) if pos > 0 else None,
        "upper": lst.prove(pos) if pos < len(enc) else None,
    }


def _check_path(entry: Any, root: bytes, size: int, what: str) -> tuple[int, str]:
    if not isinstance(entry, dict):
        raise ComplianceProofError(f"{what} is malformed")
    index, key, path = entry.get("index"), entry.get("key"), entry.get("path")
    if (isinstance(index, bool) or not isinstance(index, int) or not isinstance(key, str)
            or not isinstance(path, list) or len(path) > MAX_PATH):
        raise ComplianceProofError(f"{what} is malformed")
    rp = RowProof(index, size, {"key": key}, None, [unhex_root(p, f"{what}.path") for p in path], LIST_HASH)
    if not verify_row(root, rp):
        raise ComplianceProofError(f"{what}: inclusion proof of leaf {index} ({key!r}) does not verify against the "
                                   "list root")
    return index, key


def verify_non_membership(ev: Any, item: str, root: bytes, size: int, where: str) -> bool:
    """True if ``ev`` proves ``item`` absent, False if it proves it present; raises if the evidence is bad."""
    if not isinstance(ev, dict) or ev.get("item") != item:
        raise ComplianceProofError(f"{where}: evidence for {item!r} is missing or out of order")
    x = item.encode("utf-8")
    if "member" in ev:
        _, key = _check_path(ev["member"], root, size, f"{where} member")
        if key != item:
            raise ComplianceProofError(f"{where}: member evidence names {key!r}, not {item!r}")
        return False
    lower, upper = ev.get("lower"), ev.get("upper")
    if size == 0:
        if lower is not None or upper is not None:
            raise ComplianceProofError(f"{where}: an empty list has no leaves")
        return True
    li = ui = None
    if lower is not None:
        li, lk = _check_path(lower, root, size, f"{where} lower")
        if not lk.encode("utf-8") < x:
            raise ComplianceProofError(f"{where}: lower neighbour {lk!r} is not below {item!r}")
    if upper is not None:
        ui, uk = _check_path(upper, root, size, f"{where} upper")
        if not x < uk.encode("utf-8"):
            raise ComplianceProofError(f"{where}: upper neighbour {uk!r} is not above {item!r}")
    if li is None and ui is None:
        raise ComplianceProofError(f"{where}: no neighbour given for {item!r}")
    if li is None and ui != 0:
        raise ComplianceProofError(f"{where}: {item!r} is below the list only if the upper neighbour is leaf 0")
    if ui is None and li != size - 1:
        raise ComplianceProofError(f"{where}: {item!r} is above the list only if the lower neighbour is the last leaf")
    if li is not None and ui is not None and ui != li + 1:
        raise ComplianceProofError(f"{where}: the neighbours of {item!r} are not adjacent leaves")
    return True
