"""The one table from domain errors to HTTP, and the handlers that render SPEC section 2.

Every non-2xx response is `{"error": {"code", "message", "details"?}}` with an
X-Request-ID header (added by the middleware). Framework errors (validation, unknown
routes, wrong methods) and unexpected exceptions get the same shape; a traceback is
logged, never sent.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from trainset import errors as e
from trainset.api.responses import json_response

log = logging.getLogger("trainset.api")

# Looked up along the exception's MRO, most specific first.
STATUS: dict[type[e.TrainsetError], int] = {
    e.InvalidRequest: 400,
    e.Unauthorized: 401,
    e.SignedUrlError: 403,
    e.NotFound: 404,
    e.Conflict: 409,
    e.RequestTimeout: 408,
    e.FileTooLarge: 413,
    e.UnsupportedFileType: 415,
    e.InvalidFileContent: 422,
    e.RangeNotSatisfiable: 416,
    e.QuotaExceeded: 403,
    e.RateLimited: 429,
    e.Overloaded: 503,
    e.StorageUnavailable: 503,
    e.InsufficientStorage: 507,
}


def status_for(exc: e.TrainsetError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        err["details"] = details
    return {"error": err}


def error_response(exc: e.TrainsetError) -> Response:
    status = status_for(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, e.Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    elif status in (429, 503):
        headers["Retry-After"] = "1"
    return json_response(error_body(exc.code, exc.message, exc.details), status, headers)


def _validation_message(errs: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    if any(err.get("type") == "json_invalid" for err in errs):
        return "The request body is not valid JSON.", [{"field": "body", "problem": "not JSON"}]
    details = []
    for err in errs:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        details.append({"field": ".".join(loc) or "body", "problem": err.get("msg", "")})
    first = details[0] if details else {"field": "body", "problem": "invalid"}
    return f"Invalid request: {first['field']}: {first['problem']}.", details


_HTTP_CODES = {
    404: ("not_found", "No such endpoint; see /docs for the API."),
    405: ("method_not_allowed", "This endpoint does not accept that method; see /docs."),
}


def install(app: FastAPI) -> None:
    @app.exception_handler(e.TrainsetError)
    async def _domain(_: Request, exc: e.TrainsetError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        message, details = _validation_message(list(exc.errors()))
        return json_response(error_body("invalid_request", message, details), 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        code, message = _HTTP_CODES.get(exc.status_code, ("http_error", str(exc.detail)))
        headers = dict(exc.headers or {})
        return json_response(error_body(code, message), exc.status_code, headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return json_response(
            error_body("internal_error", "Something went wrong on the server; it was logged."),
            500,
        )
