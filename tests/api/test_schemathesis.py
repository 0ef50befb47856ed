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
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from riskcore.workbench import Worker

OPERATIONS = [("GET", "/health"), ("GET", "/ready"), ("GET", "/model_info"), ("GET", "/monitoring"),
              ("POST", "/predict"), ("POST", "/predict_batch"), ("POST", "/predict_explain"),
              ("POST", "/jobs/score"), ("POST", "/jobs/retrain"), ("GET", "/jobs"), ("GET", "/jobs/{job_id}"),
              ("GET", "/jobs/{job_id}/result"), ("GET", "/jobs/{job_id}/rejects"), ("DELETE", "/jobs/{job_id}")]
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "25"))
NO_INPUTS = {"/health", "/ready"}  # nothing to make invalid: negative generation is impossible
# what no schema can say: whether an uploaded file's bytes are a table, whether a named server file exists
UNSAYABLE = {"/jobs/score": [["body", "file"], ["body", "path"]]}


@pytest.fixture
def app(settings, bundle, keystore, keys, audit):
    return create_app(settings, bundle=bundle, keys=keystore, audit=audit)


@pytest.fixture
def api_schema(app):
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
        excluded = [positive_data_acceptance] if path in UNSAYABLE else []
        response = case.call_and_validate(headers={"X-API-Key": keys["admin"]}, excluded_checks=excluded)
        assert response.status_code < 500, response.text
        if excluded and mode is GenerationMode.POSITIVE and response.status_code == 422:
            # a request the schema allows is refused only for what the schema cannot say
            assert all(e["loc"] in UNSAYABLE[path] for e in response.json()["detail"]), response.text
        statuses.append(response.status_code)

    run()
    assert statuses
    if path.startswith("/predict") and mode is GenerationMode.POSITIVE:
        assert 200 in statuses  # the generator does reach the scoring code
    if path.startswith("/jobs/") and method == "POST" and mode is GenerationMode.POSITIVE:
        assert 202 in statuses  # and queues jobs
    assert audit.verify().ok


def test_the_answers_about_real_jobs_fit_the_schema(api_schema, app, keys, small_portfolio):
    """Generated ids never name a job: here jobs exist, run, and their files are downloaded (CSV and Parquet)."""
    upload = api_schema["/jobs/score"]["POST"]
    frame = small_portfolio.frame.head(20).astype({"current_ratio": object})
    frame.loc[frame.index[0], "current_ratio"] = "not a number"  # one row for the reject report
    data = frame.to_csv(index=False).encode()
    auth = {"X-API-Key": keys["service"]}
    ids = {}
    for fmt in ("csv", "parquet"):
        response = upload.Case(body={"file": data, "format": fmt}, media_type="multipart/form-data",
                               headers=auth).call_and_validate(excluded_checks=[positive_data_acceptance])
        assert response.status_code == 202, response.text
        ids[fmt] = response.json()["id"]
    waiting = upload.Case(body={"file": data}, media_type="multipart/form-data", headers=auth).call().json()["id"]
    worker = Worker(app.state.riskcore.bench)
    assert worker.run_one().state == worker.run_one().state == "succeeded"

    def answer(method: str, path: str, job_id: str, expected: int, media: str = "application/json") -> None:
        response = api_schema[path][method].Case(path_parameters={"job_id": job_id}, headers=auth).call_and_validate()
        assert response.status_code == expected, response.text
        sent = response.headers["content-type"]
        assert (sent[0] if isinstance(sent, list) else sent).startswith(media)

    for fmt, job_id in ids.items():
        answer("GET", "/jobs/{job_id}", job_id, 200)
        answer("GET", "/jobs/{job_id}/result", job_id, 200, "text/csv" if fmt == "csv" else
               "application/vnd.apache.parquet")
        answer("GET", "/jobs/{job_id}/rejects", job_id, 200, "text/csv")
        answer("DELETE", "/jobs/{job_id}", job_id, 409)
    answer("GET", "/jobs/{job_id}/result", waiting, 409)
    answer("DELETE", "/jobs/{job_id}", waiting, 202)
    response = api_schema["/jobs"]["GET"].Case(query={"limit": 10}, headers=auth).call_and_validate()
    assert len(response.json()["jobs"]) == 3
    app.state.riskcore.bench.expire_job_files(now=time.time() + 10**7)
    answer("GET", "/jobs/{job_id}/result", ids["csv"], 410)
