"""The fast paths behind the CAP benchmarks give exactly what the general code gives (issue 3, performance pass).

- ``cap_index_rows`` (canonical ``_cap/index.cbor`` only, else None) on both cores: accepted bytes are exactly the
  canonical encoding of the rows returned, and ``Index.from_cbor`` still names every problem of non-canonical input.
- The batch path screen ``vpaths_look_safe`` never accepts a path that ``check_vpath`` refuses.
- ``Index.to_cbor``'s direct encoder equals the general CBOR encoder.
- ``cap_root`` on inputs large enough for the pipelined native path, sorted or not, with bad items at the end.
- ``missing_blobs`` on inputs large enough for the partitioned native path, lists and numpy arrays.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capfast import cbor
from capfast.cap.index import FileEntry, Index
from capfast.cap.paths import check_vpath, vpaths_look_safe
from capfast.errors import CborError, DuplicateEntryError, InvalidHashError, UnsafePathError

_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

_path = st.from_regex(r"[a-zA-Z0-9é_.-]{1,8}(/[a-z0-9 ]{1,5}){0,2}", fullmatch=True)
_entry = st.fixed_dictionaries(
    {
        "hash": st.binary(min_size=32, max_size=32).map(bytes.hex),
        "size": st.integers(0, 2**64 - 1) | st.sampled_from([0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32]),
        "compressed_size": st.integers(0, 2**40),
        "compression": st.sampled_from(["zstd", "gzip", ""]),
    },
    optional={"mime": st.sampled_from(["text/html", "", "application/wasm"])},
)


def _canonical(files: dict[str, dict]) -> bytes:
    ordered = {p: files[p] for p in sorted(files, key=lambda s: s.encode())}
    # field order of the reference encoding
    keys = ("hash", "size", "compressed_size", "compression", "mime")
    return cbor.dumps({"files": {p: {k: e[k] for k in keys if k in e} for p, e in ordered.items()}})


def _rows_to_cbor(rows: list) -> bytes:
    files = {}
    for path, h, size, csize, comp, mime in rows:
        e = {"hash": h, "size": size, "compressed_size": csize, "compression": comp}
        if mime is not None:
            e["mime"] = mime
        files[path] = e
    return cbor.dumps({"files": files})


@_SETTINGS
@given(st.dictionaries(_path, _entry, max_size=12), st.data())
def test_index_rows_accept_exactly_the_canonical_encoding(native_core, py_core, files, data):
    raw = _canonical(files)
    rows = native_core.cap_index_rows(raw)
    assert rows == py_core.cap_index_rows(raw)
    assert rows is not None and _rows_to_cbor(rows) == raw
    assert [r[0] for r in rows] == sorted(files, key=lambda s: s.encode())
    # A mutated encoding is either refused by both cores or is itself canonical for the rows both return.
    mutated = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(["flip", "cut", "append"]))
        if op == "flip" and mutated:
            i = data.draw(st.integers(0, len(mutated) - 1))
            mutated[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "cut" and mutated:
            del mutated[data.draw(st.integers(0, len(mutated) - 1)):]
        else:
            mutated += data.draw(st.binary(min_size=1, max_size=3))
    got = native_core.cap_index_rows(bytes(mutated))
    assert got == py_core.cap_index_rows(bytes(mutated))
    if got is not None:
        assert _rows_to_cbor(got) == bytes(mutated)


_H = "ab" * 32


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        # fields out of order
        (cbor.dumps({"files": {"a": {"size": 1, "hash": _H, "compressed_size": 1, "compression": "zstd"}}}), CborError),
        # paths not sorted
        (cbor.dumps({"files": {p: {"hash": _H, "size": 1, "compressed_size": 1, "compression": "zstd"}
                               for p in ("b", "a")}}), CborError),
        # non-shortest integer head (size 1 written as 0x18 0x01)
        (cbor.dumps({"files": {"a": {"hash": _H, "size": 1, "compressed_size": 1, "compression": "zstd"}}})
         .replace(b"\x64size\x01", b"\x64size\x18\x01"), CborError),
        # uppercase hash
        (cbor.dumps({"files": {"a": {"hash": _H.upper(), "size": 1, "compressed_size": 1, "compression": "zstd"}}}),
         InvalidHashError),
        # trailing byte
        (cbor.dumps({"files": {}}) + b"\x00", CborError),
        # duplicate path
        (b"\xa1\x65files\xa2" + (cbor.dumps("a") + cbor.dumps({"hash": _H, "size": 1, "compressed_size": 1,
                                                                "compression": "zstd"})) * 2, DuplicateEntryError),
        # unsafe path (canonical bytes: the fast path accepts them, the semantic checks refuse)
        (cbor.dumps({"files": {"../x": {"hash": _H, "size": 1, "compressed_size": 1, "compression": "zstd"}}}),
         UnsafePathError),
    ],
)
def test_non_canonical_or_invalid_index_still_names_the_problem(native_core, py_core, raw, error):
    assert native_core.cap_index_rows(raw) == py_core.cap_index_rows(raw)
    with pytest.raises(error):
        Index.from_cbor(raw)


_hostile_alphabet = st.sampled_from(list("ab./ \\:\n\x00\x1b\x7féCONnulcomLPT19ſK") + ["..", "con", "com1", "\u0301"])


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.lists(_hostile_alphabet, max_size=8).map("".join), min_size=1, max_size=4))
def test_path_screen_never_accepts_an_unsafe_path(paths):
    if vpaths_look_safe(paths):
        for p in paths:
            check_vpath(p)  # must not raise


def test_path_screen_lengths():
    assert vpaths_look_safe(["a" * 255, "b/" + "c" * 255])
    assert not vpaths_look_safe(["a" * 256])
    assert vpaths_look_safe(["/".join(["a" * 200] * 5)[:1024]])
    assert not vpaths_look_safe(["/".join(["a" * 200] * 6)])
    assert not vpaths_look_safe(["ok", "a\nb"])
    assert vpaths_look_safe([])


@_SETTINGS
@given(st.dictionaries(_path.filter(lambda p: p.strip(". ") == p and "/" not in p), _entry, max_size=10))
def test_index_fast_encoder_equals_general_encoder(files):
    entries = {p: FileEntry(e["hash"], e["size"], e["compressed_size"], e["compression"], e.get("mime"))
               for p, e in files.items()}
    index = Index.__new__(Index)
    index.files = {p: entries[p] for p in sorted(entries, key=lambda s: s.encode())}
    assert index.to_cbor() == cbor.dumps({"files": {p: e.to_map() for p, e in index.files.items()}})


def _root_input(n: int, seed: int) -> tuple[bytes, list[str], list[str]]:
    rng = random.Random(seed)
    paths = sorted({f"assets/{rng.randrange(10**9):09d}.js" for _ in range(n)})
    hashes = [rng.randbytes(32).hex() for _ in paths]
    return hashlib.sha256(b"m").digest(), paths, hashes


@pytest.fixture(scope="module")
def big_root_input():
    return _root_input(70_000, 1)  # above the native streaming threshold (65,536 entries)


def test_root_large_sorted_unsorted_and_iterables(native_core, py_core, big_root_input):
    mh, paths, hashes = big_root_input
    want = py_core.cap_root(mh, paths, hashes)
    assert native_core.cap_root(mh, paths, hashes) == want
    assert native_core.cap_root(mh, tuple(paths), iter(hashes)) == want
    order = list(range(len(paths)))
    random.Random(2).shuffle(order)
    shuffled_p, shuffled_h = [paths[i] for i in order], [hashes[i] for i in order]
    assert native_core.cap_root(mh, shuffled_p, shuffled_h) == want
    assert py_core.cap_root(mh, shuffled_p, shuffled_h) == want


@pytest.mark.parametrize("where", [0, 40_000, -1])
def test_root_large_with_a_bad_item(native_core, py_core, big_root_input, where):
    mh, paths, hashes = big_root_input
    cases = []
    for bad_hash, exc in ((b"\x00" * 32, TypeError), (None, TypeError), ("AB" * 32, InvalidHashError),
                          ("ab" * 31, InvalidHashError)):
        h = list(hashes)
        h[where] = bad_hash
        cases.append((list(paths), h, exc))
    p = list(paths)
    p[where] = 5
    cases.append((p, list(hashes), TypeError))
    dup = list(paths)
    dup[where] = dup[where - 1]
    cases.append((dup, list(hashes), DuplicateEntryError))
    cases.append((list(paths), hashes[:-1], Exception))
    for ps, hs, exc in cases:
        for core in (native_core, py_core):
            with pytest.raises(exc):
                core.cap_root(mh, ps, hs)


def test_missing_blobs_large_lists_and_arrays(native_core, py_core):
    rng = np.random.default_rng(5)
    have = rng.integers(0, 256, size=(40_000, 32), dtype=np.uint8)
    new = np.concatenate([have[:30_000], rng.integers(0, 256, size=(500, 32), dtype=np.uint8)])
    new = np.concatenate([new, new[-200:]])  # absent hashes repeated: each reported once, first position
    new = new[rng.permutation(len(new))]
    have_l, new_l = [bytes(r) for r in have], [bytes(r) for r in new]
    have_set = set(have_l)
    want, seen = [], set()
    for h in new_l:
        if h not in have_set and h not in seen:
            seen.add(h)
            want.append(h)
    assert len(want) == 500
    assert native_core.missing_blobs(new_l, have_l) == want
    assert native_core.missing_blobs(new, have) == want
    assert native_core.missing_blobs(tuple(new_l), iter(have_l)) == want
    assert py_core.missing_blobs(new, have_l) == want
