"""The HTTP side of the `cix` client commands: the per-user configuration and one session.

The configuration file (`~/.config/cix/client.toml`, or `$XDG_CONFIG_HOME/cix/client.toml`,
or the path in `CIX_CLIENT_CONFIG`) holds the node URL and an API token; it is written with
mode 0600 because the token is a credential. `CIX_CLIENT_URL` and `CIX_CLIENT_TOKEN`
override it for one invocation (scripts, the demo).

Errors from the node arrive as RFC 9457 problem details. `ClientSession` turns each into a
`NodeProblem` in the family of cix errors that says who is at fault (`NodeRejected`, an
`InputError`, for a 4xx other than 401/403/429; `NodeRefused`, an `AccessDenied`, for those;
`NodeFailed`, a `PeerError`, when the node fails or cannot be reached), so `cix.cli.main`
maps them to exit codes in the one place it maps every error.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from cix.errors import AccessDenied, InputError, PeerError

CONFIG_ENV = "CIX_CLIENT_CONFIG"
URL_ENV = "CIX_CLIENT_URL"
TOKEN_ENV = "CIX_CLIENT_TOKEN"  # noqa: S105 - the name of a variable, not a secret
API_PREFIX = "/api/v1"
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9._~+/=-]{8,8192}$")
_REFUSALS = frozenset({401, 403, 429})
T = TypeVar("T")


class ClientConfigError(InputError):
    """The client configuration is missing, unreadable or holds a bad value."""


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the per-user client configuration lives."""
    env = os.environ if environ is None else environ
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "cix" / "client.toml"


def check_url(url: str) -> str:
    """`url` without a trailing slash; ClientConfigError unless it is http(s)://host[:port]."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientConfigError(f"node URL {url!r}: expected http(s)://host[:port]")
    if parts.query or parts.fragment:
        raise ClientConfigError(f"node URL {url!r}: no query or fragment allowed")
    return url.strip().rstrip("/")


def check_token(token: str) -> str:
    """`token` stripped; ClientConfigError if it cannot be a bearer credential."""
    token = token.strip()
    if not _TOKEN_SHAPE.match(token):
        raise ClientConfigError("token: not a bearer credential (8 to 8192 token characters)")
    return token


@dataclass(frozen=True)
class ClientConfig:
    """The node to talk to and the credential to present."""

    url: str
    token: str

    def __repr__(self) -> str:
        return f"ClientConfig(url={self.url!r}, token='***')"


def load_config(environ: Mapping[str, str] | None = None) -> ClientConfig:
    """The configuration from the file, overridden by `CIX_CLIENT_URL`/`CIX_CLIENT_TOKEN`."""
    env = os.environ if environ is None else environ
    path = config_path(env)
    values: dict[str, Any] = {}
    if path.exists():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ClientConfigError(f"{path}: unreadable client configuration: {exc}") from None
    url = env.get(URL_ENV) or values.get("url")
    token = env.get(TOKEN_ENV) or values.get("token")
    if not isinstance(url, str) or not isinstance(token, str):
        raise ClientConfigError(
            f"{path}: no node URL and token configured; run `cix login --url URL --token TOKEN`"
        )
    return ClientConfig(url=check_url(url), token=check_token(token))


def save_config(config: ClientConfig, environ: Mapping[str, str] | None = None) -> Path:
    """Write the configuration with mode 0600 (atomically: a temporary file renamed)."""
    import tomli_w

    path = config_path(environ)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    data = tomli_w.dumps({"url": config.url, "token": config.token}).encode("utf-8")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


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


class ClientSession:
    """Requests to one node with the configured credential; failures raise `NodeProblem`."""

    def __init__(self, config: ClientConfig, *, timeout: float = 60.0) -> None:
        self.config = config
        self._http = httpx.Client(
            base_url=config.url + API_PREFIX,
            headers={"Authorization": f"Bearer {config.token}"},
            timeout=httpx.Timeout(timeout, connect=10.0),
            follow_redirects=False,
        )

    def __enter__(self) -> ClientSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; a non-2xx answer or a transport failure raises `NodeProblem`."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise unreachable(self.config.url, exc) from None
        if response.is_error:
            raise problem_of(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request whose successful answer is JSON."""
        return self.request(method, path, **kwargs).json()

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed request; the body of a successful answer is read by the caller."""
        try:
            with self._http.stream(method, path, **kwargs) as response:
                if response.is_error:
                    response.read()
                    raise problem_of(response)
                yield response
        except httpx.HTTPError as exc:
            raise unreachable(self.config.url, exc) from None


def unreachable(url: str, exc: httpx.HTTPError) -> NodeFailed:
    """The problem of a node that could not be reached or stopped answering."""
    return NodeFailed(None, "Node unreachable", f"{url}: {type(exc).__name__}: {exc}")


def with_session(work: Callable[[ClientSession], T]) -> T:
    """Run `work` with a session on the configured node (its problems propagate)."""
    with ClientSession(load_config()) as session:
        return work(session)
