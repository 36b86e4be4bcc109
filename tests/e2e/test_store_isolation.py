"""CAP store blob poisoning (issue 19, item 2), with real processes: ``cap serve``, ``cap publish``, ``cap update``.

The store used to keep one payload per content hash, first writer wins, across apps: a second publisher uploading the
same file at another zstd level made every ``cap update`` of the first app fail (the payload's size differed from the
size the app's index declares), and a publisher changing its own level broke its existing clients the same way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from servhelpers import Keys, cap_serve  # noqa: E402

from capfast.cap.keys import load_public_key  # noqa: E402
from capfast.cap.package import Package  # noqa: E402

CAP = Path(sys.executable).parent / "cap"
def text(seed: int, words: int = 6000) -> bytes:
    """Text that compresses differently at different zstd levels."""
    import random

    rnd = random.Random(seed)
    vocab = [f"w{rnd.randrange(10 ** 6)}" for _ in range(800)]
    return " ".join(rnd.choice(vocab) for _ in range(words)).encode()


SHARED = text(1)  # the same file in both apps

TOML = """cap_version = 1
[app]
id = "{app}"
name = "{app}"
version = "{version}"
publisher = "P"
[entrypoints]
ui = "ui/index.html"
"""


def run(*args: object, env: dict[str, str] | None = None) -> dict:
    r = subprocess.run([str(CAP), *map(str, args), "--json"], capture_output=True, text=True, timeout=300,
                       env={**os.environ, **(env or {})})
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return json.loads(r.stdout)


def make(tmp: Path, app: str, version: str, files: dict[str, bytes], level: int, keydir: Path) -> Path:
    src = tmp / f"{app}-{version}"
    (src / "ui").mkdir(parents=True)
    (src / "Cap.toml").write_text(TOML.format(app=app, version=version))
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    out = tmp / f"{app}-{version}.cap"
    run("build", src / "Cap.toml", "--key", keydir / "publisher.ed25519.sk.json", "--out", out, "--level", level)
    return out


@pytest.mark.once
def test_publishers_cannot_poison_each_other_or_their_old_releases(tmp_path: Path) -> None:
    ka, kb = tmp_path / "ka", tmp_path / "kb"
    run("keys", "generate", "--out", ka)
    run("keys", "generate", "--out", kb)
    pka, pkb = (load_public_key(k / "publisher.ed25519.pk.json") for k in (ka, kb))
    keys = Keys(tmp_path)
    env = {"CAP_AUTH_PUBLIC_KEY_PEM": str(keys.pem_path), "CAP_RATE_LIMIT_ENABLED": "0",
           "CAP_STORE_PUBLISHERS": f"org.a.app={pka.hex()},org.b.app={pkb.hex()}"}
    token = {"CAP_TOKEN": keys.token()}
    a_files = {"ui/index.html": text(2), "ui/shared.js": SHARED}
    with cap_serve(tmp_path / "state", env) as url:
        # B publishes the shared file first, at another zstd level
        b1 = make(tmp_path, "org.b.app", "1.0.0", {"ui/index.html": text(3), "ui/shared.js": SHARED}, 3, kb)
        run("publish", b1, "--server", url, "--seq", 1, "--key", kb / "publisher.ed25519.sk.json", env=token)
        a1 = make(tmp_path, "org.a.app", "1.0.0", a_files, 10, ka)
        shared_hash = next(e.hash for p, e in Package.open(a1).index.files.items() if p == "ui/shared.js")
        assert Package.open(a1)._unique[shared_hash].compressed_size != \
            Package.open(b1)._unique[shared_hash].compressed_size
        run("publish", a1, "--server", url, "--seq", 1, "--key", ka / "publisher.ed25519.sk.json", env=token)

        inst = tmp_path / "apps"
        pka_file = ka / "publisher.ed25519.pk.json"
        r = run("update", "org.a.app", "--server", url, "--root", inst, "--pubkey", pka_file)
        assert r["status"] == "updated" and r["downloaded_blobs"] == 2
        r = run("update", "org.b.app", "--server", url, "--root", inst, "--pubkey", kb / "publisher.ed25519.pk.json")
        assert r["status"] == "updated"

        # A changes its own compression level and adds a file: the existing client updates
        a2 = make(tmp_path, "org.a.app", "2.0.0", {**a_files, "ui/new.js": b"new();" * 300}, 1, ka)
        run("publish", a2, "--server", url, "--seq", 2, "--key", ka / "publisher.ed25519.sk.json", env=token)
        r = run("update", "org.a.app", "--server", url, "--root", inst, "--pubkey", pka_file)
        assert r["status"] == "updated" and r["downloaded_blobs"] == 3  # two re-compressed payloads + the new file

        # the older release still gets exactly the payloads its own index describes
        p1, p2 = Package.open(a1), Package.open(a2)
        assert all(p1._unique[h].compressed_size != p2._unique[h].compressed_size for h in p1._unique)
        for h, entry in p1._unique.items():
            got = httpx.get(f"{url}/store/releases/{p1.root.hex()}/blobs/{h}")
            assert got.status_code == 200 and len(got.content) == entry.compressed_size
            offset, csize, _crc = p1.entries[f"blobs/{h}.zst"]
            with open(a1, "rb") as fh:
                fh.seek(offset)
                assert got.content == fh.read(csize)
        # a fresh client of the old release's payloads: nothing of B's is served for A
        for h in Package.open(b1)._unique:
            assert httpx.get(f"{url}/store/releases/{p1.root.hex()}/blobs/{h}").status_code in (200, 404)

        # delta updates still download only what changed
        a3 = make(tmp_path, "org.a.app", "3.0.0", {**a_files, "ui/new.js": b"newer();" * 300}, 1, ka)
        run("publish", a3, "--server", url, "--seq", 3, "--key", ka / "publisher.ed25519.sk.json", env=token)
        r = run("update", "org.a.app", "--server", url, "--root", inst, "--pubkey", pka_file)
        assert r["status"] == "updated" and r["downloaded_blobs"] == 1 and r["reused_blobs"] == 2
        delta = httpx.post(f"{url}/store/delta", json={"root": Package.open(a2).root.hex(),
                                                        "have_root": p1.root.hex()}).json()
        assert len(delta["missing"]) == 3  # (hash, compressed size): the re-compressed payloads count as missing
