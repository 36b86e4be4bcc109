"""capfast.wallet: published known answers (Keccak, EIP-55, eth-account's documented example), eth-account as an
independent oracle, the validity rule (low-S, v values, sizes), batch ≡ single, native ≡ twin byte for byte."""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capfast import wallet
from capfast.errors import InvalidArgumentError, WalletError

# Imported up front, and the recursion limit put back: importing eth-account (its eth-abi grammar) raises the
# process-wide limit to 100000, which Hypothesis refuses inside a test and which lets later deeply nested inputs
# (the server's 100k-deep JSON test) overflow the C stack instead of raising RecursionError.
_limit = sys.getrecursionlimit()
try:
    import eth_account
    from eth_account.messages import encode_defunct
except ImportError:  # pragma: no cover - the test extra installs it
    eth_account = None
finally:
    sys.setrecursionlimit(_limit)

# Keccak-256 of "" and "abc" (the Keccak team's KAT values, as Ethereum uses them).
KECCAK = [
    (b"", "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
    (b"abc", "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
]
# EIP-55's own test addresses, plus the spec's all-caps and all-lowercase examples.
EIP55 = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]
# eth-account's documented Account.sign_message example.
ETH_KEY = bytes.fromhex("b25c7db31feed9122727bf0939dc769a96564b2de4c4726d035b36ecf1e5b364")
ETH_ADDRESS = "0x5ce9454909639D2D17A3F753ce7d93fa0b9aB12E"
ETH_MSG = "I♥SF"
ETH_HASH = "1476abb745d423bf09273f1afd887d951181d25adc66c4834a70491911b7f750"
ETH_SIG = (
    "e6ca9bba58c88611fad66a6ce8f996908195593807c4b38bd528d2cff09d4eb3"
    "3e5bfbbf4d3e39b1a2fd816a7680c19ebebaf3a141b239934ad43cb33fcec8ce1c"
)
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@pytest.mark.parametrize(("data", "digest"), KECCAK)
def test_keccak_known_answers(data, digest):
    assert wallet.keccak256(data).hex() == digest


@pytest.mark.parametrize("address", EIP55)
def test_eip55_examples(address):
    assert wallet.checksum_address(address.lower()) == address
    assert wallet.checksum_address(wallet.parse_address(address)) == address
    assert wallet.is_checksum_address(address)
    assert not wallet.is_checksum_address(address.lower()) or address.lower() == address
    # All-caps and all-lowercase spellings carry no checksum and are accepted as the same account.
    assert wallet.parse_address("0x" + address[2:].upper()) == wallet.parse_address(address)
    flipped = address[:-1] + (address[-1].lower() if address[-1].isupper() else address[-1].upper())
    if flipped[2:].lower() == address[2:].lower() and flipped != address and any(c.isalpha() for c in address[-1]):
        with pytest.raises(WalletError, match="EIP-55 checksum"):
            wallet.parse_address(flipped)


@pytest.mark.parametrize("bad", ["", "0x", "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",
                                 "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd", "0xZaAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x\n\u00e9"])
def test_malformed_addresses_are_named_errors(bad):
    with pytest.raises(WalletError):
        wallet.parse_address(bad)


def test_eth_account_documented_example():
    assert wallet.personal_hash(ETH_MSG).hex() == ETH_HASH
    assert wallet.address_of(ETH_KEY) == ETH_ADDRESS
    sig = wallet.sign_message(ETH_KEY, ETH_MSG)
    assert sig.hex() == ETH_SIG
    assert wallet.recover_message(ETH_MSG, sig) == ETH_ADDRESS
    assert wallet.verify_message(ETH_ADDRESS, ETH_MSG, sig)
    assert not wallet.verify_message(ETH_ADDRESS, "I<3SF", sig)
    assert wallet.recover_hash(bytes.fromhex(ETH_HASH), sig) == ETH_ADDRESS


def _high_s(sig: bytes) -> bytes:
    s = int.from_bytes(sig[32:64], "big")
    return sig[:32] + (N - s).to_bytes(32, "big") + bytes([55 - sig[64]])


def test_validity_rule():
    sig = wallet.sign_message(ETH_KEY, b"m")
    assert wallet.recover_message(b"m", sig) == ETH_ADDRESS
    assert int.from_bytes(sig[32:64], "big") <= N // 2 and sig[64] in (27, 28)
    # The malleated twin (n - s, v flipped) is refused although it recovers the same key mathematically.
    assert wallet.recover_message(b"m", _high_s(sig)) is None
    assert wallet.recover_message(b"m", sig[:64] + bytes([sig[64] - 27])) == ETH_ADDRESS  # raw recovery id
    for v in (2, 3, 26, 29, 255):
        assert wallet.recover_message(b"m", sig[:64] + bytes([v])) is None
    assert wallet.recover_message(b"m", sig[:64]) is None
    assert wallet.recover_message(b"m", sig + b"\0") is None
    assert wallet.recover_message(b"m", bytes(65)) is None
    assert wallet.recover_message(b"m", N.to_bytes(32, "big") + sig[32:]) is None
    with pytest.raises(InvalidArgumentError):
        wallet.sign_message(bytes(32), b"m")
    with pytest.raises(InvalidArgumentError):
        wallet.sign_message(N.to_bytes(32, "big"), b"m")
    with pytest.raises(InvalidArgumentError):
        wallet.sign_message(b"short", b"m")
    with pytest.raises(InvalidArgumentError):
        wallet.recover_hash(b"short", sig)


def test_generate_and_batch():
    w = wallet.generate()
    assert wallet.address_of(w.secret) == w.address and wallet.is_checksum_address(w.address)
    msgs = [f"challenge {i}".encode() for i in range(50)]
    sigs = [wallet.sign_message(w.secret, m) for m in msgs]
    sigs[7] = sigs[7][:10] + bytes([sigs[7][10] ^ 1]) + sigs[7][11:]
    sigs[9] = _high_s(sigs[9])
    got = wallet.recover_messages(msgs, sigs)
    assert got == [wallet.recover_message(m, s) for m, s in zip(msgs, sigs)]
    assert got[7] != w.address and got[9] is None
    assert sum(g == w.address for g in got) == 48
    with pytest.raises(InvalidArgumentError):
        wallet.recover_messages(msgs, sigs[:3])


@settings(max_examples=40, deadline=None)
@given(key=st.binary(min_size=32, max_size=32), msg=st.binary(max_size=300))
def test_eth_account_agrees(key, msg):
    if eth_account is None:
        pytest.skip("eth-account not installed")
    if not 0 < int.from_bytes(key, "big") < N:
        return
    theirs = eth_account.Account.sign_message(encode_defunct(primitive=msg), key)
    ours = wallet.sign_message(key, msg)
    assert ours == bytes(theirs.signature)
    assert wallet.recover_message(msg, ours) == eth_account.Account.recover_message(
        encode_defunct(primitive=msg), signature=ours
    )


@settings(max_examples=60, deadline=None)
@given(msg=st.binary(max_size=200), sig=st.binary(min_size=60, max_size=70), text=st.text(max_size=60))
def test_native_and_twin_agree(native_core, py_core, msg, sig, text):
    key = os.urandom(32)
    if not 0 < int.from_bytes(key, "big") < N:
        return
    assert native_core.wallet_sign_message(key, msg) == py_core.wallet_sign_message(key, msg)
    assert native_core.keccak256(msg) == py_core.keccak256(msg)
    assert native_core.wallet_recover_message(msg, sig) == py_core.wallet_recover_message(msg, sig)
    good = native_core.wallet_sign_message(key, msg)
    assert native_core.wallet_recover_message(msg, good) == py_core.wallet_recover_message(msg, good)
    outcomes = []
    for core in (native_core, py_core):
        try:
            outcomes.append(("ok", core.wallet_parse_address(text)))
        except WalletError as exc:
            outcomes.append(("err", str(exc)))
    assert outcomes[0] == outcomes[1]
