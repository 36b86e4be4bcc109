"""The ``mime`` field capfast writes equals the reference builder's (issue 19, item 11).

Known answers: mime_guess 2.0.5 (what Hmbown/CAP calls), as printed by that crate; ``rust/tests/mime_table.rs``
checks the whole table against the crate itself."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from caphelpers import APP_TOML, RFC_SK, make_app

from capfast.cap.index import guess_mime
from capfast.cap.mime_table import MIME_TYPES

DOC = Path(__file__).resolve().parents[2] / "docs" / "cap-mime-types.md"

# mime_guess 2.0.5's answers (from the crate, not from capfast) for common app file names.
REFERENCE = {
    "ui/index.html": "text/html", "ui/doc.pdf": "application/pdf", "ui/clip.mp4": "video/mp4",
    "ui/conf.yaml": "text/x-yaml", "ui/conf.yml": "text/x-yaml", "ui/types.ts": "video/vnd.dlna.mpeg-tts",
    "ui/f.woff": "application/font-woff", "ui/f.woff2": "font/woff2", "ui/f.otf": "application/font-sfnt",
    "ui/App.JS": "text/javascript", "ui/m.mjs": "application/javascript", "ui/a.tar.gz": "application/gzip",
    "ui/i.avif": "image/avif", "ui/s.mp3": "audio/mpeg", "ui/x.xlsm": "application/vnd.ms-excel.sheet.macroenabled.12",
    "ui/.htaccess": None, "ui/README": None, "ui/data.": None, "ui/x.unknownext": None,
}


def test_doc_shows_exactly_the_table() -> None:
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|$", DOC.read_text(encoding="utf-8"), re.M)
    assert dict(rows) == MIME_TYPES and len(rows) == len(MIME_TYPES) > 1000
    assert list(MIME_TYPES) == sorted(MIME_TYPES, key=str.encode)


@pytest.mark.parametrize("vpath,mime", sorted(REFERENCE.items()))
def test_guess_mime_matches_the_reference(vpath: str, mime: str | None) -> None:
    assert guess_mime(vpath) == mime


@pytest.mark.once
def test_cap_build_writes_the_reference_mime(tmp_path: Path) -> None:
    from capfast.cap.keys import key_json

    toml = APP_TOML.replace("[capabilities.kv_store]\n", "")
    app = make_app(tmp_path / "app", {p: p.encode() for p in REFERENCE if not p.endswith(".")}, toml=toml)
    sk = tmp_path / "k.sk.json"
    sk.write_text(key_json(RFC_SK))
    cap = Path(sys.executable).parent / "cap"
    r = subprocess.run([str(cap), "build", str(app), "--key", str(sk), "--out", str(tmp_path / "a.cap")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(cap), "inspect", str(tmp_path / "a.cap"), "--json"], capture_output=True, text=True,
                       timeout=120)
    files = {f["path"]: f["mime"] for f in json.loads(r.stdout)["files"]}
    assert files == {p: m for p, m in REFERENCE.items() if not p.endswith(".")}
