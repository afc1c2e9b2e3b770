"""Sign-in, sign-out and the session's language.

A person signs in with a credential of the node's built-in issuer (a bearer token from `cix
token issue`, or an API token `cix_…`), checked exactly as the API checks a request's
(`TokenVerifier`, `ApiTokens`, then the registry's actor); failures are counted per client
address like the API's and answer the same way whatever was wrong. The credential itself is
not kept: the session is (`cix.node.websessions`), living no longer than the credential.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from cix.api.limits import FailureLimiter
from cix.node.errors import Unauthenticated
from cix.node.tokens import API_TOKEN_PREFIX, Credential
from cix.web.render import PREFIX, Renderer
from cix.web.session import (
    PRESESSION_COOKIE,
    SESSION_COOKIE,
    WebUser,
    check_csrf,
    clear_cookie,
    current_user,
    node_of,
    presented_csrf,
    presession_token,
    set_cookie,
)

_log = logging.getLogger("cix.web")
router = APIRouter()
_MAX_CREDENTIAL = 8192


def renderer_of(request: Request) -> Renderer:
    """The web app's page renderer."""
    renderer: Renderer = request.app.state.renderer
    return renderer


@router.get("/")
async def home(request: Request) -> Response:
    """The start page: the documents of a signed-in person, else the sign-in form."""
    if not request.cookies.get(SESSION_COOKIE):
        return RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    return RedirectResponse(f"{PREFIX}/documents", status_code=303)


def _sign_in_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    token = presession_token(request)
    response = renderer_of(request).page(
        request, "sign_in.html", status=status, csrf=token, error=error
    )
    set_cookie(response, request, PRESESSION_COOKIE, token)
    return response


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    """The sign-in form."""
    return _sign_in_page(request)


@router.post("/sign-in")
async def sign_in(
    request: Request,
    token: Annotated[str, Form(max_length=_MAX_CREDENTIAL)],
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Check the credential, begin a session, go to the documents."""
    check_csrf(request, request.cookies.get(PRESESSION_COOKIE, ""), csrf or None)
    node = node_of(request)
    limiter: FailureLimiter = request.app.state.limiter
    client = request.client.host if request.client else "unknown"
    moment = time.monotonic()
    wait = limiter.retry_after(client, moment) if len(limiter) else None
    credential = token.strip()
    now = node.clock()

    def verify() -> Credential:
        if not credential:
            raise Unauthenticated("no credential")
        if credential.startswith(API_TOKEN_PREFIX):
            verified = node.api_tokens.authenticate_credential(credential, now)
        else:
            verified = node.verifier.verify_credential(credential, now)
        node.registry.actor_for(verified.person_id)  # unknown or deactivated: refused
        return verified

    try:
        if wait is not None:
            raise Unauthenticated("too many failed sign-ins from this address")
        verified = await anyio.to_thread.run_sync(verify)
    except Unauthenticated as exc:
        limiter.record_failure(client, moment)
        _log.warning("web sign-in failed from %s: %s", client, exc)
        return _sign_in_page(request, error="The credential was not accepted.", status=401)
    language = renderer_of(request).marker.language(None)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # signing in again ends the session this browser had (no one keeps it)
        await anyio.to_thread.run_sync(node.web_sessions.end, previous, now)
    secret, _ = await anyio.to_thread.run_sync(node.web_sessions.begin, verified, language, now)
    response = RedirectResponse(f"{PREFIX}/documents", status_code=303)
    set_cookie(response, request, SESSION_COOKIE, secret)
    clear_cookie(response, request, PRESESSION_COOKIE)
    return response


async def checked_user(request: Request) -> WebUser:
    """The signed-in person of a state-changing request that carries the session's CSRF
    token (`CsrfRefused` otherwise)."""
    user = await current_user(request)
    check_csrf(request, user.session.csrf_token, await presented_csrf(request))
    return user


ChangingUser = Annotated[WebUser, Depends(checked_user)]
"""A route parameter: the signed-in person of a request whose CSRF token was checked."""
ReadingUser = Annotated[WebUser, Depends(current_user)]
"""A route parameter: the signed-in person of a request that changes nothing."""


@router.post("/sign-out")
async def sign_out(request: Request, user: ChangingUser) -> Response:
    """End the session."""
    node = node_of(request)
    await anyio.to_thread.run_sync(node.web_sessions.end, user.secret, node.clock())
    response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
    clear_cookie(response, request, SESSION_COOKIE)
    return response


@router.post("/language")
async def set_language(
    request: Request, user: ChangingUser, language: Annotated[str, Form(max_length=8)]
) -> Response:
    """Mark the session's pages in `language` (one of the national scheme's)."""
    node = node_of(request)
    chosen = renderer_of(request).marker.language(language)
    await anyio.to_thread.run_sync(node.web_sessions.set_language, user.secret, chosen)
    return RedirectResponse(f"{PREFIX}/documents", status_code=303)
