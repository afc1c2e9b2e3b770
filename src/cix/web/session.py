"""Who a page request is for: the session cookie, the CSRF check, the signed-in person.

The cookie (`cix_session`) is HttpOnly, SameSite=Strict, scoped to the web interface's path
and Secure over HTTPS; it holds the session's secret, the database only its digest
(`cix.node.websessions`). Every state-changing request (any method but GET and HEAD) must
carry the session's CSRF token, as the `csrf` form field or the `X-CSRF-Token` header (htmx
sends it from `hx-headers` on the page's body), and must not come from another site
(`Sec-Fetch-Site`, where the browser sends it). Before sign-in the same holds with a
pre-session token kept in its own cookie (double submit), so that no other site can sign a
browser in to someone else's session.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from cix.errors import AccessDenied
from cix.node.errors import Unauthenticated
from cix.node.roles import Actor
from cix.node.service import Node
from cix.node.websessions import SessionView
from cix.web.render import PREFIX

SESSION_COOKIE = "cix_session"
PRESESSION_COOKIE = "cix_presession"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
_SAFE = frozenset({"GET", "HEAD"})


class SignInRequired(Unauthenticated):
    """The request has no live session: the browser is sent to the sign-in page."""


class CsrfRefused(AccessDenied):
    """A state-changing request without the session's CSRF token, or from another site."""


@dataclass(frozen=True, slots=True)
class WebUser:
    """The signed-in person of a request: the actor the node's services act for, and the
    session (its CSRF token, its language)."""

    actor: Actor
    session: SessionView
    secret: str


def node_of(request: Request) -> Node:
    """The node the web interface serves."""
    node: Node = request.app.state.node
    return node


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    """Set one of the web interface's cookies (HttpOnly, SameSite=Strict, its path only)."""
    response.set_cookie(
        name, value, path=PREFIX, httponly=True, samesite="strict", secure=_secure(request)
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    """Remove one of the web interface's cookies."""
    response.delete_cookie(
        name, path=PREFIX, httponly=True, samesite="strict", secure=_secure(request)
    )


async def current_user(request: Request) -> WebUser:
    """The signed-in person; `SignInRequired` without a live session (the reason is logged
    by the caller, the session forgotten)."""
    secret = request.cookies.get(SESSION_COOKIE, "")
    if not secret:
        raise SignInRequired("session: none")
    node = node_of(request)
    now = node.clock()

    def resume() -> WebUser:
        try:
            view = node.web_sessions.resume(secret, now)
            actor = node.registry.actor_for(view.person_id)
        except Unauthenticated as exc:
            raise SignInRequired(str(exc)) from None
        return WebUser(actor, view, secret)

    user = await anyio.to_thread.run_sync(resume)
    request.state.web_user = user
    return user


def _same_site(request: Request) -> bool:
    site = request.headers.get("sec-fetch-site")
    return site is None or site in ("same-origin", "none")


async def presented_csrf(request: Request) -> str | None:
    """The CSRF token a request presents: its header, else its form field (an urlencoded
    form is read here; a multipart upload's field is read by its route)."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def check_csrf(request: Request, expected: str, presented: str | None) -> None:
    """Refuse (`CsrfRefused`) a state-changing request whose token is not `expected` or that
    another site sent."""
    if request.method in _SAFE:
        return
    if not _same_site(request):
        raise CsrfRefused("cross-site request refused")
    if not presented or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise CsrfRefused("missing or wrong CSRF token")


def presession_token(request: Request) -> str:
    """The pre-session CSRF token of the sign-in form: the cookie's, or a new one."""
    found = request.cookies.get(PRESESSION_COOKIE, "")
    return found if 20 <= len(found) <= 64 else secrets.token_urlsafe(32)
