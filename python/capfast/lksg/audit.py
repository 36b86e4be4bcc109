"""cap-agent's v1.0 hash-chained audit log (``agent.audit.jsonl``), compatible in both directions.

Format (``/work/shared/reference/cap-agent.md`` §6.1), restated: one compact JSON object per ``\\n``-terminated
line with the fields, in this order, ``seq`` (1, 2, 3 … continuing across runs), ``ts`` (RFC 3339 text),
``event``, ``details`` (any JSON, written with sorted keys), ``prev_digest`` and ``digest``, where::

    digest = "0x" + hex(SHA3-256( decimal(seq) ‖ ts ‖ event ‖ compact_sorted_json(details) ‖ prev_digest ))

(plain UTF-8 byte concatenation, no separators) and ``prev_digest`` is the previous entry's ``digest``, or
``"0x"`` + 64 zeros for the first entry. Blank lines are ignored.

Reading is strict so that two parsers cannot read one file differently: a line holding a carriage return (CRLF
endings), duplicate keys anywhere, ``NaN``/``Infinity``, lone surrogates or ``details`` nested deeper than
64 make the entry malformed (the one strict JSON reader, :mod:`capfast.strict_json`).

:class:`AuditLog` appends entries (fsync after each, an exclusive ``flock`` so concurrent writers cannot fork
the chain); :func:`verify_audit_log` checks a whole file and pinpoints the first modified, reordered, deleted or
malformed entry. Unlike cap-agent we also require ``seq`` to start at 1 and grow by exactly one.

**What a chain cannot show by itself**: entries removed from the *end*, or a whole log rewritten and re-hashed,
leave a valid chain. Only an anchor recorded elsewhere catches them: ``expected_tip=``/``expected_count=`` (the
log must end there) or, with ``allow_growth=True``, an anchor the log must still contain as a prefix, such as a
manifest's ``audit.tail_digest``/``events_count`` taken before later events were appended. A report without an
anchor says so (``anchored=False``). The transparency ledger replaces this prefix check with consistency proofs.

Floats in ``details`` are written by Python's ``json`` and would be formatted differently by cap-agent's Rust
serializer for some values (``1e+21`` vs ``1e21``); none of cap-agent's events carries a float.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from capfast import strict_json
from capfast._io import fsync_dir, locked
from capfast._time import rfc3339_now
from capfast.errors import AuditLogError

__all__ = [
    "GENESIS_DIGEST",
    "MAX_LINE_BYTES",
    "UNANCHORED_NOTE",
    "AuditEntry",
    "AuditLog",
    "AuditReport",
    "compute_digest",
    "verify_audit_log",
]

#: ``prev_digest`` of the first entry.
GENESIS_DIGEST = "0x" + "00" * 32
#: Longest line we write or read (a bound against hostile files; cap-agent's lines are a few hundred bytes).
MAX_LINE_BYTES = 1 << 20

#: What an ``ok`` without an anchor does not cover (printed by ``cap audit verify``).
UNANCHORED_NOTE = (
    "not anchored: entries removed from the end, or the whole log rewritten and re-hashed, cannot be detected "
    "from the file alone; check it against an anchor (--expect-tip/--expect-count, or --manifest)"
)

_FIELDS = ("seq", "ts", "event", "details", "prev_digest", "digest")
_DIGEST = re.compile(r"0x[0-9a-f]{64}")


def _details_json(details: Any) -> str:
    try:
        return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AuditLogError(f"audit details are not plain JSON data: {exc}") from None


def compute_digest(seq: int, ts: str, event: str, details: Any, prev_digest: str) -> str:
    """The §6.1 digest of one entry: ``"0x" + hex(SHA3-256(decimal(seq) ‖ ts ‖ event ‖ json ‖ prev_digest))``."""
    material = f"{seq}{ts}{event}{_details_json(details)}{prev_digest}"
    try:
        raw = material.encode("utf-8")
    except UnicodeEncodeError:
        raise AuditLogError("audit entry contains a lone surrogate (not encodable as UTF-8)") from None
    return "0x" + hashlib.sha3_256(raw).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """One line of the log."""

    seq: int
    ts: str
    event: str
    details: Any
    prev_digest: str
    digest: str

    def to_line(self) -> str:
        """The compact JSON line (struct order, details with sorted keys, raw UTF-8), without the newline."""
        return (
            f'{{"seq":{self.seq},"ts":{json.dumps(self.ts, ensure_ascii=False)},'
            f'"event":{json.dumps(self.event, ensure_ascii=False)},"details":{_details_json(self.details)},'
            f'"prev_digest":{json.dumps(self.prev_digest)},"digest":{json.dumps(self.digest)}}}'
        )

    def to_dict(self) -> dict[str, Any]:
        """The entry as a dict in struct order."""
        return {name: getattr(self, name) for name in _FIELDS}

    def expected_digest(self) -> str:
        """The digest this entry's fields hash to (equal to :attr:`digest` unless the entry was altered)."""
        return compute_digest(self.seq, self.ts, self.event, self.details, self.prev_digest)


def _parse_entry(raw: bytes | str) -> AuditEntry:
    """Parse one non-blank line (with or without its ``\n``), or raise ``ValueError`` naming what is wrong."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    if text.endswith("\n"):
        text = text[:-1]
    if "\r" in text:
        raise ValueError("it contains a carriage return (CRLF line endings are not allowed)")
    # Duplicate keys, NaN/Infinity, lone surrogates, overflowing numbers and nesting deeper than 64 are errors.
    obj = strict_json.loads(text, what="the entry", error=ValueError, max_bytes=MAX_LINE_BYTES)
    if not isinstance(obj, dict):
        raise ValueError(f"a JSON {type(obj).__name__}, not an object")
    missing = [f for f in _FIELDS if f not in obj]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    extra = sorted(set(obj) - set(_FIELDS))
    if extra:
        raise ValueError(f"unexpected field(s) {', '.join(extra)}")
    seq = obj["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise ValueError(f"seq must be a positive integer, not {seq!r}")
    for name in ("ts", "event", "prev_digest", "digest"):
        if not isinstance(obj[name], str):
            raise ValueError(f"{name} must be a string, not {type(obj[name]).__name__}")
    for name in ("prev_digest", "digest"):
        if not _DIGEST.fullmatch(obj[name]):
            raise ValueError(f"{name} {obj[name][:80]!r} is not '0x' followed by 64 lowercase hex digits")
    entry = AuditEntry(seq, obj["ts"], obj["event"], obj["details"], obj["prev_digest"], obj["digest"])
    try:
        f"{entry.ts}{entry.event}{_details_json(entry.details)}".encode()
    except UnicodeEncodeError:
        raise ValueError("it contains a lone surrogate (\\ud800-\\udfff escape without its pair)") from None
    return entry


class AuditLog:
    """Appends entries to a §6.1 audit log, continuing ``seq`` and the digest chain of an existing file.

    Each :meth:`append` takes an exclusive lock on the file, reads its last entry (refusing to extend a log
    whose last line is incomplete, malformed or does not match its digest), writes one line with a single
    ``write`` and fsyncs it (and the directory, when the file was just created).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[tuple[IO[bytes], bool]]:
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        with os.fdopen(fd, "r+b", buffering=0) as fh:
            with locked(fh):
                yield fh, created

    def tip(self) -> tuple[int, str]:
        """``(last_seq, last_digest)``: ``(0, GENESIS_DIGEST)`` for a missing or empty log."""
        if not self.path.exists():
            return 0, GENESIS_DIGEST
        with open(self.path, "rb") as fh:
            entry = _tail_entry(fh)
        return (entry.seq, entry.digest) if entry is not None else (0, GENESIS_DIGEST)

    def append(self, event: str, details: Mapping[str, Any] | Any = None, *, ts: str | None = None) -> AuditEntry:
        """Append one event and return the written entry. ``ts`` defaults to now (RFC 3339, UTC, µs)."""
        if not isinstance(event, str) or not event or len(event) > 256 or any(ord(c) < 0x20 for c in event):
            raise AuditLogError(f"event name must be 1-256 printable characters, got {event!r}")
        if details is None:
            details = {}
        if ts is None:
            ts = rfc3339_now(timespec="microseconds")
        elif not isinstance(ts, str):
            raise AuditLogError(f"ts must be a string, not {type(ts).__name__}")
        _details_json(details)  # reject unserialisable details before touching the file
        with self._locked() as (fh, created):
            last = _tail_entry(fh)
            seq, prev = (last.seq + 1, last.digest) if last is not None else (1, GENESIS_DIGEST)
            entry = AuditEntry(seq, ts, event, details, prev, compute_digest(seq, ts, event, details, prev))
            data = (entry.to_line() + "\n").encode("utf-8")
            if len(data) > MAX_LINE_BYTES:
                raise AuditLogError(f"audit entry for {event!r} is {len(data)} bytes, over {MAX_LINE_BYTES}")
            fh.seek(0, os.SEEK_END)
            written = 0
            while written < len(data):
                written += os.write(fh.fileno(), data[written:])
            os.fsync(fh.fileno())
        if created:
            fsync_dir(self.path.parent)
        return entry


def _tail_entry(fh: IO[bytes]) -> AuditEntry | None:
    """The last entry of an open log (``None`` when empty); raises :class:`AuditLogError` if it is unusable."""
    end = fh.seek(0, os.SEEK_END)
    if end == 0:
        return None
    pos, buf = end, b""
    while pos > 0:
        step = min(65536, pos)
        pos -= step
        fh.seek(pos)
        buf = fh.read(step) + buf
        stripped = buf.rstrip()
        if stripped and b"\n" in stripped:
            break
        if len(stripped) > MAX_LINE_BYTES:
            raise AuditLogError(f"the last line is longer than {MAX_LINE_BYTES} bytes")
    stripped = buf.rstrip()
    if not stripped:
        return None
    if not buf.endswith(b"\n"):
        raise AuditLogError(
            "the last line is incomplete (no trailing newline): a write was interrupted; "
            "repair or move the file before appending"
        )
    last = buf[buf.rfind(b"\n", 0, len(stripped)) + 1 :]
    try:
        entry = _parse_entry(last.strip(b" \t\n"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise AuditLogError(f"the last entry is malformed: {exc}") from None
    if entry.expected_digest() != entry.digest:
        raise AuditLogError(
            f"the last entry (seq {entry.seq}) does not match its digest: the log was altered; "
            "verify it before appending"
        )
    return entry


@dataclass(frozen=True)
class AuditReport:
    """Result of :func:`verify_audit_log`.

    ``count``/``last_seq``/``tip`` describe the verified prefix (the whole log when ``ok``); on failure
    ``problem`` is one of ``"malformed"``, ``"incomplete tail"`` (a torn last line), ``"modified"``,
    ``"deleted"``, ``"reordered"``, ``"broken link"``, ``"seq"``, ``"tip mismatch"``;
    ``line`` is the 1-based physical line of the first bad entry and ``seq`` its
    ``seq`` when readable. ``anchored`` says whether an anchor was checked: without one, ``ok`` cannot cover
    entries removed from the end or a rewritten log (:data:`UNANCHORED_NOTE`).
    """

    ok: bool
    path: str
    count: int
    last_seq: int
    tip: str
    problem: str | None = None
    line: int | None = None
    seq: int | None = None
    message: str | None = None
    anchored: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "ok": self.ok,
            "path": self.path,
            "count": self.count,
            "last_seq": self.last_seq,
            "tip": self.tip,
            "problem": self.problem,
            "line": self.line,
            "seq": self.seq,
            "message": self.message,
            "anchored": self.anchored,
            "note": None if self.anchored or not self.ok else UNANCHORED_NOTE,
        }


def _lines(fh: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """``(line_no, raw)`` for every physical line; ``raw`` is ``None`` for an over-long line (then stops)."""
    line_no = 0
    while True:
        raw = fh.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        line_no += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            yield line_no, None
            return
        yield line_no, raw


def _find_seq_after(fh: IO[bytes], wanted: int, first_line: int) -> int | None:
    """The physical line (> first_line) holding an entry with ``seq == wanted``, if any."""
    for line_no, raw in _lines(fh):
        if raw is None:
            return None
        if line_no <= first_line or not raw.strip(b" \t\n"):
            continue
        try:
            entry = _parse_entry(raw)
        except (UnicodeDecodeError, ValueError):
            continue
        if entry.seq == wanted:
            return line_no
    return None


def verify_audit_log(
    path: str | os.PathLike[str],
    *,
    expected_tip: str | None = None,
    expected_count: int | None = None,
    allow_growth: bool = False,
) -> AuditReport:
    """Check every entry of a §6.1 log and report the first problem.

    Per non-blank line: it must be a complete JSON object with exactly the six fields (``malformed``); its
    digest must match its own content (``modified``); ``seq`` must be the previous ``seq`` + 1, starting at 1,
    and ``prev_digest`` the previous digest, starting at the genesis value. A gap whose missing entry appears
    later is ``reordered``, one whose missing entry is nowhere is ``deleted``, an intact link with a wrong
    ``seq`` is ``seq``, a wrong link with the right ``seq`` is ``broken link`` (this entry's ``prev_digest``, or
    the previous entry, was rewritten and re-hashed).

    The anchor ``expected_tip``/``expected_count`` catches entries removed from the end and rewrites made after
    it was taken: by default the log must end exactly there; with ``allow_growth`` the log may have grown since,
    and the entry number ``expected_count`` must have the digest ``expected_tip`` (a prefix check: the chain fixes
    every entry before it). A failed anchor is ``tip mismatch``. A missing file raises ``FileNotFoundError``.
    """
    name = os.fspath(path)
    count, last_seq, tip = 0, 0, GENESIS_DIGEST
    anchored = expected_tip is not None or expected_count is not None
    anchor_digest: str | None = None  # the digest of entry ``expected_count`` (allow_growth)
    tip_seen = False  # allow_growth with a tip but no count: some entry has that digest

    def fail(problem: str, line: int | None, seq: int | None, message: str) -> AuditReport:
        return AuditReport(False, name, count, last_seq, tip, problem, line, seq, message, anchored)

    with open(path, "rb") as fh:
        for line_no, raw in _lines(fh):
            if raw is None:
                return fail("malformed", line_no, None, f"line {line_no} is longer than {MAX_LINE_BYTES} bytes")
            if not raw.strip(b" \t\n"):
                continue
            if not raw.endswith(b"\n"):
                return fail(
                    "incomplete tail",
                    line_no,
                    None,
                    f"line {line_no} is incomplete (no trailing newline): an append was interrupted",
                )
            try:
                entry = _parse_entry(raw)
            except UnicodeDecodeError:
                return fail("malformed", line_no, None, f"line {line_no} is not valid UTF-8")
            except ValueError as exc:
                return fail("malformed", line_no, None, f"line {line_no} is malformed: {exc}")
            if entry.expected_digest() != entry.digest:
                return fail(
                    "modified",
                    line_no,
                    entry.seq,
                    f"entry seq {entry.seq} on line {line_no} was modified: its content does not hash to its digest",
                )
            expected_seq = last_seq + 1
            if entry.prev_digest != tip:
                if entry.seq > expected_seq:
                    here = fh.tell()
                    fh.seek(0)
                    later = _find_seq_after(fh, expected_seq, line_no)
                    fh.seek(here)
                    if later is not None:
                        return fail(
                            "reordered",
                            line_no,
                            entry.seq,
                            f"entries are out of order: line {line_no} holds seq {entry.seq} where seq "
                            f"{expected_seq} belongs (seq {expected_seq} is on line {later})",
                        )
                    missing = (
                        f"seq {expected_seq}"
                        if entry.seq == expected_seq + 1
                        else f"seq {expected_seq}-{entry.seq - 1}"
                    )
                    return fail(
                        "deleted",
                        line_no,
                        entry.seq,
                        f"entries were deleted before line {line_no}: {missing} missing (found seq {entry.seq})",
                    )
                if entry.seq < expected_seq:
                    return fail(
                        "reordered",
                        line_no,
                        entry.seq,
                        f"entries are out of order or duplicated: line {line_no} holds seq {entry.seq} after seq "
                        f"{last_seq}",
                    )
                return fail(
                    "broken link",
                    line_no,
                    entry.seq,
                    f"entry seq {entry.seq} on line {line_no} does not chain to the entry before it "
                    f"(prev_digest {entry.prev_digest[:18]}…, expected {tip[:18]}…): this entry's prev_digest or "
                    "the previous entry was rewritten",
                )
            if entry.seq != expected_seq:
                return fail(
                    "seq",
                    line_no,
                    entry.seq,
                    f"entry on line {line_no} has seq {entry.seq}, expected {expected_seq} (the chain links, so the "
                    "seq field itself was rewritten)",
                )
            count, last_seq, tip = count + 1, entry.seq, entry.digest
            if count == expected_count:
                anchor_digest = tip
            tip_seen = tip_seen or tip == expected_tip
    if allow_growth:
        if expected_count is not None and count < expected_count:
            return fail("tip mismatch", None, None, f"the log has {count} entries, fewer than the {expected_count} "
                        "the anchor records (entries removed from the end, or an older copy of the log)")
        if expected_tip is not None and expected_count is not None and anchor_digest != expected_tip:
            return fail("tip mismatch", None, expected_count, f"entry {expected_count} has digest {anchor_digest}, "
                        f"the anchor says {expected_tip}: the log was rewritten after the anchor was taken")
        if expected_tip is not None and expected_count is None and not tip_seen:
            return fail("tip mismatch", None, None, f"no entry has the anchored digest {expected_tip}: the log was "
                        "rewritten or truncated after the anchor was taken")
        return AuditReport(True, name, count, last_seq, tip, anchored=anchored)
    if expected_count is not None and expected_count != count:
        return fail(
            "tip mismatch", None, None, f"the log has {count} entries, the anchor says {expected_count}"
        )
    if expected_tip is not None and expected_tip != tip:
        return fail(
            "tip mismatch",
            None,
            None,
            f"the log ends at digest {tip}, the anchor says {expected_tip} (entries removed from the end?)",
        )
    return AuditReport(True, name, count, last_seq, tip, anchored=anchored)
