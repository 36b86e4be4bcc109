"""Input defects found from outside (issue 19, item 10): a second BOM in a CSV header, lone surrogates in rows.

Both run on each backend (the engine and its twin must agree)."""

from __future__ import annotations

from pathlib import Path

import pytest

import capfast
from capfast.errors import CsvFormatError, InvalidArgumentError


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf\xef\xbb\xbfname,tier\nACME,1\n", b"name,\xef\xbb\xbftier\nACME,1\n"])
def test_bom_inside_the_header_is_refused(cap, one_line_error, tmp_path: Path, data: bytes) -> None:
    src = tmp_path / "suppliers.csv"
    src.write_bytes(data)
    line = one_line_error(cap("commit", src), 2)
    assert "byte order mark" in line and "suppliers.csv" in line
    with pytest.raises(CsvFormatError) as info:
        capfast.commit(src)
    assert (info.value.kind, info.value.line) == ("byte order mark", 1)
    # one leading BOM stays fine, and gives the root of the file without it
    clean = data.replace(b"\xef\xbb\xbf", b"")
    assert capfast.commit(b"\xef\xbb\xbf" + clean).root == capfast.commit(clean).root


@pytest.mark.parametrize("rows,where", [
    ([{"a": "ok"}, {"a": "x\ud800y"}], 'row 1, column "a"'),
    ([{"a": "\udc80"}], 'row 0, column "a"'),
    ([{"\ud800": "x"}], "row 0: column name 0"),
])
def test_lone_surrogates_are_a_named_error(rows: list, where: str, native_core, py_core) -> None:
    with pytest.raises(InvalidArgumentError, match="lone surrogate") as info:
        capfast.commit(rows)
    assert where in str(info.value)
    messages = set()
    for core in (native_core, py_core):
        with pytest.raises(InvalidArgumentError) as e:
            core.commit_rows(rows, None, "blake3", None, False)
        messages.add(str(e.value))
    assert len(messages) == 1, messages
