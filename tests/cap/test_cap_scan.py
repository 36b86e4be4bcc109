"""``cap_scan``, the one-pass open behind a fast signature-only ``cap verify`` (issue 19, item 14).

It is only an accelerator: the engine and its twin must agree on every input, and whatever it accepts the general
path must accept with the same result; whatever the general path refuses it must hand back (``None``) or refuse
with the same ZIP error."""

from __future__ import annotations

from pathlib import Path

import pytest
from caphelpers import RFC_PK, RFC_SK, forge, make_app, read_entries

from capfast import cbor
from capfast.cap.package import Package, build


def _variants(tmp: Path) -> dict[str, Path]:
    base = build(make_app(tmp / "app"), RFC_SK, tmp / "base.cap").path
    ents = read_entries(base)
    index = cbor.loads(dict(ents)["_cap/index.cbor"])
    files = index["files"]
    out: dict[str, Path] = {"clean": base}

    def with_files(name: str, new: dict, entries: list | None = None, **kw) -> None:
        ordered = dict(sorted(new.items(), key=lambda kv: kv[0].encode()))
        out[name] = forge(base, tmp / f"{len(out)}.cap", index_map={"files": ordered}, entries=entries, **kw)

    js = files["ui/app.js"]
    for label, path in [("dotdot", "ui/../x"), ("backslash", "ui\\x"), ("colon", "ui/c:x"), ("device", "ui/NUL.txt"),
                        ("device2", "ui/com1"), ("trailing dot", "ui/x."), ("space", "ui/x "),
                        ("long", "ui/" + "a" * 256), ("nfc", "ui/caf\u00e9.js"), ("nfd", "ui/cafe\u0301.js"),
                        ("control", "ui/a\x1fb"), ("ok com10", "ui/com10"), ("ok console", "ui/console.js")]:
        with_files(label, {**files, path: js})
    with_files("case", {**files, "ui/APP.js": js})
    with_files("file vs dir", {**files, "ui/x": js, "ui/X/y": js})
    with_files("dir case", {**files, "ui/A/1": js, "ui/a/2": js})
    with_files("exact file vs dir", {**files, "ui/app.js/x": js})
    with_files("gzip", {**files, "ui/app.js": {**js, "compression": "gzip"}})
    with_files("huge size", {**files, "ui/app.js": {**js, "size": 1 << 63}})
    with_files("two sizes", {**files, "ui/app.js": {**js, "size": js["size"] + 1}})
    with_files("csize", {**files, "ui/app.js": {**js, "compressed_size": js["compressed_size"] + 1},
                         "ui/copy.js": {**js, "compressed_size": js["compressed_size"] + 1}})
    blob = f"blobs/{files['ui/index.html']['hash']}.zst"
    out["missing blob"] = forge(base, tmp / "mb.cap", entries=[e for e in ents if e[0] != blob])
    out["extra blob"] = forge(base, tmp / "eb.cap", entries=ents + [(f"blobs/{'0' * 64}.zst", b"x")])
    out["upper blob"] = forge(base, tmp / "ub.cap", entries=ents + [(f"blobs/{'A' * 64}.zst", b"x")])
    out["other entry"] = forge(base, tmp / "oe.cap", entries=ents + [("README", b"x")])
    out["no root"] = forge(base, tmp / "nr.cap", entries=[e for e in ents if e[0] != "_cap/root.sha256"])
    out["wrong root"] = forge(base, tmp / "wr.cap", entries=[(n, b"0" * 64 + b"\n" if n == "_cap/root.sha256"
                                                               else d) for n, d in ents], resign=False)
    out["short sig"] = forge(base, tmp / "ss.cap", entries=[(n, d[:63] if n.endswith(".ed25519") else d)
                                                              for n, d in ents], resign=False)
    out["short key"] = forge(base, tmp / "sk.cap", entries=[(n, d[:31] if n.endswith(".pk") else d)
                                                              for n, d in ents], resign=False)
    out["no key"] = forge(base, tmp / "nk.cap", entries=[(n, d) for n, d in ents if not n.endswith(".pk")])
    raw = dict(ents)["_cap/index.cbor"]
    out["non-canonical index"] = forge(base, tmp / "nc.cap", raw_index=raw[:1] + b"\x78\x05files" + raw[7:],
                                       resign=False)
    (tmp / "truncated.cap").write_bytes(base.read_bytes()[:-10])
    out["truncated"] = tmp / "truncated.cap"
    return out


@pytest.fixture(scope="module")
def variants(tmp_path_factory) -> dict[str, Path]:
    return _variants(tmp_path_factory.mktemp("scan"))


def _outcome(fn):
    try:
        return "ok", fn()
    except Exception as exc:  # noqa: BLE001 - compared across implementations
        return type(exc).__name__, str(exc)


ARGS = (65535, 1 << 20, 256 << 20)


def test_engine_and_twin_agree(variants, native_core, py_core) -> None:
    for name, path in variants.items():
        a = _outcome(lambda p=path: native_core.cap_scan(str(p), *ARGS))
        b = _outcome(lambda p=path: py_core.cap_scan(str(p), *ARGS))
        assert a == b, name


def _general(path: Path, monkeypatch) -> tuple:
    from capfast.cap import package as package_mod

    with monkeypatch.context() as m:
        m.setattr(package_mod.core, "cap_scan", lambda *a: None)
        return _outcome(lambda: _summary(Package.open(path)))


def _summary(p: Package) -> tuple:
    res = p.verify(RFC_PK)
    return (p.root, p.manifest_bytes, p.signature, p.embedded_key, p.warnings, res.files, res.blobs,
            sorted(p.index.files), len(p._unique), sorted(p.entries))


def test_fast_path_accepts_only_what_the_general_path_accepts(variants, monkeypatch) -> None:
    from capfast._backend import core

    accepted = set()
    for name, path in variants.items():
        general = _general(path, monkeypatch)
        scanned = _outcome(lambda p=path: core.cap_scan(str(p), *ARGS))
        fast = _outcome(lambda p=path: _summary(Package.open(p)))
        if scanned[0] == "ok" and scanned[1] is not None:
            accepted.add(name)
            assert general[0] == "ok", (name, general)
        if scanned[0] != "ok":  # a ZIP structure error: the same one either way
            assert general == scanned, name
        assert fast == general, name  # Package.open gives the same answer whichever path it took
    assert accepted == {"clean", "ok com10", "ok console", "no key"}, accepted
