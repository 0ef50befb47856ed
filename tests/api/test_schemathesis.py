"""Property-based tests generated from the app's own OpenAPI schema: never a server error.

Each operation gets 25 generated requests that fit the schema and 25 that do
not (``API_FUZZ_EXAMPLES=500`` for a longer, randomised hunt), sent with an admin
key; every response is checked against the schema
(documented status code, body shape, headers) by ``call_and_validate``, and
none may be a 5xx.

Schemathesis's pytest plugin (``schemathesis.pytest.from_fixture``) reads a
private pytest attribute that pytest 9.2 removed, so the strategies are used
with Hypothesis directly, which the schemathesis docs also describe.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from api.app import create_app

OPERATIONS = [("GET", "/health"), ("GET", "/ready"), ("GET", "/model_info"), ("GET", "/monitoring"),
              ("POST", "/predict"), ("POST", "/predict_batch"), ("POST", "/predict_explain")]
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "25"))
NO_INPUTS = {"/health", "/ready"}  # nothing to make invalid: negative generation is impossible


@pytest.fixture
def api_schema(settings, bundle, keystore, keys, audit):
    app = create_app(settings, bundle=bundle, keys=keystore, audit=audit)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_the_schema_lists_every_operation(api_schema):
    found = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_server_errors(api_schema, keys, audit, method, path, mode):
    if mode is GenerationMode.NEGATIVE and path in NO_INPUTS:
        pytest.skip("the operation takes no input, so no request can violate its schema")
    operation = api_schema[path][method]
    statuses = []

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=MAX_EXAMPLES <= 25, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        response = case.call_and_validate(headers={"X-API-Key": keys["admin"]})
        assert response.status_code < 500, response.text
        statuses.append(response.status_code)

    run()
    assert statuses
    if path.startswith("/predict") and mode is GenerationMode.POSITIVE:
        assert 200 in statuses  # the generator does reach the scoring code
    assert audit.verify().ok
