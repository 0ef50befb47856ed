"""Every error code: 401, 403, 413, 422, 429, 500, 503 — in JSON, naming the field, leaking nothing."""

from __future__ import annotations

import json
import logging

import pytest
from apitools import assert_clean, header

from riskcore.identity import KEY_ROLES
from riskcore.serving.audit import AuditLog

ENDPOINTS = {
    "model_info": ("GET", "/model_info"),
    "predict": ("POST", "/predict"),
    "predict_batch": ("POST", "/predict_batch"),
    "predict_explain": ("POST", "/predict_explain"),
}
ALLOWED = {
    "admin": {"model_info", "predict", "predict_batch", "predict_explain"},
    "analyst": {"model_info", "predict_explain"},
    "service": {"predict", "predict_batch"},
    "viewer": {"model_info"},
}


def _call(client, endpoint, company, headers):
    method, path = ENDPOINTS[endpoint]
    if method == "GET":
        return client.get(path, headers=headers)
    body = {"companies": [company]} if endpoint == "predict_batch" else company
    return client.post(path, json=body, headers=headers)


# -- 401 / 403 -------------------------------------------------------------------

@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("role", KEY_ROLES)
def test_roles(client, keys, company, endpoint, role):
    r = _call(client, endpoint, company, header(keys[role]))
    if endpoint in ALLOWED[role]:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 403
        assert_clean(r)
        assert f"role {role!r}" in r.json()["detail"]


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("headers", [{}, {"X-API-Key": ""}, {"X-API-Key": "rk_not-a-key"},
                                     {"X-API-Key": "x" * 5000}, {"Authorization": "Bearer abc"}],
                         ids=["none", "empty", "unknown", "huge", "other-header"])
def test_401_without_a_valid_key(client, company, endpoint, headers):
    r = _call(client, endpoint, company, headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "X-API-Key"
    assert_clean(r)


def test_a_revoked_key_stops_working_at_once(client, keystore, keys, company):
    key_id = next(k.id for k in keystore.keys() if k.role == "service")
    assert client.post("/predict", json=company, headers=header(keys["service"])).status_code == 200
    keystore.revoke(key_id)
    r = client.post("/predict", json=company, headers=header(keys["service"]))
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]


def test_auth_is_checked_before_the_values(client, keys):
    r = client.post("/predict", json={"company_id": 1})
    assert r.status_code == 401
    r = client.post("/predict", json={"company_id": 1}, headers=header(keys["viewer"]))
    assert r.status_code == 403


# -- 422 -------------------------------------------------------------------------

def _with(company, **features):
    return {**company, "features": {**company["features"], **features}}


CASES = {
    "string for a number": (lambda c: _with(c, roa="0.05"), ["body", "features", "roa"], "float_type"),
    "boolean for a number": (lambda c: _with(c, current_ratio=True), ["body", "features", "current_ratio"],
                             "float_type"),
    "above the maximum": (lambda c: _with(c, roa=2.5), ["body", "features", "roa"], "less_than_equal"),
    "below the minimum": (lambda c: _with(c, debt_to_assets=-0.1), ["body", "features", "debt_to_assets"],
                          "greater_than_equal"),
    "unknown category": (lambda c: _with(c, sector="Crypto"), ["body", "features", "sector"], "literal_error"),
    "category in the wrong case": (lambda c: _with(c, sector="energy"), ["body", "features", "sector"],
                                   "literal_error"),
    "number for a category": (lambda c: _with(c, region=3), ["body", "features", "region"], "literal_error"),
    "unknown feature": (lambda c: _with(c, roa_squared=0.1), ["body", "features", "roa_squared"],
                        "extra_forbidden"),
    "unknown top-level field": (lambda c: {**c, "score": 1}, ["body", "score"], "extra_forbidden"),
    "missing required feature": (lambda c: {**c, "features": {k: v for k, v in c["features"].items()
                                                              if k != "interest_coverage"}},
                                 ["body", "features", "interest_coverage"], "missing"),
    "missing company_id": (lambda c: {k: v for k, v in c.items() if k != "company_id"}, ["body", "company_id"],
                           "missing"),
    "number for company_id": (lambda c: {**c, "company_id": 17}, ["body", "company_id"], "string_type"),
    "blank company_id": (lambda c: {**c, "company_id": "   "}, ["body", "company_id"], "string_pattern_mismatch"),
    "NUL in company_id": (lambda c: {**c, "company_id": "C-\x00-1"}, ["body", "company_id"], "string_pattern_mismatch"),
    "company_id too long": (lambda c: {**c, "company_id": "C" * 101}, ["body", "company_id"], "string_too_long"),
    "negative exposure": (lambda c: {**c, "exposure": -1.0}, ["body", "exposure"], "greater_than_equal"),
    "fiscal year as text": (lambda c: {**c, "fiscal_year": "2023"}, ["body", "fiscal_year"], "int_type"),
    "features not an object": (lambda c: {**c, "features": [1, 2]}, ["body", "features"], "model_attributes_type"),
    "body not an object": (lambda c: [c], ["body"], "model_attributes_type"),
}


@pytest.mark.parametrize("endpoint", ["/predict", "/predict_explain"])
@pytest.mark.parametrize("case", list(CASES))
def test_422_names_the_field(client, keys, company, audit, endpoint, case):
    make, loc, kind = CASES[case]
    r = client.post(endpoint, json=make(company), headers=header(keys["admin"]))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert {"loc": loc, "type": kind} in [{"loc": d["loc"], "type": d["type"]} for d in detail]
    assert all(set(d) == {"loc", "msg", "type"} for d in detail)  # the value sent is never echoed
    assert_clean(r)
    assert audit.count() == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_422_for_nan_and_infinities(client, keys, company, audit, literal):
    # strict encoders refuse NaN; write the literal into the text the way a careless client would
    raw = json.dumps(company).replace(f'"roa": {json.dumps(company["features"]["roa"])}', f'"roa": {literal}')
    assert literal in raw
    r = client.post("/predict", content=raw, headers={**header(keys["admin"]), "content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "features", "roa"]
    assert r.json()["detail"][0]["type"] == "finite_number"
    assert_clean(r)
    assert audit.count() == 0


def test_nan_in_one_company_of_a_batch_is_that_company_s_error(client, keys, company, audit):
    good = json.dumps(company)
    bad = good.replace(f'"roa": {json.dumps(company["features"]["roa"])}', '"roa": NaN')
    raw = f'{{"companies": [{good}, {bad}]}}'
    r = client.post("/predict_batch", content=raw, headers={**header(keys["service"]),
                                                            "content-type": "application/json"})
    assert r.status_code == 200
    body = r.json()
    assert body["n_scored"] == 1
    assert body["errors"] == [{"index": 1, "company_id": company["company_id"], "field": "features.roa",
                               "message": "Input should be a finite number", "type": "finite_number"}]
    assert "NaN" not in r.text
    assert audit.count() == 1


@pytest.mark.parametrize("raw", [b'{"company_id": "x", ', b"", b"not json", b'{"company_id": "x"}}'])
def test_422_for_malformed_json(client, keys, raw):
    r = client.post("/predict", content=raw, headers={**header(keys["admin"]), "content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][0] == "body"
    assert_clean(r)


def test_422_for_a_body_that_is_not_json(client, keys, company):
    r = client.post("/predict", content=json.dumps(company), headers={**header(keys["admin"]),
                                                                       "content-type": "text/plain"})
    assert r.status_code == 422
    assert_clean(r)


def test_batch_above_the_maximum_is_422_naming_companies(make_client, keys, company, audit):
    client = make_client(api_max_batch=3)
    r = client.post("/predict_batch", json={"companies": [company] * 4}, headers=header(keys["service"]))
    assert r.status_code == 422
    d = r.json()["detail"][0]
    assert d["loc"] == ["body", "companies"] and d["type"] == "too_long" and "at most 3" in d["msg"]
    assert_clean(r)
    assert audit.count() == 0
    assert client.post("/predict_batch", json={"companies": [company] * 3},
                       headers=header(keys["service"])).status_code == 200


@pytest.mark.parametrize("payload,loc", [({"companies": []}, ["body", "companies"]),
                                         ({"companies": [1]}, ["body", "companies", 0]),
                                         ({}, ["body", "companies"]),
                                         ({"companies": [], "extra": 1}, ["body", "extra"])])
def test_batch_of_the_wrong_shape_is_422(client, keys, payload, loc):
    r = client.post("/predict_batch", json=payload, headers=header(keys["service"]))
    assert r.status_code == 422
    assert loc in [d["loc"] for d in r.json()["detail"]]


# -- 413 -------------------------------------------------------------------------

def test_413_by_content_length_before_reading(make_client, keys, company, audit):
    client = make_client(api_max_body_bytes=500)
    r = client.post("/predict_batch", json={"companies": [company] * 5}, headers=header(keys["service"]))
    assert r.status_code == 413
    assert "500 bytes" in r.json()["detail"]
    assert r.json()["request_id"] == r.headers["x-request-id"]
    assert audit.count() == 0


def test_413_for_a_chunked_body_without_content_length(make_client, keys, company, audit):
    client = make_client(api_max_body_bytes=500)
    data = json.dumps({"companies": [company] * 5}).encode()

    def chunks():
        for i in range(0, len(data), 100):
            yield data[i:i + 100]

    r = client.post("/predict_batch", content=chunks(), headers={**header(keys["service"]),
                                                                 "content-type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert r.status_code == 413
    assert_clean(r)
    assert audit.count() == 0


def test_a_body_under_the_cap_passes(make_client, keys, company):
    client = make_client(api_max_body_bytes=len(json.dumps(company)) + 10)
    assert client.post("/predict", json=company, headers=header(keys["service"])).status_code == 200


def test_400_for_a_bad_content_length(client, keys):
    r = client.post("/predict", content=b"{}", headers={**header(keys["service"]), "content-length": "-5",
                                                        "content-type": "application/json"})
    assert r.status_code == 400


# -- 429 -------------------------------------------------------------------------

def test_429_with_retry_after_per_key(make_client, keys, company):
    client = make_client(api_rate_limit=3)
    for _ in range(3):
        assert client.post("/predict", json=company, headers=header(keys["service"])).status_code == 200
    r = client.post("/predict", json=company, headers=header(keys["service"]))
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert_clean(r)
    # another key has its own budget
    assert client.post("/predict", json=company, headers=header(keys["admin"])).status_code == 200
    # rejected requests count too: the limit is on load, not on successes
    assert client.get("/model_info", headers=header(keys["service"])).status_code == 429


def test_rate_limiter_window_slides():
    from api.limits import RateLimiter

    now = [1000.0]
    limiter = RateLimiter(2, window=60.0, clock=lambda: now[0])
    assert limiter.hit("k") == 0
    now[0] += 30
    assert limiter.hit("k") == 0
    assert limiter.hit("k") == 30
    now[0] += 29.5
    assert limiter.hit("k") == 1
    now[0] += 0.5  # the first hit leaves the window
    assert limiter.hit("k") == 0
    assert limiter.hit("other") == 0


# -- 503 -------------------------------------------------------------------------

@pytest.fixture
def readonly_audit(tmp_path):
    path = tmp_path / "ro" / "audit.db"
    path.parent.mkdir()
    writable = AuditLog(f"sqlite:///{path}")
    writable.count()  # creates the table
    writable.close()
    log = AuditLog(f"sqlite:///file:{path}?mode=ro&uri=true")
    yield log
    log.close()


@pytest.mark.parametrize("endpoint", ["predict", "predict_batch", "predict_explain"])
def test_503_and_no_score_when_the_audit_store_is_read_only(make_client, keys, company, readonly_audit, endpoint,
                                                            caplog):
    client = make_client(audit_=readonly_audit)
    r = _call(client, endpoint, company, header(keys["admin"]))
    assert r.status_code == 503
    body = r.json()
    assert set(body) == {"detail", "request_id"}
    assert "audit trail could not be written" in body["detail"]
    assert_clean(r, "sqlite", "audit.db")
    assert readonly_audit.count() == 0
    assert "readonly" in caplog.text.lower() or "read-only" in caplog.text.lower()  # the operator sees why


def test_an_unreadable_audit_salt_keeps_the_api_up_and_refusing_scores(settings, bundle, keystore, keys, company,
                                                                        monkeypatch, caplog):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from riskcore.serving.audit import SALT_ENV, salt_file

    monkeypatch.delenv(SALT_ENV, raising=False)
    salt_file(settings.home).unlink(missing_ok=True)  # made by the fixtures' audit trail
    salt_file(settings.home).mkdir(parents=True)  # not a file: the salt cannot be read
    client = TestClient(create_app(settings, bundle=bundle, keys=keystore))
    ready = client.get("/ready")
    assert ready.status_code == 503 and "audit trail is not available" in ready.json()["reasons"][0]
    r = client.post("/predict", json=company, headers=header(keys["service"]))
    assert r.status_code == 503
    assert_clean(r, "audit_salt", "secrets")
    assert "the audit salt" in caplog.text and "cannot be read" in caplog.text  # the operator is told why


def test_ready_is_503_when_the_audit_store_is_read_only(make_client, readonly_audit):
    r = make_client(audit_=readonly_audit).get("/ready")
    assert r.status_code == 503
    assert r.json()["ready"] is False
    assert r.json()["reasons"] == ["the audit store is not writable, so scores are refused until it is"]
    assert_clean(r, "sqlite", "audit.db")


def test_ready_is_503_when_the_bundle_changed_on_disk(make_client, bundle, tmp_path):
    import shutil

    from riskcore.modelling.bundle import load_bundle

    copy = tmp_path / "bundle"
    shutil.copytree(bundle.path, copy)
    loaded = load_bundle(copy)
    client = make_client(bundle_=loaded)
    assert client.get("/ready").status_code == 200
    with (copy / "metrics.json").open("a") as fh:
        fh.write(" ")
    r = client.get("/ready")
    assert r.status_code == 503
    assert "no longer matches" in r.json()["reasons"][0]
    assert_clean(r, str(copy))


@pytest.fixture
def no_model_client(settings, keystore, keys, audit, monkeypatch):
    """An API on a registry that has no champion yet (the settings' home is empty)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    monkeypatch.delenv("RISKCORE_API_BUNDLE", raising=False)
    return TestClient(create_app(settings, keys=keystore, audit=audit))


def test_without_a_model_the_app_starts_and_says_so(no_model_client, keys, company):
    client = no_model_client
    assert client.get("/health").status_code == 200
    r = client.get("/ready")
    assert r.status_code == 503
    body = r.json()
    assert (body["ready"], body["status"], body["model_version"]) == (False, "unavailable", None)
    assert body["reasons"] == ["no model is deployed; train one first"]
    for endpoint in ENDPOINTS:
        r = _call(client, endpoint, company, header(keys["admin"]))
        assert r.status_code == 503, endpoint
        assert r.json()["detail"] == "no model is deployed; train one first"
    # keys and roles still apply
    assert _call(client, "predict", company, {}).status_code == 401
    assert _call(client, "predict", company, header(keys["viewer"])).status_code == 403


def test_a_bundle_that_fails_to_load_is_503_without_its_path(settings, keystore, keys, audit, company, tmp_path,
                                                             monkeypatch):
    from fastapi.testclient import TestClient

    from api.app import create_app

    monkeypatch.setenv("RISKCORE_API_BUNDLE", str(tmp_path / "no-such-bundle"))
    client = TestClient(create_app(settings, keys=keystore, audit=audit))
    r = client.post("/predict", json=company, headers=header(keys["service"]))
    assert r.status_code == 503
    assert "cannot be loaded" in r.json()["detail"]
    assert_clean(r, "no-such-bundle")
    assert_clean(client.get("/ready"), "no-such-bundle")


def test_the_bundle_named_by_the_environment_is_served(settings, keystore, keys, audit, bundle, company,
                                                       monkeypatch):
    from fastapi.testclient import TestClient

    from api.app import create_app

    monkeypatch.setenv("RISKCORE_API_BUNDLE", str(bundle.path))
    client = TestClient(create_app(settings, keys=keystore, audit=audit))
    r = client.post("/predict", json=company, headers=header(keys["service"]))
    assert r.status_code == 200
    assert r.json()["model_version"] == bundle.version


def test_503_when_the_key_file_is_damaged(client, settings, keys, company):
    settings.keys_file.write_text("{ not json", encoding="utf-8")
    r = client.post("/predict", json=company, headers=header(keys["service"]))
    assert r.status_code == 503
    assert_clean(r, "api_keys")


# -- 500 -------------------------------------------------------------------------

def test_500_is_generic(make_client, keys, company, monkeypatch, audit):
    import riskcore.serving.companies

    def broken(*args, **kwargs):
        raise RuntimeError("boom in /srv/secret/riskcore/serving/scoring.py line 12")

    monkeypatch.setattr(riskcore.serving.companies, "score_one", broken)
    client = make_client(raise_server_exceptions=False)
    r = client.post("/predict", json=company, headers=header(keys["service"]))
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error", "request_id": r.headers["x-request-id"]}
    assert_clean(r, "boom", "secret")
    assert audit.count() == 0


def test_404_and_405_are_json(client):
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["detail"] == "Not Found"
    r = client.get("/predict")
    assert r.status_code == 405
    assert_clean(r)


def test_422_for_a_body_that_is_not_utf8(client, keys):
    r = client.post("/predict", content=b'{"company_id": "\xff\xfe"}',
                    headers={**header(keys["admin"]), "content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"] == [{"loc": ["body"], "msg": "the body is not valid JSON: it is not UTF-8 text",
                                   "type": "json_invalid"}]


def test_a_year_written_as_a_whole_float_is_a_year(client, keys, company):
    """JSON Schema counts 2023.0 as an integer, so the API accepts it; 2023.5 and "2023" stay invalid."""
    r = client.post("/predict", json={**company, "fiscal_year": 2023.0}, headers=header(keys["service"]))
    assert r.status_code == 200 and r.json()["fiscal_year"] == 2023
    for bad in (2023.5, "2023", True):
        r = client.post("/predict", json={**company, "fiscal_year": bad}, headers=header(keys["service"]))
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "fiscal_year"], bad


# -- the error contract: each engine error answers with its class's HTTP status ------------------------

def _engine_error(cls):
    from riskcore.errors import LeakageError, MissingColumnError

    if cls is LeakageError:
        return cls("stopped in /srv/secret/run", [])
    if cls is MissingColumnError:
        return cls("roa", "required column(s) 'roa' are not in the file")
    return cls("broken in /srv/secret/riskcore.toml")


CONTRACT_HTTP = {
    "unusable file": ("DataFileError", 422),
    "bad settings": ("ConfigError", 500),
    "model not found": ("ModelNotFoundError", 503),
    "bundle unusable": ("BundleError", 503),
    "leakage": ("LeakageError", 422),
    "audit unavailable": ("AuditError", 503),
    "tracking unavailable": ("TrackingError", 503),
}


@pytest.mark.parametrize("endpoint", ["predict", "predict_batch", "predict_explain"])
@pytest.mark.parametrize("kind", list(CONTRACT_HTTP))
def test_an_engine_error_answers_with_its_class_http_status(make_client, keys, company, audit, monkeypatch, caplog,
                                                            kind, endpoint):
    import riskcore.errors
    import riskcore.serving.companies

    name, status = CONTRACT_HTTP[kind]
    cls = getattr(riskcore.errors, name)
    assert cls.http_status == status

    def failing(*args, **kwargs):
        raise _engine_error(cls)

    monkeypatch.setattr(riskcore.serving.companies, "score_one", failing)
    r = _call(make_client(), endpoint, company, header(keys["admin"]))
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"detail", "request_id"} and isinstance(body["detail"], str) and body["detail"]
    assert_clean(r, "secret", "riskcore.toml")
    assert audit.count() == 0
    assert "/srv/secret" in caplog.text  # the operator's log keeps the engine's message


@pytest.mark.parametrize("endpoint", ["predict", "predict_explain"])
@pytest.mark.parametrize("name", ["SchemaError", "MissingColumnError"])
def test_invalid_values_and_missing_columns_are_422_naming_the_field(make_client, keys, company, audit, monkeypatch,
                                                                     name, endpoint):
    import riskcore.errors
    import riskcore.serving.companies
    from riskcore.errors import Problem

    cls = getattr(riskcore.errors, name)
    assert cls.http_status == 422

    def failing(*args, **kwargs):
        if cls is riskcore.errors.MissingColumnError:
            raise cls("roa", "required column(s) 'roa' are not in the file")
        raise cls(Problem(None, "roa", 9.0, "9.0 is above the maximum 1"))

    monkeypatch.setattr(riskcore.serving.companies, "score_one", failing)
    r = _call(make_client(), endpoint, company, header(keys["admin"]))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "features", "roa"]
    assert audit.count() == 0


def test_an_answer_may_quote_the_value_sent_but_the_log_never_does(make_client, keys, company, audit, monkeypatch,
                                                                   caplog):
    """An engine error that reaches the handler is logged by its columns and rules (one inside a company's
    scoring is answered per company and logged nowhere)."""
    import riskcore.serving.requests
    from riskcore.errors import Problem, SchemaError

    def failing(*args, **kwargs):
        raise SchemaError(Problem(3, "contact_name", "Jan Kowalczyk", "'Jan Kowalczyk' is not a known category",
                                  id="C-4711", check="unknown_category"))

    monkeypatch.setattr(riskcore.serving.requests, "score_records", failing)
    caplog.set_level(logging.INFO)
    r = _call(make_client(), "predict", company, header(keys["admin"]))
    assert r.status_code == 422 and "Jan Kowalczyk" in r.text  # so the client can fix it
    assert "SchemaError: 1 problem(s) in column(s) 'contact_name' (rules: unknown_category)" in caplog.text
    assert "Kowalczyk" not in caplog.text and "C-4711" not in caplog.text


def test_the_handler_maps_any_engine_error_by_its_class(make_client, keys, company, audit, monkeypatch):
    """An engine error raised outside the scoring service (here: reading the bundle) still gets its status."""
    import riskcore.serving.requests
    from riskcore.errors import BundleError, ConfigError, RiskcoreError

    for cls in (BundleError, ConfigError, RiskcoreError):
        def failing(*args, _cls=cls, **kwargs):
            raise _cls("inside /srv/secret")

        monkeypatch.setattr(riskcore.serving.requests, "score_records", failing)
        r = make_client().post("/predict", json=company, headers=header(keys["service"]))
        assert r.status_code == cls.http_status, cls
        assert_clean(r, "secret")
