"""capfast's one CBOR codec: CAP 1.0 metadata (``_cap/manifest.cbor``, ``_cap/index.cbor``) and the commitment
engine's row maps, for the domain code (:mod:`capfast.cap`) and the pure-Python twin (:mod:`capfast._py`) alike.

:func:`head` writes one shortest-form head and :func:`read_head` reads one, refusing anything non-shortest: the twin's
fast paths (canonical index rows, CBOR row maps) are built on these two, the general codec below on the same rules.

The encoder writes what the reference implementation's serializer writes (cap-format.md §2.1): definite lengths,
shortest integer and length heads, text strings, ``f4``/``f5``/``f6``, shortest round-tripping floats, and map
entries **in the order the caller gives them** (struct maps keep schema order, sorted maps are sorted by the caller).

The decoder is strict (security.md §4): it rejects non-shortest integer and length heads, indefinite lengths,
duplicate map keys, tags, simple values other than false/true/null, non-shortest floats, invalid UTF-8, nesting
deeper than ``max_depth``, declared lengths larger than the remaining input, and trailing bytes. Map order is
preserved (dicts), so a caller can re-encode and demand byte equality.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from capfast.errors import CborError, DuplicateEntryError

__all__ = ["MAX_DEPTH", "dumps", "head", "loads", "read_head"]

MAX_DEPTH = 32


def head(major: int, value: int) -> bytes:
    """The shortest head of major type ``major`` (0-7) with argument ``value`` (a length or an unsigned integer)."""
    if value < 24:
        return bytes([(major << 5) | value])
    if value < 0x100:
        return bytes([(major << 5) | 24, value])
    if value < 0x10000:
        return bytes([(major << 5) | 25]) + value.to_bytes(2, "big")
    if value < 0x100000000:
        return bytes([(major << 5) | 26]) + value.to_bytes(4, "big")
    if value < 0x10000000000000000:
        return bytes([(major << 5) | 27]) + value.to_bytes(8, "big")
    raise CborError(f"integer {value} does not fit in 64 bits")


def read_head(data: bytes, pos: int, major: int) -> tuple[int, int]:
    """The argument of the head of major type ``major`` at ``data[pos]`` and the position after the head.

    :class:`~capfast.errors.CborError` if the byte there is another major type, or the head is truncated, indefinite
    (additional information 31), reserved (28-30) or not the shortest encoding of its argument.
    """
    if pos >= len(data):
        raise CborError(f"truncated input: no head at offset {pos}")
    initial = data[pos]
    if initial >> 5 != major:
        raise CborError(f"expected major type {major}, found {initial >> 5} at offset {pos}")
    info = initial & 0x1F
    if info < 24:
        return info, pos + 1
    if info > 27:
        raise CborError(f"indefinite or reserved additional information {info} at offset {pos}")
    width = 1 << (info - 24)
    end = pos + 1 + width
    if end > len(data):
        raise CborError(f"truncated head at offset {pos}")
    value = int.from_bytes(data[pos + 1 : end], "big")
    if value < (24 if width == 1 else 1 << (4 * width)):
        raise CborError(f"non-shortest integer or length encoding at offset {pos}")
    return value, end


def _float(value: float) -> bytes:
    if math.isnan(value):
        return b"\xf9\x7e\x00"
    for fmt, prefix in (("e", 0xF9), ("f", 0xFA)):
        try:
            packed = struct.pack(">" + fmt, value)
        except (OverflowError, struct.error):
            continue
        if struct.unpack(">" + fmt, packed)[0] == value:
            return bytes([prefix]) + packed
    return b"\xfb" + struct.pack(">d", value)


def _encode(obj: Any, out: list[bytes], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise CborError("value nested too deeply to encode")
    if obj is False:
        out.append(b"\xf4")
    elif obj is True:
        out.append(b"\xf5")
    elif obj is None:
        out.append(b"\xf6")
    elif isinstance(obj, int):
        out.append(head(0, obj) if obj >= 0 else head(1, -1 - obj))
    elif isinstance(obj, float):
        out.append(_float(obj))
    elif isinstance(obj, str):
        raw = obj.encode("utf-8")
        out.append(head(3, len(raw)))
        out.append(raw)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        raw = bytes(obj)
        out.append(head(2, len(raw)))
        out.append(raw)
    elif isinstance(obj, (list, tuple)):
        out.append(head(4, len(obj)))
        for item in obj:
            _encode(item, out, depth + 1)
    elif isinstance(obj, dict):
        out.append(head(5, len(obj)))
        for key, value in obj.items():
            _encode(key, out, depth + 1)
            _encode(value, out, depth + 1)
    else:
        raise CborError(f"cannot encode a value of type {type(obj).__name__}")


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` (dict order kept) with shortest heads and definite lengths."""
    out: list[bytes] = []
    _encode(obj, out, 0)
    return b"".join(out)


class _Decoder:
    def __init__(self, data: bytes, max_depth: int) -> None:
        self.data = data
        self.pos = 0
        self.max_depth = max_depth

    def fail(self, what: str, at: int | None = None) -> CborError:
        return CborError(f"{what} at offset {self.pos if at is None else at}")

    def take(self, n: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise self.fail(f"truncated input: {n} bytes declared, {len(self.data) - self.pos} left")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def argument(self, info: int, start: int) -> int:
        if info < 24:
            return info
        if info == 31:
            raise self.fail("indefinite length is not allowed", start)
        if info > 27:
            raise self.fail(f"reserved additional information {info}", start)
        width = 1 << (info - 24)
        value = int.from_bytes(self.take(width), "big")
        minimum = 24 if width == 1 else 1 << (4 * width)
        if value < minimum:
            raise self.fail("non-shortest integer or length encoding", start)
        return value

    def item(self, depth: int) -> Any:
        if depth > self.max_depth:
            raise self.fail(f"nesting deeper than {self.max_depth}")
        start = self.pos
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            return self.simple(info, start)
        value = self.argument(info, start)
        if major == 0:
            return value
        if major == 1:
            return -1 - value
        if major == 2:
            return self.take(value)
        if major == 3:
            raw = self.take(value)
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                raise self.fail("invalid UTF-8 in text string", start) from None
        if major == 4:
            if value > len(self.data) - self.pos:
                raise self.fail(f"array of {value} items cannot fit in the remaining input", start)
            return [self.item(depth + 1) for _ in range(value)]
        if major == 5:
            if value * 2 > len(self.data) - self.pos:
                raise self.fail(f"map of {value} entries cannot fit in the remaining input", start)
            result: dict[Any, Any] = {}
            for _ in range(value):
                key_at = self.pos
                key = self.item(depth + 1)
                if isinstance(key, (list, dict)):
                    raise self.fail("map key must be a scalar", key_at)
                if isinstance(key, bytes):
                    raise self.fail("byte-string map keys are not used by CAP", key_at)
                if key in result:
                    raise DuplicateEntryError(f"duplicate map key {key!r} at offset {key_at}")
                result[key] = self.item(depth + 1)
            return result
        raise self.fail(f"tag {value} is not allowed", start)

    def simple(self, info: int, start: int) -> Any:
        if info == 20:
            return False
        if info == 21:
            return True
        if info == 22:
            return None
        if info in (25, 26, 27):
            fmt = {25: "e", 26: "f", 27: "d"}[info]
            raw = self.take({25: 2, 26: 4, 27: 8}[info])
            value = struct.unpack(">" + fmt, raw)[0]
            if _float(value) != bytes([initial_byte(info)]) + raw:
                raise self.fail("non-shortest or non-canonical float", start)
            return value
        if info == 31:
            raise self.fail("unexpected break (indefinite lengths are not allowed)", start)
        raise self.fail(f"simple value {info} is not allowed", start)


def initial_byte(info: int) -> int:
    return 0xE0 | info


def loads(data: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode exactly one CBOR item that must span all of ``data``; see the module docstring for what is refused."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CborError(f"expected bytes, got {type(data).__name__}")
    decoder = _Decoder(bytes(data), max_depth)
    if not decoder.data:
        raise CborError("empty input")
    value = decoder.item(0)
    if decoder.pos != len(decoder.data):
        raise CborError(f"{len(decoder.data) - decoder.pos} trailing bytes after the CBOR item at offset {decoder.pos}")
    return value
