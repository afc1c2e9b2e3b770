"""The web interface's application (`create_web_app`), mounted at `/ui` on the API's app by
`node_app`, the application a node serves.

Every response it sends carries a strict Content-Security-Policy (scripts, styles and images
from the node itself only; no inline script or style, no frames, forms posting only here),
`Cache-Control: no-store`, `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`
and `X-Frame-Options: DENY`: the headers are added by a wrapper around the whole
application, so an error page, a static asset or a download cannot leave without them.
Errors become pages: a request without a session goes to the sign-in page, a refusal is the
same opaque page whatever its reason (the reason is in the audit log).
"""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cix.api.app import create_app
from cix.api.limits import FailureLimiter
from cix.api.node_zone import in_node_zone
from cix.api.problems import status_for
from cix.errors import CixError, Refused, RequestRefused
from cix.node.service import Node
from cix.web import audit, consents, documents, procedures, registry, registry_forms, signin
from cix.web.marking import Marker
from cix.web.render import PREFIX, Renderer
from cix.web.session import CsrfRefused, SignInRequired

_log = logging.getLogger("cix.web")

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
"""The headers of every response of the web interface."""


class SecurityHeaders:
    """Put `SECURITY_HEADERS` on every response of the wrapped application."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve, adding the headers to the response's start."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self._app(scope, receive, send_with_headers)


def _message(exc: CixError, status: int) -> str:
    if status == 403 and not isinstance(exc, RequestRefused | CsrfRefused):
        return str(Refused())  # one opaque refusal (the reason is in the audit record)
    if status >= 500:
        return "the node could not complete the request; nothing was changed"
    return str(exc)


def _install_errors(app: FastAPI, renderer: Renderer) -> None:
    async def on_cix_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CixError)
        if isinstance(exc, SignInRequired):
            _log.info("web request without a live session: %s", exc)
            target = f"{PREFIX}/sign-in"
            if request.headers.get("hx-request") == "true":
                return Response(status_code=204, headers={"HX-Redirect": target})
            return RedirectResponse(target, status_code=303)
        status = status_for(exc)
        if status >= 500:
            _log.warning("web request failed: %s", type(exc).__name__)
        return renderer.page(
            request, "error.html", status=status, message=_message(exc, status), code=status
        )

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        fields = sorted({".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors()})
        message = "not valid: " + ", ".join(f or "request" for f in fields)
        return renderer.page(request, "error.html", status=422, message=message, code=422)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        return renderer.page(
            request, "error.html", status=exc.status_code, message=detail, code=exc.status_code
        )

    app.add_exception_handler(CixError, on_cix_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


def create_web_app(node: Node, *, workers: int = 1) -> ASGIApp:
    """The web interface of `node`, to mount at `PREFIX`, wrapped in `SecurityHeaders`."""
    settings = node.settings
    # Dates typed into a form are days where the node is (cix.node.dates).
    app = FastAPI(
        openapi_url=None, docs_url=None, redoc_url=None, dependencies=[Depends(in_node_zone)]
    )
    app.router.redirect_slashes = False
    app.state.node = node
    app.state.limiter = FailureLimiter(
        max(settings.auth_failure_limit // workers, 1),
        settings.auth_failure_window_seconds,
        settings.rate_limit_clients,
    )
    renderer = Renderer(Marker(settings.party, node.agreements), settings.party)
    app.state.renderer = renderer
    _install_errors(app, renderer)
    app.mount("/static", StaticFiles(packages=[("cix.web", "static")]), name="static")
    app.include_router(signin.router)
    app.include_router(procedures.router)
    app.include_router(documents.router)
    app.include_router(registry_forms.router)  # `/people/new` before `/people/{id}`
    app.include_router(registry.router)
    app.include_router(audit.router)
    app.include_router(consents.router)
    return SecurityHeaders(app)


async def _to_web() -> RedirectResponse:
    """The node's root and `/ui` lead to the web interface (a path, never the Host)."""
    return RedirectResponse(f"{PREFIX}/", status_code=303)


def node_app(node: Node, *, workers: int = 1) -> FastAPI:
    """The whole application a node serves: the REST API and federation endpoints of
    `cix.api.app.create_app`, untouched, with the web interface mounted at `PREFIX` (and
    the root leading to it)."""
    limit = node.settings.web_max_upload_bytes + documents.FORM_ROOM
    app = create_app(node, workers=workers, post_limits={documents.UPLOAD_PATH: limit})
    app.mount(PREFIX, create_web_app(node, workers=workers))
    app.add_api_route("/", _to_web, methods=["GET"], include_in_schema=False)
    app.add_api_route(PREFIX, _to_web, methods=["GET"], include_in_schema=False)
    return app
