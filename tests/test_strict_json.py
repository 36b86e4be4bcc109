"""capfast.strict_json: the one reader for untrusted JSON (hostile inputs from security.md §4-style attacks)."""

from __future__ import annotations

import json

import pytest

from capfast import strict_json
from capfast.errors import InvalidArgumentError, KeyFileError

# Backend-independent (the strict JSON reader is pure Python on both backends): runs in the native pass only.
pytestmark = pytest.mark.once


class Custom(ValueError):
    pass


@pytest.mark.parametrize(
    "data, needle",
    [
        (b'{"a":1,"a":2}', "duplicate key 'a'"),
        (b'{"a":{"b":1,"b":1}}', "duplicate key 'b'"),
        (b'{"a":NaN}', "NaN is not allowed"),
        (b'[Infinity]', "Infinity is not allowed"),
        (b'[-Infinity]', "-Infinity is not allowed"),
        (b'{"a":1e400}', "overflows"),
        (b"[" * 65 + b"1" + b"]" * 65, "nesting deeper than 64"),
        (b"[" * 100_000 + b"]" * 100_000, "nesting"),  # far past the C parser's recursion limit: still one error
        (b"\xff", "not valid UTF-8"),
        ('{"a":1}'.encode("utf-16"), "not valid UTF-8"),  # json.loads(bytes) would sniff UTF-16: we do not
        (b"\xef\xbb\xbf{}", "not valid JSON"),  # a BOM is not JSON
        (b'{"a":"\\ud800"}', "lone surrogate"),
        (b'{"\\udfff":1}', "lone surrogate"),
        (b"1" * 5000, "not valid JSON"),  # an integer literal past Python's int-parsing limit
        (b'{"a":1} x', "not valid JSON: Extra data"),
        (b"", "not valid JSON"),
    ],
)
def test_hostile_documents_raise_the_callers_error(data: bytes, needle: str) -> None:
    with pytest.raises(Custom, match=None) as info:
        strict_json.loads(data, what="doc", error=Custom)
    assert str(info.value).startswith("doc") and needle in str(info.value), str(info.value)


def test_size_bound_is_checked_before_parsing() -> None:
    with pytest.raises(InvalidArgumentError, match="larger than the 10-byte limit"):
        strict_json.loads(b"[" + b"1," * 10 + b"1]", max_bytes=10)
    assert strict_json.loads(b"[1]", max_bytes=3) == [1]


def test_depth_bound_is_exact() -> None:
    ok = "[" * 64 + "]" * 64
    assert strict_json.loads(ok) is not None
    assert strict_json.loads("[" * 4 + "]" * 4, max_depth=4) == [[[[]]]]
    with pytest.raises(InvalidArgumentError, match="nesting deeper than 3"):
        strict_json.loads("[" * 4 + "1" + "]" * 4, max_depth=3)


def test_plain_documents_parse_like_json() -> None:
    doc = '{"a": [1, 2.5, -0.0, true, false, null, "ü\\u00fc\\ud83d\\ude00"], "b": {}}'
    assert strict_json.loads(doc) == json.loads(doc)
    assert strict_json.loads(doc.encode()) == json.loads(doc)
    assert strict_json.loads(bytearray(b"[]")) == [] and strict_json.loads(memoryview(b"{}")) == {}
    with pytest.raises(TypeError):
        strict_json.loads(123)  # type: ignore[arg-type]


def test_load_file(tmp_path) -> None:
    p = tmp_path / "k.json"
    p.write_bytes(b'{"kind": "x"}')
    assert strict_json.load_file(p) == {"kind": "x"}
    p.write_bytes(b'{"kind": "x", "kind": "y"}')
    with pytest.raises(KeyFileError, match=f"^{p}: duplicate key"):
        strict_json.load_file(p, error=KeyFileError)
    p.write_bytes(b" " * 100 + b"{}")
    with pytest.raises(KeyFileError, match="larger than the 50-byte limit"):
        strict_json.load_file(p, error=KeyFileError, max_bytes=50)
    with pytest.raises(KeyFileError, match="is a directory"):
        strict_json.load_file(tmp_path, error=KeyFileError)
    with pytest.raises(FileNotFoundError):  # I/O errors keep their class (the CLI maps them to exit 3)
        strict_json.load_file(tmp_path / "missing.json")
