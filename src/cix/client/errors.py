"""The node's failed answers, in the families of cix errors that say who is at fault.

Errors from the node arrive as RFC 9457 problem details. Each becomes a `NodeProblem`:
`NodeRejected` (an `InputError`: the request was wrong) for a 4xx other than 401, 403 and
429; `NodeRefused` (an `AccessDenied`) for those; `NodeFailed` (a `PeerError`: not the
caller's fault) when the node fails (5xx), answers something else, or cannot be reached. The
same families as the server's own errors, so `except InputError` means the same on both
sides of the wire.
"""

from __future__ import annotations

import httpx

from cix.errors import AccessDenied, InputError, PeerError

_REFUSALS = frozenset({401, 403, 429})


class NodeProblem(Exception):
    """A node's failed answer: its status (None if it could not be reached), title, detail
    and, for a 422, the fields it named. Raised as one of the three subclasses below."""

    def __init__(
        self, status: int | None, title: str, detail: str, *, errors: tuple[str, ...] = ()
    ) -> None:
        super().__init__(f"{status or '-'} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors

    def lines(self) -> tuple[str, ...]:
        """The problem as lines to show: status, title and detail, then one per error."""
        status = f"{self.status} " if self.status is not None else ""
        first = f"{status}{self.title}: {self.detail}".rstrip(": ")
        return (first, *(f"  {error}" for error in self.errors))


class NodeRejected(NodeProblem, InputError):
    """The node found the request malformed or naming something unknown (4xx)."""


class NodeRefused(NodeProblem, AccessDenied):
    """The node refused the caller's credential or the access asked for (401, 403, 429)."""


class NodeFailed(NodeProblem, PeerError):
    """The node failed (5xx), answered something else, or could not be reached."""


def problem_of(response: httpx.Response) -> NodeProblem:
    """The `NodeProblem` a failed response describes (problem details or plain text)."""
    title, detail = response.reason_phrase or "Error", ""
    errors: tuple[str, ...] = ()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        title = str(body.get("title") or title)
        detail = str(body.get("detail") or "")
        raw_errors = body.get("errors")
        if isinstance(raw_errors, list):
            errors = tuple(
                ".".join(str(p) for p in e.get("loc", ()) if p != "body") + ": " + str(e["msg"])
                if isinstance(e, dict) and "msg" in e
                else str(e)
                for e in raw_errors
            )
    elif response.text:
        detail = response.text[:300]
    status = response.status_code
    kind: type[NodeProblem]
    if status in _REFUSALS:
        kind = NodeRefused
    elif 400 <= status < 500:
        kind = NodeRejected
    else:
        kind = NodeFailed
    return kind(status, title, detail, errors=errors)


def unreachable(url: str, exc: httpx.HTTPError) -> NodeFailed:
    """The problem of a node that could not be reached or stopped answering."""
    return NodeFailed(None, "Node unreachable", f"{url}: {type(exc).__name__}: {exc}")
