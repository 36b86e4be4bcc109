"""capfast.commit() on a generated supplier CSV (1,000,000 rows of ~120 bytes; 100,000 in quick mode).

Baselines, all in this process on the same file: the pure-Python twin, perf-baselines.md's naive pipeline
(csv module + one hash per row + pure-Python tree, same hash) and blake3-py hashing the raw file on one thread
(the physical floor: reading + hashing the bytes once, no rows, no tree, no proofs). The subject is the public
``capfast.commit(path, hash=...)`` call with default options, as a pipeline would call it.
"""

from __future__ import annotations

import importlib

import pytest

import capfast
from _data import supplier_csv
from _naive import naive_commit, raw_blake3_one_thread
from conftest import QUICK, tag

ROWS = 100_000 if QUICK else 1_000_000
NATIVE_ROUNDS = 5
SLOW_ROUNDS = 3

native = importlib.import_module("capfast._native")
twin = importlib.import_module("capfast._py")


@pytest.fixture(scope="module")
def csv_path():
    path = supplier_csv(ROWS)
    path.read_bytes()  # warm the page cache so every contestant reads from memory
    return path


def _case(hash_name: str) -> str:
    return f"commit {ROWS:,} rows {hash_name}"


@pytest.mark.parametrize("hash_name", ["blake3", "sha3-256", "sha256"])
def test_native(benchmark, csv_path, hash_name):
    assert capfast.backend == "native", "benchmarks measure the native core: build it (make develop)"
    tag(benchmark, _case(hash_name), "subject", "capfast.commit (native)")
    c = benchmark.pedantic(capfast.commit, args=(csv_path,), kwargs={"hash": hash_name},
                           rounds=NATIVE_ROUNDS, warmup_rounds=1)
    assert c.count == ROWS


@pytest.mark.parametrize("hash_name", ["blake3", "sha3-256", "sha256"])
def test_twin(benchmark, csv_path, hash_name):
    tag(benchmark, _case(hash_name), "baseline", "python twin")
    _names, count, root, _ = benchmark.pedantic(twin.commit_csv, args=(str(csv_path), hash_name),
                                                rounds=SLOW_ROUNDS, warmup_rounds=0)
    assert count == ROWS
    assert root == native.commit_csv(str(csv_path), hash_name)[2], "twin and native disagree"


@pytest.mark.parametrize("hash_name", ["blake3", "sha3-256", "sha256"])
def test_naive(benchmark, csv_path, hash_name):
    tag(benchmark, _case(hash_name), "baseline", "naive csv+hash+tree")
    benchmark.pedantic(naive_commit, args=(csv_path, hash_name), rounds=SLOW_ROUNDS, warmup_rounds=0)


def test_raw_blake3(benchmark, csv_path):
    tag(benchmark, _case("blake3"), "baseline", "blake3-py raw file, 1 thread")
    benchmark.pedantic(raw_blake3_one_thread, args=(csv_path,), rounds=NATIVE_ROUNDS, warmup_rounds=1)


# The twin's own target (≥ 1.5× the naive pipeline) needs the twin as the subject of a row.
def test_twin_as_subject(benchmark, csv_path):
    case = f"python twin commit {ROWS:,} rows blake3"
    tag(benchmark, case, "subject", "python twin")
    benchmark.pedantic(twin.commit_csv, args=(str(csv_path), "blake3"), rounds=SLOW_ROUNDS, warmup_rounds=0)


def test_naive_for_twin(benchmark, csv_path):
    case = f"python twin commit {ROWS:,} rows blake3"
    tag(benchmark, case, "baseline", "naive csv+hash+tree")
    benchmark.pedantic(naive_commit, args=(csv_path, "blake3"), rounds=SLOW_ROUNDS, warmup_rounds=0)
