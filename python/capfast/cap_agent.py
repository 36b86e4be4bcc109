"""Compatibility with cap-agent's ("LkSG Proof Agent") supplier, UBO and company roots (scheme ``cap-agent-v1``).

cap-agent does **not** build Merkle trees. Its rules (``/work/shared/reference/cap-agent.md`` §1), restated:

* each CSV row becomes a record serialised as compact JSON in struct order, non-ASCII kept raw
  (Python: ``separators=(",", ":"), ensure_ascii=False``):
  supplier ``{"name":…,"jurisdiction":…,"tier":<u32>}``, UBO ``{"name":…,"birthdate":…,"citizenship":…}``;
* ``record_hash = "0x" + hex(BLAKE3(utf8(record_json)))``;
* a list's root is ``"0x" + hex(BLAKE3(ascii(record_hash_1 ‖ record_hash_2 ‖ …)))`` -- the 66-character hex
  *strings*, prefix included, concatenated in file order (the empty list gives BLAKE3 of nothing);
* ``company_commitment_root = "0x" + hex(BLAKE3(utf8(supplier_root_hex ‖ ubo_root_hex)))``.

Because a root is a hash of a flat concatenation, nothing can be proven about a single row without handing
over every record hash: cap-agent roots have **no inclusion proofs**. This module exists so users migrating
from cap-agent can re-check the roots in their old manifests; new work should use ``scheme="merkle-v1"``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import blake3

from capfast.errors import CsvFormatError, InvalidArgumentError, ProofError
from capfast.rows import iter_rows

__all__ = [
    "EMPTY_ROOT_HEX",
    "KINDS",
    "CapAgentCommitment",
    "commit_cap_agent",
    "company_root_cap_agent",
    "detect_kind",
    "parse_tier",
    "record_hash",
    "record_json",
    "root_from_record_hashes",
]

Kind = Literal["supplier", "ubo"]

#: Field order of cap-agent's record structs (this order is what gets hashed).
KINDS: dict[str, tuple[str, str, str]] = {
    "supplier": ("name", "jurisdiction", "tier"),
    "ubo": ("name", "birthdate", "citizenship"),
}

#: BLAKE3 of the empty input: the root of a list with no records.
EMPTY_ROOT_HEX = "0x" + blake3.blake3(b"").hexdigest()

_ROOT_HEX = re.compile(r"0x[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]+")
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]+")
_U32_MAX = 2**32 - 1


def parse_tier(text: str) -> int:
    """Parse a supplier ``tier`` field exactly as cap-agent's CSV reader does, or raise ``ValueError``.

    cap-agent deserialises ``tier`` as a Rust ``u32`` through the ``csv`` crate, which means:

    * a field starting with lowercase ``0x`` is read as hexadecimal (``"0x1f"`` is 31; ``0X`` is not special);
    * otherwise Rust's ``u32::from_str``: one optional leading ``+``, then one or more ASCII digits
      (leading zeros allowed: ``"01"`` is 1); no ``-`` (not even ``-0``), no spaces, no ``_``;
    * the value must fit in 32 bits.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected text, got {type(text).__name__}")
    body, digits, radix = text, _DIGITS, 10
    if text.startswith("0x"):
        body, digits, radix = text[2:], _HEX_DIGITS, 16
    if body.startswith("+"):
        body = body[1:]
    # fullmatch with an ASCII-only class: int() alone would also accept spaces, '_' and non-ASCII digits.
    if not digits.fullmatch(body):
        raise ValueError(f"{text!r} is not an unsigned integer (digits only, optional leading '+')")
    value = int(body, radix)
    if value > _U32_MAX:
        raise ValueError(f"{text!r} does not fit in an unsigned 32-bit integer")
    return value


def _json_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def record_json(kind: Kind, row: Mapping[str, Any]) -> str:
    """cap-agent's compact struct-order JSON for one record of ``kind`` (``"supplier"`` or ``"ubo"``).

    ``row`` maps column names to field text (extra keys are ignored, as cap-agent ignores extra columns). A
    supplier ``tier`` may be text (parsed with :func:`parse_tier`) or an ``int`` in ``0 … 2**32-1``.
    Raises ``KeyError`` for a missing field and ``ValueError`` for a bad value.
    """
    fields = KINDS.get(kind)
    if fields is None:
        raise InvalidArgumentError(f"unknown cap-agent record kind {kind!r}: expected 'supplier' or 'ubo'")
    parts = []
    for name in fields:
        value = row[name]
        if kind == "supplier" and name == "tier":
            if isinstance(value, int) and not isinstance(value, bool):
                if not 0 <= value <= _U32_MAX:
                    raise ValueError(f"tier {value} does not fit in an unsigned 32-bit integer")
                tier = value
            elif isinstance(value, str):
                tier = parse_tier(value)
            else:
                raise ValueError(f"tier must be text or an int, not {type(value).__name__}")
            parts.append(f'"tier":{tier}')
            continue
        if not isinstance(value, str):
            raise ValueError(f"field {name!r} must be text, not {type(value).__name__}")
        parts.append(f"{_json_str(name)}:{_json_str(value)}")
    return "{" + ",".join(parts) + "}"


def record_hash(record: str) -> str:
    """``"0x" + hex(BLAKE3(utf8(record)))`` for a record JSON string from :func:`record_json`."""
    return "0x" + blake3.blake3(record.encode("utf-8")).hexdigest()


def root_from_record_hashes(hashes: Iterable[str]) -> str:
    """cap-agent's list root: BLAKE3 of the concatenated ``"0x…"`` record-hash strings (not a Merkle root)."""
    h = blake3.blake3()
    for item in hashes:
        if not isinstance(item, str) or not _ROOT_HEX.fullmatch(item):
            raise InvalidArgumentError(f"record hash {item!r} is not '0x' followed by 64 lowercase hex digits")
        h.update(item.encode("ascii"))
    return "0x" + h.hexdigest()


def _root_hex_arg(name: str, value: str | bytes) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        if len(raw) != 32:
            raise InvalidArgumentError(f"{name} must be 32 bytes, got {len(raw)}")
        return "0x" + raw.hex()
    if not isinstance(value, str) or not _ROOT_HEX.fullmatch(value):
        raise InvalidArgumentError(
            f"{name} {value!r} is not '0x' followed by 64 lowercase hex digits "
            "(cap-agent hashes the text, so case and prefix matter)"
        )
    return value


def company_root_cap_agent(supplier_root_hex: str | bytes, ubo_root_hex: str | bytes) -> str:
    """cap-agent's ``company_commitment_root``: ``"0x" + hex(BLAKE3(supplier_root_hex ‖ ubo_root_hex))``.

    The arguments are the ``"0x"``-prefixed lowercase hex strings (32-byte ``bytes`` are converted to that form);
    the two *strings* are concatenated and hashed. Returns the root as ``"0x"`` + 64 hex digits.
    """
    s = _root_hex_arg("supplier_root_hex", supplier_root_hex)
    u = _root_hex_arg("ubo_root_hex", ubo_root_hex)
    return "0x" + blake3.blake3((s + u).encode("ascii")).hexdigest()


def detect_kind(columns: Iterable[str]) -> Kind:
    """The record kind for a header: ``"supplier"`` needs name, jurisdiction, tier; ``"ubo"`` needs name,
    birthdate, citizenship (case-sensitive, any order, extra columns ignored). Raises ``InvalidArgumentError``
    when neither or both match."""
    present = set(columns)
    matches = [kind for kind, fields in KINDS.items() if present.issuperset(fields)]
    if len(matches) == 1:
        return matches[0]  # type: ignore[return-value]
    if not matches:
        missing = {kind: [f for f in fields if f not in present] for kind, fields in KINDS.items()}
        raise InvalidArgumentError(
            "cannot tell whether this is a supplier or a UBO list: a supplier list needs the columns "
            f"name,jurisdiction,tier (missing: {','.join(missing['supplier'])}); a UBO list needs "
            f"name,birthdate,citizenship (missing: {','.join(missing['ubo'])}); names are case-sensitive"
        )
    raise InvalidArgumentError(
        "the header has both supplier columns (name,jurisdiction,tier) and UBO columns "
        "(name,birthdate,citizenship); pass kind='supplier' or kind='ubo' (or columns=) to choose"
    )


@dataclass(frozen=True)
class CapAgentCommitment:
    """A cap-agent root over one supplier or UBO list (scheme ``cap-agent-v1``, always BLAKE3).

    There are **no proofs**: a cap-agent root is BLAKE3 of concatenated record-hash strings, not a Merkle tree,
    so :meth:`prove` and :meth:`verify` raise :class:`~capfast.errors.ProofError`. Use ``scheme="merkle-v1"``
    to prove single rows.
    """

    root: bytes
    count: int
    kind: Kind | None
    columns: tuple[str, ...] | None = None
    hash: str = field(default="blake3", init=False)
    scheme: str = field(default="cap-agent-v1", init=False)
    salted: bool = field(default=False, init=False)

    @property
    def root_hex(self) -> str:
        """``"0x"`` + 64 lowercase hex digits, as cap-agent writes roots."""
        return "0x" + self.root.hex()

    def prove(self, index: int) -> Any:
        """Always raises :class:`ProofError`: cap-agent roots are not Merkle trees and have no proofs."""
        raise ProofError(
            "cap-agent-v1 roots are BLAKE3 of concatenated record hashes, not Merkle trees: no row can be "
            "proven against them; commit with scheme='merkle-v1' to get inclusion proofs"
        )

    def verify(self, proof: Any) -> bool:
        """Always raises :class:`ProofError`: there is no proof format for cap-agent roots."""
        return self.prove(0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "root": self.root_hex,
            "count": self.count,
            "hash": self.hash,
            "scheme": self.scheme,
            "kind": self.kind,
            "columns": list(self.columns) if self.columns is not None else None,
            "salted": self.salted,
        }


def _is_mapping_iterable(source: object) -> bool:
    return not isinstance(source, (str, bytes, bytearray, memoryview, os.PathLike)) and not hasattr(
        source, "read"
    )


def _rows(source: object, columns: Sequence[str] | None) -> Iterator[Mapping[str, Any]]:
    if _is_mapping_iterable(source):
        if not isinstance(source, Iterable):
            raise InvalidArgumentError(
                f"source must be a CSV path, bytes, a binary file or an iterable of mappings, not "
                f"{type(source).__name__}"
            )
        for i, row in enumerate(source):
            if not isinstance(row, Mapping):
                raise InvalidArgumentError(f"row {i} is a {type(row).__name__}, not a mapping")
            yield row
        return
    yield from iter_rows(source, columns=list(columns) if columns is not None else None)


def commit_cap_agent(
    source: object, *, columns: Sequence[str] | None = None, kind: Kind | None = None
) -> CapAgentCommitment:
    """Compute cap-agent's root for a supplier or UBO list (see the module docstring for the exact rules).

    ``source``: a CSV path, ``bytes``, a binary file object (read with capfast's CSV dialect) or an iterable of
    mappings. The kind is detected from the columns (``columns=`` if given, else the header): supplier =
    name,jurisdiction,tier; UBO = name,birthdate,citizenship; other columns are ignored. ``kind=`` forces it.
    A header-only file gives the empty root (BLAKE3 of nothing) and ``kind=None`` unless forced.

    cap-agent roots have **no inclusion proofs**; :meth:`CapAgentCommitment.prove` raises ``ProofError``.
    """
    if kind is not None and kind not in KINDS:
        raise InvalidArgumentError(f"unknown cap-agent record kind {kind!r}: expected 'supplier' or 'ubo'")
    if columns is not None:
        columns = tuple(columns)
        if kind is None:
            kind = detect_kind(columns)
        elif not set(columns).issuperset(KINDS[kind]):
            raise InvalidArgumentError(f"columns= must include {','.join(KINDS[kind])} for kind {kind!r}")
    file = os.fspath(source) if isinstance(source, (str, os.PathLike)) else None
    from_mappings = _is_mapping_iterable(source)
    h = blake3.blake3()
    count = 0
    for row in _rows(source, columns):
        if kind is None:
            kind = detect_kind(row.keys())
        try:
            text = record_json(kind, row)
        except KeyError as exc:
            message = (
                f"data row {count + 1} has no {exc.args[0]!r} column (a {kind} record needs "
                f"{','.join(KINDS[kind])})"
            )
            if from_mappings:
                raise InvalidArgumentError(message) from None
            raise CsvFormatError(message, kind="missing column", file=file) from None
        except ValueError as exc:
            message = f"data row {count + 1}: {exc}"
            if from_mappings:
                raise InvalidArgumentError(message) from None
            raise CsvFormatError(message, kind="invalid field", file=file) from None
        h.update(b"0x" + blake3.blake3(text.encode("utf-8")).hexdigest().encode("ascii"))
        count += 1
    return CapAgentCommitment(root=h.digest(), count=count, kind=kind, columns=columns)
