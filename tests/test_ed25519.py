"""capfast.ed25519: RFC 8032 known answers, batch ≡ single, numpy inputs, malformed sizes, native ≡ twin."""

from __future__ import annotations

import hashlib
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import capfast
import capfast.ed25519 as ed
from capfast.errors import InvalidArgumentError

# RFC 8032 §7.1 (Ed25519): TEST 1, TEST 2, TEST 3, TEST 1024, TEST SHA(abc) — (secret, public, message, signature).
TEST_1024_MSG = (
    "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e2"
    "3fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d658675fc6ea534e0810a443282"
    "6bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4feba1545"
    "2f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6"
    "ad573cb116dbefefd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4"
    "a41da4af2b74ef5c53f1d8ac70bdcb7ed185ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6"
    "248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b"
    "13fd65f27088d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089bec"
    "cf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128bab27af87a71314f"
    "318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af"
    "58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb751fb73e666c6c655ade8297297d07ad1ba5e43"
    "f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d"
    "1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34dff7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e"
    "08d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd4"
    "19c17a3ca8e1b939ae49e488acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa3"
    "42721aac0943bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5fb9"
    "3246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f1610e4eafe595f6d9"
    "d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380db2eaaa707b4c4185c32eddcdd3"
    "06705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0"
)
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (
        "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
        TEST_1024_MSG,
        "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
    ),
    (
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
]


def test_rfc8032_table_is_complete():
    assert len(bytes.fromhex(TEST_1024_MSG)) == 1023
    assert bytes.fromhex(RFC8032[4][2]) == hashlib.sha512(b"abc").digest()


@pytest.mark.parametrize("sk, pk, msg, sig", RFC8032, ids=["TEST1", "TEST2", "TEST3", "TEST1024", "SHA(abc)"])
def test_rfc8032_known_answers(sk, pk, msg, sig, native_core, py_core):
    sk, pk, msg, sig = (bytes.fromhex(x) for x in (sk, pk, msg, sig))
    assert ed.public_key(sk) == pk
    assert ed.sign(sk, msg) == sig
    assert ed.verify(pk, msg, sig)
    for core in (native_core, py_core):
        assert core.ed25519_public_key(sk) == pk
        assert core.ed25519_sign(sk, msg) == sig
        assert core.ed25519_verify(pk, msg, sig) is True
    assert ed.verify_batch([pk], [msg], [sig]) == [True]
    # Any flipped bit in the message, key or signature is rejected.
    assert not ed.verify(pk, msg + b"\x00", sig)
    for i in (0, 31, 32, 63):
        bad = bytearray(sig)
        bad[i] ^= 0x01
        assert not ed.verify(pk, msg, bytes(bad))
    bad_pk = bytearray(pk)
    bad_pk[5] ^= 0x20
    assert not ed.verify(bytes(bad_pk), msg, sig)


def test_generate_round_trip():
    kp = ed.generate()
    assert len(kp.secret) == 32 and len(kp.public) == 32
    assert ed.public_key(kp.secret) == kp.public
    assert ed.generate().secret != kp.secret
    sig = ed.sign(kp.secret, b"hello")
    assert ed.verify(kp.public, b"hello", sig)
    assert not ed.verify(kp.public, b"hellO", sig)


def test_accepts_bytes_like():
    sk = bytes(range(32))
    pk = ed.public_key(bytearray(sk))
    sig = ed.sign(memoryview(sk), bytearray(b"msg"))
    assert ed.verify(memoryview(pk), memoryview(b"msg"), bytearray(sig))
    with pytest.raises(TypeError):
        ed.verify(pk, "msg", sig)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [0, 31, 33, 64])
def test_malformed_sizes_raise(n):
    sk = bytes(range(32))
    pk = ed.public_key(sk)
    sig = ed.sign(sk, b"m")
    with pytest.raises(InvalidArgumentError, match="public key must be 32 bytes"):
        ed.verify(b"\x01" * n, b"m", sig)
    with pytest.raises(InvalidArgumentError, match="signature must be 64 bytes"):
        ed.verify(pk, b"m", b"\x01" * (n if n != 64 else 65))
    if n != 32:
        with pytest.raises(InvalidArgumentError, match="secret key must be 32 bytes"):
            ed.sign(b"\x01" * n, b"m")
        with pytest.raises(InvalidArgumentError, match="secret key must be 32 bytes"):
            ed.public_key(b"\x01" * n)
        with pytest.raises(InvalidArgumentError, match=r"pks\[1\] must be 32 bytes"):
            ed.verify_batch([pk, b"\x01" * n], [b"m", b"m"], [sig, sig])
        with pytest.raises(InvalidArgumentError, match=r"pks must have shape \(n, 32\)"):
            ed.verify_batch(np.zeros((2, n), dtype=np.uint8), [b"m", b"m"], [sig, sig])


def test_batch_argument_errors():
    sk = bytes(range(32))
    pk, sig = ed.public_key(sk), ed.sign(sk, b"m")
    with pytest.raises(InvalidArgumentError, match="same length"):
        ed.verify_batch([pk, pk], [b"m"], [sig, sig])
    with pytest.raises(InvalidArgumentError, match="same length"):
        ed.verify_batch_all([pk], [b"m"], [sig, sig])
    with pytest.raises(InvalidArgumentError, match="flat buffer"):
        ed.verify_batch(pk, [b"m"], [sig])
    with pytest.raises(InvalidArgumentError, match="flat buffer"):
        ed.verify_batch(np.frombuffer(pk, dtype=np.uint8), [b"m"], [sig])
    with pytest.raises(TypeError):
        ed.verify_batch([pk], ["m"], [sig])
    assert ed.verify_batch([], [], []) == []
    assert ed.verify_batch_all([], [], []) is True


def _corpus(n: int, keys: int = 16):
    seeds = [hashlib.sha256(b"seed %d" % i).digest() for i in range(keys)]
    pubs = [ed.public_key(s) for s in seeds]
    msgs = [b"capfast batch message %d" % i for i in range(n)]
    pks = np.empty((n, 32), dtype=np.uint8)
    sigs = np.empty((n, 64), dtype=np.uint8)
    for i, m in enumerate(msgs):
        pks[i] = np.frombuffer(pubs[i % keys], dtype=np.uint8)
        sigs[i] = np.frombuffer(ed.sign(seeds[i % keys], m), dtype=np.uint8)
    return pks, msgs, sigs


@pytest.fixture(scope="module")
def corpus_10k():
    return _corpus(10_000)


def test_batch_of_10000_with_one_bad_reports_exactly_that_one(corpus_10k):
    pks, msgs, sigs = corpus_10k
    assert ed.verify_batch_all(pks, msgs, sigs) is True
    bad = sigs.copy()
    bad[7321, 45] ^= 0x04
    verdicts = ed.verify_batch(pks, msgs, bad)
    assert [i for i, ok in enumerate(verdicts) if not ok] == [7321]
    assert ed.verify_batch_all(pks, msgs, bad) is False


def test_batch_of_10000_with_several_bad_ones(corpus_10k):
    pks, msgs, sigs = corpus_10k
    sigs = sigs.copy()
    msgs = list(msgs)
    pks = pks.copy()
    bad = {0, 1, 2047, 2048, 5000, 9999}
    sigs[0, 0] ^= 1  # R changed
    sigs[1, 63] |= 0xF0  # S >= L
    msgs[2047] = msgs[2047] + b"."  # message changed
    pks[2048] = np.frombuffer(ed.public_key(b"\x09" * 32), dtype=np.uint8)  # wrong key
    sigs[5000] = sigs[5001]  # signature of another message
    sigs[9999, :32] = 0  # R not a canonical point of large order
    sigs[9999, 0] = 1  # identity: small order
    verdicts = ed.verify_batch(pks, msgs, sigs)
    assert {i for i, ok in enumerate(verdicts) if not ok} == bad
    # Same verdicts one signature at a time.
    for i in sorted(bad) + [3, 4999, 5001]:
        assert ed.verify(pks[i].tobytes(), msgs[i], sigs[i].tobytes()) == verdicts[i]


def test_numpy_and_lists_agree(native_core, py_core):
    pks, msgs, sigs = _corpus(300, keys=3)
    sigs[17, 40] ^= 0x80
    pk_list = [bytes(r) for r in pks]
    sig_list = [bytes(r) for r in sigs]
    expected = [i != 17 for i in range(300)]
    for core in (native_core, py_core):
        assert core.ed25519_verify_batch(pks, msgs, sigs) == expected
        assert core.ed25519_verify_batch(pk_list, msgs, sig_list) == expected
        assert core.ed25519_verify_batch(tuple(pk_list), tuple(msgs), tuple(sig_list)) == expected
        # memoryview of a bytearray, reshaped to 2-D
        mv = memoryview(bytearray(sigs.tobytes())).cast("B", (300, 64))
        assert core.ed25519_verify_batch(pks, msgs, mv) == expected
        assert core.ed25519_verify_batch_all(pks, msgs, sigs) is False


def test_numpy_messages_as_rows(native_core, py_core):
    sk = bytes(range(32))
    pk = ed.public_key(sk)
    msgs = np.arange(5 * 32, dtype=np.uint8).reshape(5, 32)
    sigs = [ed.sign(sk, r.tobytes()) for r in msgs]
    for core in (native_core, py_core):
        assert core.ed25519_verify_batch([pk] * 5, msgs, sigs) == [True] * 5
        assert core.ed25519_verify_batch([pk] * 3, np.zeros((3, 0), dtype=np.uint8), [ed.sign(sk, b"")] * 3) == [
            True
        ] * 3


def test_numpy_is_read_in_place(native_core):
    pks, msgs, sigs = _corpus(2000, keys=2)
    # A strided view cannot be read in place: the native core refuses it instead of copying.
    strided = np.zeros((2000, 128), dtype=np.uint8)[:, ::2]
    with pytest.raises(BufferError):
        native_core.ed25519_verify_batch(pks, msgs, strided)
    # No per-row Python objects are created for (n, 32)/(n, 64) arrays: Python allocations stay far below the
    # 192 kB of key and signature data (the result list itself is 16 kB of pointers).
    tracemalloc.start()
    try:
        assert native_core.ed25519_verify_batch_all(pks, msgs, sigs) is True
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64_000


def test_non_uint8_arrays_rejected(native_core, py_core):
    for core in (native_core, py_core):
        with pytest.raises(TypeError):
            core.ed25519_verify_batch(np.zeros((1, 4), dtype=np.int64), [b""], [b"\x00" * 64])


@settings(max_examples=60, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    msg=st.binary(max_size=200),
    flip=st.one_of(st.none(), st.integers(0, 64 * 8 - 1)),
    other=st.binary(min_size=32, max_size=32),
)
def test_native_and_twin_agree(seed, msg, flip, other, native_core, py_core):
    pk = native_core.ed25519_public_key(seed)
    assert py_core.ed25519_public_key(seed) == pk
    sig = native_core.ed25519_sign(seed, msg)
    assert py_core.ed25519_sign(seed, msg) == sig
    if flip is not None:
        b = bytearray(sig)
        b[flip // 8] ^= 1 << (flip % 8)
        sig = bytes(b)
    triples = [(pk, msg, sig), (other, msg, sig), (pk, msg, other + other)]
    for t in triples:
        v = native_core.ed25519_verify(*t)
        assert py_core.ed25519_verify(*t) == v
    pks, msgs, sigs = (list(x) for x in zip(*triples, strict=True))
    assert native_core.ed25519_verify_batch(pks, msgs, sigs) == py_core.ed25519_verify_batch(pks, msgs, sigs)
    if flip is None:
        assert native_core.ed25519_verify(pk, msg, sig)


def test_backend_in_use():
    assert capfast.backend in ("native", "python")
