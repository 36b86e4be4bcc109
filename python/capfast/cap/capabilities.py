"""CAP 1.0 capability engine (spec §8): grammar, "is this allowed" checks, restricting overlays, inspection report.

Everything undeclared is denied. Declared booleans are honoured (the reference ignores ``use_notifications`` and
``use_keystore``; here ``false`` means denied). Network entries are **origins** (scheme + host + optional port, no
path, no userinfo, no wildcard inside a host) compared exactly after parsing, so ``https://a.com.evil`` never matches
``https://a.com``. Filesystem scopes match exactly or, for a trailing ``/*``, segment by segment. An enterprise
overlay can only remove or narrow grants: the result is always a subset of what the package requested.

Packages built by other tools may declare entries outside this grammar (an origin with a path, a bare host,
uppercase letters). Verifying a package never depends on them: :func:`parse_capabilities` with ``strict=False``
records each such entry in :attr:`Capabilities.invalid` (shown by ``cap inspect`` and ``cap caps check``) and grants
nothing for it, so enforcement denies it.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from capfast.errors import CapabilityError

__all__ = ["Capabilities", "parse_capabilities", "parse_origin", "check_scope", "KINDS"]

KINDS = ("network", "filesystem", "kv_store", "notifications", "crypto_keystore", "native_accel")
_SCHEMES = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_MODULE = re.compile(r"[a-z0-9_][a-z0-9_.-]{0,63}")
_OVERLAY_KEYS = {"deny", *KINDS}
_SCOPE_TYPES = ("documents", "cache", "temp")


def _host_ok(host: str) -> bool:
    if host.startswith("[") and host.endswith("]"):
        return bool(re.fullmatch(r"\[[0-9a-f:.]+\]", host))
    if len(host) > 253 or host.endswith("."):
        return False
    return all(_LABEL.fullmatch(label) for label in host.split("."))


def parse_origin(text: str) -> tuple[str, str, int]:
    """Parse an allow-list origin ``scheme://host[:port]`` (optional trailing ``/``) into (scheme, host, port)."""
    m = re.fullmatch(r"([a-z]+)://([^/:\[\]@]+|\[[^\]/@]+\])(?::([0-9]{1,5}))?/?", text)
    if not m:
        raise CapabilityError(f"network.allow entry {text!r}: expected an origin scheme://host[:port] (lowercase, "
                              "no path, no userinfo)")
    scheme, host, port = m.group(1), m.group(2), m.group(3)
    if scheme not in _SCHEMES:
        raise CapabilityError(f"network.allow entry {text!r}: scheme must be one of {', '.join(_SCHEMES)}")
    if not _host_ok(host):
        raise CapabilityError(f"network.allow entry {text!r}: invalid or non-lowercase host {host!r}")
    number = _SCHEMES[scheme] if port is None else int(port)
    if not 0 < number < 65536 or (port is not None and port != str(number)):
        raise CapabilityError(f"network.allow entry {text!r}: invalid port")
    return scheme, host, number


def check_scope(scope: str) -> str:
    """``scope`` if it is a filesystem scope ``<documents|cache|temp>://<app>/<path>`` (``/*`` only at the end),
    else :class:`CapabilityError`."""
    kind, sep, rest = scope.partition("://")
    if not sep or kind not in _SCOPE_TYPES or "/" not in rest:
        raise CapabilityError(f"filesystem scope {scope!r}: expected <documents|cache|temp>://<app>/<path>")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in scope) or "\\" in scope:
        raise CapabilityError(f"filesystem scope {scope!r}: control characters or backslashes")
    parts = rest.split("/")
    if any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in (".", ".."):
        raise CapabilityError(f"filesystem scope {scope!r}: empty, '.' or '..' component")
    if "*" in rest and not (rest.endswith("/*") and rest.count("*") == 1):
        raise CapabilityError(f"filesystem scope {scope!r}: '*' is only allowed as the last component ('/*')")
    return scope


def _parse_scope(scope: str) -> tuple[str, bool]:
    """(prefix, wildcard). ``documents://app/*`` → (``documents://app/``, True)."""
    if scope.endswith("/*"):
        return scope[:-1], True
    return scope, False


@dataclass
class Capabilities:
    """The parsed capability set of a manifest (or the effective set after an overlay)."""

    network: list[tuple[str, str, int]] | None = None
    network_any: bool = False
    network_raw: list[str] = field(default_factory=list)
    scopes: list[str] | None = None
    kv_store: bool = False
    kv_persistent: bool = False
    notifications: bool = False
    keystore: bool = False
    native_modules: list[str] | None = None
    #: entries outside the grammar (lenient parsing only): (capability, entry, reason); never granted
    invalid: list[tuple[str, str, str]] = field(default_factory=list)

    # -- checks ---------------------------------------------------------------------------------------------------
    def allows(self, kind: str, target: str | None = None) -> bool:
        """Is the operation allowed? ``kind`` is a capability name (``kv_store.persistent`` for durable KV);
        ``target`` is the URL, the scoped path or the native module name. Undeclared means denied."""
        if kind == "network":
            return self.network is not None and target is not None and self._url_allowed(target)
        if kind == "filesystem":
            return self.scopes is not None and target is not None and self._path_allowed(target)
        if kind == "kv_store":
            return self.kv_store
        if kind == "kv_store.persistent":
            return self.kv_store and self.kv_persistent
        if kind == "notifications":
            return self.notifications
        if kind == "crypto_keystore":
            return self.keystore
        if kind == "native_accel":
            return self.native_modules is not None and target in self.native_modules
        raise CapabilityError(f"unknown capability {kind!r} (known: {', '.join(KINDS)}, kv_store.persistent)")

    def _url_allowed(self, url: str) -> bool:
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES or parts.username is not None or parts.password is not None:
            return False
        host = parts.hostname
        if not host:
            return False
        if ":" in host:
            host = f"[{host}]"
        if self.network_any:
            return True
        effective = _SCHEMES[scheme] if port is None else port
        return (scheme, host, effective) in (self.network or [])

    def _path_allowed(self, path: str) -> bool:
        kind, sep, rest = path.partition("://")
        if not sep or any(c in path for c in ("\\", "\0")):
            return False
        if any(p in ("", ".", "..") for p in rest.split("/")):
            return False
        for scope in self.scopes or []:
            prefix, wildcard = _parse_scope(scope)
            if path == scope or (wildcard and (path.startswith(prefix) or path == prefix[:-1])):
                return True
        return False

    # -- overlays -------------------------------------------------------------------------------------------------
    def apply_overlay(self, overlay: dict[str, Any]) -> Capabilities:
        """The effective set under an enterprise ``overlay``; it can only remove or narrow grants.

        Overlay keys: ``deny`` (list of capability names to remove), ``network.allow`` / ``filesystem.scopes`` /
        ``native_accel.allow`` (allow-lists intersected with the request), ``kv_store.persistent = false``,
        ``notifications.use_notifications = false``, ``crypto_keystore.use_keystore = false``.
        """
        if not isinstance(overlay, dict):
            raise CapabilityError("overlay must be a table/object")
        unknown = [k for k in overlay if k not in _OVERLAY_KEYS]
        if unknown:
            raise CapabilityError(f"overlay: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_OVERLAY_KEYS))})")
        deny = overlay.get("deny", [])
        if not isinstance(deny, list) or any(d not in KINDS for d in deny):
            raise CapabilityError(f"overlay.deny must list capability names from: {', '.join(KINDS)}")
        out = Capabilities(
            network=None if self.network is None else list(self.network), network_any=self.network_any,
            network_raw=list(self.network_raw), scopes=None if self.scopes is None else list(self.scopes),
            kv_store=self.kv_store, kv_persistent=self.kv_persistent, notifications=self.notifications,
            keystore=self.keystore, native_modules=None if self.native_modules is None else list(self.native_modules),
            invalid=list(self.invalid),
        )

        def table(name: str, keys: set[str]) -> dict[str, Any] | None:
            t = overlay.get(name)
            if t is None:
                return None
            if not isinstance(t, dict) or [k for k in t if k not in keys]:
                raise CapabilityError(f"overlay.{name}: expected a table with keys {sorted(keys)}")
            return t

        net = table("network", {"allow"})
        if net is not None and out.network is not None:
            allowed = [parse_origin(o) for o in _strlist(net.get("allow", []), "overlay.network.allow")]
            if out.network_any:
                out.network, out.network_any = allowed, False
            else:
                out.network = [o for o in out.network if o in allowed]
            out.network_raw = [f"{s}://{h}:{p}" for s, h, p in out.network]
        fs = table("filesystem", {"scopes"})
        if fs is not None and out.scopes is not None:
            policy = Capabilities(scopes=_strlist(fs.get("scopes", []), "overlay.filesystem.scopes"))
            out.scopes = [s for s in out.scopes if policy._scope_within(s)]
        kv = table("kv_store", {"persistent"})
        if kv is not None and kv.get("persistent") is False:
            out.kv_persistent = False
        nt = table("notifications", {"use_notifications"})
        if nt is not None and nt.get("use_notifications") is False:
            out.notifications = False
        ks = table("crypto_keystore", {"use_keystore"})
        if ks is not None and ks.get("use_keystore") is False:
            out.keystore = False
        na = table("native_accel", {"allow"})
        if na is not None and out.native_modules is not None:
            allowed_mods = _strlist(na.get("allow", []), "overlay.native_accel.allow")
            out.native_modules = [m for m in out.native_modules if m in allowed_mods]
        for name in deny:
            if name == "network":
                out.network, out.network_any, out.network_raw = None, False, []
            elif name == "filesystem":
                out.scopes = None
            elif name == "kv_store":
                out.kv_store = out.kv_persistent = False
            elif name == "notifications":
                out.notifications = False
            elif name == "crypto_keystore":
                out.keystore = False
            elif name == "native_accel":
                out.native_modules = None
        return out

    def _scope_within(self, scope: str) -> bool:
        """Is every path granted by ``scope`` also granted by one of this set's scopes?"""
        prefix, wildcard = _parse_scope(scope)
        for mine in self.scopes or []:
            mp, mw = _parse_scope(mine)
            if scope == mine or (mw and (prefix.startswith(mp) or (not wildcard and scope == mp[:-1]))):
                return True
        return False

    # -- report ---------------------------------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        """A JSON-ready description of what is granted (every kind listed, ``granted: false`` when denied)."""
        warnings: list[str] = []
        if self.network_any:
            warnings.append("network.allow contains '*': any origin may be contacted")
        if self.native_modules:
            warnings.append("native_accel: native code may be loaded")
        if self.invalid:
            warnings.append(f"{len(self.invalid)} capability entr{'y' if len(self.invalid) == 1 else 'ies'} outside "
                            "the CAP grammar cannot be enforced as written and are denied")
        return {
            "network": {"granted": self.network is not None and (self.network_any or bool(self.network)),
                        "origins": ["*"] if self.network_any else [f"{s}://{h}:{p}" for s, h, p in self.network or []]},
            "filesystem": {"granted": bool(self.scopes), "scopes": list(self.scopes or [])},
            "kv_store": {"granted": self.kv_store, "persistent": self.kv_store and self.kv_persistent},
            "notifications": {"granted": self.notifications},
            "crypto_keystore": {"granted": self.keystore},
            "native_accel": {"granted": bool(self.native_modules), "modules": list(self.native_modules or [])},
            "invalid": [{"capability": c, "entry": e, "reason": r, "granted": False} for c, e, r in self.invalid],
            "warnings": warnings,
        }

    def render(self) -> str:
        """Human-readable report, one line per capability kind."""
        r = self.report()
        lines = []
        for kind in KINDS:
            entry = r[kind]
            mark = "GRANTED" if entry["granted"] else "denied"
            detail = ""
            if kind == "network" and entry["origins"]:
                detail = ": " + ", ".join(entry["origins"])
            elif kind == "filesystem" and entry["scopes"]:
                detail = ": " + ", ".join(entry["scopes"])
            elif kind == "kv_store" and entry["granted"]:
                detail = " (persistent)" if entry["persistent"] else " (volatile)"
            elif kind == "native_accel" and entry["modules"]:
                detail = ": " + ", ".join(entry["modules"])
            lines.append(f"  {kind:<16} {mark}{detail}")
        lines.extend(f"  denied (unparseable) {c} {e!r}: {why}" for c, e, why in self.invalid)
        lines.extend(f"  warning: {w}" for w in r["warnings"])
        return "\n".join(lines)


def _strlist(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CapabilityError(f"{where}: expected an array of text")
    return list(value)


def parse_capabilities(caps: dict[str, Any], *, strict: bool = True) -> Capabilities:
    """Validate a manifest's normalised ``capabilities`` map against the grammar and return the parsed set.

    ``strict`` raises :class:`CapabilityError` at the first entry outside the grammar (for manifests capfast builds);
    otherwise such entries go to :attr:`Capabilities.invalid` and grant nothing (for packages being inspected or
    enforced)."""
    if not isinstance(caps, dict):
        raise CapabilityError("capabilities must be a map")
    out = Capabilities()

    def keep(where: str, entry: str, check: Any) -> bool:
        try:
            check(entry)
            return True
        except CapabilityError as exc:
            if strict:
                raise
            out.invalid.append((where, entry, str(exc)))
            return False

    if "network" in caps:
        allow = _strlist(caps["network"].get("allow"), "capabilities.network.allow")
        out.network, out.network_raw = [], list(allow)
        for origin in allow:
            if origin == "*":
                out.network_any = True
            elif keep("network.allow", origin, parse_origin):
                out.network.append(parse_origin(origin))
    if "filesystem" in caps:
        scopes = _strlist(caps["filesystem"].get("scopes"), "capabilities.filesystem.scopes")
        out.scopes = [s for s in scopes if keep("filesystem.scopes", s, check_scope)]
    if "kv_store" in caps:
        out.kv_store, out.kv_persistent = True, bool(caps["kv_store"].get("persistent", False))
    if "notifications" in caps:
        out.notifications = bool(caps["notifications"].get("use_notifications", False))
    if "crypto_keystore" in caps:
        out.keystore = bool(caps["crypto_keystore"].get("use_keystore", False))
    if "native_accel" in caps:
        mods = _strlist(caps["native_accel"].get("allow"), "capabilities.native_accel.allow")
        out.native_modules = [m for m in mods if keep("native_accel.allow", m, _check_module)]
    return out


def _check_module(mod: str) -> None:
    if not _MODULE.fullmatch(mod):
        raise CapabilityError(f"native_accel.allow entry {mod!r}: expected a module name [a-z0-9_.-]")
