"""Schemathesis against the server's own OpenAPI document: every operation, fuzzed from its schema, with a valid
token and without one, must answer with a 4xx JSON error or a success — never a 5xx.

The strategies come from schemathesis (``operation.as_strategy()``) and are driven with Hypothesis directly: the
schemathesis pytest plugin's lazy-fixture mode does not run under this project's pytest version.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from capfast.server.app import create_app
from capfast.server.config import load_config


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory) -> Any:
    from servhelpers import Keys

    keys = Keys(tmp_path_factory.mktemp("fuzz-rsa"))
    # CapTokens configured, so /tokens/* and /onboard/* are fuzzed for real (issue 11)
    from capfast.access import TrustedIssuers
    from capfast.access.keys import keygen_token_key

    tokdir = tmp_path_factory.mktemp("fuzz-tokens")
    _, key_path = keygen_token_key(tokdir / "issuer", "fuzz")
    trusted = TrustedIssuers()
    trusted.pin_key(key_path)
    trusted.save(tokdir / "issuers.json")
    # Rate limiting off: the fuzzer sends far more requests than the presets allow from one client.
    app = create_app(load_config(env={}, auth_public_key_pem=str(keys.pem_path),
                                 state_dir=tmp_path_factory.mktemp("fuzz-state"), rate_limit_enabled=False,
                                 token_issuers=str(tokdir / "issuers.json"), token_audience="example.org",
                                 onboarding_key=str(key_path)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return schema, keys


def _operations(schema: Any) -> list[Any]:
    ops = [result.ok() for result in schema.get_all_operations()]
    assert len(ops) >= 10, "the OpenAPI document should describe every endpoint"
    return ops


@pytest.mark.parametrize("authenticated", [True, False])
def test_no_server_errors(api_schema, authenticated):
    schema, keys = api_schema
    seen = []
    for operation in _operations(schema):

        @given(case=operation.as_strategy())
        @settings(max_examples=20 if authenticated else 8, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case: Any) -> None:
            headers = {"Authorization": f"Bearer {keys.token()}"} if authenticated else {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                response = case.call(headers=headers)
            seen.append(response.status_code)
            assert response.status_code < 500, (
                case.method, case.formatted_path, response.status_code, response.text[:500])
            if response.status_code >= 400:
                body = response.json()
                assert isinstance(body, dict) and "error" in body, (case.method, case.formatted_path, body)

        fuzz()
    assert seen
    if not authenticated:  # without a token the protected operations must have refused
        assert 401 in seen
