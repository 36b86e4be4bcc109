"""Picks the implementation once, at import: the native core, or the pure-Python twin.

``CAPFAST_BACKEND=python`` forces the twin; ``CAPFAST_BACKEND=native`` makes a missing native module an error;
unset (or ``auto``) prefers native and falls back to the twin when the extension is not built.
Public modules call ``core.<function>``; both modules expose the same flat set of names and signatures.
"""

from __future__ import annotations

import os
from types import ModuleType

_choice = os.environ.get("CAPFAST_BACKEND", "auto").strip().lower() or "auto"
if _choice not in ("auto", "native", "python"):
    raise ImportError(f"CAPFAST_BACKEND must be 'native', 'python' or 'auto', not {_choice!r}")

core: ModuleType
if _choice == "python":
    from capfast import _py as core

    backend = "python"
else:
    try:
        from capfast import _native as core
    except ImportError:
        if _choice == "native":
            raise
        from capfast import _py as core

        backend = "python"
    else:
        backend = "native"

__all__ = ["backend", "core"]
