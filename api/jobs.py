"""The API's durable jobs: a portfolio uploaded and scored by a worker, polled, downloaded, cancelled; retraining.

====================  ==================  ==========================================================
endpoint              permission          answers
====================  ==================  ==========================================================
POST /jobs/score      score               202 the job (``Location``: its URL), 401, 403, 413, 415 neither
                                          multipart nor JSON, 422, 429, 503; a multipart upload (``file``:
                                          CSV, Excel or Parquet; ``format``: csv or parquet for the
                                          result) or, for a role with ``all_jobs``, JSON naming a file
                                          under ``[jobs] paths``
POST /jobs/retrain    retrain             202 the job (a run already waiting is returned instead)
GET  /jobs            score or retrain    200 the caller's jobs, newest first (every caller's with
                                          ``all_jobs`` and ``?all=true``)
GET  /jobs/{id}       score or retrain    200 state, progress, result; 404 unknown or not the caller's
GET  /jobs/{id}/result                    200 the scored rows (CSV or Parquet); 409 not succeeded yet;
GET  /jobs/{id}/rejects                   410 deleted after ``[jobs] keep_hours``; 404 no such file
DELETE /jobs/{id}                         202 cancelled (queued) or asked to stop (running); 409 ended
====================  ==================  ==========================================================

The upload is streamed to the job's folder as it arrives (``python-multipart``'s parser, written a block at a
time, never held in memory) up to ``[jobs] upload_max_mb``, which is the dashboard's upload limit unless set:
the JSON body limit of the scoring routes does not apply here. The answer is sent as soon as the file is stored
and the job queued; the scoring itself runs on a worker (``python -m riskcore worker``, or those the API
process starts, ``[jobs] api_workers``). A caller sees only its own jobs unless its role holds ``all_jobs``;
the retraining loop's runs are seen by every role that may start one.

A 422 has the shape of every invalid request of the API (``detail`` lists each field, ``["body", "lgd"]``,
with the rule it breaks); the form's fields are checked by :class:`UploadForm`, whose schema is the one the
OpenAPI document shows. No answer names a path of the server: a job's error shows its input and model by name.
A job of an API serving a pinned bundle (``RISKCORE_API_BUNDLE``) scores with that bundle, as ``/predict`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from python_multipart.multipart import MultipartParser, parse_options_header

from riskcore.errors import DataFileError, RiskcoreError
from riskcore.identity import ApiKey, Permission, can_call
from riskcore.workbench import Job, Workbench

__all__ = ["JobView", "add_job_routes", "job_too_large"]

_MAX_FIELD_BYTES = 1000
_MAX_JSON_BYTES = 64 * 1024  # a server file's JSON body: its path and options
# ``champion`` or a model version (``lightgbm-20261201T101500Z``): never a folder, which a caller could use to
# make a worker load, or report on, any path of the server
_MODEL_NAME = "^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
# what a field's pattern means, in words (pydantic's message shows the pattern)
_PATTERNS = {"model": "model must be champion or a model version, e.g. lightgbm-20261201T101500Z",
             "lgd": "lgd must be a share between 0 and 1, e.g. 0.45"}
_MEDIA = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


class _JobFileResponse(FileResponse):
    """A job's file, sent in blocks of 1 MiB."""

    # Starlette's 64 KiB blocks cost a thread hop and a write each: a scored portfolio of 330 MB took the server
    # 0.7-1.7 s on loopback, 0.3-0.4 s in blocks of 1 MiB (the same bytes and headers either way)
    chunk_size = 1 << 20


class JobProgress(BaseModel):
    """How far a running job is: a share of the work, what it is doing, the rows so far."""

    fraction: float = 0.0
    message: str = ""
    rows_read: int | None = None
    rows_scored: int | None = None
    rows_rejected: int | None = None


class JobView(BaseModel):
    """A job as the API shows it: its state, progress and result, and where to fetch what it made."""

    model_config = ConfigDict(extra="forbid")

    id: str
    kind: str
    state: str = Field(description="queued, running, succeeded, failed or cancelled")
    caller: str
    name: str = Field("", description="the uploaded file's name (scoring jobs)")
    created: float = Field(description="UTC seconds")
    started: float | None = None
    finished: float | None = None
    attempts: int
    cancel_requested: bool = Field(False, description="a cancel was asked while it ran: it stops at its next step")
    progress: JobProgress
    result: dict[str, Any] = Field(default_factory=dict, description="counts, the audit request, the model version "
                                                                      "(scoring); the decision and gate (retraining)")
    error: str = ""
    url: str
    result_url: str | None = None
    rejects_url: str | None = None


class JobList(BaseModel):
    """Jobs, newest first."""

    jobs: list[JobView]


_LGD = "^(0(\\.[0-9]+)?|1(\\.0+)?)?$"


class UploadForm(BaseModel):
    """The form fields sent with an upload besides ``file``: what the server checks is what the schema says."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["csv", "parquet"] = Field("csv", description="the result's format")
    model: str = Field("champion", pattern=_MODEL_NAME, description="champion (the model the API serves) or a "
                                                                    "model version")
    sheet: str = Field("", max_length=200, description="the Excel sheet to read (default: the first)")
    explain: Literal["true", "false", "1", "0"] = Field("false", description="add each score's reason codes")
    lgd: str = Field("", pattern=_LGD, description="loss given default for the expected loss, a share between 0 "
                                                   "and 1 such as 0.45 (default: the model's)")


_FORM_FIELDS = tuple(UploadForm.model_fields)


class ServerFile(BaseModel):
    """A file on the server to score, for a role that may name one (it must be under ``[jobs] paths``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    path: str = Field(min_length=1, max_length=4096)
    format: Literal["csv", "parquet"] = Field("csv", description="the result's format")
    model: str = Field("champion", pattern=_MODEL_NAME, description="champion (the model the API serves) or a "
                                                                    "model version")
    sheet: str | None = Field(None, max_length=200)
    explain: bool = False
    lgd: float | None = Field(None, ge=0, le=1)


def _field_errors(err: ValidationError) -> RequestValidationError:
    """A body's invalid fields as a 422, each by its place and rule, never by the value sent."""
    found = []
    for e in err.errors():
        field = str(e["loc"][0]) if e["loc"] else ""
        msg = _PATTERNS.get(field, e["msg"]) if e["type"] == "string_pattern_mismatch" else e["msg"]
        found.append({"loc": ("body", *e["loc"]), "msg": msg, "type": e["type"]})
    return RequestValidationError(found)


def _invalid(msg: str, *loc: str, kind: str = "value_error") -> RequestValidationError:
    """A 422 in the API's one shape for invalid values: ``detail`` lists the field (``["body", "format"]``) and why."""
    return RequestValidationError([{"loc": loc or ("body",), "msg": msg, "type": kind}])


def _scrub(text: str, job: Job | None, home: Path) -> str:
    """``text`` without the server's paths: a job's files and model by their names, the state folder by its role."""
    swaps: list[tuple[str, str]] = []
    if job is not None:
        params = job.params
        if params.get("input"):
            swaps.append((str(params["input"]), str(params.get("name") or "the file")))
        model = str(params.get("model") or "")
        if "/" in model or "\\" in model:
            swaps.append((model, "the served model's folder"))
        for data in {str(params.get("data") or ""), str(job.result.get("data") or "")} - {""}:  # retraining's
            swaps.append((data, Path(data).name or "the data"))
    swaps += [(str(home.resolve()), "the state folder"), (str(home), "the state folder")]
    for path, name in sorted(swaps, key=lambda swap: -len(swap[0])):  # the longest first: a file in a folder
        if path:
            text = text.replace(path, name)
    return text


def _view(job: Job, home: Path) -> dict[str, Any]:
    base = f"/jobs/{job.id}"
    files = job.result.get("files") or {} if job.state == "succeeded" and not job.result.get("files_deleted") else {}
    progress = {k: job.progress[k] for k in JobProgress.model_fields if k in job.progress}
    # the result's words without the server's paths (the retraining data by its name); its report stays on the server
    result = {k: _scrub(v, job, home) if isinstance(v, str) else v for k, v in job.result.items() if k != "report"}
    return {"id": job.id, "kind": job.kind, "state": job.state, "caller": job.caller,
            "name": str(job.params.get("name") or ""), "created": job.created, "started": job.started or None,
            "finished": job.finished or None, "attempts": job.attempts,
            "cancel_requested": job.cancel_requested and job.state == "running", "progress": progress, "result": result,
            "error": _scrub(job.error, job, home), "url": base,
            "result_url": f"{base}/result" if files.get("result") else None,
            "rejects_url": f"{base}/rejects" if files.get("rejects") else None}


def job_too_large(max_bytes: int) -> str:
    """The 413 of an upload over ``[jobs] upload_max_mb`` (its bytes, and the body around them)."""
    return (f"the file is larger than {max_bytes / 1e6:,.0f} MB, the largest a job accepts ([jobs] upload_max_mb); "
            "split it into smaller files")


class _Upload:
    """One multipart body streamed into a file: the ``file`` part written as it arrives, small fields kept."""

    def __init__(self, content_type: str, target: Path, max_bytes: int) -> None:
        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if not boundary:
            raise _invalid("the upload must be multipart/form-data with a boundary, its file in the field 'file'",
                           "header", "content-type")
        self.target, self.max_bytes = target, max_bytes
        self.fields: dict[str, str] = {}
        self.filename = ""
        self.size = 0
        self._out: BinaryIO | None = None
        self._pending: list[bytes] = []
        self._name = ""
        self._header = b""
        self._value = b""
        self._disposition = b""
        self._field = bytearray()
        self._in_file = False
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._begin, "on_part_data": self._data, "on_part_end": self._end,
            "on_header_field": self._header_field, "on_header_value": self._header_value,
            "on_header_end": self._header_end, "on_headers_finished": self._headers_done})

    def _begin(self) -> None:
        self._disposition, self._field, self._in_file, self._name = b"", bytearray(), False, ""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        if self._header.lower() == b"content-disposition":
            self._disposition = self._value
        self._header, self._value = b"", b""

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name == "file":
            if self._out is not None or self.filename:
                raise _invalid("send one file per job, in the field 'file'", "body", "file")
            self.filename = options.get(b"filename", b"upload").decode("utf-8", "replace")[:200] or "upload"
            self._out = self.target.open("wb")
            self._in_file = True
        elif self._name not in _FORM_FIELDS:
            raise _invalid(f"unknown form field; the fields are file, {', '.join(_FORM_FIELDS)}", "body",
                           self._name[:50], kind="extra_forbidden")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.size += end - start
            if self.size > self.max_bytes:
                raise HTTPException(413, job_too_large(self.max_bytes))
            self._pending.append(data[start:end])
        else:
            self._field += data[start:end]
            if len(self._field) > _MAX_FIELD_BYTES:
                raise _invalid(f"at most {_MAX_FIELD_BYTES} bytes", "body", self._name, kind="string_too_long")

    def _end(self) -> None:
        if self._in_file:
            self.flush()
            self._in_file = False
        elif self._name:
            self.fields[self._name] = self._field.decode("utf-8", "replace").strip()

    def flush(self) -> None:
        """Write what arrived to the file."""
        if self._out is not None and self._pending:
            self._out.write(b"".join(self._pending))
            self._pending.clear()

    def close(self) -> None:
        """Close the file."""
        if self._out is not None:
            self._out.close()


def _options(fields: dict[str, str]) -> dict[str, Any]:
    """The scoring options of the form's fields, checked (``model`` is the name given: champion or a version)."""
    try:
        form = UploadForm.model_validate(fields)
    except ValidationError as err:
        raise _field_errors(err) from None
    return {"result_format": form.format, "model": form.model, "sheet": form.sheet or None,
            "explain": form.explain in ("true", "1"), "lgd": float(form.lgd) if form.lgd else None}


def add_job_routes(app: Any, *, guard: Callable[..., Any], bench_of: Callable[[Request], Workbench],
                   responses: dict[int | str, dict[str, Any]], pinned: str | None = None) -> None:
    """Add the job routes to ``app``; ``guard(*permissions)`` admits a caller holding any of them.

    ``pinned``: the bundle folder the API serves instead of the registry's champion; a job's ``champion`` is
    then that bundle, so a job scores with the model that ``/predict`` scores with.
    """
    router = APIRouter(tags=["jobs"])
    errors: dict[int | str, dict[str, Any]] = {c: responses[c] for c in (401, 403, 422, 429, 503) if c in responses}
    lookup: dict[int | str, dict[str, Any]] = {**errors, 404: responses[401]}

    def model_of(name: str) -> str:
        return pinned if name == "champion" and pinned else name

    def view(request: Request, job: Job) -> dict[str, Any]:
        return _view(job, bench_of(request).settings.home)

    def mine(request: Request, key: ApiKey, job_id: str) -> tuple[Workbench, Job]:
        bench = bench_of(request)
        job = bench.job(job_id) if len(job_id) == 32 and job_id.isalnum() else None
        # the retraining loop's runs are the model's, not a person's: every role that may start one sees them
        # (a second POST /jobs/retrain answers with the run already waiting, whoever started it)
        shared = job is not None and job.kind == "retrain" and can_call(key.role, "retrain")
        if job is None or (job.caller != key.id and not shared and not can_call(key.role, "all_jobs")):
            raise HTTPException(404, f"there is no job {job_id[:40]!r} of this caller")
        needed: Permission = "score" if job.kind == "score" else "retrain"
        if not can_call(key.role, needed) and not can_call(key.role, "all_jobs"):
            raise HTTPException(403, f"a key with role {key.role!r} may not read {job.kind} jobs")
        return bench, job

    def accepted(request: Request, job: Job) -> JSONResponse:
        return JSONResponse(view(request, job), status_code=202, headers={"Location": f"/jobs/{job.id}"})

    @router.post("/jobs/score", status_code=202, response_model=JobView,
                 responses={**errors, 413: responses[413], 415: responses[401]},
                 summary="Upload a portfolio to be scored as a job",
                 openapi_extra={"requestBody": {"required": True, "content": {
                     "multipart/form-data": {"schema": {
                         "type": "object", "required": ["file"], "additionalProperties": False,
                         "properties": {"file": {"type": "string", "format": "binary",
                                                 "description": "CSV, Excel .xlsx or Parquet"},
                                        **UploadForm.model_json_schema()["properties"]}}},
                     "application/json": {"schema": ServerFile.model_json_schema()}}}})
    async def submit_score(request: Request, key: ApiKey = Depends(guard("score"))) -> Any:
        bench = bench_of(request)
        content_type = request.headers.get("content-type", "")
        media = content_type.split(";")[0].strip().lower()
        if media == "application/json":
            return accepted(request, await _server_file(request, key, bench))
        if media != "multipart/form-data":
            raise HTTPException(415, "send the file as multipart/form-data (curl -F file=@portfolio.csv), or, for "
                                     "a role that may name a file on the server, JSON {\"path\": ...}")
        files = bench.job_files
        job_id = files.new_id()
        target = await anyio.to_thread.run_sync(files.receive, job_id)
        upload = None
        try:
            upload = _Upload(content_type, target, bench.settings.job_upload_max_bytes)
            async for chunk in request.stream():
                upload.parser.write(chunk)
                upload.flush()
            upload.parser.finalize()
            upload.close()
            if not upload.filename:
                raise _invalid("no file: send it in the form field 'file' (curl -F file=@portfolio.csv)", "body",
                               "file", kind="missing")
            options = _options(upload.fields)
            options["model"] = model_of(options["model"])
            job = await anyio.to_thread.run_sync(lambda: bench.submit_score(
                files.settle(job_id, target, upload.filename if upload else ""), caller=key.id, face="api",
                stored=True, job_id=job_id, name=upload.filename if upload else "", **options))
        except BaseException as err:
            if upload is not None:
                upload.close()
            files.discard(job_id)
            if isinstance(err, ValueError) and not isinstance(err, RiskcoreError):  # the parser's own errors
                raise _invalid("the multipart body cannot be read; send the file with curl -F file=@portfolio.csv",
                               "body") from None
            if isinstance(err, DataFileError):  # not a table: the message names the upload, never a path
                raise _invalid(_scrub(str(err), None, bench.settings.home), "body", "file") from None
            raise
        return accepted(request, job)

    async def _server_file(request: Request, key: ApiKey, bench: Workbench) -> Job:
        if not can_call(key.role, "all_jobs"):
            raise HTTPException(403, f"a key with role {key.role!r} may not name a file on the server; upload "
                                     "the file instead (multipart/form-data)")
        text = bytearray()
        async for chunk in request.stream():  # the route's body cap is an upload's: this one is a few lines
            text += chunk
            if len(text) > _MAX_JSON_BYTES:
                raise HTTPException(413, f"the JSON body is larger than {_MAX_JSON_BYTES:,} bytes; it only names a "
                                         "file on the server")
        try:
            body = ServerFile.model_validate_json(bytes(text))
        except ValidationError as err:
            raise _field_errors(err) from None
        try:
            return await anyio.to_thread.run_sync(lambda: bench.submit_score(
                body.path, caller=key.id, face="api", name=Path(body.path).name, result_format=body.format,
                model=model_of(body.model), sheet=body.sheet, explain=body.explain, lgd=body.lgd))
        except DataFileError:  # its message names the server's folders: the client is told the rule only
            raise _invalid("the path must name a file under one of the folders of [jobs] paths, the only ones the "
                           "server reads job files from (none unless riskcore.toml sets them); upload the file "
                           "instead", "body", "path") from None

    @router.post("/jobs/retrain", status_code=202, response_model=JobView, responses=errors,
                 summary="Run the retraining loop as a job (the one waiting, when there is one)")
    def submit_retrain(request: Request, key: ApiKey = Depends(guard("retrain"))) -> Any:
        return accepted(request, bench_of(request).submit_retrain(caller=key.id, trigger="api"))

    @router.get("/jobs", response_model=JobList, responses=errors, summary="The caller's jobs, newest first")
    def list_jobs(request: Request, key: ApiKey = Depends(guard("score", "retrain")),
                  all: bool = Query(False, description="every caller's jobs (a role with all_jobs)"),
                  kind: str | None = Query(None, pattern="^(score|retrain)$"),
                  limit: int = Query(50, ge=1, le=500)) -> Any:
        if all and not can_call(key.role, "all_jobs"):
            raise HTTPException(403, f"a key with role {key.role!r} sees only its own jobs")
        jobs = bench_of(request).jobs(caller=None if all else key.id, kind=kind, limit=limit)
        return {"jobs": [view(request, j) for j in jobs]}

    @router.get("/jobs/{job_id}", response_model=JobView, responses=lookup, summary="A job's state and progress")
    def get_job(job_id: str, request: Request, key: ApiKey = Depends(guard("score", "retrain"))) -> Any:
        return view(request, mine(request, key, job_id)[1])

    def download(which: str) -> Callable[..., Any]:
        def fetch(job_id: str, request: Request, key: ApiKey = Depends(guard("score", "retrain"))) -> Any:
            bench, job = mine(request, key, job_id)
            if job.state != "succeeded":
                error = _scrub(job.error, job, bench.settings.home)
                raise HTTPException(409, f"job {job.id} is {job.state}; its files exist once it has succeeded"
                                    + (f" ({error})" if error and error != "cancelled" else ""))
            if job.result.get("files_deleted"):
                raise HTTPException(410, f"the files of job {job.id} were deleted: "
                                         f"{job.result.get('files_deleted_reason')}")
            try:
                path = bench.job_file(job, which)
            except DataFileError as err:
                raise HTTPException(404, str(err)) from None
            media = _MEDIA["csv"] if which == "rejects" else _MEDIA.get(str(job.result.get("format")), _MEDIA["csv"])
            return _JobFileResponse(path, media_type=media, filename=f"{job.id}-{path.name}")
        return fetch

    def file_responses(*media: str) -> dict[int | str, dict[str, Any]]:
        binary = {"schema": {"type": "string", "format": "binary"}}
        return {**lookup, 409: responses[401], 410: responses[401],
                200: {"content": dict.fromkeys(media, binary), "description": "The file, as an attachment."}}

    router.add_api_route("/jobs/{job_id}/result", download("result"), methods=["GET"],
                         responses=file_responses(_MEDIA["csv"].split(";")[0], _MEDIA["parquet"]),
                         summary="The scored rows of a succeeded job (CSV, or Parquet when asked for)",
                         response_class=FileResponse)
    router.add_api_route("/jobs/{job_id}/rejects", download("rejects"), methods=["GET"],
                         responses=file_responses(_MEDIA["csv"].split(";")[0]),
                         summary="The reject report of a succeeded job (CSV): each rejected row, its problem and "
                                 "what to do", response_class=FileResponse)

    @router.delete("/jobs/{job_id}", status_code=202, response_model=JobView, responses={**lookup, 409:
                   responses[401]}, summary="Cancel a queued job, or stop a running one (nothing is recorded)")
    def cancel_job(job_id: str, request: Request, key: ApiKey = Depends(guard("score", "retrain"))) -> Any:
        bench, job = mine(request, key, job_id)
        if job.done:
            raise HTTPException(409, f"job {job.id} has already ended ({job.state})")
        return JSONResponse(view(request, bench.cancel_job(job.id) or job), status_code=202)

    app.include_router(router)

