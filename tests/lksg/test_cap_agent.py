"""cap-agent-v1: record JSON, record hashes, list and company roots against the published cap-agent vectors."""

from __future__ import annotations

import json
from pathlib import Path

import blake3
import pytest

from capfast.cap_agent import (
    EMPTY_ROOT_HEX,
    CapAgentCommitment,
    commit_cap_agent,
    company_root_cap_agent,
    detect_kind,
    parse_tier,
    record_hash,
    record_json,
    root_from_record_hashes,
)
from capfast.errors import CapfastError, CsvFormatError, InvalidArgumentError, ProofError

VEC_DIR = Path(__file__).resolve().parent.parent / "vectors" / "cap-agent"
EXPECTED = json.loads((VEC_DIR / "expected.json").read_text(encoding="utf-8"))
PREP = EXPECTED["prepare"]

SUPPLIERS = [
    {"name": "ACME GmbH", "jurisdiction": "DE", "tier": "1"},
    {"name": "Global Supply Inc", "jurisdiction": "US", "tier": "1"},
    {"name": "Eastern Trading", "jurisdiction": "CN", "tier": "2"},
    {"name": "Nordic Materials AB", "jurisdiction": "SE", "tier": "1"},
    {"name": "South Asian Textiles", "jurisdiction": "BD", "tier": "2"},
]
UBOS = [
    {"name": "Max Mustermann", "birthdate": "1970-05-15", "citizenship": "DE"},
    {"name": "Jane Doe", "birthdate": "1985-11-22", "citizenship": "US"},
]


# --- published vectors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", EXPECTED["record_hashes"], ids=lambda c: c["kind"])
def test_record_json_and_hash_vectors(case: dict) -> None:
    text = record_json(case["kind"], case["record"])
    assert text == case["json"]
    assert record_hash(text) == case["hash"]


def test_supplier_root_vector_from_csv() -> None:
    c = commit_cap_agent(VEC_DIR / "suppliers.csv")
    assert c.root_hex == PREP["supplier_root"]
    assert c.count == PREP["supplier_count"] and c.kind == "supplier"
    assert (c.hash, c.scheme, c.salted) == ("blake3", "cap-agent-v1", False)


def test_ubo_root_vector_from_csv() -> None:
    c = commit_cap_agent(str(VEC_DIR / "ubos.csv"))
    assert c.root_hex == PREP["ubo_root"]
    assert c.count == PREP["ubo_count"] and c.kind == "ubo"


def test_company_root_vector() -> None:
    assert company_root_cap_agent(PREP["supplier_root"], PREP["ubo_root"]) == PREP["company_commitment_root"]
    # 32-byte roots are accepted too and mean their 0x-hex form
    s, u = bytes.fromhex(PREP["supplier_root"][2:]), bytes.fromhex(PREP["ubo_root"][2:])
    assert company_root_cap_agent(s, u) == PREP["company_commitment_root"]


def test_roots_from_mappings_and_from_bytes_agree_with_vectors() -> None:
    assert commit_cap_agent(SUPPLIERS).root_hex == PREP["supplier_root"]
    assert commit_cap_agent(UBOS).root_hex == PREP["ubo_root"]
    raw = (VEC_DIR / "suppliers.csv").read_bytes()
    assert commit_cap_agent(raw).root_hex == PREP["supplier_root"]
    with open(VEC_DIR / "ubos.csv", "rb") as fh:
        assert commit_cap_agent(fh).root_hex == PREP["ubo_root"]


def test_commit_dispatches_cap_agent_scheme() -> None:
    from capfast.commit import commit

    c = commit(VEC_DIR / "suppliers.csv", scheme="cap-agent-v1")
    assert c.root_hex == PREP["supplier_root"] and c.count == 5


def test_empty_list_root() -> None:
    assert EMPTY_ROOT_HEX == EXPECTED["empty_root"]["root"]
    assert commit_cap_agent([]).root_hex == EXPECTED["empty_root"]["root"]
    assert commit_cap_agent(b"name,jurisdiction,tier\n").root_hex == EXPECTED["empty_root"]["root"]
    assert root_from_record_hashes([]) == EXPECTED["empty_root"]["root"]


# --- the rules, independently of the vectors -------------------------------------------------------------------


def test_root_is_blake3_of_concatenated_hex_strings() -> None:
    hashes = ["0x" + blake3.blake3(json.dumps(r).encode()).hexdigest() for r in ("a", "b", "c")]
    expected = "0x" + blake3.blake3("".join(hashes).encode("ascii")).hexdigest()
    assert root_from_record_hashes(hashes) == expected
    assert root_from_record_hashes(list(reversed(hashes))) != expected  # order-sensitive, no tree


def test_extra_columns_ignored_and_column_order_irrelevant() -> None:
    csv = "tier,comment,jurisdiction,name\n1,x,DE,ACME GmbH\n"
    c = commit_cap_agent(csv.encode())
    first = EXPECTED["record_hashes"][0]["hash"]
    assert c.root_hex == "0x" + blake3.blake3(first.encode("ascii")).hexdigest()


def test_non_ascii_and_escapes_follow_serde_json() -> None:
    row = {"name": 'Müller "Ö" \\ Ltd\x01\n', "jurisdiction": "DE", "tier": "3"}
    text = record_json("supplier", row)
    # serde_json: raw UTF-8 for non-ASCII, \" \\ \n short escapes, other C0 controls as \u00XX (lowercase)
    assert text == '{"name":"Müller \\"Ö\\" \\\\ Ltd\\u0001\\n","jurisdiction":"DE","tier":3}'
    assert record_hash(text) == "0x" + blake3.blake3(text.encode("utf-8")).hexdigest()


def test_csv_quoted_commas_and_newlines() -> None:
    csv = 'name,birthdate,citizenship\r\n"Doe, Jane ""JD""\nSecond line",1985-11-22,US\r\n'
    c = commit_cap_agent(csv.encode())
    rec = '{"name":"Doe, Jane \\"JD\\"\\nSecond line","birthdate":"1985-11-22","citizenship":"US"}'
    assert c.root_hex == "0x" + blake3.blake3(record_hash(rec).encode("ascii")).hexdigest()


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", 1), ("01", 1), ("+7", 7), ("0", 0), ("4294967295", 4294967295), ("0x1f", 31), ("0x1F", 31),
     ("0x+1", 1), ("000000000000000000042", 42)],
)
def test_tier_accepted_like_rust_u32(text: str, value: int) -> None:
    assert parse_tier(text) == value


@pytest.mark.parametrize(
    "text",
    [" 1", "1 ", "", "+", "-1", "-0", "4294967296", "1_000", "1.0", "１", "٣", "0X1f", "0x", "0x-1", "++1", "1e3",
     "0x100000000", "TIER_1"],
)
def test_tier_rejected_like_rust_u32(text: str) -> None:
    with pytest.raises(ValueError):
        parse_tier(text)


def test_bad_tier_in_csv_is_a_csv_error_naming_the_file(tmp_path: Path) -> None:
    f = tmp_path / "s.csv"
    f.write_text("name,jurisdiction,tier\nA,DE,1\nB,DE, 2\n", encoding="utf-8")
    with pytest.raises(CsvFormatError) as info:
        commit_cap_agent(f)
    assert "row 2" in str(info.value) and "' 2'" in str(info.value) and str(f) in str(info.value)


def test_int_tier_in_mappings() -> None:
    rows = [dict(r, tier=int(r["tier"])) for r in SUPPLIERS]
    assert commit_cap_agent(rows).root_hex == PREP["supplier_root"]
    with pytest.raises(InvalidArgumentError):
        commit_cap_agent([{"name": "A", "jurisdiction": "DE", "tier": 2**32}])
    with pytest.raises(InvalidArgumentError):
        commit_cap_agent([{"name": "A", "jurisdiction": "DE", "tier": True}])


def test_kind_detection() -> None:
    assert detect_kind(["name", "jurisdiction", "tier", "x"]) == "supplier"
    assert detect_kind(["citizenship", "name", "birthdate"]) == "ubo"
    with pytest.raises(InvalidArgumentError, match="tier"):
        detect_kind(["name", "jurisdiction"])
    with pytest.raises(InvalidArgumentError, match="both"):
        detect_kind(["name", "jurisdiction", "tier", "birthdate", "citizenship"])
    with pytest.raises(InvalidArgumentError):
        detect_kind(["Name", "Jurisdiction", "Tier"])  # case-sensitive like cap-agent's CLI


def test_forced_kind_and_columns() -> None:
    both = [dict(s, birthdate="x", citizenship="y") for s in SUPPLIERS]
    with pytest.raises(InvalidArgumentError):
        commit_cap_agent(both)
    assert commit_cap_agent(both, kind="supplier").root_hex == PREP["supplier_root"]
    assert commit_cap_agent(both, columns=["name", "jurisdiction", "tier"]).root_hex == PREP["supplier_root"]
    with pytest.raises(InvalidArgumentError):
        commit_cap_agent(SUPPLIERS, kind="customer")  # type: ignore[arg-type]


def test_missing_column_with_forced_kind(tmp_path: Path) -> None:
    f = tmp_path / "u.csv"
    f.write_text("name,jurisdiction,tier\nA,DE,1\n", encoding="utf-8")
    with pytest.raises(CsvFormatError, match="birthdate"):
        commit_cap_agent(f, kind="ubo")


def test_no_proofs() -> None:
    c = commit_cap_agent(SUPPLIERS)
    assert isinstance(c, CapAgentCommitment)
    with pytest.raises(ProofError, match="not Merkle"):
        c.prove(0)
    with pytest.raises(ProofError):
        c.verify(object())
    assert "no proofs" in (CapAgentCommitment.__doc__ or "").lower()
    assert "no inclusion proofs" in (commit_cap_agent.__doc__ or "").lower()


def test_company_root_rejects_non_canonical_hex() -> None:
    with pytest.raises(InvalidArgumentError):
        company_root_cap_agent(PREP["supplier_root"].upper(), PREP["ubo_root"])
    with pytest.raises(InvalidArgumentError):
        company_root_cap_agent(PREP["supplier_root"][2:], PREP["ubo_root"])
    with pytest.raises(InvalidArgumentError):
        company_root_cap_agent(b"\x00" * 31, PREP["ubo_root"])


def test_bad_sources() -> None:
    with pytest.raises(InvalidArgumentError):
        commit_cap_agent([["ACME", "DE", "1"]])
    with pytest.raises((CapfastError, OSError)):
        commit_cap_agent(Path("/nonexistent/suppliers.csv"))
