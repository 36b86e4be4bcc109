"""CAP 1.0 package benchmarks (issue 3): build, ``verify --full``, the CAPROOT root and ``missing_blobs``.

Synthetic app: 10,000 files × 4 KiB plus 20 files × 5 MiB of text-like data (``CAPFAST_BENCH_QUICK=1``: 1,000 × 4 KiB
plus 4 × 1 MiB). Subject: capfast with the native core. Baselines in the same run: the same capfast code on the
pure-Python twin, and a straightforward implementation with zipfile + zstandard + hashlib + cbor2 (+ PyNaCl), which
is what a competent Python author would write. Every case checks its result (same root as capfast, every blob
verified, the right missing set), so a fast wrong answer fails the run.
Targets: build ≥ 3×, verify ≥ 3×, root ≥ 10×, missing_blobs ≥ 5× Python set difference.
"""

from __future__ import annotations

import hashlib
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import QUICK, tag

_native: Any = pytest.importorskip("capfast._native", reason="the native core is not built")
cbor2 = pytest.importorskip("cbor2")
zstandard = pytest.importorskip("zstandard")
nacl_signing = pytest.importorskip("nacl.signing")

import capfast._py as _py  # noqa: E402
import capfast.cap.package as package_mod  # noqa: E402
from capfast import ed25519  # noqa: E402
from capfast.cap.index import guess_mime  # noqa: E402
from capfast.cap.manifest import Manifest  # noqa: E402

SMALL, SMALL_SIZE = (1_000, 4096) if QUICK else (10_000, 4096)
BIG, BIG_SIZE = (4, 1 << 20) if QUICK else (20, 5 << 20)
N_ROOT = 100_000 if QUICK else 1_000_000
N_DELTA = 100_000 if QUICK else 1_000_000
APP = f"{SMALL // 1000}k×4KiB + {BIG}×{BIG_SIZE >> 20}MiB"
SK = hashlib.sha256(b"capfast bench publisher").digest()
ROUNDS = 3


def _corpus(rng: random.Random, size: int) -> bytes:
    words = [rng.randbytes(rng.randint(2, 9)).hex() for _ in range(4000)] + ["function", "return", "const", "{", "}"]
    out, n = [], 0
    while n < size:
        w = rng.choice(words)
        out.append(w)
        n += len(w) + 1
    return " ".join(out).encode()[:size]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    rng = random.Random(3)
    base = tmp_path_factory.mktemp("capbench")
    corpus = _corpus(rng, 16 << 20)
    (base / "ui").mkdir()
    (base / "ui" / "index.html").write_bytes(b"<html>bench</html>")
    for i in range(SMALL):
        d = base / "ui" / f"d{i % 100:02d}"
        d.mkdir(exist_ok=True)
        off = rng.randrange(len(corpus) - SMALL_SIZE)
        (d / f"f{i:05d}.js").write_bytes(b"// file %d\n" % i + corpus[off : off + SMALL_SIZE - 16])
    for i in range(BIG):
        off = rng.randrange(len(corpus) - BIG_SIZE)
        (base / "ui" / f"big{i:02d}.wasm").write_bytes(b"big %d" % i + corpus[off : off + BIG_SIZE - 8])
    (base / "Cap.toml").write_text('cap_version = 1\n[app]\nid = "org.bench.app"\nname = "Bench"\nversion = "1.0.0"\n'
                                   'publisher = "Bench"\n[entrypoints]\nui = "ui/index.html"\n')
    return base / "Cap.toml"


def _with_core(core: Any, fn: Any) -> Any:
    saved = package_mod.core
    package_mod.core = core
    try:
        return fn()
    finally:
        package_mod.core = saved


def naive_build(cap_toml: Path, out: Path) -> bytes:
    """Straightforward Python: walk, hashlib, zstandard, cbor2, PyNaCl, zipfile."""
    m = Manifest.from_toml(cap_toml)
    base = cap_toml.parent
    files = sorted((p.relative_to(base).as_posix(), p) for p in (base / "ui").rglob("*") if p.is_file())
    index: dict[str, Any] = {}
    blobs: dict[str, bytes] = {}
    for vpath, p in files:
        data = p.read_bytes()
        h = hashlib.sha256(data).hexdigest()
        if h not in blobs:
            c = zstandard.ZstdCompressor(level=10).compressobj()
            blobs[h] = c.compress(data) + c.flush()
        e = {"hash": h, "size": len(data), "compressed_size": len(blobs[h]), "compression": "zstd"}
        if guess_mime(vpath):
            e["mime"] = guess_mime(vpath)
        index[vpath] = e
    manifest_bytes = cbor2.dumps(m.data)
    index_bytes = cbor2.dumps({"files": index})
    h = hashlib.sha256(b"CAPROOT\0" + hashlib.sha256(manifest_bytes).digest())
    for vpath, e in index.items():
        h.update(vpath.encode() + b"\0" + bytes.fromhex(e["hash"]) + b"\n")
    root = h.digest()
    key = nacl_signing.SigningKey(SK)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("_cap/manifest.cbor", manifest_bytes)
        z.writestr("_cap/index.cbor", index_bytes)
        z.writestr("_cap/root.sha256", root.hex() + "\n")
        z.writestr("_cap/signature.ed25519", key.sign(root).signature)
        z.writestr("_cap/publisher.ed25519.pk", bytes(key.verify_key))
        for hx, blob in blobs.items():
            z.writestr(f"blobs/{hx}.zst", blob)
    return root


def naive_verify_full(path: Path, pk: bytes) -> int:
    with zipfile.ZipFile(path) as z:
        manifest_bytes = z.read("_cap/manifest.cbor")
        index = cbor2.loads(z.read("_cap/index.cbor"))["files"]
        h = hashlib.sha256(b"CAPROOT\0" + hashlib.sha256(manifest_bytes).digest())
        for vpath in sorted(index):
            h.update(vpath.encode() + b"\0" + bytes.fromhex(index[vpath]["hash"]) + b"\n")
        root = h.digest()
        assert z.read("_cap/root.sha256").strip().decode() == root.hex()
        nacl_signing.VerifyKey(pk).verify(root, z.read("_cap/signature.ed25519"))
        d = zstandard.ZstdDecompressor()
        n = 0
        for hx, e in {e["hash"]: e for e in index.values()}.items():
            raw = d.decompress(z.read(f"blobs/{hx}.zst"), max_output_size=e["size"] + 1)
            assert len(raw) == e["size"] and hashlib.sha256(raw).hexdigest() == hx
            n += 1
        return n


@pytest.fixture(scope="module")
def expected_root(app, tmp_path_factory):
    return naive_build(app, tmp_path_factory.mktemp("ref") / "ref.cap")


BUILD = f"cap build {APP}"


def test_build_native(benchmark, app, tmp_path, expected_root):
    tag(benchmark, BUILD, "subject", "capfast native (parallel zstd, deterministic zip)")
    r = benchmark.pedantic(lambda: package_mod.build(app, SK, tmp_path / "n.cap"), rounds=ROUNDS, iterations=1)
    assert r.root == expected_root


def test_build_twin(benchmark, app, tmp_path, expected_root):
    tag(benchmark, BUILD, "baseline", "capfast pure-Python twin")
    r = benchmark.pedantic(lambda: _with_core(_py, lambda: package_mod.build(app, SK, tmp_path / "p.cap")),
                           rounds=ROUNDS, iterations=1)
    assert r.root == expected_root


def test_build_naive(benchmark, app, tmp_path, expected_root):
    tag(benchmark, BUILD, "baseline", "zipfile + zstandard + hashlib + cbor2")
    assert benchmark.pedantic(lambda: naive_build(app, tmp_path / "z.cap"), rounds=ROUNDS, iterations=1) == \
        expected_root


VERIFY = f"cap verify --full {APP}"


@pytest.fixture(scope="module")
def built(app, tmp_path_factory):
    out = tmp_path_factory.mktemp("built") / "app.cap"
    package_mod.build(app, SK, out)
    return out


def _verify(path: Path) -> int:
    return package_mod.Package.open(path).verify(ed25519.public_key(SK), full=True).blobs


def test_verify_native(benchmark, built):
    tag(benchmark, VERIFY, "subject", "capfast native (streaming, parallel)")
    assert benchmark.pedantic(lambda: _verify(built), rounds=ROUNDS, iterations=1) == SMALL + BIG + 1


def test_verify_twin(benchmark, built):
    tag(benchmark, VERIFY, "baseline", "capfast pure-Python twin")
    assert benchmark.pedantic(lambda: _with_core(_py, lambda: _verify(built)), rounds=ROUNDS,
                              iterations=1) == SMALL + BIG + 1


def test_verify_naive(benchmark, built):
    tag(benchmark, VERIFY, "baseline", "zipfile + zstandard + hashlib + cbor2")
    assert benchmark.pedantic(lambda: naive_verify_full(built, ed25519.public_key(SK)), rounds=ROUNDS,
                              iterations=1) == SMALL + BIG + 1


# -- signature-only `cap verify`, the whole command as a user runs it (interpreter start, imports, index, root) -----
# Issue 19 item 14: Hmbown's Rust `cap verify` took 46 ms on the full-size package; this measures the same command of
# capfast as a process, against the straightforward Python verifier run as a process in the same run.

VERIFY_SIG = f"cap verify (signature only, whole process) {APP}"
_NAIVE_SIG = """
import hashlib, sys, zipfile
import cbor2
from nacl.signing import VerifyKey
with zipfile.ZipFile(sys.argv[1]) as z:
    manifest = z.read("_cap/manifest.cbor")
    files = cbor2.loads(z.read("_cap/index.cbor"))["files"]
    h = hashlib.sha256(b"CAPROOT\\0" + hashlib.sha256(manifest).digest())
    for vpath in sorted(files):
        h.update(vpath.encode() + b"\\0" + bytes.fromhex(files[vpath]["hash"]) + b"\\n")
    assert z.read("_cap/root.sha256").strip().decode() == h.hexdigest()
    VerifyKey(bytes.fromhex(sys.argv[2])).verify(h.digest(), z.read("_cap/signature.ed25519"))
print("OK")
"""


def _run(argv: list[str]) -> str:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed: .pyc present
    r = subprocess.run([sys.executable, *argv] if argv[0] == "-c" else argv, capture_output=True, text=True,
                       env=env, check=True)
    return r.stdout


def test_verify_signature_process_native(benchmark, built):
    import sys

    tag(benchmark, VERIFY_SIG, "subject", "capfast `cap verify --pubkey` (native scan)")
    pk = built.parent / "pk.hex"
    pk.write_text(ed25519.public_key(SK).hex())
    cap = str(Path(sys.executable).parent / "cap")
    _run([cap, "verify", str(built), "--pubkey", str(pk)])  # warm the page cache and .pyc files
    assert benchmark.pedantic(lambda: _run([cap, "verify", str(built), "--pubkey", str(pk)]), rounds=10,
                              iterations=1).startswith("OK")


def test_verify_signature_process_naive(benchmark, built):
    tag(benchmark, VERIFY_SIG, "baseline", "zipfile + cbor2 + hashlib + PyNaCl, as a process")
    argv = ["-c", _NAIVE_SIG, str(built), ed25519.public_key(SK).hex()]
    _run(argv)
    assert benchmark.pedantic(lambda: _run(argv), rounds=10, iterations=1).startswith("OK")


ROOT = f"CAP root {N_ROOT // 1000}k entries"


@pytest.fixture(scope="module")
def root_input():
    rng = np.random.default_rng(7)
    paths = sorted(f"assets/{i % 1000:03d}/file-{i:07d}.js" for i in range(N_ROOT))
    hashes = [bytes(r).hex() for r in rng.integers(0, 256, size=(N_ROOT, 32), dtype=np.uint8)]
    mh = hashlib.sha256(b"manifest").digest()
    return mh, paths, hashes, _py.cap_root(mh, paths, hashes)


def test_root_native(benchmark, root_input):
    tag(benchmark, ROOT, "subject", "capfast native cap_root")
    mh, paths, hashes, want = root_input
    assert benchmark(_native.cap_root, mh, paths, hashes) == want


def test_root_twin(benchmark, root_input):
    tag(benchmark, ROOT, "baseline", "capfast pure-Python twin")
    mh, paths, hashes, want = root_input
    assert benchmark.pedantic(_py.cap_root, (mh, paths, hashes), rounds=ROUNDS, iterations=1) == want


def test_root_naive(benchmark, root_input):
    tag(benchmark, ROOT, "baseline", "hashlib loop (spec §7.2 as written)")
    mh, paths, hashes, want = root_input

    def naive() -> bytes:
        h = hashlib.sha256(b"CAPROOT\0" + mh)
        for p, x in sorted(zip(paths, hashes)):
            h.update(p.encode())
            h.update(b"\0")
            h.update(bytes.fromhex(x))
            h.update(b"\n")
        return h.digest()

    assert benchmark.pedantic(naive, rounds=ROUNDS, iterations=1) == want


DELTA = f"missing_blobs {N_DELTA // 1000}k vs {N_DELTA // 1000}k"


@pytest.fixture(scope="module")
def delta_input():
    rng = np.random.default_rng(11)
    have = rng.integers(0, 256, size=(N_DELTA, 32), dtype=np.uint8)
    new = have.copy()
    fresh = N_DELTA // 100
    new[:fresh] = rng.integers(0, 256, size=(fresh, 32), dtype=np.uint8)
    new = new[rng.permutation(N_DELTA)]
    have_l = [bytes(r) for r in have]
    new_l = [bytes(r) for r in new]
    return have, new, have_l, new_l, fresh


def test_delta_native_list(benchmark, delta_input):
    tag(benchmark, DELTA, "subject", "capfast native, lists of bytes")
    _, _, have_l, new_l, fresh = delta_input
    assert len(benchmark(_native.missing_blobs, new_l, have_l)) == fresh


def test_delta_native_numpy(benchmark, delta_input):
    tag(benchmark, DELTA, "subject", "capfast native, numpy (n, 32) arrays, zero-copy")
    have, new, _, _, fresh = delta_input
    assert len(benchmark(_native.missing_blobs, new, have)) == fresh


def test_delta_python_sets(benchmark, delta_input):
    tag(benchmark, DELTA, "baseline", "Python set(new) - set(have)")
    _, _, have_l, new_l, fresh = delta_input
    assert len(benchmark(lambda: set(new_l) - set(have_l))) == fresh


def test_delta_twin(benchmark, delta_input):
    tag(benchmark, DELTA, "baseline", "capfast pure-Python twin")
    _, _, have_l, new_l, fresh = delta_input
    assert len(benchmark(_py.missing_blobs, new_l, have_l)) == fresh
