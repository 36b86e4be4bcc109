"""The storage layer, the same tests on SQLite and on a throwaway PostgreSQL (Debian binaries)."""

from __future__ import annotations

import uuid

import pytest
from servhelpers import postgres_server

from capfast.server.storage import MIGRATIONS, StorageError, open_storage

# Backend-independent (SQLite/PostgreSQL storage: no capfast backend code): runs in the native pass only.
pytestmark = pytest.mark.once


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory):
    with postgres_server(tmp_path_factory.mktemp("pgbase")) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        st = open_storage(f"sqlite:///{tmp_path / 'cap.db'}")
    else:
        import psycopg

        url = request.getfixturevalue("pg_url")
        db = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {db}")
        st = open_storage(url.rsplit("/", 1)[0] + "/" + db)
    yield st
    st.close()


def test_migrations_recorded_and_idempotent(store):
    latest = MIGRATIONS[-1][0]
    assert store.schema_version() == latest
    assert store.migrate() == latest  # nothing re-applied
    store.ping()


def test_policy_dedup_by_hash(store):
    a = store.put_policy("P", "lksg.v1", "0x" + "a" * 64, '{"x":1}', None)
    b = store.put_policy("P", "lksg.v1", "0x" + "a" * 64, '{"x":1}', None)
    assert a["id"] == b["id"] and b["updated_at"] >= a["created_at"]
    c = store.put_policy("Q", "lksg.v1", "0x" + "b" * 64, '{"x":2}', "notes")
    assert c["id"] != a["id"]
    assert store.count_policies() == 2
    meta, text = store.get_policy(a["id"])
    assert meta["hash"] == "0x" + "a" * 64 and text == '{"x":1}'
    assert store.get_policy("0x" + "b" * 64)[0]["description"] == "notes"
    assert store.get_policy(str(uuid.uuid4())) is None


def test_policy_v2_conflict(store):
    assert store.put_policy_v2("p", "sha3-256:1", "{}", "h")
    assert store.put_policy_v2("p", "sha3-256:1", "{}", "h")
    assert not store.put_policy_v2("p", "sha3-256:2", "{}", "h")
    assert store.get_policy_v2("p")["policy_hash"] == "sha3-256:1"


def test_releases_monotonic_and_metadata(store):
    store.add_release("org.a", "stable", 1, "1.0", "1" * 64, "{}", "00", b"m1", b"i1", b"s" * 64)
    store.add_release("org.a", "stable", 2, "1.1", "2" * 64, "{}", "00", b"m2", b"\x00i2", b"t" * 64)
    with pytest.raises(StorageError):
        store.add_release("org.a", "stable", 2, "1.1", "3" * 64, "{}", "00", b"m", b"i", b"u" * 64)
    store.add_release("org.a", "beta", 1, "2.0", "2" * 64, "{}", "00", b"m2", b"\x00i2", b"t" * 64)
    assert store.latest_release("org.a", "stable")["seq"] == 2
    assert store.latest_release("org.a", "beta")["root"] == "2" * 64
    assert store.latest_release("org.b", "stable") is None
    assert store.release_meta("2" * 64) == {"manifest": b"m2", "index": b"\x00i2", "signature": b"t" * 64}


def test_sqlite_is_durable(tmp_path):
    st = open_storage(f"sqlite:///{tmp_path / 'x.db'}")
    assert st._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    st.close()


def test_unknown_url_refused():
    with pytest.raises(StorageError):
        open_storage("mysql://x")
