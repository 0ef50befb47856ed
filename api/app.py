"""The REST API: a thin FastAPI adapter over the riskcore engine.

Endpoints (all JSON; the key goes in the ``X-API-Key`` header):

====================  ================  ==============================================
endpoint              permission        answers
====================  ================  ==============================================
GET  /health          none              200 while the process runs
GET  /ready           none              200 ready / 503 with the reasons
GET  /model_info      model_info        200, 401, 403, 429, 503 no model
GET  /monitoring      model_info        200 the newest monitoring summary of the served model,
                                        401, 403, 404 never monitored, 429, 503
POST /predict         score             200, 401, 403, 413, 422, 429, 503
POST /predict_batch   score             200 (per-company errors inside), 401, 403, 413,
                                        422 (not a batch, or more than ``api_max_batch``), 429, 503
POST /predict_explain explain           as /predict
====================  ================  ==============================================

Checks run in this order: body size (413, before the body is read), JSON
syntax (422), key (401), rate limit (429), role (403), values (422), model and
audit store (503). Every score is written to the audit trail before the
response is sent; when that fails the answer is 503 and carries no score.
No response carries a stack trace or a file path; validation errors name the
field and the rule. An error of the engine that reaches an endpoint answers
with its class's ``http_status`` (the table is in :mod:`riskcore.errors`: 422
invalid input, 500 invalid server settings, 503 no model, a damaged bundle, or
the audit trail or model registry unavailable); its message goes to the log.

This module deliberately has no ``from __future__ import annotations``:
FastAPI reads the endpoint annotations at runtime and the request models are
local classes built from the bundle's spec.
"""

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

import riskcore
from api import answers, handlers, oidc, schemas, validation
from api.grouping import CountArrivals, Grouper, submitted
from api.handlers import NO_MODEL
from api.http import keep_queries_out_of_access_log
from api.jobs import add_job_routes, job_too_large
from api.keys import API_KEY_HEADER, authorize, key_caller
from api.limits import BodySizeLimit, RateLimiter, SharedRateLimiter
from api.monitoring import LatestMonitoring, no_monitoring
from riskcore.config import Settings, load_settings
from riskcore.errors import AuditError, ConfigError, ModelNotFoundError, RiskcoreError
from riskcore.identity import ApiKey, IdentitySettings, KeyFileError, KeyStore, Permission, can_call
from riskcore.lru import LRU
from riskcore.workbench import (
    NO_CHAMPION,
    AuditLog,
    DatasetSpec,
    ModelBundle,
    ModelServer,
    RateBuckets,
    ScoringRequest,
    Served,
    ServedScores,
    Workbench,
)

__all__ = ["API_KEY_HEADER", "NO_MODEL", "create_app", "public_reason", "workbench"]

log = logging.getLogger("api")

_NO_AUDIT = ("the audit trail is not available, so no score can be returned; "
             "check the audit store (setting audit_url) — the server log has the details")
_PER_BUNDLE = 4  # bundles whose request models and /model_info the API keeps (as the model server keeps bundles)
_FORM_SLACK = 1 << 20  # a multipart body's boundaries and fields around the file, whose own limit api.jobs checks
_AUDIT_READONLY = "the audit store is not writable, so scores are refused until it is"

_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, scheme_name="ApiKey",
                        description="An API key from `python -m api keys add --role ROLE`.")
_bearer = HTTPBearer(auto_error=False, scheme_name="BearerToken",
                     description="Instead of a key: a token of the sign-in provider named by "
                                 "RISKCORE_OIDC_ISSUER, when the server sets it.")

_DESCRIPTION = """
Probability of default, decision, grade and reason codes for small and mid-sized companies,
from the deployed riskcore model. Every score is written to the audit trail before it is returned.

**Keys and roles.** Send your key in the `{header}` header. Keys are created with
`python -m api keys add --role ROLE` and each has one role:

| role | may call |
|---|---|
| admin | everything, and every caller's jobs |
| analyst | GET /model_info, GET /monitoring, POST /predict_explain, POST /jobs/retrain, its jobs |
| service | POST /predict, POST /predict_batch, POST /jobs/score, its jobs |
| viewer | GET /model_info, GET /monitoring |

A portfolio too large for one request is uploaded to POST /jobs/score (multipart, up to {upload:,} bytes)
and scored by a worker: poll GET /jobs/{{id}}, then download GET /jobs/{{id}}/result.

When the server is configured with an OpenID Connect provider (`RISKCORE_OIDC_ISSUER`), a bearer
token of that provider (`Authorization: Bearer …`) may be sent instead of a key; its role comes from
the token's roles claim. GET /health and GET /ready need no key.

**Limits.** {rate} requests per minute per key; request bodies up to {body:,} bytes;
POST /predict_batch takes 1 to {max_batch:,} companies.

**Errors** are JSON with a `detail` and the `request_id` (also in the `X-Request-ID` header):
401 no or unknown key, 403 the key's role may not call this endpoint, 413 body too large,
422 invalid values (`detail` lists each with its `loc`, e.g. `["body", "features", "roa"]`),
429 rate limit (see `Retry-After`), 503 no model deployed or audit trail unavailable
(no score is returned).
"""


# ---------------------------------------------------------------------------
# state
# ---------------------------------------------------------------------------

@dataclass
class _Item:
    """One scoring request waiting for its group: what the route validated and who sent it.

    ``companies`` are validated companies (``/predict``, ``/predict_explain``) or, for ``/predict_batch``,
    ``items`` are the batch's raw entries, validated one by one in the group's thread.
    """

    fingerprint: str
    caller: str
    request_id: str
    ts: datetime
    company: BaseModel | None = None
    items: list[Any] | None = None
    explain: bool = False
    models: schemas.RequestModels | None = None


@dataclass
class _State:
    settings: Settings
    bench: Workbench
    server: ModelServer
    keys: KeyStore
    audit: AuditLog | None
    audit_problem: str
    limiter: RateLimiter | SharedRateLimiter
    monitoring: LatestMonitoring
    grouper: Grouper[_Item, Any] | None = None  # the scoring requests answered together
    bearer: oidc.BearerVerifier | None = None  # None: bearer tokens are not accepted
    app: FastAPI | None = None
    installed: str | None = None  # manifest hash of the bundle whose request models the scoring routes take
    # per served bundle (manifest hash): its request models and their fingerprint, its /model_info body
    models: LRU[str, tuple[schemas.RequestModels, str]] = field(default_factory=lambda: LRU(_PER_BUNDLE))
    infos: LRU[str, dict[str, Any]] = field(default_factory=lambda: LRU(_PER_BUNDLE))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def served(self, *, now: bool = False) -> Served:
        """What is served (looking again when due, or ``now``), with the scoring routes made to match it."""
        served = self.server.refresh() if now else self.server.current()
        key = served.bundle.manifest_hash if served.bundle is not None else ""
        if key != self.installed:
            self._install(served)
        return served

    def request_models(self, bundle: ModelBundle) -> tuple[schemas.RequestModels, str]:
        """The request models of a bundle and their fingerprint (the JSON schema's hash), built once per bundle."""
        def build() -> tuple[schemas.RequestModels, str]:
            models = schemas.build_request_models(bundle, self.settings.api_max_batch)
            text = json.dumps(models.company.model_json_schema(), sort_keys=True)
            return models, hashlib.sha256(text.encode()).hexdigest()

        return self.models.get_or_set(bundle.manifest_hash, build)

    def _install(self, served: Served) -> None:
        """Swap the scoring routes when the served bundle takes other fields (a new champion, a fallback)."""
        with self.lock:
            key = served.bundle.manifest_hash if served.bundle is not None else ""
            if key == self.installed or self.app is None:
                return
            before = self.models.get(self.installed or "")
            models = self.request_models(served.bundle) if served.bundle is not None else None
            if before is None or models is None or before[1] != models[1]:
                _install_routes(self.app, models)
                log.info("serving %s", served.version or "no model")
            self.installed = key

    def scoring(self, fingerprint: str) -> tuple[Served, ModelBundle, AuditLog]:
        """What is served and the audit log, or a 503 when either is missing.

        ``fingerprint`` is the request models' of the route that validated the request: when the
        served model changed to one that takes other fields on its way, the client is asked to retry.
        """
        served = self.served()
        if served.bundle is None:
            raise HTTPException(ModelNotFoundError.http_status, public_reason(served))
        if self.audit is None:
            raise HTTPException(AuditError.http_status, self.audit_problem)
        if self.request_models(served.bundle)[1] != fingerprint:
            raise HTTPException(503, "the model changed while this request was on its way and takes other fields; "
                                     "send it again", headers={"Retry-After": "1"})
        return served, served.bundle, self.audit

    def model_info(self, served: Served) -> dict[str, Any]:
        bundle = served.bundle
        if bundle is None:
            raise HTTPException(ModelNotFoundError.http_status, public_reason(served))
        info = self.infos.get_or_set(bundle.manifest_hash,
                                     lambda: answers.model_info(bundle, self.settings.api_max_batch))
        challenger = served.challenger
        return {**info, "status": served.status, "reason": served.reason, "champion_version": served.champion,
                "challenger_version": challenger.version if challenger is not None else None,
                "canary_share": served.canary_share if challenger is not None else 0.0}


def public_reason(served: Served) -> str:
    """Why nothing is served, in the API's words (no file names)."""
    return NO_MODEL if served.reason == NO_CHAMPION else served.reason or NO_MODEL


def _state(request: Request) -> _State:
    return request.app.state.riskcore


def workbench(settings: Settings, audit: AuditLog | None, bundle: ModelBundle | None = None) -> Workbench:
    """The API's workbench, serving ``bundle``, else the bundle folder ``$RISKCORE_API_BUNDLE``, else the champion.

    A bundle folder that cannot be loaded is logged and nothing is served (``/ready`` says why).
    """
    folder = os.environ.get("RISKCORE_API_BUNDLE")
    pinned: ModelBundle | str | None = bundle
    if bundle is None and folder:
        try:
            pinned = Workbench(settings).open_model(folder)
        except RiskcoreError as err:  # served nothing until it loads; /ready says why
            log.error("cannot load the model to serve: %s", err)
            pinned = folder
    return Workbench(settings, audit=audit, pinned=pinned)


def _open_audit(settings: Settings) -> tuple[AuditLog | None, str]:
    try:
        return Workbench(settings).audit, ""
    except (AuditError, ConfigError) as err:  # ConfigError: the salt of the redacted inputs cannot be read
        log.error("cannot open the audit trail: %s", err)
        return None, _NO_AUDIT


# ---------------------------------------------------------------------------
# keys, roles and the rate limit
# ---------------------------------------------------------------------------

def _guard(permission: Permission, *others: Permission) -> Any:
    """A dependency that admits a valid key or bearer token (:mod:`api.oidc`) whose role holds ``permission``.

    With ``others``, a role holding any one of them is admitted (the job routes: the route checks the job).
    """

    async def check(request: Request, key: str | None = Security(_api_key),
                    token: HTTPAuthorizationCredentials | None = Security(_bearer)) -> ApiKey:
        st = _state(request)
        found: ApiKey
        if not key and token is not None and st.bearer is not None:  # the token's check may fetch the keys
            found = await anyio.to_thread.run_sync(st.bearer.caller, token.credentials, permission, *others)
        else:
            found = key_caller(st.keys, key, bearer_accepted=st.bearer is not None)
        wait = await st.limiter.check(found.id)
        if wait:
            raise HTTPException(429, f"rate limit of {st.limiter.limit} requests per minute reached for this key; "
                                     f"retry after {wait} s", headers={"Retry-After": str(wait)})
        if not any(can_call(found.role, p) for p in others):
            authorize(found, permission)
        return found

    return check


# ---------------------------------------------------------------------------
# engine glue
# ---------------------------------------------------------------------------

def _audit_inputs(spec: DatasetSpec, company: BaseModel, result: dict[str, Any]) -> dict[str, Any]:
    inputs = dict(result["inputs"])
    year = getattr(company, "fiscal_year", None)
    if spec.time and year is not None:
        inputs[spec.time] = year
    return inputs


def _answer_group(st: _State, items: list[_Item]) -> list[Any]:
    """Score a group of requests and record every score in one audit transaction; one answer (or error) each.

    Runs on the grouper's thread. A request whose model changed on its way gets its 503; when the audit
    transaction fails, every request scored with it gets the error (503, no score).
    """
    outcomes: list[Any] = [None] * len(items)
    by_model: dict[int, tuple[Served, AuditLog, list[tuple[int, ScoringRequest, list[tuple[int, BaseModel]],
                                                              list[dict[str, Any]]]]]] = {}
    for k, item in enumerate(items):
        try:
            served, bundle, audit = st.scoring(item.fingerprint)
        except HTTPException as err:
            outcomes[k] = err
            continue
        spec = bundle.spec
        errors: list[dict[str, Any]] = []
        if item.items is not None:
            assert item.models is not None
            valid, errors = validation.validate_items(item.models.company, item.items)
        else:
            assert item.company is not None
            valid = [(0, item.company)]
        companies = [c for _, c in valid]
        request = ScoringRequest([validation.engine_record(spec, c) for c in companies],
                                 [str(c.company_id) for c in companies], item.caller, item.request_id,  # type: ignore[attr-defined]
                                 item.explain, audit_inputs=_audit_inputs_of(spec, companies))
        by_model.setdefault(id(served), (served, audit, []))[2].append((k, request, valid, errors))
    for served, audit, members in by_model.values():
        try:
            done = st.bench.predict_group([request for _, request, _, _ in members], served=served, audit=audit)
        except RiskcoreError as err:  # an AuditError answers 503 with no score, through api.handlers
            for k, _, _, _ in members:
                outcomes[k] = err
            continue
        for (k, _, valid, errors), scores in zip(members, done, strict=True):
            for problem in scores.shadow_problems:
                log.warning("request %s: %s", items[k].request_id, problem)
            try:
                outcomes[k] = _answer(served, items[k], valid, errors, scores)
            except Exception as err:  # noqa: BLE001 - this request's error only, never its group's
                outcomes[k] = err
    return outcomes


def _audit_inputs_of(spec: DatasetSpec, companies: list[BaseModel]) -> Any:
    return lambda i, result: _audit_inputs(spec, companies[i], result)


def _answer(served: Served, item: _Item, valid: list[tuple[int, BaseModel]], errors: list[dict[str, Any]],
            done: ServedScores) -> dict[str, Any] | Exception:
    """The body of one request's answer, or the 422 of a single company the model cannot score."""
    bundle = served.bundle
    assert bundle is not None  # st.scoring() checked it
    rid, ts = item.request_id, item.ts
    if item.items is None:
        company = valid[0][1]
        if done.problems:
            return validation.rule_errors(bundle.spec, done.problems[0][1])
        result = done.results[0][1]
        explained = answers.explanation(result["explanation"]) if item.explain else {}
        return {**answers.prediction(company, result, rid, ts), **explained}
    errors += validation.batch_rule_errors(bundle.spec, item.items, valid, done.problems)
    errors.sort(key=lambda e: e["index"])
    results = [{**answers.prediction(valid[j][1], result, rid, ts), "index": valid[j][0]} for j, result in done.results]
    rejected = len({e["index"] for e in errors})
    return {"results": results, "errors": errors, "n_companies": len(item.items), "n_scored": len(results),
            "n_rejected": rejected, "model_version": bundle.version, "request_id": rid, "timestamp": ts}


async def _submit(request: Request, item: _Item) -> Any:
    """Hand a request to the next group and wait for its answer (an error is raised here, in its request)."""
    st = _state(request)
    assert st.grouper is not None
    outcome = await st.grouper.submit(item, counted=submitted(request.state))
    return outcome


# ---------------------------------------------------------------------------
# the app
# ---------------------------------------------------------------------------

_E: dict[int | str, dict[str, Any]] = {code: {"model": schemas.ErrorBody} for code in (401, 403, 413, 503)}
_E[422] = {"model": schemas.ValidationErrorBody}
_E[429] = {"model": schemas.ErrorBody, "headers": {"Retry-After": {
    "description": "Seconds to wait before the next request.", "schema": {"type": "integer"}}}}
_SCORE_RESPONSES: dict[int | str, dict[str, Any]] = {c: _E[c] for c in (401, 403, 413, 422, 429, 503)}
_INFO_RESPONSES: dict[int | str, dict[str, Any]] = {c: _E[c] for c in (401, 403, 429, 503)}


def create_app(settings: Settings | None = None, *, bundle: ModelBundle | None = None, keys: KeyStore | None = None,
               audit: AuditLog | None = None) -> FastAPI:
    """Build the API.

    Parameters
    ----------
    settings : limits, keys file, audit URL and ``[serving]`` (default: :func:`riskcore.config.load_settings`).
    bundle : serve this bundle only (default: the folder ``$RISKCORE_API_BUNDLE``, else the registry's champion,
        followed as it moves, see :class:`riskcore.serving.server.ModelServer`). Without a model the app
        still starts: /health answers 200, /ready and the model endpoints 503.
    keys : the key store (default: ``settings.keys_file``).
    audit : the audit trail (default: ``AuditLog.from_settings(settings)``).

    Returns
    -------
    FastAPI
    """
    settings = load_settings() if settings is None else settings
    audit_problem = ""
    if audit is None:
        audit, audit_problem = _open_audit(settings)
    identity = IdentitySettings.from_settings(settings)
    keys = KeyStore(identity.keys_file) if keys is None else keys
    try:
        if not [k for k in keys.keys() if not k.revoked]:
            log.warning("no active API key: every request will get 401; create one with "
                        "python -m api keys add --role service")
    except KeyFileError as err:
        log.error("%s", err)
    bench = workbench(settings, audit, bundle)
    local = RateLimiter(settings.api_rate_limit)
    limiter = local if audit is None else SharedRateLimiter(RateBuckets(audit.store, settings.api_rate_limit), local)
    state = _State(settings=settings, bench=bench, server=bench.server, keys=keys, audit=audit,
                   audit_problem=audit_problem, limiter=limiter, monitoring=LatestMonitoring(bench),
                   bearer=oidc.verifier(identity))
    state.grouper = Grouper(lambda items: _answer_group(state, items), wait_s=settings.api_group_wait_ms / 1000,
                            max_items=settings.api_group_max, name="scoring")

    description = _DESCRIPTION.format(header=API_KEY_HEADER, rate=settings.api_rate_limit,
                                      body=settings.api_max_body_bytes, max_batch=settings.api_max_batch,
                                      upload=settings.job_upload_max_bytes)
    app = FastAPI(title="riskcore API", version=riskcore.__version__, description=description)
    app.state.riskcore = state
    state.app = app
    handlers.install_handlers(app)
    keep_queries_out_of_access_log()
    app.add_middleware(CountArrivals, grouper=state.grouper, paths=_SCORING_PATHS)  # type: ignore[arg-type]
    app.add_middleware(_FollowModel, state=state)  # type: ignore[arg-type]
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes,  # type: ignore[arg-type]
                       request_id=handlers.scope_request_id,
                       paths={"/jobs/score": (settings.job_upload_max_bytes + _FORM_SLACK,
                                              job_too_large(settings.job_upload_max_bytes))})
    app.add_middleware(handlers.RequestId)  # type: ignore[arg-type]

    @app.get("/health", response_model=schemas.Health, tags=["operations"], summary="The process is alive")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", response_model=schemas.Ready, tags=["operations"],
             summary="A verified model is served and the audit store is writable",
             responses={503: {"model": schemas.Ready, "description": "Not ready; `reasons` says why."}})
    def ready(request: Request) -> Any:
        st = _state(request)
        served = st.served(now=True)  # a probe verifies the served bundle's every byte again
        reasons = [] if served.bundle is not None else [public_reason(served)]
        if st.audit is None:
            reasons.append(st.audit_problem)
        else:
            try:
                st.audit.check_writable()
            except AuditError as err:
                log.error("readiness: %s", err)
                reasons.append(_AUDIT_READONLY)
        status = "unavailable" if reasons else served.status
        challenger = served.challenger
        body = {"ready": not reasons, "status": status, "model_version": served.version,
                "serving_version": served.version, "champion_version": served.champion,
                "challenger_version": challenger.version if challenger is not None else None,
                "reason": served.reason or (reasons[0] if reasons else ""), "reasons": reasons}
        return JSONResponse(body, status_code=503 if reasons else 200)

    @app.get("/model_info", response_model=schemas.ModelInfo, tags=["model"], responses=_INFO_RESPONSES,
             summary="The model actually serving: version, features and ranges, test metrics, threshold and costs")
    def model_info(request: Request, key: ApiKey = Depends(_guard("model_info"))) -> Any:
        st = _state(request)
        return st.model_info(st.served())

    @app.get("/monitoring", response_model=schemas.MonitoringSummary, tags=["model"],
             responses={**_INFO_RESPONSES, 404: {"model": schemas.ErrorBody}},
             summary="The newest monitoring run of the model serving: alerts, drift, expected and realised "
                     "performance, back-test")
    def monitoring(request: Request, key: ApiKey = Depends(_guard("model_info"))) -> Any:
        st = _state(request)
        served = st.served()
        if served.version is None:
            raise HTTPException(503, public_reason(served))
        found = st.monitoring.latest(served.version)
        if found is None:
            raise HTTPException(404, no_monitoring(served.version))
        return found

    # a pinned API's jobs score with its bundle, as /predict does (else the champion, as the worker finds it)
    pinned = str(bundle.path) if bundle is not None else os.environ.get("RISKCORE_API_BUNDLE") or None
    add_job_routes(app, guard=_guard, bench_of=lambda request: _state(request).bench, responses=_E, pinned=pinned)

    state.served()  # the first look, and the scoring routes of what it found
    if state.installed is None:
        _install_routes(app, None)
    return app


class _FollowModel:
    """Before a request is routed, look for a new champion when it is due (in a worker thread: it may load one)."""

    def __init__(self, app: Any, state: _State):
        self.app = app
        self.state = state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Refresh what is served when due, then pass the request on."""
        if scope["type"] == "http" and self.state.server.due():
            await anyio.to_thread.run_sync(self.state.served)
        await self.app(scope, receive, send)


_SCORING_PATHS = frozenset({"/predict", "/predict_batch", "/predict_explain"})


def _install_routes(app: FastAPI, models: tuple[schemas.RequestModels, str] | None) -> None:
    """Put the scoring routes of ``models`` (or the 503 ones when nothing is served) in place, in one assignment."""
    router = APIRouter()
    if models is None:
        _add_unavailable_routes(router)
    else:
        _add_scoring_routes(router, *models)
    kept = [r for r in app.router.routes if getattr(r, "path", None) not in _SCORING_PATHS]
    app.router.routes = [*kept, *router.routes]
    app.openapi_schema = None


def _add_unavailable_routes(app: APIRouter) -> None:
    """Scoring routes of an app without a model: 401/403/429 as usual, then 503."""

    def refuse(request: Request) -> None:
        st = _state(request)
        served = st.served()
        raise HTTPException(ModelNotFoundError.http_status, public_reason(served) if served.bundle is None
                            else "the model changed while this request was on its way; send it again",
                            headers=None if served.bundle is None else {"Retry-After": "1"})

    @app.post("/predict", response_model=schemas.Prediction, tags=["scoring"], responses=_SCORE_RESPONSES)
    def predict(request: Request, key: ApiKey = Depends(_guard("score"))) -> Any:
        refuse(request)

    @app.post("/predict_batch", response_model=schemas.BatchResult, tags=["scoring"], responses=_SCORE_RESPONSES)
    def predict_batch(request: Request, key: ApiKey = Depends(_guard("score"))) -> Any:
        refuse(request)

    @app.post("/predict_explain", response_model=schemas.Explained, tags=["scoring"], responses=_SCORE_RESPONSES)
    def predict_explain(request: Request, key: ApiKey = Depends(_guard("explain"))) -> Any:
        refuse(request)


def _add_scoring_routes(app: APIRouter, models: schemas.RequestModels, fingerprint: str) -> None:
    Company = models.company  # noqa: N806 - a class, named like one
    Batch = models.batch  # noqa: N806

    def item(request: Request, key: ApiKey, **fields: Any) -> _Item:
        return _Item(fingerprint=fingerprint, caller=key.id, request_id=handlers.request_id(request),
                     ts=datetime.now(UTC), **fields)

    # Every score of a request is in the audit trail before its answer leaves: the request joins the next group
    # (api.grouping), whose scores are recorded in one transaction; no audit row, no score.
    @app.post("/predict", response_model=schemas.Prediction, tags=["scoring"], responses=_SCORE_RESPONSES,
              summary="Score one company")
    async def predict(company: Company, request: Request,  # type: ignore[valid-type]
                      key: ApiKey = Depends(_guard("score"))) -> Any:
        return await _submit(request, item(request, key, company=company))

    @app.post("/predict_explain", response_model=schemas.Explained, tags=["scoring"], responses=_SCORE_RESPONSES,
              summary="Score one company and explain the score")
    async def predict_explain(company: Company, request: Request,  # type: ignore[valid-type]
                              key: ApiKey = Depends(_guard("explain"))) -> Any:
        return await _submit(request, item(request, key, company=company, explain=True))

    @app.post("/predict_batch", response_model=schemas.BatchResult, tags=["scoring"], responses=_SCORE_RESPONSES,
              summary="Score many companies; invalid ones are reported, the others scored")
    async def predict_batch(batch: Batch, request: Request,  # type: ignore[valid-type]
                            key: ApiKey = Depends(_guard("score"))) -> Any:
        return await _submit(request, item(request, key, items=list(batch.companies),  # type: ignore[attr-defined]
                                           models=models))
