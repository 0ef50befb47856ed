"""How the API answers when something goes wrong: request ids and one handler per kind of error.

Every response carries an ``X-Request-ID`` header and, when it is an error, a ``request_id`` in its
body, so a client's complaint can be found in the server log. An engine error answers with its
class's ``http_status`` (the table is in :mod:`riskcore.errors`) and a fixed public message; the
engine's own text, which can name files and URLs, goes to the log only, without the values of the data
sent (:func:`riskcore.errors.loggable`). Validation errors name the field and the rule, never the value
sent.
"""

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from riskcore.errors import (
    AuditError,
    BundleError,
    ConfigError,
    DataFileError,
    LeakageError,
    ModelNotFoundError,
    RiskcoreError,
    SchemaError,
    TrackingError,
    loggable,
)

__all__ = ["AUDIT_FAILED", "BAD_MODEL", "NO_MODEL", "RequestId", "install_handlers", "request_id", "scope_request_id"]

log = logging.getLogger("api")

NO_MODEL = "no model is deployed; train one first"
BAD_MODEL = ("the deployed model cannot be loaded (its bundle is missing or failed verification); "
             "retrain or restore it — the server log has the details")
AUDIT_FAILED = ("the audit trail could not be written, so no score is returned; "
                "try again later or tell the operator")

def request_id(request: Request) -> str:
    """The id the middleware gave this request (a fresh one outside it)."""
    return str(getattr(request.state, "request_id", "") or uuid.uuid4().hex)



# What a client is told for each kind of engine error; the status is the class's ``http_status`` and the
# engine's own message (which can name files and URLs) goes to the server log only.
_PUBLIC: dict[type[RiskcoreError], str] = {
    ModelNotFoundError: NO_MODEL,
    BundleError: BAD_MODEL,
    AuditError: AUDIT_FAILED,
    TrackingError: "the model registry cannot be reached; try again later or tell the operator",
    ConfigError: "the server's settings are invalid; tell the operator — the server log has the details",
    LeakageError: "a leakage check failed, so the request was stopped",
    DataFileError: "the data sent cannot be used as a table",
    RiskcoreError: "the request cannot be completed — the server log has the details",
}



class RequestId:
    """Give every request an id (``request.state.request_id``) and return it in ``X-Request-ID``."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Pass the request on with its id in the scope and the response's headers."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(message)

        await self.app(scope, receive, send_with_id)


def scope_request_id(scope: dict[str, Any]) -> str:
    """The request id from a raw ASGI scope (for middleware that runs before routing)."""
    return str(scope.get("state", {}).get("request_id", ""))


def _loc(loc: Any) -> list[str | int]:
    return [p if isinstance(p, int) and not isinstance(p, bool) else str(p) for p in loc]


def _clean_errors(errors: Any) -> list[dict[str, Any]]:
    """Location, message and type of each error: never the input value or the exception object."""
    out = []
    for e in errors:
        msg = str(e.get("msg", "invalid value"))
        if e.get("type") == "json_invalid":
            reason = (e.get("ctx") or {}).get("error")
            msg = f"the body is not valid JSON: {reason}" if isinstance(reason, str) else "the body is not valid JSON"
        out.append({"loc": _loc(e.get("loc", ())), "msg": msg, "type": str(e.get("type", "value_error"))})
    return out


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": _clean_errors(exc.errors()), "request_id": request_id(request)},
                        status_code=422)


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI answers 400 for a JSON body that is not UTF-8; it is malformed JSON like any other: 422
        return JSONResponse({"detail": [{"loc": ["body"], "msg": "the body is not valid JSON: it is not UTF-8 text",
                                         "type": "json_invalid"}], "request_id": request_id(request)},
                            status_code=422)
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    return JSONResponse({"detail": detail, "request_id": request_id(request)}, status_code=exc.status_code,
                        headers=exc.headers)


def _public_message(err: RiskcoreError) -> str:
    """What the client is told about an engine error: the text of its nearest class in ``_PUBLIC``."""
    return next(_PUBLIC[c] for c in type(err).__mro__ if c in _PUBLIC)


async def _on_riskcore_error(request: Request, exc: RiskcoreError) -> JSONResponse:
    """An engine error that reached an endpoint: its class's ``http_status``, a message without paths, logged."""
    rid = request_id(request)
    log.error("request %s: %s", rid, loggable(exc))  # the message may quote the data sent: not in the log
    if isinstance(exc, SchemaError):
        detail: Any = [{"loc": ["body", "features", p.column] if p.column else ["body"], "msg": p.problem,
                        "type": "value_error"} for p in exc.problems]
    else:
        detail = _public_message(exc)
    return JSONResponse({"detail": detail, "request_id": rid}, status_code=exc.http_status)


async def _on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    rid = request_id(request)
    log.error("request %s failed", rid, exc_info=exc)
    return JSONResponse({"detail": "internal error", "request_id": rid}, status_code=500,
                        headers={"X-Request-ID": rid})


def install_handlers(app: FastAPI) -> None:
    """Answer validation, HTTP, engine and unexpected errors in the API's one JSON shape."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RiskcoreError, _on_riskcore_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected_error)
