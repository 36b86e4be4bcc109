"""Plain digests (``hash_bytes``) on both cores against published known answers.

BLAKE3: the official test vectors (``../shared/vectors/blake3/test_vectors.json``; input is bytes ``i % 251``).
SHA-256: FIPS 180-4 examples (NIST CSRC "Examples with Intermediate Values"); SHA3-256: FIPS 202 examples (NIST
CSRC "SHA3-256" example values). The one-million-'a' messages are the long-message examples of FIPS 180-2 / NIST.
"""

from __future__ import annotations

import array
import json

import pytest

from capfast.errors import InvalidArgumentError

MSG_448 = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"

FIPS_KATS = [
    ("sha256", b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("sha256", b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ("sha256", MSG_448, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ("sha256", b"a" * 1_000_000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
    ("sha3-256", b"", "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"),
    ("sha3-256", b"abc", "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"),
    ("sha3-256", MSG_448, "41c0dba2a9d6240849100376a8235e2c82e1b9998a999e21db32dd97496d3376"),
    ("sha3-256", b"a" * 1_000_000, "5c8875ae474a3634ba4fd55ec85bffd661f32aca75c6d699d0cdcb6c115891c1"),
]


@pytest.fixture(params=["native", "twin"])
def core(request):
    return request.getfixturevalue({"native": "native_core", "twin": "py_core"}[request.param])


def blake3_cases(vectors):
    doc = json.loads((vectors / "blake3" / "test_vectors.json").read_text())
    return doc["cases"]


def test_blake3_official_vectors(core, vectors):
    cases = blake3_cases(vectors)
    assert len(cases) >= 30  # the published file has 35 lengths, 0 .. 102400
    for case in cases:
        data = bytes(i % 251 for i in range(case["input_len"]))
        want = bytes.fromhex(case["hash"])[:32]  # extended output; the default length is its 32-byte prefix
        assert core.hash_bytes(data, "blake3") == want, case["input_len"]
        assert core.hash_bytes(data) == want  # blake3 is the default


@pytest.mark.parametrize(("alg", "data", "want"), FIPS_KATS, ids=[f"{a}-{len(d)}" for a, d, _ in FIPS_KATS])
def test_fips_known_answers(core, alg, data, want):
    assert core.hash_bytes(data, alg).hex() == want


@pytest.mark.parametrize("alg", ["blake3", "sha3-256", "sha256"])
def test_bytes_like_inputs_agree(core, alg):
    raw = bytes(range(256)) * 20  # above the native GIL-release threshold
    want = core.hash_bytes(raw, alg)
    buf = memoryview(bytearray(raw))
    for form in (bytearray(raw), memoryview(raw), array.array("B", raw), buf.cast("c"), buf.cast("B", (20, 256))):
        assert core.hash_bytes(form, alg) == want


def test_numpy_uint8_is_bytes_like(core):
    np = pytest.importorskip("numpy")
    raw = bytes(range(200))
    assert core.hash_bytes(np.frombuffer(raw, dtype=np.uint8), "sha256") == core.hash_bytes(raw, "sha256")


def test_bad_inputs_are_rejected_the_same_way(core):
    with pytest.raises(TypeError, match="str"):
        core.hash_bytes("abc", "sha256")
    with pytest.raises(TypeError):
        core.hash_bytes(12, "sha256")
    with pytest.raises(TypeError):  # not a buffer of unsigned bytes
        core.hash_bytes(array.array("I", [1, 2, 3]), "sha256")
    with pytest.raises(BufferError):
        core.hash_bytes(memoryview(b"abcdef")[::2], "sha256")
    with pytest.raises(InvalidArgumentError, match="unknown hash"):
        core.hash_bytes(b"abc", "md5")
    with pytest.raises(TypeError):
        core.hash_bytes(b"abc", 256)


def test_buffer_is_released_after_the_call(core):
    ba = bytearray(b"x" * 5000)
    core.hash_bytes(ba, "blake3")
    ba.extend(b"more")  # a leaked buffer export would make this a BufferError
    assert len(ba) == 5004


def test_native_and_twin_agree_on_random_inputs(native_core, py_core):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=200, deadline=None)
    @given(data=st.binary(max_size=3000), alg=st.sampled_from(["blake3", "sha3-256", "sha256"]))
    def check(data, alg):
        assert native_core.hash_bytes(data, alg) == py_core.hash_bytes(data, alg)

    check()
