"""Errors as RFC 9457 problem details: the one mapping from cix's error families to HTTP.

Integrity and authorisation failures all answer with the same opaque detail (the precise
reason is in the audit record); bad input names what was wrong; nothing unexpected leaks a
traceback (500 with no detail).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cix.errors import (
    AccessDenied,
    CixError,
    InputError,
    PeerError,
    Refused,
    RequestRefused,
    StorageError,
    VerificationError,
)
from cix.node.errors import Conflict, NotFound, PayloadTooLarge, Unauthenticated

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger("cix.api")


class RateLimited(AccessDenied):
    """Too many failed authentications from this client (HTTP 429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed authentications")
        self.retry_after = retry_after


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def problem(
    status: int,
    detail: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem-details response (`type` is about:blank: the status says what it is)."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_for(exc: CixError) -> int:
    """The HTTP status of a cix error (the one mapping)."""
    if isinstance(exc, RateLimited):
        return 429
    if isinstance(exc, Unauthenticated):
        return 401
    if isinstance(exc, AccessDenied | VerificationError | Refused):
        return 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, PayloadTooLarge):
        return 413
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, PeerError):
        return 502
    if isinstance(exc, StorageError):
        return 503
    return 500


def response_for(exc: CixError) -> JSONResponse:
    """The problem response for a cix error, opaque where the family demands it."""
    status = status_for(exc)
    if status == 429:
        assert isinstance(exc, RateLimited)
        return problem(status, str(exc), headers={"Retry-After": str(exc.retry_after)})
    if status == 401:
        return problem(
            status, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    if status == 403 and isinstance(exc, RequestRefused):
        return problem(status, str(exc))  # the caller's own input: it may know the rule
    if status == 403:
        # One opaque refusal for every integrity or authorisation failure (docs/design.md):
        # even a reason code would tell a reader that a document lies above their clearance
        # or in a programme they are not in. The reasons are in the audit record.
        return problem(status, str(Refused()))
    if status >= 500:
        _log.warning("request failed: %s", type(exc).__name__)
        return problem(status, "the node could not complete the request; nothing was changed")
    return problem(status, str(exc))


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem details."""

    async def on_cix_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CixError)
        return response_for(exc)

    async def on_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        return problem(422, "the request is not valid", errors=errors)

    async def on_http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem(exc.status_code, detail, headers=dict(exc.headers or {}))

    async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unexpected error", exc_info=exc)
        return problem(500, "internal error")

    app.add_exception_handler(CixError, on_cix_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
