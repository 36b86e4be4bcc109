"""Fixtures for the REST server tests."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from servhelpers import Keys


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> Keys:
    return Keys(tmp_path_factory.mktemp("rsa"))


@pytest.fixture
def make_client(tmp_path: Path, keys: Keys) -> Callable[..., Any]:
    """``make_client(auth=True, client=("1.2.3.4", 5), **config)`` → a TestClient over a fresh app and state dir."""
    from capfast.server.app import create_app
    from capfast.server.config import load_config

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette prefers httpx2 for its TestClient; httpx works
        from starlette.testclient import TestClient

    made: list[Any] = []

    def make(auth: bool = True, client: tuple[str, int] = ("10.0.0.1", 40000), **cfg: Any) -> Any:
        if auth:
            cfg.setdefault("auth_public_key_pem", str(keys.pem_path))
        cfg.setdefault("state_dir", tmp_path / f"state{len(made)}")
        app = create_app(load_config(env={}, **cfg))
        c = TestClient(app, client=client, raise_server_exceptions=False)
        made.append(c)
        return c

    yield make
    for c in made:
        c.app.state.cap.storage.close()
        c.close()


@pytest.fixture
def client(make_client: Callable[..., Any]) -> Any:
    return make_client()


@pytest.fixture
def auth(keys: Keys) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys.token()}"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # starlette's TestClient warns that it prefers httpx2; the httpx it ships with works (tests only).
    for item in items:
        item.add_marker(pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`"))


@pytest.fixture(scope="session")
def lksg_case(tmp_path_factory) -> dict[str, Any]:
    """A real manifest and mock proof made with the `cap` pipeline from examples/ (session-wide)."""
    from capfast.cli import main
    from capfast.lksg.proof import decode_proof

    ex = Path(__file__).resolve().parents[2] / "examples"
    b = tmp_path_factory.mktemp("lksg")
    assert main(["prepare", "--suppliers", str(ex / "suppliers.csv"), "--ubos", str(ex / "ubos.csv"), "--output",
                 str(b)]) == 0
    assert main(["manifest", "build", "--commitments", str(b / "commitments.json"), "--policy",
                 str(ex / "policy.lksg.v1.yml"), "--sanctions", str(ex / "sanctions.csv"), "--output",
                 str(b / "manifest.json")]) == 0
    assert main(["proof", "build", "--manifest", str(b / "manifest.json"), "--policy", str(ex / "policy.lksg.v1.yml"),
                 "--sanctions", str(ex / "sanctions.csv"), "--backend", "mock", "--output", str(b / "proof.dat")]) == 0
    import json

    manifest = json.loads((b / "manifest.json").read_bytes())
    proof = decode_proof((b / "proof.dat").read_bytes())
    return {"dir": b, "manifest": manifest, "proof": proof, "proof_bytes": (b / "proof.dat").read_bytes()}
