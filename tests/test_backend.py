import os

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
