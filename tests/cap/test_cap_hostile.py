"""One test per hostile-input class (issue 3 §7, security.md §3/§4/§11): each is refused with its own named error,
and extraction writes nothing (no target, no staging left behind). The suite runs once per backend."""

from __future__ import annotations

import struct
import warnings
import zipfile
from pathlib import Path

import pytest
import zstandard
from caphelpers import RFC_PK, RFC_SK, forge, make_app, read_entries

from capfast import cbor, ed25519
from capfast._py import zip_write
from capfast.cap.package import Package, build
from capfast.errors import (
    BlobMismatchError,
    CborError,
    DecompressionBombError,
    DuplicateEntryError,
    InvalidHashError,
    ManifestError,
    MissingEntryError,
    SignatureError,
    TrustError,
    UnexpectedEntryError,
    UnsafePathError,
    ZipFormatError,
)

L = 2**252 + 27742317777372353535851937790883648493


def index_of(path: Path) -> dict:
    return cbor.loads(dict(read_entries(path))["_cap/index.cbor"])


def assert_refused(pkg_path: Path, exc: type[Exception], tmp_path: Path, match: str | None = None) -> None:
    """Opening + full verification + extraction all refuse with ``exc``; nothing is written."""
    out = tmp_path / "target"
    with pytest.raises(exc, match=match):
        Package.open(pkg_path).extract(out, RFC_PK)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".extract-" in p.name]


def test_valid_package_extracts(tmp_path, built):
    res = Package.open(built).extract(tmp_path / "out", RFC_PK)
    assert res.full and res.key_source == "provided"
    assert (tmp_path / "out/ui/app.js").read_bytes() == b"console.log(1)\n" * 50


@pytest.mark.parametrize("bad", ["../x", "/etc/x", "C:x", "C:\\x", "\\\\h\\s\\x", "a\\..\\..\\x", "ok/../../x",
                                 "x\0y", "", ".", "CON", "NUL.txt", "x.", "x ", "a\x1bb", "a" * 300])
def test_unsafe_index_paths(tmp_path, built, bad):
    idx = index_of(built)
    idx["files"][bad] = idx["files"].pop("ui/copy.js")
    idx["files"] = dict(sorted(idx["files"].items(), key=lambda kv: kv[0].encode()))
    assert_refused(forge(built, tmp_path / "h.cap", index_map=idx), UnsafePathError, tmp_path)


@pytest.mark.parametrize("bad", ["../evil", "/abs", "blobs/../../x", "a\\b", "_cap/\x01"])
def test_unsafe_zip_entry_names(tmp_path, built, bad):
    ents = read_entries(built) + [(bad, b"x")]
    assert_refused(forge(built, tmp_path / "h.cap", entries=ents), UnsafePathError, tmp_path)


def test_duplicate_zip_entry_names(tmp_path, built):
    ents = read_entries(built)
    out = tmp_path / "h.cap"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
            for n, d in ents + [ents[0]]:
                z.writestr(n, d)
    assert_refused(out, DuplicateEntryError, tmp_path, "duplicate zip entry")


def test_duplicate_index_keys(tmp_path, built):
    idx = index_of(built)
    files = idx["files"]
    # Hand-encode a map with the same path twice (dicts cannot hold it).
    k = "ui/app.js"
    body = b"".join(cbor.dumps(p) + cbor.dumps(e) for p, e in files.items()) + cbor.dumps(k) + cbor.dumps(files[k])
    raw = b"\xa1" + cbor.dumps("files") + bytes([0xA0 | (len(files) + 1)]) + body
    assert_refused(forge(built, tmp_path / "h.cap", raw_index=raw, resign=False), DuplicateEntryError, tmp_path)


def test_case_colliding_index_paths(tmp_path, built):
    idx = index_of(built)
    idx["files"]["UI/app.js"] = idx["files"]["ui/app.js"]
    idx["files"] = dict(sorted(idx["files"].items(), key=lambda kv: kv[0].encode()))
    assert_refused(forge(built, tmp_path / "h.cap", index_map=idx), DuplicateEntryError, tmp_path, "collide")


@pytest.mark.parametrize("mutate", [str.upper, lambda h: h[:-1], lambda h: h + "0", lambda h: "zz" + h[2:]])
def test_uppercase_or_malformed_hash(tmp_path, built, mutate):
    idx = index_of(built)
    idx["files"]["ui/index.html"]["hash"] = mutate(idx["files"]["ui/index.html"]["hash"])
    assert_refused(forge(built, tmp_path / "h.cap", index_map=idx), InvalidHashError, tmp_path)


def test_missing_blob(tmp_path, built):
    ents = [(n, d) for n, d in read_entries(built) if not n.startswith("blobs/")][:] + \
        [(n, d) for n, d in read_entries(built) if n.startswith("blobs/")][1:]
    assert_refused(forge(built, tmp_path / "h.cap", entries=ents), MissingEntryError, tmp_path)


def test_missing_metadata_entry(tmp_path, built):
    ents = [(n, d) for n, d in read_entries(built) if n != "_cap/signature.ed25519"]
    assert_refused(forge(built, tmp_path / "h.cap", entries=ents, resign=False), MissingEntryError, tmp_path)


@pytest.mark.parametrize("extra", ["blobs/" + "ab" * 32 + ".zst", "blobs/" + "AB" * 32 + ".zst", "blobs/x.zst",
                                   "evil.txt", "_cap/manifest.toml"])
def test_extra_or_misnamed_blob(tmp_path, built, extra):
    ents = read_entries(built) + [(extra, b"\x28\xb5\x2f\xfd\x00\x00\x01\x00\x00")]
    assert_refused(forge(built, tmp_path / "h.cap", entries=ents), UnexpectedEntryError, tmp_path)


def test_non_stored_entry(tmp_path, built):
    out = tmp_path / "h.cap"
    with zipfile.ZipFile(out, "w") as z:
        for n, d in read_entries(built):
            z.writestr(n, d, compress_type=zipfile.ZIP_DEFLATED if n == "_cap/manifest.cbor" else zipfile.ZIP_STORED)
    assert_refused(out, ZipFormatError, tmp_path, "compression method 8")


def _swap_blob(built: Path, tmp_path: Path, new_raw: bytes, *, size: int | None = None, payload: bytes | None = None):
    """Replace ui/index.html's blob payload (keeping its name/hash) and optionally its declared size."""
    idx = index_of(built)
    e = idx["files"]["ui/index.html"]
    if payload is None:
        c = zstandard.ZstdCompressor(level=3).compressobj()
        payload = c.compress(new_raw) + c.flush()
    e["compressed_size"] = len(payload)
    if size is not None:
        e["size"] = size
    name = f"blobs/{e['hash']}.zst"
    ents = [(n, payload if n == name else d) for n, d in read_entries(built)]
    return forge(built, tmp_path / "h.cap", index_map=idx, entries=ents)


def test_zstd_bomb_output_larger_than_declared(tmp_path, built):
    out = _swap_blob(built, tmp_path, bytes(20 << 20), size=11)  # root unchanged: sizes are not signed
    with pytest.raises(DecompressionBombError, match="more than its declared"):
        Package.open(out).verify(RFC_PK, full=True)
    assert_refused(out, DecompressionBombError, tmp_path)


def test_huge_declared_size_and_ratio_caps(tmp_path, built):
    out = _swap_blob(built, tmp_path, b"<h1>hi</h1>", size=1 << 40)
    assert_refused(out, DecompressionBombError, tmp_path, "cap")
    out = _swap_blob(built, tmp_path, bytes(64 << 20), size=64 << 20)  # ~32,000:1, over the 10,000:1 default
    assert_refused(out, DecompressionBombError, tmp_path, "ratio")
    from capfast.cap.package import Limits

    out = _swap_blob(built, tmp_path, __import__("random").Random(1).randbytes(4 << 20), size=4 << 20)
    with pytest.raises(DecompressionBombError, match="total cap"):
        Package.open(out, Limits(max_total=1 << 20)).verify_blobs()


def test_blob_content_mismatch_and_trailing_frames(tmp_path, built):
    assert_refused(_swap_blob(built, tmp_path, b"<h1>evil</h1>", size=13), BlobMismatchError, tmp_path, "hashes to")
    good = dict(read_entries(built))
    e = index_of(built)["files"]["ui/index.html"]
    payload = good[f"blobs/{e['hash']}.zst"]
    assert_refused(_swap_blob(built, tmp_path, b"", payload=payload + payload), BlobMismatchError, tmp_path, "after")
    skippable = struct.pack("<II", 0x184D2A50, 0)
    assert_refused(_swap_blob(built, tmp_path, b"", payload=skippable + payload), BlobMismatchError, tmp_path,
                   "skippable")


def test_truncated_archive(tmp_path, built):
    data = built.read_bytes()
    for cut in (10, 100, len(data) // 2, len(data) - 1):
        out = tmp_path / "h.cap"
        out.write_bytes(data[:cut])
        assert_refused(out, ZipFormatError, tmp_path)


def test_trailing_or_prepended_data(tmp_path, built):
    out = tmp_path / "h.cap"
    out.write_bytes(built.read_bytes() + b"junk")
    assert_refused(out, ZipFormatError, tmp_path)
    out.write_bytes(b"MZ" + built.read_bytes())
    assert_refused(out, ZipFormatError, tmp_path)


def test_overlapping_entries(tmp_path, built):
    data = bytearray(built.read_bytes())
    eocd = len(data) - 22
    n, cd_size, cd_off = struct.unpack_from("<HII", data, eocd + 10)
    # Point the second central record at the first local header, renaming it to match (quoted-overlap style).
    pos = cd_off
    first_name_len = struct.unpack_from("<H", data, pos + 28)[0]
    pos2 = pos + 46 + first_name_len
    struct.pack_into("<I", data, pos2 + 42, 0)
    out = tmp_path / "h.cap"
    out.write_bytes(bytes(data))
    assert_refused(out, ZipFormatError, tmp_path)


def test_local_central_mismatch(tmp_path, built):
    data = bytearray(built.read_bytes())
    data[14] ^= 0xFF  # CRC in the first local header
    out = tmp_path / "h.cap"
    out.write_bytes(bytes(data))
    assert_refused(out, ZipFormatError, tmp_path, "local header")


def test_wrong_key(tmp_path, built):
    other = ed25519.generate().public
    with pytest.raises(SignatureError):
        Package.open(built).extract(tmp_path / "t", other)
    assert not (tmp_path / "t").exists()


def test_small_order_key_and_signature(tmp_path):
    """A package signed 'by' the identity point with R = identity and S = 0 verifies under lax rules only."""
    make_app(tmp_path / "app")
    from caphelpers import APP_TOML  # noqa: F401

    built = tmp_path / "a.cap"
    build(tmp_path / "app" / "Cap.toml", RFC_SK, built)
    identity = bytes([1]) + bytes(31)
    sig = identity + bytes(32)
    ents = [(n, sig if n == "_cap/signature.ed25519" else identity if n == "_cap/publisher.ed25519.pk" else d)
            for n, d in read_entries(built)]
    zip_write(tmp_path / "h.cap", ents)
    with pytest.raises(SignatureError):
        Package.open(tmp_path / "h.cap").extract(tmp_path / "t", identity)
    assert not (tmp_path / "t").exists()


def test_non_canonical_signature(tmp_path, built):
    d = dict(read_entries(built))
    sig = d["_cap/signature.ed25519"]
    s = int.from_bytes(sig[32:], "little") + L
    bad = sig[:32] + s.to_bytes(32, "little")
    ents = [(n, bad if n == "_cap/signature.ed25519" else v) for n, v in read_entries(built)]
    zip_write(tmp_path / "h.cap", ents)
    with pytest.raises(SignatureError):
        Package.open(tmp_path / "h.cap").extract(tmp_path / "t", RFC_PK)
    assert not (tmp_path / "t").exists()


def test_tampered_root_file_and_manifest(tmp_path, built):
    ents = [(n, b"00" * 32 + b"\n" if n == "_cap/root.sha256" else d) for n, d in read_entries(built)]
    zip_write(tmp_path / "h.cap", ents)
    assert_refused(tmp_path / "h.cap", SignatureError, tmp_path, "root mismatch")
    ents = [(n, d + b"\x00" if n == "_cap/manifest.cbor" else d) for n, d in read_entries(built)]
    zip_write(tmp_path / "h.cap", ents)
    assert_refused(tmp_path / "h.cap", CborError, tmp_path, "trailing")


def test_embedded_key_alone_is_not_trusted(tmp_path, built):
    with pytest.raises(TrustError, match="alone proves nothing"):
        Package.open(built).extract(tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_extract_never_writes_into_existing_or_symlinked_target(tmp_path, built):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep").write_text("x")
    with pytest.raises(FileExistsError):
        Package.open(built).extract(tmp_path / "full", RFC_PK)
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == ["keep"]
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePathError):
        Package.open(built).extract(tmp_path / "link", RFC_PK)
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_build_refuses_hostile_app_folders(tmp_path):
    toml = make_app(tmp_path / "a")
    (tmp_path / "a/ui/leak").symlink_to("/etc/hostname")
    with pytest.raises(UnsafePathError, match="symlink"):
        build(toml, RFC_SK, tmp_path / "x.cap")
    toml = make_app(tmp_path / "b", {"ui/index.html": b"x", "ui/publisher.ed25519.sk.json": b"{}"})
    with pytest.raises(UnsafePathError, match="secret key"):
        build(toml, RFC_SK, tmp_path / "x.cap")
    toml = make_app(tmp_path / "c", toml="cap_version = 1\n[app]\nid='..'\n")
    with pytest.raises(ManifestError):
        build(toml, RFC_SK, tmp_path / "x.cap")
    assert not (tmp_path / "x.cap").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
