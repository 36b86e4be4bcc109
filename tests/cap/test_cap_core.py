"""Native core ≡ pure-Python twin for the CAP hot paths, and the properties each must have."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest
import zstandard
from caphelpers import RFC_PK, RFC_SK, make_app
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import capfast.cap.package as package_mod
from capfast.cap.delta import missing_blobs
from capfast.errors import InvalidArgumentError

_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(st.lists(st.tuples(st.text(min_size=1, max_size=12), st.binary(min_size=32, max_size=32)), max_size=30,
                unique_by=lambda t: t[0]))
def test_root_native_equals_twin(native_core, py_core, entries):
    paths = [p for p, _ in entries]
    hashes = [h.hex() for _, h in entries]
    mh = hashlib.sha256(b"m").digest()
    assert native_core.cap_root(mh, paths, hashes) == py_core.cap_root(mh, paths, hashes)


@_SETTINGS
@given(st.lists(st.binary(max_size=5000) | st.sampled_from([b"", b"x" * 70000, bytes(range(256)) * 40]),
                min_size=1, max_size=6), st.integers(1, 12))
def test_pack_native_equals_twin(tmp_path, native_core, py_core, contents, level):
    paths = []
    for i, c in enumerate(contents):
        p = tmp_path / f"f{i}"
        p.write_bytes(c)
        paths.append(str(p))
    a = native_core.cap_pack_files(paths, level)
    b = py_core.cap_pack_files(paths, level)
    assert a == b
    for (h, size, blob), c in zip(a, contents):
        assert h == hashlib.sha256(c).hexdigest() and size == len(c)
        # streaming frames: no content size (an empty input ends the frame at once, so zstd records size 0)
        assert blob[:4] == b"\x28\xb5\x2f\xfd" and zstandard.get_frame_parameters(blob).content_size == \
            (zstandard.CONTENTSIZE_UNKNOWN if c else 0)
        assert zstandard.ZstdDecompressor().decompressobj().decompress(blob) == c


def test_pack_dedupes_and_rejects_bad_input(tmp_path, core):
    (tmp_path / "a").write_bytes(b"same")
    (tmp_path / "b").write_bytes(b"same")
    r = core.cap_pack_files([str(tmp_path / "a"), str(tmp_path / "b")], 10)
    assert r[0] == r[1]
    with pytest.raises(InvalidArgumentError):
        core.cap_pack_files([str(tmp_path / "missing")], 10)
    with pytest.raises(InvalidArgumentError):
        core.cap_pack_files([str(tmp_path / "a")], 0)


def test_zip_writer_identical_and_readable(tmp_path, native_core, py_core):
    entries = [("_cap/a", b"hello"), ("blobs/x", bytes(1000)), ("ü/non-ascii", b"")]
    native_core.zip_write(tmp_path / "n.zip", entries)
    py_core.zip_write(tmp_path / "p.zip", entries)
    assert (tmp_path / "n.zip").read_bytes() == (tmp_path / "p.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "n.zip") as z:
        assert z.testzip() is None
        assert [(i.filename, z.read(i)) for i in z.infolist()] == entries
        assert all(i.compress_type == zipfile.ZIP_STORED and i.date_time == (1980, 1, 1, 0, 0, 0)
                   for i in z.infolist())
    assert native_core.zip_entries(tmp_path / "n.zip") == py_core.zip_entries(tmp_path / "n.zip")


@_SETTINGS
@given(st.dictionaries(st.from_regex(r"[a-z]{1,6}(/[a-z0-9_-]{1,6}){0,2}(\.[a-z]{1,3})?", fullmatch=True).filter(
    lambda p: not any(c in ("con", "nul", "aux", "prn") or c.startswith(("con.", "nul.", "aux.", "prn."))
                      for c in p.split("/"))),
    st.binary(max_size=3000), min_size=1, max_size=12))
def test_random_app_trees_native_equals_twin(tmp_path_factory, native_core, py_core, monkeypatch, files):
    """A package built with the native core is byte-identical to one built with the twin; both verify in both."""
    # Drop paths that are a directory prefix of another (cannot exist together on disk).
    names = sorted(files)
    files = {p: c for p, c in files.items() if not any(q.startswith(p + "/") for q in names)}
    base = tmp_path_factory.mktemp("tree")
    toml = make_app(base / "app", {"ui/index.html": b"<p>", **{f"ui/{p}": c for p, c in files.items()}})
    outs = []
    for name, core in (("native", native_core), ("python", py_core)):
        monkeypatch.setattr(package_mod, "core", core)
        out = base / f"{name}.cap"
        package_mod.build(toml, RFC_SK, out)
        outs.append(out)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    for core in (native_core, py_core):
        monkeypatch.setattr(package_mod, "core", core)
        package_mod.Package.open(outs[0]).verify(RFC_PK, full=True)


def test_build_twice_byte_identical(tmp_path, app):
    a, b = tmp_path / "a.cap", tmp_path / "b.cap"
    package_mod.build(app, RFC_SK, a)
    package_mod.build(app, RFC_SK, b)
    assert a.read_bytes() == b.read_bytes()
    names = [n for n, *_ in package_mod.core.zip_entries(a)]
    assert names[:5] == ["_cap/manifest.cbor", "_cap/index.cbor", "_cap/root.sha256", "_cap/signature.ed25519",
                         "_cap/publisher.ed25519.pk"]
    assert names[5:] == sorted(names[5:])


# -- missing_blobs ------------------------------------------------------------------------------------------------

def _hashes(n: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [bytes(r) for r in rng.integers(0, 256, size=(n, 32), dtype=np.uint8)]


def test_missing_blobs_native_equals_twin_all_input_forms(native_core, py_core):
    have = _hashes(2000, 1)
    new = have[:1500] + _hashes(300, 2) + have[:10] + _hashes(5, 2)  # duplicates of missing hashes too
    expected = [h for h in dict.fromkeys(new) if h not in set(have)]
    have_np = np.frombuffer(b"".join(have), dtype=np.uint8).reshape(-1, 32)
    new_np = np.frombuffer(b"".join(new), dtype=np.uint8).reshape(-1, 32)
    for core in (native_core, py_core):
        assert core.missing_blobs(new, have) == expected
        assert core.missing_blobs(new_np, have_np) == expected
        assert core.missing_blobs(iter(new), have_np) == expected
        assert core.missing_blobs(new, []) == list(dict.fromkeys(new))
        assert core.missing_blobs([], have) == []
    assert missing_blobs(new, have) == expected


def test_missing_blobs_rejects_bad_shapes(core):
    with pytest.raises(InvalidArgumentError):
        core.missing_blobs([b"x" * 31], [])
    with pytest.raises(InvalidArgumentError):
        core.missing_blobs(np.zeros((2, 31), dtype=np.uint8), [])
    with pytest.raises(TypeError):
        core.missing_blobs(["aa" * 16], [])
