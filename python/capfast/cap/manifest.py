"""The CAP 1.0 manifest: schema, ``Cap.toml`` loading, validation and the reference CBOR encoding.

Field order and defaults follow the reference implementation exactly (cap-format.md §2.2): struct maps keep
declaration order, optional fields are omitted when absent, defaulted fields are written explicitly, and
``capabilities`` is always present. Unlike the reference, unknown keys are **rejected** (in TOML and in CBOR), and
validation runs on every manifest, including one read back from a ``.cap``.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path
from typing import Any

from capfast import cbor
from capfast.cap.paths import check_vpath
from capfast.errors import CborError, ManifestError, UnsafePathError

__all__ = ["Manifest", "validate_app_id", "MAX_MANIFEST_BYTES"]

MAX_MANIFEST_BYTES = 1 << 20

# (key, kind, required, default). kind: "str", "bool", "uint", "strlist", a sub-schema name, "targets", "telemetry".
_SCHEMA: dict[str, list[tuple[str, str, bool, Any]]] = {
    "manifest": [
        ("cap_version", "uint", True, None),
        ("app", "app", True, None),
        ("entrypoints", "entrypoints", True, None),
        ("targets", "targets", False, None),
        ("capabilities", "capabilities", False, {}),
        ("data_contract", "data_contract", False, None),
        ("updates", "updates", False, None),
        ("signing", "signing", False, None),
    ],
    "app": [
        ("id", "str", True, None),
        ("name", "str", True, None),
        ("version", "str", True, None),
        ("publisher", "str", True, None),
        ("description", "str", False, None),
        ("homepage", "str", False, None),
        ("min_runtime", "str", False, None),
    ],
    "entrypoints": [("ui", "str", True, None), ("core_wasm", "str", False, None)],
    "capabilities": [
        ("network", "network", False, None),
        ("filesystem", "filesystem", False, None),
        ("kv_store", "kv_store", False, None),
        ("notifications", "notifications", False, None),
        ("crypto_keystore", "crypto_keystore", False, None),
        ("native_accel", "native_accel", False, None),
    ],
    "network": [("allow", "strlist", True, None)],
    "filesystem": [("scopes", "strlist", True, None)],
    "kv_store": [("persistent", "bool", False, False)],
    "notifications": [("use_notifications", "bool", False, False)],
    "crypto_keystore": [("use_keystore", "bool", False, False)],
    "native_accel": [("allow", "strlist", True, None)],
    "data_contract": [
        ("telemetry", "telemetry", False, "off_by_default"),
        ("data_export", "bool", False, False),
        ("data_delete", "bool", False, False),
    ],
    "updates": [("channel", "str", True, None), ("rollback", "bool", False, False)],
    "signing": [("required", "bool", False, False), ("publisher_key_id", "str", False, None)],
}
_TARGETS = ("desktop", "web", "android", "ios", "harmony")
_TELEMETRY = ("off_by_default", "on", "off")
_APP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}")
_MAX_TEXT = 4096
_MAX_LIST = 1024


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _json_like(value: Any, where: str, depth: int = 0) -> Any:
    """Normalise a ``targets`` value: tables become maps sorted bytewise, scalars pass, anything else is refused."""
    if depth > 16:
        raise ManifestError(f"{where}: nested too deeply")
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise ManifestError(f"{where}: keys must be text")
        return {k: _json_like(value[k], f"{where}.{k}", depth + 1) for k in sorted(value, key=lambda s: s.encode())}
    if isinstance(value, list):
        return [_json_like(v, f"{where}[]", depth + 1) for v in value]
    if value is None or isinstance(value, (bool, str)) or _is_int(value):
        if _is_int(value) and not -(1 << 63) <= value < (1 << 63):
            raise ManifestError(f"{where}: integer out of range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ManifestError(f"{where}: non-finite float")
        return value
    raise ManifestError(f"{where}: unsupported value of type {type(value).__name__} (datetimes are not allowed)")


def _normalise(schema: str, raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ManifestError(f"{where or 'manifest'}: expected a table/map, got {type(raw).__name__}")
    fields = _SCHEMA[schema]
    known = {f[0] for f in fields}
    unknown = [k for k in raw if k not in known]
    if unknown:
        raise ManifestError(f"{where or 'manifest'}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(known))})")
    out: dict[str, Any] = {}
    for key, kind, required, default in fields:
        path = f"{where}.{key}" if where else key
        if key not in raw or raw[key] is None:
            if required:
                raise ManifestError(f"{path}: required key is missing")
            if default is not None:
                out[key] = dict(default) if isinstance(default, dict) else default
            continue
        value = raw[key]
        if kind == "str":
            if not isinstance(value, str):
                raise ManifestError(f"{path}: expected text")
            if len(value) > _MAX_TEXT:
                raise ManifestError(f"{path}: longer than {_MAX_TEXT} characters")
            out[key] = value
        elif kind == "bool":
            if not isinstance(value, bool):
                raise ManifestError(f"{path}: expected a boolean")
            out[key] = value
        elif kind == "uint":
            if not _is_int(value) or value < 0 or value >= 1 << 32:
                raise ManifestError(f"{path}: expected an unsigned 32-bit integer")
            out[key] = value
        elif kind == "strlist":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ManifestError(f"{path}: expected an array of text")
            if len(value) > _MAX_LIST:
                raise ManifestError(f"{path}: more than {_MAX_LIST} items")
            out[key] = list(value)
        elif kind == "telemetry":
            if value not in _TELEMETRY:
                raise ManifestError(f"{path}: must be one of {', '.join(_TELEMETRY)}")
            out[key] = value
        elif kind == "targets":
            if not isinstance(value, dict):
                raise ManifestError(f"{path}: expected a table")
            bad = [k for k in value if k not in _TARGETS]
            if bad:
                raise ManifestError(f"{path}: unknown target {bad[0]!r} (allowed: {', '.join(_TARGETS)})")
            out[key] = {t: _json_like(value[t], f"{path}.{t}") for t in _TARGETS if t in value}
            for t, v in out[key].items():
                if not isinstance(v, dict):
                    raise ManifestError(f"{path}.{t}: expected a table")
        else:
            out[key] = _normalise(kind, value, path)
    return out


def validate_app_id(app_id: str) -> None:
    """Reject app ids that are unsafe as a path component (``.``, ``..``, separators) or outside the charset."""
    if not _APP_ID.fullmatch(app_id) or app_id.strip(".") == "" or ".." in app_id or app_id.endswith("."):
        raise ManifestError(
            f"app.id {app_id!r}: use 1-128 ASCII letters, digits, '.', '-', '_', starting with a letter or digit, "
            "with no '..' and no trailing '.'"
        )


class Manifest:
    """A validated CAP 1.0 manifest. ``data`` holds the normalised map in reference field order."""

    __slots__ = ("data",)

    def __init__(self, data: dict[str, Any], *, strict_capabilities: bool = True) -> None:
        self.data = _normalise("manifest", data, "")
        self.validate(strict_capabilities=strict_capabilities)

    # -- construction ---------------------------------------------------------------------------------------------
    @classmethod
    def from_toml_text(cls, text: str) -> Manifest:
        """Parse ``Cap.toml`` text; unknown keys and tables are errors (the reference silently drops them)."""
        import tomllib

        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ManifestError(f"Cap.toml: {exc}") from None
        return cls(raw)

    @classmethod
    def from_toml(cls, path: str | Path) -> Manifest:
        """Read and validate a ``Cap.toml`` file."""
        p = Path(path)
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise ManifestError(f"{p}: cannot read: {exc.strerror or exc}") from None
        if len(raw) > MAX_MANIFEST_BYTES:
            raise ManifestError(f"{p}: larger than {MAX_MANIFEST_BYTES} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ManifestError(f"{p}: not UTF-8") from None
        try:
            return cls.from_toml_text(text)
        except ManifestError as exc:
            raise type(exc)(f"{p}: {exc}") from None

    @classmethod
    def from_cbor(cls, data: bytes) -> Manifest:
        """Decode ``_cap/manifest.cbor`` strictly, validate it, and require the reference encoding byte for byte."""
        if len(data) > MAX_MANIFEST_BYTES:
            raise ManifestError(f"manifest.cbor: larger than {MAX_MANIFEST_BYTES} bytes")
        raw = cbor.loads(data)
        # A signed package is read even when a capability entry is outside the grammar this engine enforces:
        # signature and integrity checks must not depend on it; such entries are reported and denied
        # (capfast.cap.capabilities.parse_capabilities(strict=False)).
        manifest = cls(raw, strict_capabilities=False)
        if manifest.to_cbor() != bytes(data):
            raise CborError("manifest.cbor is not in the canonical CAP encoding (field order, defaults or widths)")
        return manifest

    # -- behaviour ------------------------------------------------------------------------------------------------
    def validate(self, *, strict_capabilities: bool = True) -> None:
        """Semantic checks (applied to TOML and to manifests read from packages). With ``strict_capabilities``
        (``Cap.toml``: what capfast builds and signs) every capability entry must parse; a manifest read from a
        package only needs the schema's types, and entries the engine cannot parse are denied at enforcement."""
        d = self.data
        if d["cap_version"] != 1:
            raise ManifestError(f"cap_version must be 1, got {d['cap_version']}")
        app = d["app"]
        validate_app_id(app["id"])
        for key in ("name", "publisher"):
            if not app[key].strip() or any(ord(c) < 0x20 for c in app[key]):
                raise ManifestError(f"app.{key} must be non-empty text without control characters")
        if not _VERSION.fullmatch(app["version"]):
            raise ManifestError(f"app.version {app['version']!r}: expected e.g. 1.2.3 (letters, digits, . + - _)")
        if "min_runtime" in app and (not app["min_runtime"].strip() or len(app["min_runtime"]) > 128):
            raise ManifestError("app.min_runtime must be non-empty and at most 128 characters")
        for key in ("ui", "core_wasm"):
            if key in d["entrypoints"]:
                try:
                    check_vpath(d["entrypoints"][key])
                except UnsafePathError as exc:
                    raise ManifestError(f"entrypoints.{key}: {exc}") from None
        if strict_capabilities:
            from capfast.cap.capabilities import parse_capabilities

            parse_capabilities(d.get("capabilities", {}))
        if "updates" in d and not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", d["updates"]["channel"]):
            raise ManifestError(f"updates.channel {d['updates']['channel']!r}: 1-64 letters, digits, . - _")

    def to_cbor(self) -> bytes:
        """The reference encoding (cap-format.md §2.2)."""
        return cbor.dumps(self.data)

    def hash(self) -> bytes:
        """SHA-256 of the encoded manifest (spec §7.1)."""
        return hashlib.sha256(self.to_cbor()).digest()

    @property
    def app_id(self) -> str:
        return str(self.data["app"]["id"])

    @property
    def version(self) -> str:
        return str(self.data["app"]["version"])

    @property
    def ui(self) -> str:
        return str(self.data["entrypoints"]["ui"])

    @property
    def core_wasm(self) -> str | None:
        value = self.data["entrypoints"].get("core_wasm")
        return None if value is None else str(value)

    @property
    def capabilities(self) -> dict[str, Any]:
        return dict(self.data.get("capabilities", {}))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Manifest) and self.to_cbor() == other.to_cbor()

    def __repr__(self) -> str:
        return f"Manifest(id={self.app_id!r}, version={self.version!r})"
