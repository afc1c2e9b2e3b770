"""The OpenAPI document declares every answer the API gives.

FastAPI documents each operation's success and a 422 in `application/json`; the node also
answers, through one mapping (`cix.api.problems`), 400, 401, 403, 404, 409, 413, 429, 502
and 503, all as RFC 9457 problem details in `application/problem+json`, and 422 in that
media type too. `document_problems` adds them to every operation, so that a client
generated from the document (and Schemathesis' status-code, media-type and schema checks)
expects exactly what the node sends.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cix.api.problems import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details; `type` is about:blank, the status says what.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                },
            },
        },
    },
}

_DESCRIPTIONS = {
    400: "Bad input, named in `detail`; nothing was changed.",
    401: "No valid credential (`WWW-Authenticate: Bearer`).",
    403: "Refused: one opaque answer for every authorisation or integrity failure.",
    404: "No such object, or none this caller may know of.",
    409: "Conflicts with the current state (an id already taken, a document destroyed).",
    413: "The body is larger than the node accepts.",
    422: "The request's shape is invalid; `errors` names each field.",
    429: "Too many failed authentications from this client (`Retry-After`).",
    502: "A peer node failed.",
    503: "Storage unavailable; nothing was changed.",
}
_EVERY = (400, 403, 404, 422, 503)
_AUTHENTICATED = (401, 429)
_WRITES = (409, 413)


def document_problems(schema: dict[str, Any], *, public_paths: Iterable[str]) -> dict[str, Any]:
    """`schema` with the problem answers declared on every operation (in place; returned)."""
    public = frozenset(public_paths)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    reference = {"$ref": "#/components/schemas/Problem"}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            statuses = list(_EVERY)
            if path not in public:
                statuses += _AUTHENTICATED
            if method in ("post", "put", "patch", "delete"):
                statuses += _WRITES
            responses = operation.setdefault("responses", {})
            for status in statuses:
                # An answer the route declares in its own media type (the federation
                # routes' signed JWS) is kept beside the problem; FastAPI's JSON is not.
                declared = responses.get(str(status), {})
                kept = {
                    media: spec
                    for media, spec in declared.get("content", {}).items()
                    if media != "application/json" and spec
                }
                responses[str(status)] = {
                    "description": declared.get("description", _DESCRIPTIONS[status])
                    if kept
                    else _DESCRIPTIONS[status],
                    "content": {**kept, PROBLEM_JSON: {"schema": reference}},
                }
    return schema
