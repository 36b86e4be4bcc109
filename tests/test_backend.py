import os

import pytest

import capfast
from capfast._backend import core


def test_backend_follows_environment():
    forced = os.environ.get("CAPFAST_BACKEND")
    if forced in ("native", "python"):
        assert capfast.backend == forced
    assert core.__name__ == {"native": "capfast._native", "python": "capfast._py"}[capfast.backend]


def test_twin_exports_every_native_function(native_core, py_core):
    native = {n for n in dir(native_core) if not n.startswith("_")}
    twin = set(py_core.__all__)
    assert native == twin, f"only native: {native - twin}; only twin: {twin - native}"


def test_version_has_one_source() -> None:
    """``capfast.__version__`` is the package metadata, which maturin takes from rust/Cargo.toml (and the native core
    reports the same crate version)."""
    import importlib
    import re
    from importlib import metadata
    from pathlib import Path

    cargo = (Path(__file__).resolve().parent.parent / "rust" / "Cargo.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "([^"]+)"', cargo, re.M)
    assert version is not None
    assert capfast.__version__ == metadata.version("capfast") == version.group(1)
    try:
        native = importlib.import_module("capfast._native")
    except ImportError:
        return
    assert native.__version__ == version.group(1)


def _os_error(fn):
    try:
        fn()
    except OSError as exc:
        return exc
    raise AssertionError("no OSError raised")


@pytest.mark.parametrize(
    "call",
    [
        lambda core, d: core.zip_entries(str(d / "missing.cap")),
        lambda core, d: core.commit_csv(str(d / "missing.csv")),
        lambda core, d: core.cap_read_blob(str(d / "missing.cap"), ("00" * 32, 0, 1, 0, 1)),
        lambda core, d: core.zip_write(str(d / "no-such-dir" / "x.zip"), [("a", b"1")]),
    ],
    ids=["zip_entries", "commit_csv", "cap_read_blob", "zip_write"],
)
def test_io_errors_keep_errno_and_class_on_both_backends(native_core, py_core, tmp_path, call) -> None:
    """A missing file is the same ``FileNotFoundError`` (errno ENOENT, strerror, file name) from either backend."""
    import errno

    native = _os_error(lambda: call(native_core, tmp_path))
    twin = _os_error(lambda: call(py_core, tmp_path))
    assert type(native) is type(twin) is FileNotFoundError
    assert native.errno == twin.errno == errno.ENOENT
    assert native.filename == twin.filename and native.strerror == twin.strerror
    assert str(native) == str(twin)
