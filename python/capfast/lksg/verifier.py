"""The offline bundle verifier (``cap verifier run --package DIR|ZIP``).

Modern bundles (with ``_meta.json``, schema ``cap-bundle.v1``) and legacy ones (``manifest.json`` + ``proof.dat``
[+ ``signature.json``], cap-agent's pre-bundle layout). Checks, all of them, every run:

1. the bundle is read once, safely (:func:`capfast.lksg.bundle.read_bundle`: names, symlinks, sizes, counts);
2. ``_meta.json`` is strict JSON with the cap-bundle.v1 fields; every listed file exists and its SHA3-256 (and
   size) matches; every file present but not listed is reported and fails the run; listed names are safe;
3. proof units: unique ids, known ``depends_on`` targets, no dependency cycle; each unit's manifest and proof
   files are listed; verified in dependency order;
4. per unit: the manifest parses (manifest.v1.0); ``policy_hash`` of the unit equals ``manifest.policy.hash``; the
   proof verifies against the manifest (:func:`capfast.lksg.proof.verify_proof`: real checks for
   ``merkle-disclosure-v1``, bindings only for ``mock``); signatures (``signature.json`` and any
   ``manifest.signatures``) are verified with Ed25519 over the manifest bytes, and the signer's key must be one of
   the trusted keys when any are given (a valid signature by another key fails);
5. status ``ok`` (everything verified), ``warn`` (verified, but: mock proof, unsigned manifest, signer key not
   pinned, list root not pinned) or ``fail``. The CLI exits non-zero on ``fail``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from capfast import strict_json
from capfast.errors import BundleError, ComplianceManifestError
from capfast.lksg.bundle import FILE_ROLES, META_FILE, Limits, check_name, read_bundle
from capfast.lksg.manifest import manifest_hash, parse_manifest
from capfast.lksg.proof import verify_proof
from capfast.lksg.serial import sha3_hex
from capfast.lksg.signing import verify_embedded_signatures, verify_signature_doc

__all__ = ["REPORT_SCHEMA", "verify_package"]

REPORT_SCHEMA = "capfast.verification-report.v1"
_HASH = re.compile(r"0x[0-9a-f]{64}")
_LEGACY_FILES = {"manifest.json", "proof.dat", "signature.json", "README.txt", "timestamp.tsr", "registry.json",
                 "verification.report.json"}


def _find_cycle(units: list[dict[str, Any]]) -> list[str] | None:
    deps = {u["id"]: list(u.get("depends_on") or []) for u in units}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in deps.get(n, []):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if state.get(d) is None and d in deps:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in deps:
        if state.get(n) is None:
            found = visit(n)
            if found:
                return found
    return None


def _topo(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id = {u["id"]: u for u in units}
    done: list[str] = []

    def add(n: str) -> None:
        if n in done:
            return
        for d in by_id[n].get("depends_on") or []:
            add(d)
        done.append(n)

    for u in units:
        add(u["id"])
    return [by_id[n] for n in done]


def _parse_meta(data: bytes) -> dict[str, Any]:
    meta = strict_json.loads(data, what="_meta.json", error=BundleError, max_bytes=len(data))
    if not isinstance(meta, dict):
        raise BundleError("_meta.json must be a JSON object")
    if meta.get("schema") != "cap-bundle.v1":
        raise BundleError(f"_meta.json schema must be 'cap-bundle.v1', got {meta.get('schema')!r}")
    files, units = meta.get("files"), meta.get("proof_units")
    if not isinstance(files, dict) or not files:
        raise BundleError("_meta.json files must be a non-empty object")
    if not isinstance(units, list) or not units:
        raise BundleError("_meta.json proof_units must be a non-empty list")
    for name, fm in files.items():
        check_name(name)
        if name == META_FILE:
            raise BundleError("_meta.json must not list itself")
        if not isinstance(fm, dict) or not isinstance(fm.get("role"), str):
            raise BundleError(f"_meta.json files[{name!r}] must have a role")
        if not isinstance(fm.get("hash"), str) or not _HASH.fullmatch(fm["hash"]):
            raise BundleError(f"_meta.json files[{name!r}].hash must be 0x + 64 lowercase hex digits (SHA3-256)")
        size = fm.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise BundleError(f"_meta.json files[{name!r}].size must be a non-negative integer or null")
    ids = set()
    for i, u in enumerate(units):
        if not isinstance(u, dict):
            raise BundleError(f"proof_units[{i}] must be an object")
        for key in ("id", "manifest_file", "proof_file"):
            if not isinstance(u.get(key), str):
                raise BundleError(f"proof_units[{i}].{key} must be a string")
        check_name(u["manifest_file"])
        check_name(u["proof_file"])
        if u["id"] in ids:
            raise BundleError(f"proof unit id {u['id']!r} appears twice")
        ids.add(u["id"])
        deps = u.get("depends_on") or []
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise BundleError(f"proof_units[{i}].depends_on must be a list of unit ids")
        for d in deps:
            if d not in {x.get("id") for x in units if isinstance(x, dict)}:
                raise BundleError(f"proof unit {u['id']!r} depends on unknown unit {d!r}")
    cycle = _find_cycle(units)
    if cycle:
        raise BundleError(f"proof unit dependency cycle: {' -> '.join(cycle)}")
    return meta


def verify_package(
    path: str | os.PathLike[str],
    *,
    trusted_keys: Sequence[bytes] = (),
    pinned_lists: Mapping[str, str] | None = None,
    require_signature: bool = False,
    limits: Limits | None = None,
) -> dict[str, Any]:
    """Verify a bundle directory or ZIP; returns the report dict (``status`` ``ok``/``warn``/``fail``)."""
    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "status": "fail",
        "package": os.fspath(path),
        "format": None,
        "files": [],
        "unlisted_files": [],
        "units": [],
        "errors": [],
        "warnings": [],
    }
    errors: list[str] = report["errors"]
    warnings: list[str] = report["warnings"]
    try:
        _, files = read_bundle(path, limits)
    except (BundleError, OSError) as exc:
        errors.append(str(exc))
        return report
    if META_FILE in files:
        report["format"] = "cap-bundle.v1"
        try:
            meta = _parse_meta(files[META_FILE])
        except BundleError as exc:
            errors.append(str(exc))
            return report
        report["bundle_id"] = meta.get("bundle_id")
        listed = meta["files"]
        for name, fm in sorted(listed.items()):
            entry: dict[str, Any] = {"name": name, "role": fm["role"], "expected": fm["hash"]}
            data = files.get(name)
            if data is None:
                entry["status"] = "missing"
                errors.append(f"listed file {name} is missing")
            else:
                entry["actual"] = sha3_hex(data)
                if entry["actual"] != fm["hash"]:
                    entry["status"] = "hash mismatch"
                    errors.append(f"file {name} was modified: its SHA3-256 differs from _meta.json")
                elif fm.get("size") is not None and fm["size"] != len(data):
                    entry["status"] = "size mismatch"
                    errors.append(f"file {name} has {len(data)} bytes, _meta.json says {fm['size']}")
                else:
                    entry["status"] = "ok"
            report["files"].append(entry)
        extra = sorted(n for n in files if n != META_FILE and n not in listed)
        report["unlisted_files"] = extra
        for n in extra:
            errors.append(f"file {n} is not listed in _meta.json")
        units = meta["proof_units"]
        sig_names = [n for n, fm in listed.items() if fm["role"] == "signature"]
    else:
        report["format"] = "legacy"
        warnings.append("legacy bundle without _meta.json: files are checked through the proof's bindings only")
        for required in ("manifest.json", "proof.dat"):
            if required not in files:
                errors.append(f"legacy bundle lacks {required}")
        extra = sorted(n for n in files if n not in _LEGACY_FILES)
        report["unlisted_files"] = extra
        for n in extra:
            errors.append(f"unexpected file {n} in a legacy bundle")
        if errors:
            return _finish(report)
        units = [{"id": "legacy", "manifest_file": "manifest.json", "proof_file": "proof.dat"}]
        sig_names = ["signature.json"] if "signature.json" in files else []
        listed = {n: {"role": FILE_ROLES.get(n, ("other",))[0]} for n in files}
    for unit in _topo(units):
        report["units"].append(_verify_unit(unit, files, listed, sig_names, trusted_keys, pinned_lists or {},
                                            require_signature))
    for u in report["units"]:
        errors.extend(f"unit {u['id']}: {e}" for e in u["errors"])
        warnings.extend(f"unit {u['id']}: {w}" for w in u["warnings"])
    if report["units"]:
        report["manifest_hash"] = report["units"][0].get("manifest_hash")
        report["proof_hash"] = report["units"][0].get("proof_hash")
    return _finish(report)


def _finish(report: dict[str, Any]) -> dict[str, Any]:
    report["status"] = "fail" if report["errors"] else ("warn" if report["warnings"] else "ok")
    return report


def _verify_unit(
    unit: Mapping[str, Any],
    files: Mapping[str, bytes],
    listed: Mapping[str, Any],
    sig_names: Sequence[str],
    trusted: Sequence[bytes],
    pinned_lists: Mapping[str, str],
    require_signature: bool,
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": unit["id"], "errors": [], "warnings": []}
    errors, warnings = out["errors"], out["warnings"]
    mf, pf = unit["manifest_file"], unit["proof_file"]
    for name in (mf, pf):
        if name not in listed:
            errors.append(f"{name} is not listed in _meta.json files")
    if mf not in files or pf not in files:
        errors.append("manifest or proof file is missing")
        return out
    try:
        manifest = parse_manifest(files[mf], mf)
    except ComplianceManifestError as exc:
        errors.append(str(exc))
        return out
    out["manifest_hash"] = manifest_hash(manifest)
    out["proof_hash"] = sha3_hex(files[pf])
    if "policy_hash" in unit and unit["policy_hash"] != manifest["policy"]["hash"]:
        errors.append("proof unit policy_hash differs from manifest.policy.hash")
    result = verify_proof(files[pf], manifest, pinned_lists=pinned_lists)
    out["backend"] = result.backend
    out["proof"] = result.to_dict()
    if "backend" in unit and unit["backend"] != result.backend and result.backend != "unknown":
        errors.append(f"proof unit backend {unit['backend']!r} differs from the proof's {result.backend!r}")
    errors.extend(result.errors)
    warnings.extend(result.warnings)
    sigs = []
    for name in sig_names:
        if name not in files:
            continue
        try:
            doc = strict_json.loads(files[name], what=name, error=BundleError, max_bytes=len(files[name]))
        except BundleError as exc:
            sigs.append({"file": name, "valid": False, "error": str(exc)})
            continue
        r = verify_signature_doc(doc, manifest, trusted)
        r["file"] = name
        sigs.append(r)
    sigs.extend(verify_embedded_signatures(manifest, trusted))
    out["signatures"] = sigs
    for s in sigs:
        if "error" in s:
            errors.append(f"{s['file']}: {s['error']}")
    good = [s for s in sigs if s.get("valid") and "error" not in s]
    if not sigs:
        if require_signature or trusted:
            errors.append("the manifest is not signed")
        else:
            warnings.append("the manifest is not signed")
    elif good and not trusted:
        warnings.append("signature is valid but its key is not pinned (pass --pubkey): it proves integrity, not "
                        "who signed")
    out["signature_valid"] = bool(good) and len(good) == len(sigs)
    out["status"] = "fail" if errors else ("warn" if warnings else "ok")
    return out
