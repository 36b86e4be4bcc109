"""Property tests: the native commitment engine ≡ the pure-Python twin (roots, leaves, proofs, errors)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import capfast
from capfast import CsvFormatError

KEY = bytes(range(32, 64))
FIELD_CHARS = st.sampled_from(list('ab ,"\r\n') + ["é", "ß", "水", "😀", "\u2028", "\x00"])
fields = st.text(FIELD_CHARS, max_size=12)
names = st.text(st.sampled_from(list("abcxyz,\" é")), min_size=0, max_size=4)


@st.composite
def tables(draw):
    cols = draw(st.lists(names, min_size=1, max_size=5, unique=True))
    rows = draw(st.lists(st.lists(fields, min_size=len(cols), max_size=len(cols)), max_size=25))
    return cols, rows


def to_csv(cols, rows, crlf, bom, blank_every, quote_all=False):
    """RFC 4180 writer: fields with , " CR or LF (or all fields, with quote_all) are quoted, quotes doubled."""
    eol = "\r\n" if crlf else "\n"

    def field(v: str) -> str:
        if quote_all or any(c in v for c in ',"\r\n'):
            return '"' + v.replace('"', '""') + '"'
        return v

    def record(r: list[str]) -> str:
        # A lone empty field would be an empty line, which the dialect skips: quote it.
        return ('""' if r == [""] else ",".join(map(field, r))) + eol

    out = [record(cols)]
    for i, r in enumerate(rows):
        out.append(record(r))
        if blank_every and i % blank_every == 0:
            out.append(eol)
    return (b"\xef\xbb\xbf" if bom else b"") + "".join(out).encode()


def outcome(core, data, **kw):
    try:
        return core.commit_csv(data, **kw)
    except CsvFormatError as e:
        return ("error", e.kind, e.line, e.message)


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    t=tables(),
    crlf=st.booleans(),
    bom=st.booleans(),
    blank_every=st.integers(0, 4),
    quote_all=st.booleans(),
    chunk=st.sampled_from([0, 1, 2, 3, 7, 16, 61]),
    hash=st.sampled_from(["blake3", "sha3-256", "sha256"]),
    salted=st.booleans(),
)
def test_native_equals_twin_on_valid_csv(
    native_core, py_core, t, crlf, bom, blank_every, quote_all, chunk, hash, salted
):
    cols, rows = t
    data = to_csv(cols, rows, crlf, bom, blank_every, quote_all)
    kw = {"hash": hash, "salt_key": KEY if salted else None, "chunk_size": chunk}
    n = native_core.commit_csv(data, **kw)
    p = py_core.commit_csv(data, **kw)
    assert n == p
    assert n[0] == cols and n[1] == len(rows)
    # The same table as mappings commits to the same root (RFC 4180 output round-trips through the dialect).
    mapped = [dict(zip(cols, r, strict=True)) for r in rows]
    assert native_core.commit_rows(mapped, cols, hash, kw["salt_key"])[2] == n[2]
    assert py_core.commit_rows(mapped, cols, hash, kw["salt_key"])[2] == n[2]
    leaves = n[3]
    for i in range(min(len(rows), 4)):
        assert native_core.commit_prove(leaves, i, hash) == py_core.commit_prove(leaves, i, hash)


@SETTINGS
@given(
    raw=st.lists(
        st.sampled_from([b"a", b"b", b",", b'"', b'""', b"\r", b"\n", b"\r\n", b"\xc3\xa9", b"\xff", b"\xc3", b" "]),
        max_size=60,
    ),
    header=st.sampled_from([b"a,b\n", b"a\n", b"", b'"x,y",z\r\n', b"a,a\n"]),
    chunk=st.sampled_from([0, 1, 2, 5, 13]),
)
def test_native_equals_twin_on_arbitrary_bytes(native_core, py_core, raw, header, chunk):
    """Mostly invalid inputs: both cores agree on the result or on the error's kind, line and message."""
    data = header + b"".join(raw)
    assert outcome(native_core, data, chunk_size=chunk) == outcome(py_core, data, chunk_size=chunk)


@settings(max_examples=40, deadline=None)
@given(
    body=st.lists(st.sampled_from([b"xy", b",", b'"q""q"', b"\n", b"\r\n", b"\xc3\xa9", b'"\n"', b"\xff"]), max_size=80),
    max_record=st.integers(3, 24),
    chunk=st.sampled_from([1, 4, 9]),
)
def test_record_limit_agrees(native_core, py_core, body, max_record, chunk):
    data = b"a,b\n" + b"".join(body)
    kw = {"chunk_size": chunk, "max_record": max_record}
    assert outcome(native_core, data, **kw) == outcome(py_core, data, **kw)


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_many_chunks_with_quotes_across_boundaries(native_core, py_core, chunk):
    rows = [[f'v{i}, "{i}"\n{"é" * (i % 3)}', str(i)] for i in range(300)]
    data = to_csv(["text", "n"], rows, True, False, 5)
    n = native_core.commit_csv(data, chunk_size=chunk)
    assert n == py_core.commit_csv(data, chunk_size=chunk)
    assert n == native_core.commit_csv(data)
    assert n[1] == 300


def test_public_api_roots_match_between_backends(native_core, py_core):
    """The public API's result does not depend on the backend (checked through the cores it dispatches to)."""
    data = to_csv(["a", "b"], [["1", "x,y"], ["2", 'q"']], False, True, 0)
    c = capfast.commit(data)
    assert c.root == native_core.commit_csv(data)[2] == py_core.commit_csv(data)[2]
