"""Pure-Python twin of the commitment engine (``rust/src/commit/`` and ``rust/src/py/commit.rs``).

Same dialect, same leaves, same roots, same errors (kind and line) as the native core. Written for speed where it
matters: the input is cut into chunks at record boundaries (quote parity, as in Rust); each chunk is parsed by
``csv.reader`` and its rows are CBOR-encoded and hashed with C-level ``map``/``zip`` pipelines (no Python-level
loop per row), and each chunk's perfect subtrees are hashed level by level before being merged into a
:class:`MerkleBuilder`. ``csv.reader`` is more lenient than capfast's dialect, so every chunk it accepts is also
checked for quotes inside unquoted fields, ragged rows and oversized records; a chunk that fails any check (or that
``csv`` rejects) is re-read by an exact byte-level scanner (the same state machine as ``rust/src/commit/csv.rs``)
which reports the first problem exactly as the native core does.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gc
import io
import operator
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import chain, repeat
from typing import Any

import blake3 as _blake3

from capfast._py.hashes import hasher_for
from capfast._py.merkle import MerkleBuilder, _decompose, _proof_ranges, _root_of_leaf_hashes
from capfast.cbor import head
from capfast.errors import CsvFormatError, InvalidArgumentError

__all__ = [
    "commit_csv",
    "commit_prove",
    "commit_row_cbor",
    "commit_row_leaf",
    "commit_row_salt",
    "commit_rows",
]

DEFAULT_CHUNK = 4 << 20
DEFAULT_MAX_RECORD = 64 << 20
MAX_COLUMNS = 1 << 16
SALT_DOMAIN = b"capfast.commit.salt.v1"
_BOM = b"\xef\xbb\xbf"

# --------------------------------------------------------------------------------------------------------------
# Deterministic CBOR (RFC 8949 §4.2.1) for text → text maps, on the one codec's heads (capfast.cbor.head)
# --------------------------------------------------------------------------------------------------------------


_TABLE = 4096
_THEAD: list[bytes] = [head(3, n) for n in range(_TABLE)]


def _texthead(n: int) -> bytes:
    return _THEAD[n] if n < _TABLE else head(3, n)


class _Layout:
    """Map head and encoded keys in deterministic order, each with the index of the value it takes."""

    __slots__ = ("head", "entries", "_cache")

    def __init__(self, names: list[str], fields: list[int]) -> None:
        enc = [(_texthead(len(k.encode())) + k.encode(), f) for k, f in zip(names, fields, strict=True)]
        enc.sort(key=operator.itemgetter(0))
        for a, b in zip(enc, enc[1:]):
            if a[0] == b[0]:
                raise InvalidArgumentError("column names must be distinct")
        self.head = head(5, len(enc))
        self.entries = enc
        self._cache: dict[tuple[int, bool], Callable[..., bytes]] = {}

    def encode(self, values: list[str] | tuple[str, ...]) -> bytes:
        out = [self.head]
        for key, f in self.entries:
            v = values[f].encode()
            out += (key, _texthead(len(v)), v)
        return b"".join(out)

    def _compiled(self, width: int, salted: bool) -> Callable[..., bytes]:
        """A generated ``enc(row[, salt])`` returning ``0x00 [‖ salt] ‖ cbor(row)`` for rows of ``width`` fields.

        Generated once per table (like ``collections.namedtuple``): straight-line code, no loop per field. Only
        field indices appear in the source; keys and heads are bound as constants.
        """
        ns: dict[str, Any] = {"T": _THEAD, "J": b"".join, "HEAD": self.head}
        fields = ", ".join(f"v{i}" for i in range(width)) + ("," if width == 1 else "") if width else "()"
        parts = ["b'\\x00'"] + (["salt"] if salted else []) + ["HEAD"]
        body = []
        for k, (key, f) in enumerate(self.entries):
            ns[f"K{k}"] = key
            body.append(f"    e{k} = v{f}.encode()")
            parts += [f"K{k}", f"T[len(e{k})]", f"e{k}"]
        src = (
            f"def enc(row{', salt' if salted else ''}):\n    {fields} = row\n"
            + "\n".join(body)
            + ("\n" if body else "")
            + f"    return J(({', '.join(parts)},))\n"
        )
        exec(src, ns)  # noqa: S102 - generated from integers only
        return ns["enc"]

    def encode_many(self, rows: list[Any], width: int, salts: list[bytes] | None) -> list[bytes]:
        """``0x00 [‖ salt] ‖ cbor(row)`` for each row (a sequence of ``width`` fields)."""
        key = (width, salts is not None)
        enc = self._cache.get(key)
        if enc is None:
            enc = self._cache[key] = self._compiled(width, salts is not None)
        try:
            return list(map(enc, rows) if salts is None else map(enc, rows, salts))
        except IndexError:  # a value of 4096 bytes or more: no table head
            pre = [b"\x00" + self.encode(r) for r in rows]
            return pre if salts is None else [p[:1] + s + p[1:] for p, s in zip(pre, salts, strict=True)]


# --------------------------------------------------------------------------------------------------------------
# Salts, leaves, trees
# --------------------------------------------------------------------------------------------------------------


def _key32(value: object, what: str) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError("expected a bytes-like object, got str (encode it first)")
    try:
        b = bytes(memoryview(value))  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"expected a bytes-like object, got {type(value).__name__}") from None
    if len(b) != 32:
        raise InvalidArgumentError(f"{what} must be 32 bytes, got {len(b)}")
    return b


def _salt(key: bytes, index: int) -> bytes:
    return _blake3.blake3(SALT_DOMAIN + index.to_bytes(8, "big"), key=key).digest()


class _Tree:
    """Leaf hashes → running RFC 6962 compact range (and optionally every leaf hash)."""

    def __init__(self, hash: str, key: bytes | None, retain: bool) -> None:
        self.name = hash
        self.h = hasher_for(hash)
        self.digest = type(self.h(b"")).digest
        self.key = key
        self.builder = MerkleBuilder(hash)
        self.count = 0
        self.leaves: list[bytes] | None = [] if retain else None

    def _perfect_root(self, level: list[bytes]) -> bytes:
        h, digest, one = self.h, self.digest, repeat(b"\x01")
        while len(level) > 1:
            level = list(map(digest, map(h, map(b"".join, zip(one, level[0::2], level[1::2])))))
        return level[0]

    def add(self, rows: list[Any], layout: _Layout, width: int) -> None:
        if not rows:
            return
        salts = None
        if self.key is not None:
            key = self.key
            salts = [_salt(key, i) for i in range(self.count, self.count + len(rows))]
        pre = layout.encode_many(rows, width, salts)
        self.add_hashes(list(map(self.digest, map(self.h, pre))))

    def add_hashes(self, hashes: list[bytes]) -> None:
        start = self.count
        end = start + len(hashes)
        roots = [
            self._perfect_root(hashes[s - start : s - start + (1 << lvl)]) for s, lvl in _decompose(start, end)
        ]
        self.builder.merge(MerkleBuilder.from_compact_range(self.name, start, end, roots))
        self.count = end
        if self.leaves is not None:
            self.leaves.extend(hashes)

    def finish(self, columns: list[str]) -> tuple[list[str], int, bytes, bytes | None]:
        leaves = b"".join(self.leaves) if self.leaves is not None else None
        return columns, self.count, self.builder.root(), leaves


# --------------------------------------------------------------------------------------------------------------
# The exact byte-level scanner (mirror of rust/src/commit/csv.rs)
# --------------------------------------------------------------------------------------------------------------

_MSG_STRAY = "'\"' inside an unquoted field (enclose the field in quotes and double the quote)"
_MSG_AFTER_CLOSE = "unexpected character after a closing quote (expected ',', a line end or the end of input)"
_MSG_UNTERMINATED = "quoted field is not closed before the end of the input"
_MSG_BARE_CR = "carriage return not followed by a line feed"
_SPECIAL = re.compile(rb'[,\n\r"]')


class _Loc(Exception):
    def __init__(self, at: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.at, self.kind, self.message = at, kind, message


class _Detected(Exception):
    def __init__(self, loc: _Loc, detected: int) -> None:
        super().__init__(loc.message)
        self.loc, self.detected = loc, detected


def _first_invalid_utf8(buf: bytes, eof: bool) -> int | None:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(buf, final=eof)
    except UnicodeDecodeError as e:
        return e.start
    return None


def _syntax(buf: bytes, start: int, eof: bool) -> tuple[str, int, list[bytes]]:
    """('empty'|'record'|'incomplete', end, fields); raises _Detected."""
    n = len(buf)

    def line_end(i: int) -> int | None:
        j = i
        while j < n and buf[j] == 0x0D:
            j += 1
        if j < n:
            if buf[j] == 0x0A:
                return j + 1
            raise _Detected(_Loc(j, "malformed line ending", _MSG_BARE_CR), j)
        return n if eof else None

    fields: list[bytes] = []
    i = start
    if i < n and buf[i] in (0x0A, 0x0D):
        end = line_end(i)
        return ("incomplete", 0, fields) if end is None else ("empty", end, fields)
    while True:
        if i >= n:
            if not eof:
                return ("incomplete", 0, fields)
            fields.append(b"")
            return ("record", n, fields)
        if buf[i] == 0x22:
            opening = i
            parts: list[bytes] = []
            seg = j = i + 1
            while True:
                q = buf.find(b'"', j)
                if q < 0:
                    if eof:
                        raise _Detected(_Loc(opening, "malformed quoting", _MSG_UNTERMINATED), n)
                    return ("incomplete", 0, fields)
                if q + 1 < n and buf[q + 1] == 0x22:
                    parts.append(buf[seg : q + 1])
                    j = seg = q + 2
                elif q + 1 >= n and not eof:
                    return ("incomplete", 0, fields)
                else:
                    break
            parts.append(buf[seg:q])
            fields.append(b"".join(parts))
            i = q + 1
            if i >= n:
                return ("record", n, fields)
            c = buf[i]
            if c == 0x2C:
                i += 1
            elif c == 0x0A:
                return ("record", i + 1, fields)
            elif c == 0x0D:
                end = line_end(i)
                return ("incomplete", 0, fields) if end is None else ("record", end, fields)
            else:
                raise _Detected(_Loc(i, "malformed quoting", _MSG_AFTER_CLOSE), i)
        else:
            m = _SPECIAL.search(buf, i)
            j = n if m is None else m.start()
            if j < n and buf[j] == 0x22:
                raise _Detected(_Loc(j, "malformed quoting", _MSG_STRAY), j)
            fields.append(buf[i:j])
            if j >= n:
                if not eof:
                    return ("incomplete", 0, fields)
                return ("record", n, fields)
            c = buf[j]
            if c == 0x2C:
                i = j + 1
            elif c == 0x0A:
                return ("record", j + 1, fields)
            else:
                end = line_end(j)
                return ("incomplete", 0, fields) if end is None else ("record", end, fields)


def _parse_record(
    buf: bytes, start: int, eof: bool, max_record: int, bad: int | None
) -> tuple[str, int, list[bytes]]:
    """One record with the size limit and the UTF-8 rule applied (see rust/src/commit/csv.rs); raises _Loc."""
    limit = start + max_record
    syntax: _Loc | None = None
    try:
        kind, end, fields = _syntax(buf, start, eof)
        reach = len(buf) if kind == "incomplete" else end
    except _Detected as d:
        kind, end, fields = "error", 0, []
        syntax = d.loc
        reach = min(d.detected + 1, max(len(buf), d.detected))
    too_large = reach > limit or (kind == "incomplete" and len(buf) > limit)
    examined = limit + 1 if too_large else reach
    if bad is not None and bad < examined:
        raise _Loc(bad, "invalid UTF-8", f"invalid UTF-8 byte 0x{buf[bad]:02x}")
    if too_large:
        raise _Loc(start, "too large", f"record is longer than {max_record} bytes")
    if syntax is not None:
        raise syntax
    return kind, end, fields


# --------------------------------------------------------------------------------------------------------------
# Chunked CSV reading
# --------------------------------------------------------------------------------------------------------------

# A well-formed quoted field at a field start. Removing all of them from a chunk csv.reader accepted must leave no
# '"' behind; one left means a quote inside an unquoted field, which capfast's dialect rejects.
_QUOTED = re.compile(r'(?:^|(?<=[,\n]))"[^"]*(?:""[^"]*)*"')


def _last_boundary(buf: bytes) -> int | None:
    total_odd = buf.count(b'"') & 1
    after = 0
    end = len(buf)
    while True:
        p = buf.rfind(b"\n", 0, end)
        if p < 0:
            return None
        after += buf.count(b'"', p + 1, end)
        if (after & 1) == total_odd:
            return p + 1
        end = p


def _open_source(source: object) -> tuple[Callable[[int], bytes], Callable[[], None], int | None]:
    if isinstance(source, str):
        f = open(source, "rb")  # noqa: SIM115 - closed by the returned closer
        return f.read, f.close, os.fstat(f.fileno()).st_size
    try:
        view = memoryview(source)  # type: ignore[arg-type]
    except TypeError:
        view = None
    if view is not None:
        data = view.cast("B") if view.format != "B" or view.ndim != 1 else view
        if not data.c_contiguous:
            raise BufferError("buffer must be C-contiguous")
        pos = 0

        def read(n: int) -> bytes:
            nonlocal pos
            b = bytes(data[pos : pos + n])
            pos += len(b)
            return b

        return read, lambda: None, len(data)
    if hasattr(source, "read"):
        reader = source.read

        def read_file(n: int) -> bytes:
            chunk = reader(n)
            if chunk is None:
                return b""
            if isinstance(chunk, str):
                raise InvalidArgumentError("the file object returned str: open the file in binary mode ('rb')")
            b = bytes(memoryview(chunk))
            if len(b) > n:
                raise InvalidArgumentError("the file object's read(n) returned more than n bytes")
            return b

        return read_file, lambda: None, None
    raise InvalidArgumentError(
        "commit_csv source must be a path (str), bytes-like or a binary file object, not " + type(source).__name__
    )


class _CsvReader:
    """Yields chunks of parsed rows (lists of str, header field order) with capfast's dialect and errors."""

    def __init__(
        self,
        read: Callable[[int], bytes],
        columns: list[str] | None,
        chunk_size: int,
        max_record: int,
        progress: Callable[[int, int | None], object] | None = None,
        total: int | None = None,
    ) -> None:
        self.read = read
        self.sel = columns
        self.chunk = chunk_size or DEFAULT_CHUNK
        self.max_record = max_record or DEFAULT_MAX_RECORD
        self.cap = max(self.max_record + 8, self.chunk)
        self.progress = progress
        self.total = total
        self.lines = 0  # LFs before the current chunk
        self.names: list[str] | None = None
        self.ncols = 0
        self.columns: list[str] = []
        self.selected: list[int] = []

    def _error(self, buf: bytes, loc: _Loc) -> CsvFormatError:
        line = self.lines + buf.count(b"\n", 0, min(loc.at, len(buf))) + 1
        return CsvFormatError(loc.message, line, loc.kind)

    def _make_table(self, fields: list[bytes], at: int) -> None:
        if len(fields) > MAX_COLUMNS:
            raise _Loc(at, "too large", f"header has more than {MAX_COLUMNS} columns")
        names = [f.decode() for f in fields]
        for n in names:
            if "\ufeff" in n:
                n = n.replace("\ufeff", "")
                raise _Loc(at, "byte order mark", f'column "{n}" contains a byte order mark (U+FEFF): remove it')
        seen: set[str] = set()
        for n in names:
            if n in seen:
                raise _Loc(at, "duplicate column name", f'column "{n}" appears more than once')
            seen.add(n)
        if self.sel is None:
            selected = list(range(len(names)))
        else:
            for c in self.sel:
                if c not in seen:
                    raise _Loc(at, "unknown column", f'column "{c}" is not in the header')
            want = set(self.sel)
            selected = [i for i, n in enumerate(names) if n in want]
        self.names = names
        self.ncols = len(names)
        self.selected = selected
        self.columns = [names[i] for i in selected]

    def _slow(self, buf: bytes, pos: int, eof: bool) -> list[list[str]]:
        """Exact parse of buf[pos:]; raises the canonical error."""
        bad = _first_invalid_utf8(buf[pos:], eof)
        bad = None if bad is None else bad + pos
        rows: list[list[str]] = []
        while pos < len(buf):
            try:
                kind, end, fields = _parse_record(buf, pos, eof, self.max_record, bad)
            except _Loc as loc:
                raise self._error(buf, loc) from None
            if kind == "incomplete":
                raise self._error(buf, _Loc(pos, "malformed quoting", "record crosses a batch boundary"))
            if kind == "record":
                if len(fields) != self.ncols:
                    raise self._error(
                        buf, _Loc(pos, "ragged row", f"expected {self.ncols} fields, got {len(fields)}")
                    )
                rows.append([f.decode() for f in fields])
            pos = end
        return rows

    def _fast(self, buf: bytes, pos: int) -> tuple[list[list[str]], bool] | None:
        """(rows, all ASCII) via csv.reader, or None when the chunk needs the exact scanner."""
        if len(buf) - pos > self.max_record:
            return None
        try:
            text = buf[pos:].decode() if pos else buf.decode()
        except UnicodeDecodeError:
            return None
        try:
            # csv.reader over the lines (no line ends) is much faster than over a StringIO, and gives the same rows
            # unless a quoted field spans lines: then it consumes several lines for one row (and drops the line
            # ends inside the field), which the row count reveals, and the chunk is read again with its line ends.
            lines = text.split("\n")
            rows = list(csv.reader(lines, strict=True))
            if len(rows) != len(lines):
                rows = list(csv.reader(io.StringIO(text, newline="\n"), strict=True))
            rows = list(filter(None, rows))
        except csv.Error:
            return None
        # A '"' inside an unquoted field ends up in a value; so does an escaped "" in a quoted one. Only when some
        # value holds a quote is the (slower) exact check needed.
        if '"' in text and '"' in "".join(chain.from_iterable(rows)) and '"' in _QUOTED.sub("", text):
            return None
        if rows:
            lens = set(map(len, rows))
            if len(lens) != 1 or self.ncols not in lens:
                return None
        return rows, text.isascii()

    def _chunk(self, buf: bytes, eof: bool) -> tuple[list[list[str]], bool]:
        pos = 0
        if self.names is None:
            bad = _first_invalid_utf8(buf, eof)
            while True:
                if pos >= len(buf):
                    return [], True
                try:
                    kind, end, fields = _parse_record(
                        buf, pos, eof, self.max_record, None if bad is None or bad < pos else bad
                    )
                    if kind == "incomplete":
                        raise _Loc(pos, "malformed quoting", "incomplete header record")
                    if kind == "record":
                        self._make_table(fields, pos)
                        pos = end
                        break
                    pos = end
                except _Loc as loc:
                    raise self._error(buf, loc) from None
        fast = self._fast(buf, pos)
        if fast is not None:
            return fast
        rows = self._slow(buf, pos, eof)
        return rows, False

    def _first_record_problem(self, win: bytes) -> int:
        bad = _first_invalid_utf8(win, False)
        pos = 0
        while True:
            try:
                kind, end, _ = _parse_record(
                    win, pos, False, self.max_record, None if bad is None or bad < pos else bad
                )
            except _Loc as loc:
                raise self._error(win, loc) from None
            if kind == "empty" and end < len(win):
                pos = end
                continue
            if kind in ("empty", "record"):
                return end
            raise self._error(win, _Loc(pos, "too large", f"record is longer than {self.max_record} bytes"))

    def chunks(self) -> Iterator[tuple[list[list[str]], bool]]:
        pending = self.read(len(_BOM))
        done = 0
        eof = len(pending) < len(_BOM)
        if pending.startswith(_BOM):
            pending = b""
            done = len(_BOM)
        want = self.chunk
        while True:
            while not eof and len(pending) < want:
                more = self.read(want - len(pending))
                if not more:
                    eof = True
                else:
                    pending += more
            if not pending and eof:
                break
            win = pending[:want]
            win_eof = len(win) == len(pending) and eof
            if win_eof:
                split = len(win)
            else:
                b = _last_boundary(win)
                if b is None:
                    if len(win) < self.cap:
                        want = min(want * 2, self.cap)
                        continue
                    b = self._first_record_problem(win)
                split = b
            part = win[:split]
            rows, _ascii = self._chunk(part, win_eof and split == len(win))
            self.lines += part.count(b"\n")
            pending = pending[split:]
            done += split
            want = self.chunk
            if rows:
                yield rows, _ascii
            if self.progress is not None:
                self.progress(done, self.total)
        if self.names is None:
            raise CsvFormatError("no header row (the input has no records)", 1, "missing header")


def _check_selection(columns: list[str]) -> None:
    if not columns:
        raise InvalidArgumentError("columns must name at least one column")
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            raise InvalidArgumentError(f'columns names "{c}" more than once')
        seen.add(c)


def _columns_arg(columns: Iterable[str] | None) -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, str):
        raise TypeError("'str' object cannot be converted to 'Sequence'")
    out = list(columns)
    for c in out:
        if not isinstance(c, str):
            raise TypeError(f"'{type(c).__name__}' object cannot be converted to 'PyString'")
    _check_selection(out)
    return out


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector (restoring its state after).

    A chunk's rows are tens of thousands of fresh lists of ``str`` (no cycles): with the collector on, they trigger
    hundreds of pointless collections per chunk, a third of the twin's time.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def commit_csv(
    source: object,
    hash: str = "blake3",
    columns: Iterable[str] | None = None,
    salt_key: object = None,
    retain_leaves: bool = True,
    progress: Callable[[int, int | None], object] | None = None,
    chunk_size: int = 0,
    max_record: int = 0,
) -> tuple[list[str], int, bytes, bytes | None]:
    tree = _Tree(hash, _key32(salt_key, "salt_key"), retain_leaves)
    cols = _columns_arg(columns)
    read, close, total = _open_source(source)
    try:
        rd = _CsvReader(read, cols, chunk_size, max_record, progress, total)
        layout: _Layout | None = None
        with _gc_paused():
            for rows, _ascii in rd.chunks():
                if layout is None:
                    layout = _Layout(rd.columns, rd.selected)
                tree.add(rows, layout, rd.ncols)
    finally:
        close()
    return tree.finish(rd.columns)


def iter_csv_rows(
    source: object, columns: Iterable[str] | None = None, chunk_size: int = 0, max_record: int = 0
) -> Iterator[dict[str, str]]:
    """Rows of a CSV source as dicts of the selected columns (header order), with the engine's dialect."""
    cols = _columns_arg(columns)
    read, close, _ = _open_source(source)
    try:
        rd = _CsvReader(read, cols, chunk_size, max_record)
        for rows, _ascii in rd.chunks():
            sel = rd.selected
            names = rd.columns
            for r in rows:
                yield dict(zip(names, [r[i] for i in sel], strict=True))
    finally:
        close()


def commit_rows(
    rows: Iterable[object],
    columns: Iterable[str] | None = None,
    hash: str = "blake3",
    salt_key: object = None,
    retain_leaves: bool = True,
) -> tuple[list[str], int, bytes, bytes | None]:
    tree = _Tree(hash, _key32(salt_key, "salt_key"), retain_leaves)
    names = _columns_arg(columns)
    fixed = names is not None
    layout = _Layout(names, list(range(len(names)))) if names is not None else None
    batch: list[list[str]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise InvalidArgumentError(f"row {i} is a {type(row).__name__}, not a mapping")
        if names is None:
            names = []
            for j, k in enumerate(row.keys()):
                if not isinstance(k, str):
                    raise InvalidArgumentError(f"row {i}: column names must be str, not {type(k).__name__}")
                if not _utf8_ok(k):
                    raise InvalidArgumentError(
                        f"row {i}: column name {j} is not valid Unicode text (a lone surrogate cannot be UTF-8)")
                names.append(k)
            layout = _Layout(names, list(range(len(names))))
        values: list[str] = []
        for name in names:
            if name not in row:
                raise InvalidArgumentError(f'row {i} has no column "{name}"')
            v = row[name]
            if not isinstance(v, str):
                raise InvalidArgumentError(f'row {i}, column "{name}": value must be str, not {type(v).__name__}')
            values.append(v)
        if not _utf8_ok("".join(values)):
            name = next(n for n, v in zip(names, values) if not _utf8_ok(v))
            raise InvalidArgumentError(
                f'row {i}, column "{name}": not valid Unicode text (a lone surrogate cannot be UTF-8)')
        if not fixed and len(row) != len(names):
            raise InvalidArgumentError(
                f"row {i} has {len(row)} columns, expected {len(names)} (the first row's: {', '.join(names)})"
            )
        batch.append(values)
        if len(batch) >= 8192:
            assert layout is not None and names is not None
            tree.add(batch, layout, len(names))
            batch = []
    if batch:
        assert layout is not None and names is not None
        tree.add(batch, layout, len(names))
    return tree.finish(names or [])


def _utf8_ok(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (False only for lone surrogates)."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def commit_row_cbor(columns: Iterable[str], values: Iterable[str]) -> bytes:
    cols, vals = list(columns), list(values)
    if len(cols) != len(vals):
        raise InvalidArgumentError(f"{len(cols)} columns but {len(vals)} values")
    return _Layout(cols, list(range(len(cols)))).encode(vals)


def commit_row_leaf(
    columns: Iterable[str], values: Iterable[str], salt: object = None, hash: str = "blake3"
) -> bytes:
    h = hasher_for(hash)
    s = _key32(salt, "salt")
    cbor = commit_row_cbor(columns, values)
    return h(b"\x00" + (s or b"") + cbor).digest()


def commit_row_salt(salt_key: object, index: int) -> bytes:
    key = _key32(salt_key, "salt_key")
    if key is None:
        raise InvalidArgumentError("salt_key is required")
    i = operator.index(index)
    if not 0 <= i < 1 << 64:
        raise OverflowError("index out of range")
    return _salt(key, i)


def commit_prove(leaves: object, index: int, hash: str = "blake3") -> list[bytes]:
    h = hasher_for(hash)
    data = bytes(memoryview(leaves))  # type: ignore[arg-type]
    if len(data) % 32:
        raise InvalidArgumentError(f"leaves must be a multiple of 32 bytes, got {len(data)}")
    size = len(data) // 32
    i = operator.index(index)
    if not 0 <= i < size:
        raise InvalidArgumentError(f"leaf index {i} is out of range for a tree of {size} leaves")
    hashes = [data[k : k + 32] for k in range(0, len(data), 32)]
    return [_root_of_leaf_hashes(h, hashes[lo:hi]) for lo, hi in _proof_ranges(i, size, False)]
