"""capfast.commit(): leaf encoding known answers, the CSV dialect and its errors, salts, proofs, sources.

Runs on the backend under test (``make test-native`` / ``make test-python``); the differential tests at the end
compare both cores directly. Known answers are derived by hand from RFC 8949 / RFC 6962 (derivations inline) and
recomputed with hashlib / blake3-py, never taken from capfast's own output.
"""

from __future__ import annotations

import hashlib
import io
import json

import blake3
import pytest

import capfast
from capfast import CsvFormatError, InvalidArgumentError, ProofError, RowProof, verify_row
from capfast._backend import core

HASHES = {"blake3": blake3.blake3, "sha3-256": hashlib.sha3_256, "sha256": hashlib.sha256}
KEY = bytes(range(32))


def H(name: str, data: bytes) -> bytes:
    return HASHES[name](data).digest()


def text(s: str) -> bytes:
    """RFC 8949 §3.1 major type 3 head (shortest form) + UTF-8 bytes, written out independently of capfast."""
    b = s.encode()
    n = len(b)
    if n < 24:
        return bytes([0x60 + n]) + b
    if n < 256:
        return bytes([0x78, n]) + b
    return bytes([0x79]) + n.to_bytes(2, "big") + b


def cbor_map(row: dict[str, str]) -> bytes:
    """§4.2.1: keys sorted by their encoded bytes (plain sort of the encodings)."""
    items = sorted((text(k), text(v)) for k, v in row.items())
    assert len(row) < 24
    return bytes([0xA0 + len(row)]) + b"".join(k + v for k, v in items)


def mth(name: str, leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH over leaf hashes, recursively (oracle)."""
    if not leaves:
        return H(name, b"")
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return H(name, b"\x01" + mth(name, leaves[:k]) + mth(name, leaves[k:]))


def salt(i: int, key: bytes = KEY) -> bytes:
    return blake3.blake3(b"capfast.commit.salt.v1" + i.to_bytes(8, "big"), key=key).digest()


def expected_root(rows: list[dict[str, str]], name: str = "blake3", key: bytes | None = None) -> bytes:
    leaves = [
        H(name, b"\x00" + (salt(i, key) if key else b"") + cbor_map(r)) for i, r in enumerate(rows)
    ]
    return mth(name, leaves)


# ---------------------------------------------------------------------------------------------------------------
# Deterministic CBOR known answers (RFC 8949 Appendix A and §4.2.1)
# ---------------------------------------------------------------------------------------------------------------


def test_cbor_appendix_a_map():
    # Appendix A: {"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"} = 0xa56161614161626142616361436164614461656145
    got = core.commit_row_cbor(["e", "c", "a", "d", "b"], ["E", "C", "A", "D", "B"])
    assert got.hex() == "a56161614161626142616361436164614461656145"


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        # Appendix A text strings: "" 0x60, "a" 0x6161, "IETF" 0x6449455446, "\u00fc" 0x62c3bc, "\u6c34" 0x63e6b0b4
        ("", "60"),
        ("a", "6161"),
        ("IETF", "6449455446"),
        ("\u00fc", "62c3bc"),
        ("\u6c34", "63e6b0b4"),
        # §3.1: 23 bytes still fit the initial byte (0x60+23 = 0x77); 24 needs one extra byte (0x78 0x18);
        # 256 needs two (0x79 0x0100).
        ("x" * 23, "77" + "78" * 23),
        ("x" * 24, "7818" + "78" * 24),
        ("x" * 256, "790100" + "78" * 256),
    ],
)
def test_cbor_text_values_use_shortest_heads(value, encoded):
    # Map {"k": value}: 0xa1 (map, 1 pair), 0x616b ("k"), then the value's encoding.
    assert core.commit_row_cbor(["k"], [value]).hex() == "a1616b" + encoded


def test_cbor_key_order_is_bytewise_over_encodings():
    # "b" encodes as 0x6162 and "aa" as 0x626161: 0x61 < 0x62 at the first byte, so "b" comes first although
    # "aa" < "b" as text. {"aa": "1", "b": "2"} = a2 | 6162 6132 | 626161 6131.
    assert core.commit_row_cbor(["aa", "b"], ["1", "2"]).hex() == "a2616261326261616131"
    # Equal-length keys: plain bytewise order; "Z" (0x5a) < "a" (0x61); UTF-8 "é" (c3 a9) after ASCII.
    got = core.commit_row_cbor(["é", "a", "Z"], ["3", "2", "1"])
    assert got == bytes([0xA3]) + text("Z") + text("1") + text("a") + text("2") + text("é") + text("3")


def test_cbor_rejects_duplicate_columns_and_length_mismatch():
    with pytest.raises(InvalidArgumentError):
        core.commit_row_cbor(["a", "a"], ["1", "2"])
    with pytest.raises(InvalidArgumentError):
        core.commit_row_cbor(["a", "b"], ["1"])


# ---------------------------------------------------------------------------------------------------------------
# Leaves, salts and roots
# ---------------------------------------------------------------------------------------------------------------

ROWS = [
    {"name": "Acme, Inc.", "jurisdiction": "DE", "tier": "TIER_1"},
    {"name": 'Quote "Q" Ltd', "jurisdiction": "FR", "tier": "TIER_2"},
    {"name": "Line\nBreak GmbH", "jurisdiction": "IT", "tier": "TIER_3"},
    {"name": "Østergaard Société", "jurisdiction": "DK", "tier": "TIER_1"},
    {"name": "", "jurisdiction": "  padded  ", "tier": "TIER_2"},
]
CSV = (
    "name,jurisdiction,tier\r\n"
    '"Acme, Inc.",DE,TIER_1\r\n'
    '"Quote ""Q"" Ltd",FR,TIER_2\r\n'
    '"Line\nBreak GmbH",IT,TIER_3\r\n'
    "Østergaard Société,DK,TIER_1\r\n"
    ',  padded  ,TIER_2\r\n'
).encode()


@pytest.mark.parametrize("name", list(HASHES))
def test_root_matches_rfc6962_oracle(name):
    c = capfast.commit(CSV, hash=name)
    assert c.root == expected_root(ROWS, name)
    assert c.count == 5 and c.hash == name and c.scheme == "merkle-v1" and not c.salted
    assert c.columns == ("name", "jurisdiction", "tier")
    assert c.root_hex == "0x" + expected_root(ROWS, name).hex()


@pytest.mark.parametrize("name", list(HASHES))
def test_salted_root_matches_keyed_blake3_derivation(name):
    c = capfast.commit(CSV, hash=name, salt_key=KEY)
    assert c.salted
    assert c.root == expected_root(ROWS, name, KEY)
    assert core.commit_row_salt(KEY, 258) == salt(258)


def test_salt_keys_change_the_root():
    plain = capfast.commit(CSV).root
    a = capfast.commit(CSV, salt_key=KEY).root
    b = capfast.commit(CSV, salt_key=bytes(32)).root
    assert len({plain, a, b}) == 3
    with pytest.raises(InvalidArgumentError):
        capfast.commit(CSV, salt_key=b"short")


def test_empty_tables():
    c = capfast.commit(b"a,b\n")
    assert c.count == 0 and c.root == H("blake3", b"")
    c = capfast.commit(b"a,b\n", hash="sha256")
    assert c.root.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    c = capfast.commit([])
    assert c.count == 0 and c.columns == ()


# ---------------------------------------------------------------------------------------------------------------
# The CSV dialect
# ---------------------------------------------------------------------------------------------------------------


def rows_of(data: bytes, **kw) -> list[dict[str, str]]:
    return list(capfast.commit.iter_rows(data, **kw))


def test_dialect_bom_crlf_lf_empty_lines_quotes_and_no_trimming():
    data = b'\xef\xbb\xbfa,b\r\n\r\n x ,"y,1"\n\n\n"multi\r\nline","q""q"\r\n"",\n'
    want = [{"a": " x ", "b": "y,1"}, {"a": "multi\r\nline", "b": 'q"q'}, {"a": "", "b": ""}]
    assert rows_of(data) == want
    assert capfast.commit(data).root == expected_root(want)
    # Only one BOM is stripped: a second one would become part of the first column's name, so it is an error.
    with pytest.raises(CsvFormatError, match="byte order mark"):
        capfast.commit(b"\xef\xbb\xbf\xef\xbb\xbfa\nx\n")
    # CR runs before LF belong to the line end; a final record may end at EOF, with or without CR.
    assert rows_of(b"a\r\r\nx\r") == [{"a": "x"}]
    assert rows_of(b"a\nx") == [{"a": "x"}]


def test_one_column_empty_value_needs_quotes():
    assert rows_of(b'a\n\n""\n') == [{"a": ""}]


def test_columns_subset():
    sub = capfast.commit(CSV, columns=["tier", "name"])
    assert sub.columns == ("name", "tier")  # header order, not the order given
    want = [{"name": r["name"], "tier": r["tier"]} for r in ROWS]
    assert sub.root == expected_root(want)
    assert sub.root == capfast.commit(want).root
    with pytest.raises(CsvFormatError) as e:
        capfast.commit(CSV, columns=["name", "nope"])
    assert (e.value.kind, e.value.line) == ("unknown column", 1)
    with pytest.raises(InvalidArgumentError):
        capfast.commit(CSV, columns=["name", "name"])
    with pytest.raises(InvalidArgumentError):
        capfast.commit(CSV, columns=[])


@pytest.mark.parametrize(
    ("data", "kind", "line"),
    [
        (b"", "missing header", 1),
        (b"\n\r\n\n", "missing header", 1),
        (b"\xef\xbb\xbf", "missing header", 1),
        (b"a,b,a\n", "duplicate column name", 1),
        (b"\n\na,b\n1,2\n1,2,3\n", "ragged row", 5),
        (b"a,b\n1\n", "ragged row", 2),
        (b'a,b\n"x\ny",1\n2\n', "ragged row", 4),
        (b'a,b\n"x\n\ny",1,3\n', "ragged row", 2),  # the line the record starts on
        (b"a\nok\n\xff\n", "invalid UTF-8", 3),
        (b'a\n"x\n\xc3(y"\n', "invalid UTF-8", 3),
        (b"\xfe,b\n", "invalid UTF-8", 1),
        (b'a\n5" screen\n', "malformed quoting", 2),
        (b'a,b\n"x"y,1\n', "malformed quoting", 2),
        (b'a\nq\n"open\nfield\n', "malformed quoting", 3),  # the line the quote opens on
        (b"a\nx\ry\n", "malformed line ending", 2),
        (b"a\r b\n", "malformed line ending", 1),
    ],
)
def test_errors_name_kind_and_line(data, kind, line):
    with pytest.raises(CsvFormatError) as e:
        capfast.commit(data)
    assert (e.value.kind, e.value.line, e.value.file) == (kind, line, None)
    assert kind in str(e.value)


def test_errors_name_the_file(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_bytes(b"a,b\n1,2\n3\n")
    with pytest.raises(CsvFormatError) as e:
        capfast.commit(p)
    assert (e.value.file, e.value.line, e.value.kind) == (str(p), 3, "ragged row")
    assert str(e.value).startswith(f"{p}:3:")
    with pytest.raises(CsvFormatError) as e:
        list(capfast.commit.iter_rows(str(p)))
    assert (e.value.file, e.value.line) == (str(p), 3)
    with pytest.raises(FileNotFoundError):
        capfast.commit(tmp_path / "missing.csv")


def test_too_large_records_and_headers():
    data = b"a\nshort\n" + b"x" * 300 + b"\nok\n"
    with pytest.raises(CsvFormatError) as e:
        capfast.commit(data, _max_record=100, _chunk_size=32)
    assert (e.value.kind, e.value.line) == ("too large", 3)
    # The limit counts the line end: 99 bytes + LF fits exactly into 100.
    ok = b"a\n" + b"y" * 99 + b"\n"
    assert capfast.commit(ok, _max_record=100, _chunk_size=16).count == 1
    with pytest.raises(CsvFormatError) as e:
        capfast.commit(ok + b"z" * 100 + b"\n", _max_record=100, _chunk_size=16)
    assert (e.value.kind, e.value.line) == ("too large", 3)
    header = ",".join(f"c{i}" for i in range(65537)).encode() + b"\n"
    with pytest.raises(CsvFormatError) as e:
        capfast.commit(header)
    assert e.value.kind == "too large"


def test_streaming_with_tiny_chunks_matches_one_pass():
    # Quoted fields with embedded newlines, commas and "" land on every possible chunk boundary.
    lines = ["id,text,note"]
    for i in range(400):
        t = f'"row {i}, with ""quotes""\nand a newline"' if i % 3 == 0 else f"plain {i}"
        lines.append(f"{i},{t},{'é' * (i % 5)}")
        if i % 7 == 0:
            lines.append("")
    data = ("\r\n".join(lines) + "\r\n").encode()
    want = capfast.commit(data).root
    for chunk in (1, 2, 3, 5, 8, 13, 64, 1000):
        assert capfast.commit(data, _chunk_size=chunk).root == want, chunk
        assert capfast.commit(io.BytesIO(data), _chunk_size=chunk).root == want, chunk
    rows = rows_of(data)
    assert len(rows) == 400 and rows[3]["text"] == 'row 3, with "quotes"\nand a newline'
    assert capfast.commit(rows).root == want
    # An error far into the stream still names its line.
    bad = data + b'1,2\n'
    with pytest.raises(CsvFormatError) as e:
        capfast.commit(bad, _chunk_size=7)
    assert (e.value.kind, e.value.line) == ("ragged row", data.count(b"\n") + 1)


def test_progress_reports_bytes_and_total(tmp_path):
    p = tmp_path / "t.csv"
    data = b"a,b\n" + b"".join(b"%d,x\n" % i for i in range(2000))
    p.write_bytes(data)
    seen: list[tuple[int, int | None]] = []
    capfast.commit(p, progress=lambda done, total: seen.append((done, total)), _chunk_size=1000)
    assert len(seen) > 5
    assert all(t == len(data) for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1][0] == len(data)

    def boom(done: int, total: int | None) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        capfast.commit(p, progress=boom, _chunk_size=1000)


# ---------------------------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------------------------


def test_every_source_kind_gives_the_same_root(tmp_path):
    p = tmp_path / "s.csv"
    p.write_bytes(CSV)
    want = expected_root(ROWS)
    assert capfast.commit(CSV).root == want
    assert capfast.commit(bytearray(CSV)).root == want
    assert capfast.commit(memoryview(CSV)).root == want
    assert capfast.commit(p).root == want
    assert capfast.commit(str(p)).root == want
    with open(p, "rb") as f:
        assert capfast.commit(f).root == want
    assert capfast.commit(io.BytesIO(CSV)).root == want
    assert capfast.commit(iter(ROWS)).root == want
    assert capfast.commit(ROWS).columns == ("name", "jurisdiction", "tier")


def test_mapping_sources_validate_rows():
    with pytest.raises(InvalidArgumentError, match="row 1 has no column"):
        capfast.commit([{"a": "1", "b": "2"}, {"a": "1"}])
    with pytest.raises(InvalidArgumentError, match="row 1 has 3 columns"):
        capfast.commit([{"a": "1", "b": "2"}, {"a": "1", "b": "2", "c": "3"}])
    with pytest.raises(InvalidArgumentError, match='row 0, column "a": value must be str, not int'):
        capfast.commit([{"a": 1}])
    with pytest.raises(InvalidArgumentError, match="value must be str, not NoneType"):
        capfast.commit([{"a": None}])
    with pytest.raises(InvalidArgumentError, match="row 0 is a list"):
        capfast.commit([["a"]])
    with pytest.raises(InvalidArgumentError, match="single mapping"):
        capfast.commit({"a": "1"})
    with pytest.raises(InvalidArgumentError):
        capfast.commit(42)
    # With columns=, extra keys are ignored and order does not matter.
    a = capfast.commit([{"b": "2", "a": "1", "x": "9"}], columns=["a", "b"])
    assert a.root == capfast.commit([{"a": "1", "b": "2"}]).root
    assert a.columns == ("a", "b")


def test_text_mode_file_is_rejected():
    with pytest.raises(InvalidArgumentError, match="binary mode"):
        capfast.commit(io.StringIO("a\n1\n"))


# ---------------------------------------------------------------------------------------------------------------
# Proofs
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(HASHES))
@pytest.mark.parametrize("key", [None, KEY])
def test_every_row_proves_and_verifies(name, key):
    c = capfast.commit(CSV, hash=name, salt_key=key)
    for i, row in enumerate(ROWS):
        p = c.prove(i)
        assert p.row == row and p.index == i and p.tree_size == 5 and p.hash == name
        assert p.salt == (salt(i) if key else None)
        assert p.leaf_hash() == H(name, b"\x00" + (p.salt or b"") + cbor_map(row))
        assert verify_row(c.root, p) and verify_row(c.root_hex, p) and c.verify(p)
        back = RowProof.from_dict(json.loads(json.dumps(p.to_dict())))
        assert back == p and verify_row(c.root, back)


def test_tampering_fails_verification():
    c = capfast.commit(CSV, salt_key=KEY)
    p = c.prove(2)
    d = p.to_dict()
    bad_rows = [
        {**d, "row": {**d["row"], "tier": "TIER_1"}},
        {**d, "row": {k: v for k, v in d["row"].items() if k != "tier"}},
        {**d, "row": {**d["row"], "extra": "x"}},
        {**d, "salt": "0x" + salt(3).hex()},
        {**d, "salt": None},
        {**d, "index": 3},
        {**d, "tree_size": 9},
        {**d, "path": d["path"][:-1]},
        {**d, "path": ["0x" + bytes(32).hex()] + d["path"][1:]},
        {**d, "hash": "sha256"},
    ]
    for bad in bad_rows:
        assert not verify_row(c.root, RowProof.from_dict(bad)), bad
    # RFC 6962 roots do not bind the size by themselves (index 2 of 5 and of 6 share this path), so the size must
    # come from the commitment: Commitment.verify checks it.
    assert not c.verify(RowProof.from_dict({**d, "tree_size": 6}))
    assert not verify_row(bytes(32), p)
    assert not verify_row("0xzz", p)
    other = capfast.commit(CSV, salt_key=bytes(32))
    assert not other.verify(p)


def test_from_dict_rejects_malformed_proofs():
    p = capfast.commit(CSV).prove(0).to_dict()
    for bad in (
        {k: v for k, v in p.items() if k != "path"},
        {**p, "index": -1},
        {**p, "index": "0"},
        {**p, "path": ["0x12"]},
        {**p, "path": "nope"},
        {**p, "salt": "0x" + "00" * 31},
        {**p, "row": {"a": 1}},
        {**p, "hash": "md5"},
        {**p, "scheme": "cap-agent-v1"},
        [],
    ):
        with pytest.raises(ProofError):
            RowProof.from_dict(bad)


def test_proofs_without_retained_leaves(tmp_path):
    p = tmp_path / "s.csv"
    p.write_bytes(CSV)
    for source in (p, CSV):
        c = capfast.commit(source, retain_leaves=False, salt_key=KEY)
        assert c._leaves is None
        for i in range(5):
            assert c.verify(c.prove(i))
    # A consumed iterable without retained leaves cannot prove.
    c = capfast.commit(iter(ROWS), retain_leaves=False)
    with pytest.raises(InvalidArgumentError, match="retain_leaves"):
        c.prove(0, row=ROWS[0])
    # With retained leaves the caller supplies the row, which must match.
    c = capfast.commit(iter(ROWS))
    assert c.verify(c.prove(1, row=ROWS[1]))
    with pytest.raises(InvalidArgumentError, match="consumed once"):
        c.prove(1)
    with pytest.raises(InvalidArgumentError, match="does not match"):
        c.prove(1, row=ROWS[2])
    with pytest.raises(InvalidArgumentError):
        c.prove(5, row=ROWS[0])


def test_changed_source_is_detected(tmp_path):
    p = tmp_path / "s.csv"
    p.write_bytes(CSV)
    c = capfast.commit(p, retain_leaves=False)
    p.write_bytes(CSV.replace(b"DK", b"SE"))
    with pytest.raises(InvalidArgumentError, match="changed"):
        c.prove(0)


def test_commitment_to_dict_and_schemes():
    c = capfast.commit(CSV, salt_key=KEY)
    d = c.to_dict()
    assert d == {
        "scheme": "merkle-v1",
        "hash": "blake3",
        "root": c.root_hex,
        "count": 5,
        "columns": ["name", "jurisdiction", "tier"],
        "salted": True,
    }
    assert len(c.root_hex) == 66 and c.root_hex == c.root_hex.lower()
    with pytest.raises(InvalidArgumentError):
        capfast.commit(CSV, scheme="nope")
    with pytest.raises(InvalidArgumentError):
        capfast.commit(CSV, scheme="cap-agent-v1", salt_key=KEY)
    with pytest.raises(InvalidArgumentError):
        capfast.commit(CSV, scheme="cap-agent-v1", hash="sha256")
    with pytest.raises(InvalidArgumentError):
        capfast.commit(CSV, hash="md5")


# ---------------------------------------------------------------------------------------------------------------
# Differential: native core ≡ twin on fixed inputs (random inputs: test_commit_props.py)
# ---------------------------------------------------------------------------------------------------------------


def test_cores_agree_on_fixed_inputs(native_core, py_core):
    for data in (CSV, b"\xef\xbb\xbfa\n\n\nx\n", b"a,b\n" * 3):
        for kw in ({}, {"hash": "sha256", "salt_key": KEY}, {"columns": ["a"]} if data.startswith(b"a,b") else {}):
            assert native_core.commit_csv(data, **kw) == py_core.commit_csv(data, **kw)
    assert native_core.commit_rows(ROWS) == py_core.commit_rows(ROWS)
    leaves = native_core.commit_csv(CSV)[3]
    for i in range(5):
        assert native_core.commit_prove(leaves, i) == py_core.commit_prove(leaves, i)
    assert native_core.commit_row_salt(KEY, 7) == py_core.commit_row_salt(KEY, 7)
