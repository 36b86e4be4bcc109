"""Shared helpers for the CAP package tests: a small app folder, keys, and a package forger."""

from __future__ import annotations

import hashlib
from pathlib import Path

from capfast import cbor, ed25519

# RFC 8032 test 1 key (cap-format.md §3.6).
RFC_SK = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PK = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")

APP_TOML = """cap_version = 1
[app]
id = "org.test.app"
name = "Test"
version = "1.0.0"
publisher = "Tester"
[entrypoints]
ui = "ui/index.html"
[capabilities.kv_store]
"""


def make_app(root: Path, files: dict[str, bytes] | None = None, toml: str = APP_TOML) -> Path:
    """Write an app folder with Cap.toml; returns the Cap.toml path."""
    files = files if files is not None else {"ui/index.html": b"<h1>hi</h1>", "ui/app.js": b"console.log(1)\n" * 50,
                                             "ui/copy.js": b"console.log(1)\n" * 50}
    root.mkdir(parents=True, exist_ok=True)
    (root / "Cap.toml").write_text(toml)
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root / "Cap.toml"


def read_entries(path: Path) -> list[tuple[str, bytes]]:
    """(name, data) of every entry, via the stdlib reader."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


def forge(path: Path, out: Path, *, index_map: dict | None = None, entries: list[tuple[str, bytes]] | None = None,
          resign: bool = True, raw_index: bytes | None = None) -> Path:
    """Rewrite a package with a modified index map / entry list, re-rooted and re-signed with the RFC key, so the
    only thing wrong is what the test changed."""
    from capfast._py import cap_root, zip_write

    ents = entries if entries is not None else read_entries(path)
    d = dict(ents)
    if index_map is not None or raw_index is not None:
        index_bytes = raw_index if raw_index is not None else cbor.dumps(index_map)
        ents = [(n, index_bytes if n == "_cap/index.cbor" else v) for n, v in ents]
        d["_cap/index.cbor"] = index_bytes
    if resign:
        files = (index_map or cbor.loads(d["_cap/index.cbor"]))["files"]
        try:
            root = cap_root(hashlib.sha256(d["_cap/manifest.cbor"]).digest(), list(files),
                            [f["hash"] for f in files.values()])
        except Exception:
            root = b"\0" * 32
        sig = ed25519.sign(RFC_SK, root)
        ents = [(n, root.hex().encode() + b"\n" if n == "_cap/root.sha256" else sig if n == "_cap/signature.ed25519"
                 else v) for n, v in ents]
    zip_write(out, ents)
    return out
