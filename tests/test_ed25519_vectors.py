"""Published Ed25519 edge-case vectors through native single, native batch and the twin (single and batch).

The expected verdict of each vector is derived from its properties by an independent pure-Python oracle
(`ed25519_oracle.py`) applying the rule of docs/ed25519-validity.md — never from capfast's output. Where a published
expectation exists (Wycheproof's ``result``) it is compared with the rule's verdict too; docs/ed25519-validity.md
lists the cases on which other libraries' expectations differ from the rule (none in Wycheproof; speccheck has no
single expectation, its cases are accepted by cofactored and/or cofactorless verifiers).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import capfast.ed25519 as ed
from capfast.errors import InvalidArgumentError
from ed25519_oracle import properties


def _wycheproof(vectors: Path) -> list[tuple[int, list[str], str, bytes, bytes, bytes]]:
    doc = json.loads((vectors / "wycheproof" / "ed25519_test.json").read_text())
    out = []
    for group in doc["testGroups"]:
        pk = bytes.fromhex(group["publicKey"]["pk"])
        for t in group["tests"]:
            out.append((t["tcId"], t["flags"], t["result"], pk, bytes.fromhex(t["msg"]), bytes.fromhex(t["sig"])))
    return out


def _speccheck(vectors: Path) -> list[tuple[bytes, bytes, bytes]]:
    doc = json.loads((vectors / "ed25519-speccheck" / "cases.json").read_text())
    return [(bytes.fromhex(c["pub_key"]), bytes.fromhex(c["message"]), bytes.fromhex(c["signature"])) for c in doc]


def _all_verdicts(native_core, py_core, pks, msgs, sigs) -> dict[str, list[bool]]:
    return {
        "native single": [native_core.ed25519_verify(*t) for t in zip(pks, msgs, sigs, strict=True)],
        "native batch": native_core.ed25519_verify_batch(pks, msgs, sigs),
        "twin single": [py_core.ed25519_verify(*t) for t in zip(pks, msgs, sigs, strict=True)],
        "twin batch": py_core.ed25519_verify_batch(pks, msgs, sigs),
        "public api": [ed.verify(*t) for t in zip(pks, msgs, sigs, strict=True)],
    }


def test_wycheproof_identical_verdicts_matching_rule(vectors, native_core, py_core):
    cases = _wycheproof(vectors)
    assert len(cases) == 151
    sized = [c for c in cases if len(c[5]) == 64 and len(c[3]) == 32]
    pks, msgs, sigs = ([c[i] for c in sized] for i in (3, 4, 5))
    expected = [properties(pk, m, s).rule_verdict for pk, m, s in zip(pks, msgs, sigs, strict=True)]
    for name, got in _all_verdicts(native_core, py_core, pks, msgs, sigs).items():
        assert got == expected, f"{name} disagrees with the rule on tcIds " + str(
            [sized[i][0] for i, (g, e) in enumerate(zip(got, expected, strict=True)) if g != e]
        )
    # Wycheproof's published expectation coincides with the rule on every well-sized vector.
    published = [c[2] == "valid" for c in sized]
    assert published == expected
    assert sum(expected) > 50 and not all(expected)


def test_wycheproof_wrong_sizes_raise(vectors, native_core, py_core):
    wrong = [c for c in _wycheproof(vectors) if len(c[5]) != 64]
    assert len(wrong) == 12 and all(c[2] == "invalid" for c in wrong)
    for _, _, _, pk, msg, sig in wrong:
        for core in (native_core, py_core):
            with pytest.raises(InvalidArgumentError, match="64 bytes"):
                core.ed25519_verify(pk, msg, sig)
            with pytest.raises(InvalidArgumentError, match=r"sigs\[0\] must be 64 bytes"):
                core.ed25519_verify_batch([pk], [msg], [sig])


# Properties of the 12 speccheck cases ("Taming the many EdDSAs", Table 5) as the oracle derives them:
# (S<L, A small order, A torsion-free, A canonical, R small order, R torsion-free, R canonical,
#  cofactorless equation, cofactored equation). Pinning them documents *why* each case is rejected.
SPECCHECK_PROPERTIES = [
    (True, True, False, True, True, False, True, True, True),  # 0: S=0, small-order A and R
    (True, True, False, True, False, False, True, True, True),  # 1: small-order A, mixed-order R
    (True, False, False, True, True, False, True, True, True),  # 2: mixed-order A, small-order R
    (True, False, False, True, False, False, True, True, True),  # 3: mixed-order A and R, both equations hold
    (True, False, False, True, False, False, True, False, True),  # 4: only the cofactored equation holds
    (True, False, False, True, False, True, True, False, True),  # 5: mixed-order A, only cofactored holds
    (False, False, True, True, False, True, True, True, True),  # 6: S >= L
    (False, False, True, True, False, True, True, True, True),  # 7: S >= L (S much larger)
    (True, False, False, True, True, False, False, False, False),  # 8: non-canonical R
    (True, False, False, True, True, False, False, True, True),  # 9: non-canonical R, equations hold
    (True, True, False, False, False, False, True, False, True),  # 10: non-canonical small-order A
    (True, True, False, False, False, False, True, True, True),  # 11: non-canonical small-order A
]


def test_speccheck_properties_and_identical_verdicts(vectors, native_core, py_core):
    cases = _speccheck(vectors)
    assert len(cases) == 12
    expected = []
    for i, (pk, msg, sig) in enumerate(cases):
        p = properties(pk, msg, sig)
        got = (
            p.s_canonical,
            p.a.small_order,
            p.a.torsion_free,
            p.a.canonical,
            p.r.small_order,
            p.r.torsion_free,
            p.r.canonical,
            p.cofactorless,
            p.cofactored,
        )
        assert got == SPECCHECK_PROPERTIES[i], f"case {i}"
        expected.append(p.rule_verdict)
    # Every speccheck case violates at least one clause of the rule (they are all edge cases).
    assert expected == [False] * 12
    pks, msgs, sigs = ([c[i] for c in cases] for i in range(3))
    for name, got in _all_verdicts(native_core, py_core, pks, msgs, sigs).items():
        assert got == expected, name
    assert native_core.ed25519_verify_batch_all(pks, msgs, sigs) is False
    assert py_core.ed25519_verify_batch_all(pks, msgs, sigs) is False


def test_edge_cases_mixed_into_a_valid_batch(vectors, native_core, py_core):
    """Edge cases hidden among valid signatures: the batch must single out exactly them."""
    seed = bytes(range(32))
    pk = native_core.ed25519_public_key(seed)
    good = [(pk, b"m%d" % i, native_core.ed25519_sign(seed, b"m%d" % i)) for i in range(40)]
    edge = _speccheck(vectors) + [
        (c[3], c[4], c[5]) for c in _wycheproof(vectors) if len(c[5]) == 64 and c[2] == "invalid"
    ]
    triples = []
    bad_positions = set()
    for i, e in enumerate(edge):
        triples.append(good[i % len(good)])
        bad_positions.add(len(triples))
        triples.append(e)
    pks, msgs, sigs = (list(x) for x in zip(*triples, strict=True))
    expected = [i not in bad_positions for i in range(len(triples))]
    assert native_core.ed25519_verify_batch(pks, msgs, sigs) == expected
    assert py_core.ed25519_verify_batch(pks, msgs, sigs) == expected


def test_cofactored_and_cofactorless_agree_once_points_pass_the_rule(vectors):
    """The point of the rule: with torsion-free A and R, the two equations cannot disagree (on every vector)."""
    checked = 0
    for pk, msg, sig in _speccheck(vectors) + [(c[3], c[4], c[5]) for c in _wycheproof(vectors) if len(c[5]) == 64]:
        p = properties(pk, msg, sig)
        if p.a.torsion_free and p.r.torsion_free and p.a.on_curve and p.r.on_curve:
            assert p.cofactored == p.cofactorless
            checked += 1
    assert checked > 100
