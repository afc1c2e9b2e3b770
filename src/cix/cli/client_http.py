"""The HTTP side of the `cix` client commands: the per-user configuration and one session.

The configuration file (`~/.config/cix/client.toml`, or `$XDG_CONFIG_HOME/cix/client.toml`,
or the path in `CIX_CLIENT_CONFIG`) holds a node URL and an API token — the default profile
at its top, named profiles under `[profiles.NAME]` (chosen by `cix --profile NAME` or
`CIX_PROFILE`), for one person working with several nodes or as several people; it is
written with mode 0600 because the tokens are credentials. `CIX_CLIENT_URL` and
`CIX_CLIENT_TOKEN` override it for one invocation (scripts, the demo).

Requests go through the SDK (`cix.client`); its `NodeProblem` errors, in the family of cix
errors that says who is at fault, are mapped to exit codes by `cix.cli.main` in the one place
it maps every error.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from cix.client import Client
from cix.client.errors import NodeFailed, NodeProblem, NodeRefused, NodeRejected
from cix.errors import InputError

__all__ = [
    "API_PREFIX",
    "PROFILE_ENV",
    "TOKEN_ENV",
    "URL_ENV",
    "ClientConfig",
    "ClientConfigError",
    "ClientSession",
    "NodeFailed",
    "NodeProblem",
    "NodeRefused",
    "NodeRejected",
    "check_token",
    "check_url",
    "load_config",
    "profile_of",
    "profiles",
    "save_config",
    "with_session",
]

CONFIG_ENV = "CIX_CLIENT_CONFIG"
URL_ENV = "CIX_CLIENT_URL"
TOKEN_ENV = "CIX_CLIENT_TOKEN"  # noqa: S105 - the name of a variable, not a secret
PROFILE_ENV = "CIX_PROFILE"
_PROFILE_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
API_PREFIX = "/api/v1"
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9._~+/=-]{8,8192}$")
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
    """The node to talk to and the credential to present (`token_id`: the API token's id,
    when known, so that `cix logout` can revoke it)."""

    url: str
    token: str
    token_id: str | None = None

    def __repr__(self) -> str:
        return f"ClientConfig(url={self.url!r}, token='***', token_id={self.token_id!r})"


def profile_of(environ: Mapping[str, str] | None = None) -> str | None:
    """The profile chosen by `--profile` or `CIX_PROFILE` (None: the default one)."""
    env = os.environ if environ is None else environ
    name = env.get(PROFILE_ENV) or None
    if name is not None and not _PROFILE_SHAPE.fullmatch(name):
        raise ClientConfigError(f"profile {name!r}: letters, digits, '-', '_' or '.' (1 to 64)")
    return name


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ClientConfigError(f"{path}: unreadable client configuration: {exc}") from None


def _section(values: dict[str, Any], profile: str | None) -> dict[str, Any]:
    if profile is None:
        return values
    profiles = values.get("profiles", {})
    found = profiles.get(profile) if isinstance(profiles, dict) else None
    return found if isinstance(found, dict) else {}


def profiles(environ: Mapping[str, str] | None = None) -> list[str]:
    """The named profiles of the configuration file."""
    found = _read(config_path(environ)).get("profiles", {})
    return sorted(found) if isinstance(found, dict) else []


def load_config(environ: Mapping[str, str] | None = None) -> ClientConfig:
    """The chosen profile's configuration, overridden by `CIX_CLIENT_URL`/`CIX_CLIENT_TOKEN`."""
    env = os.environ if environ is None else environ
    path = config_path(env)
    profile = profile_of(env)
    values = _section(_read(path), profile)
    url = env.get(URL_ENV) or values.get("url")
    token = env.get(TOKEN_ENV) or values.get("token")
    if not isinstance(url, str) or not isinstance(token, str):
        login = "cix login --url URL --token TOKEN"
        if profile is not None:
            known = ", ".join(profiles(env)) or "none"
            raise ClientConfigError(
                f"{path}: no profile {profile!r} (profiles: {known}); run "
                f"`cix --profile {profile} login --url URL --token TOKEN`"
            )
        raise ClientConfigError(f"{path}: no node URL and token configured; run `{login}`")
    token_id = values.get("token_id") if not env.get(TOKEN_ENV) else None
    return ClientConfig(
        url=check_url(url),
        token=check_token(token),
        token_id=token_id if isinstance(token_id, str) else None,
    )


def save_config(config: ClientConfig | None, environ: Mapping[str, str] | None = None) -> Path:
    """Write the chosen profile's configuration (None: remove it), keeping the others, with
    mode 0600 and atomically (a temporary file of its own renamed). Writers are serialised
    by a lock beside the file, so logins to two profiles at once lose neither."""
    import fcntl
    import tempfile

    import tomli_w

    path = config_path(environ)
    profile = profile_of(environ)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # The lock is never followed through a link another user planted (O_NOFOLLOW).
    lock = os.open(
        path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600
    )
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # read, change and write as one, per writer
        values = _read(path)
        entry = None
        if config is not None:
            entry = {"url": config.url, "token": config.token}
            if config.token_id is not None:
                entry["token_id"] = config.token_id
        if profile is None:
            for key in ("url", "token", "token_id"):
                values.pop(key, None)
            values.update(entry or {})
        else:
            named = values.setdefault("profiles", {})
            if entry is None:
                named.pop(profile, None)
            else:
                named[profile] = entry
            if not named:
                values.pop("profiles")
        data = tomli_w.dumps(values).encode("utf-8")
        # A new file of its own (O_EXCL, mode 0600): no planted name or link is written to.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    finally:
        os.close(lock)  # and with it the lock
    return path


class ClientSession(Client):
    """The SDK's client on the configured node (`cix.client.Client`): the command line makes
    every request through it, so what the CLI does a script can do the same way."""

    def __init__(self, config: ClientConfig, *, timeout: float = 60.0) -> None:
        super().__init__(config.url, config.token, timeout=timeout)
        self.config = config


def with_session(work: Callable[[ClientSession], T]) -> T:
    """Run `work` with a session on the configured node (its problems propagate)."""
    with ClientSession(load_config()) as session:
        return work(session)
