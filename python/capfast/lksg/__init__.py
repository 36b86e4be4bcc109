"""The LkSG compliance pipeline: supplier/UBO commitments, the audit trail, cap-agent compatibility.

Submodules: :mod:`capfast.lksg.audit` (cap-agent's v1.0 hash-chained log), :mod:`capfast.cap_agent`
(cap-agent's non-Merkle roots, scheme ``cap-agent-v1``). This package only imports downward (the public capfast
API), never the backends directly.
"""

from __future__ import annotations

from capfast import merkle

__all__ = ["company_commitment_root"]


def company_commitment_root(supplier_root: bytes, ubo_root: bytes, *, hash: str = "blake3") -> bytes:
    """The ``merkle-v1`` company commitment: ``H(0x01 ‖ supplier_root ‖ ubo_root)``.

    That is an RFC 6962 interior node whose children are the two list roots, so the company root is itself the
    root of a two-leaf-subtree Merkle tree and a row proof extends to it with one more sibling. ``hash`` is
    ``"blake3"``, ``"sha3-256"`` or ``"sha256"``; both roots must be 32 bytes. (cap-agent's rule is
    :func:`capfast.cap_agent.company_root_cap_agent`.)
    """
    return merkle.node_hash(supplier_root, ubo_root, hash=hash)
