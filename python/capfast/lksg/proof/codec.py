"""Proof files: cap-agent's ``proof.dat`` (base64 of compact JSON) for proof.v0, compact JSON otherwise, and the
CAPZ v2 container (§4.3); reading goes through :mod:`capfast.strict_json`."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from capfast import strict_json
from capfast.errors import ComplianceProofError
from capfast.lksg.serial import compact, pretty, sha3_hex

__all__ = ["MAX_PROOF_BYTES", "decode_proof", "encode_proof", "parse_capz", "proof_hash", "proof_summary"]

#: Largest proof document read (JSON, after base64/CAPZ unwrapping).
MAX_PROOF_BYTES = 128 << 20


def encode_proof(proof: Mapping[str, Any]) -> bytes:
    """File bytes: cap-agent's ``proof.dat`` (base64 of compact JSON) for proof.v0, compact JSON otherwise."""
    text = compact(proof)
    if proof.get("version") == "proof.v0":
        return base64.b64encode(text.encode("utf-8"))
    return text.encode("utf-8")


def parse_capz(data: bytes) -> tuple[int, bytes, bytes, bytes]:
    """A CAPZ v2 container (§4.3): ``(backend, vk_hash, params_hash, payload)``; malformed → error."""
    if len(data) < 78 or data[:4] != b"CAPZ":
        raise ComplianceProofError("not a CAPZ container (too short or bad magic)")
    version = int.from_bytes(data[4:6], "little")
    if version != 2:
        raise ComplianceProofError(f"CAPZ version {version} is not supported (expected 2)")
    backend, reserved = data[6], data[7]
    if backend not in (0, 1, 2) or reserved != 0:
        raise ComplianceProofError(f"CAPZ backend byte {backend} / reserved byte {reserved} is invalid")
    length = int.from_bytes(data[72:76], "little")
    if length > 100_000_000 or 78 + length > len(data):
        raise ComplianceProofError("CAPZ payload length exceeds the container")
    return backend, data[8:40], data[40:72], data[78 : 78 + length]


def decode_proof(data: bytes) -> dict[str, Any]:
    """Parse a proof file: CAPZ (backend 0 = mock payload), JSON, or base64 of JSON (cap-agent ``proof.dat``)."""
    if data[:4] == b"CAPZ":
        backend, _, _, payload = parse_capz(data)
        if backend != 0:
            raise ComplianceProofError(f"CAPZ backend {backend} (zkvm/halo2) is not supported by this verifier")
        data = payload
    stripped = data.strip()
    if not stripped.startswith(b"{"):
        try:
            stripped = base64.b64decode(stripped, validate=True)
        except (binascii.Error, ValueError):
            raise ComplianceProofError("proof is neither JSON nor base64-encoded JSON") from None
    doc = strict_json.loads(stripped, what="proof", error=ComplianceProofError, max_bytes=MAX_PROOF_BYTES)
    if not isinstance(doc, dict):
        raise ComplianceProofError("proof must be a JSON object")
    return doc


def proof_hash(data: bytes) -> str:
    """``"0x"`` + SHA3-256 of the proof file bytes."""
    return sha3_hex(data)


def proof_summary(proof: Mapping[str, Any]) -> str:
    return pretty({k: proof[k] for k in ("version", "type", "statement", "manifest_hash", "policy_hash", "status")
                   if k in proof})
