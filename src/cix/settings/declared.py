"""Every setting of a node, declared once: the fields of `Settings` (see `cix.settings`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from cix.errors import InputError

CONFIG_FILE = "cix.toml"
_PARTY = re.compile(r"^[A-Z]{3}$")
_AGREEMENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class SettingsError(InputError):
    """A setting is unknown, of the wrong type, out of bounds, or a secret given inline."""


class Secret:
    """A resolved secret value that never shows itself in a repr, str or log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself: call only where it is used, never to print it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Setting:
    """The declaration of one setting: its type, default, bounds and what it does.

    `kind` is one of "str", "int", "bool", "list" (of strings) or "secret". A setting whose
    default is None must be given (in the configuration file, by `cix init`). `flag` says
    whether `cix serve` offers it as a command-line option.
    """

    name: str
    kind: str
    default: Any
    help: str
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    flag: bool = False

    @property
    def env(self) -> str:
        """The environment variable that sets it: `CIX_` and the upper-case name."""
        return "CIX_" + self.name.upper()

    @property
    def cli_flag(self) -> str:
        """The `cix serve` option for it (only meaningful where `flag` is true)."""
        return "--" + self.name.replace("_", "-")


def setting(
    kind: str,
    default: Any,
    help: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    choices: tuple[str, ...] = (),
    pattern: str | None = None,
    flag: bool = False,
) -> Any:
    """Declare a field of `Settings` as a setting (its name is the field's)."""
    declared = Setting(
        "",
        kind,
        default,
        help,
        minimum=minimum,
        maximum=maximum,
        choices=choices,
        pattern=pattern,
        flag=flag,
    )
    return field(default=None, metadata={"setting": declared})


@dataclass(frozen=True)
class Settings:
    """The resolved, validated settings of one node (build with `load_settings`).

    Each field after `data_dir` is a setting, declared here once (`setting(...)`): its
    type, default, bounds and help. `SETTINGS`, the configuration file's keys, the
    environment variables, the flags of `cix serve` and docs/settings.md all come from
    these declarations.
    """

    data_dir: Path
    party: str = setting(
        "str",
        None,
        "ISO 3166-1 alpha-3 code of the nation this node serves (set by `cix init`).",
        pattern=_PARTY.pattern,
    )
    agreements: tuple[str, ...] = setting(
        "list",
        [],
        "Ids of the bilateral agreements this node holds, e.g. `kor-can`.",
        pattern=_AGREEMENT_ID.pattern,
    )
    node_id: str = setting(
        "str",
        "",
        "Name of this node in audit entries and federation messages; "
        "empty means `cix-<party>` in lower case.",
        pattern=r"^([a-z0-9][a-z0-9.-]{0,62})?$",
    )
    host: str = setting(
        "str",
        "127.0.0.1",
        "Address `cix serve` listens on.",
        flag=True,
    )
    port: int = setting(
        "int",
        8740,
        "TCP port `cix serve` listens on.",
        minimum=1,
        maximum=65535,
        flag=True,
    )
    workers: int = setting(
        "int",
        1,
        "Processes `cix serve` answers requests with, on one listening socket; one per core "
        "on a machine that serves only this node. Each worker sees every other's writes at "
        "its next request; the authentication failure limit is shared out among them "
        "(rounded down; at most `auth_failure_limit` workers).",
        minimum=1,
        maximum=64,
        flag=True,
    )
    database_url: Secret = setting(
        "secret",
        "",
        "SQLAlchemy URL of the node database; empty means SQLite `cix.db` in the data directory. "
        "PostgreSQL: `postgresql+psycopg://user@host/db` (a password only by reference). "
        "One `cix serve` (its one process or its workers) alone writes a node's database: it "
        "caches what each request needs (tokens, people, document metadata) until its own "
        "next write, so a change made by another process (a script) is not seen until then; "
        "a second `cix serve` on the same database is refused. Change the registry through "
        "the API.",
        flag=True,
    )
    blob_dir: Path = setting(
        "str",
        "blobs",
        "Directory of the content-addressed blob store (relative to the data directory).",
    )
    passphrase: Secret = setting(
        "secret",
        "",
        "Passphrase of the node keys at rest; for unattended `cix serve` give it by "
        "`CIX_PASSPHRASE` or `CIX_PASSPHRASE_FILE`.",
    )
    audit_log: Secret = setting(
        "secret",
        "",
        "Where the tamper-evident audit log lives: a SQLite path (relative to the data "
        "directory) or a PostgreSQL URL; empty means `audit/log.db`, or the node database "
        "itself when that is PostgreSQL.",
    )
    audit_checkpoint_seconds: int = setting(
        "int",
        60,
        "Seconds of event time between signed audit checkpoints (0: one per committed batch).",
        minimum=0,
        maximum=86400,
    )
    kem_algorithm: str = setting(
        "str",
        "mlkem768-x25519",
        "Key-encapsulation algorithm of the node key `cix init` generates: the post-quantum "
        "hybrid ML-KEM-768+X25519, X25519, or RSA-2048 (OpenTDF key access server interop).",
        choices=("mlkem768-x25519", "x25519", "rsa-2048"),
    )
    token_issuer: str = setting(
        "str",
        "",
        "OIDC issuer (`iss`) whose bearer tokens are accepted; empty means the built-in "
        "issuer `urn:cix:<node_id>` (`cix token issue`).",
    )
    token_audience: str = setting(
        "str",
        "cix",
        "Audience (`aud`) a bearer token must name.",
        pattern=r"^\S{1,200}$",
    )
    token_jwks_url: str = setting(
        "str",
        "",
        "URL of the issuer's JWKS; empty means the built-in issuer's key in the data "
        "directory (served at `/.well-known/jwks.json`).",
    )
    token_algorithms: tuple[str, ...] = setting(
        "list",
        ["EdDSA", "ES256"],
        "JWS algorithms accepted on bearer tokens (never `none` or HMAC).",
        pattern=r"^(EdDSA|ES256|ES384|RS256|PS256)$",
    )
    token_leeway_seconds: int = setting(
        "int",
        30,
        "Clock skew tolerated on `exp`, `nbf` and `iat`.",
        minimum=0,
        maximum=300,
    )
    token_max_ttl_seconds: int = setting(
        "int",
        12 * 3600,
        "Longest lifetime `cix token issue` grants and the node accepts (`exp` - `iat`).",
        minimum=60,
        maximum=7 * 24 * 3600,
    )
    api_token_max_ttl_seconds: int = setting(
        "int",
        366 * 86400,
        "Longest lifetime of an API token (`POST /api/v1/tokens`, `cix login`); a token never "
        "outlives the credential that minted it either.",
        minimum=60,
        maximum=366 * 86400,
    )
    jwks_cache_seconds: int = setting(
        "int",
        300,
        "How long a remote issuer's JWKS is cached.",
        minimum=0,
        maximum=86400,
    )
    jwks_refresh_cooldown_seconds: int = setting(
        "int",
        30,
        "Least time between two refetches of a remote issuer's JWKS forced by a token whose "
        "`kid` is not in the cached set: a rotated key is picked up after at most this long, "
        "and tokens with made-up `kid`s cannot make the node hammer the identity provider.",
        minimum=0,
        maximum=3600,
    )
    max_request_bytes: int = setting(
        "int",
        1 << 20,
        "Largest request body accepted, except document uploads.",
        minimum=1024,
        maximum=1 << 30,
    )
    max_upload_bytes: int = setting(
        "int",
        16 << 30,
        "Largest document upload accepted (streamed, never held in memory).",
        minimum=1024,
        maximum=1 << 40,
    )
    auth_failure_limit: int = setting(
        "int",
        20,
        "Authentication failures allowed per client address within the window; "
        "beyond it the client gets 429 until the window passes.",
        minimum=1,
        maximum=100_000,
    )
    auth_failure_window_seconds: int = setting(
        "int",
        60,
        "Window over which authentication failures are counted.",
        minimum=1,
        maximum=86400,
    )
    rate_limit_clients: int = setting(
        "int",
        10_000,
        "Most client addresses tracked by the failure limiter (bounded memory: the "
        "least recently seen are forgotten first).",
        minimum=16,
        maximum=10_000_000,
    )
    page_size: int = setting(
        "int",
        50,
        "Default number of items in one page of a listing.",
        minimum=1,
        maximum=1000,
    )
    max_page_size: int = setting(
        "int",
        500,
        "Largest page a client may ask for.",
        minimum=1,
        maximum=10_000,
    )
    web_session_idle_seconds: int = setting(
        "int",
        900,
        "A web interface session ends after this many seconds without a request.",
        minimum=60,
        maximum=86400,
    )
    web_session_absolute_seconds: int = setting(
        "int",
        8 * 3600,
        "A web interface session ends this many seconds after sign-in, however busy (and "
        "never later than the credential it was signed in with).",
        minimum=300,
        maximum=7 * 86400,
    )
    web_max_upload_bytes: int = setting(
        "int",
        64 << 20,
        "Largest document uploaded through the web interface (a browser form is held in "
        "memory while it is sealed, never spooled to disk; larger files go through the API).",
        minimum=1024,
        maximum=1 << 30,
    )
    log_level: str = setting(
        "str",
        "info",
        "Log level of `cix serve`.",
        choices=("critical", "error", "warning", "info", "debug"),
        flag=True,
    )
    access_log: bool = setting(
        "bool",
        False,
        "Log one line per HTTP request (uvicorn's access log) at `info`. Off by default: "
        "the audit log already records every audited request (who, what, when, the "
        "decision and its reasons), tamper-evident, and a line per request costs about a "
        "fifth of the CPU time of an open. Turn it on to see the requests the audit log "
        "does not record too (health, the OpenAPI document; failed authentications are "
        "logged either way).",
    )
    federation_url: str = setting(
        "str",
        "",
        "The base URL peers reach this node's federation API at (`/federation/v1` under "
        "it), printed in its identity; empty means `http://<host>:<port>`.",
        pattern=r"^(https?://[^\s]{1,500})?$",
    )
    federation_max_skew_seconds: int = setting(
        "int",
        300,
        "How far a federation message's issue time may be from this node's clock, either "
        "way; a message outside it is refused (`clock-skew`) and the sender retries.",
        minimum=1,
        maximum=86400,
    )
    federation_retry_seconds: int = setting(
        "int",
        1,
        "First delay before a failed delivery to a peer is retried; it doubles each "
        "attempt up to `federation_retry_max_seconds`.",
        minimum=1,
        maximum=3600,
    )
    federation_retry_max_seconds: int = setting(
        "int",
        300,
        "Longest delay between two delivery attempts to a peer.",
        minimum=1,
        maximum=86400,
    )
    time_zone: str = setting(
        "str",
        "",
        "IANA time zone in which a bare date given to this node is a whole day (a clearance "
        "valid until 2027-12-31 is valid through that day here); empty: the party's "
        "(KOR Asia/Seoul, CAN America/Toronto, DEU Europe/Berlin; UTC for another).",
    )
    federation_lease_seconds: int = setting(
        "int",
        60,
        "How long a delivery attempt holds a claimed outbox message: a process killed "
        "mid-send leaves it claimed, and it is sent again once this has passed. Longer than "
        "the slowest send (a large document to a slow peer).",
        minimum=1,
        maximum=86400,
    )
    federation_delivery_concurrency: int = setting(
        "int",
        8,
        "How many outbox messages the delivery worker sends at once (each over its own "
        "connection); their outcomes are recorded together, in one audited write.",
        minimum=1,
        maximum=256,
    )
    witness_interval_seconds: int = setting(
        "int",
        60,
        "Seconds between two exchanges of audit checkpoints with every pinned peer, each "
        "witnessing the other's log (they are also exchanged after messages cross); 0: only "
        "after messages cross.",
        minimum=0,
        maximum=86400,
    )
    tls_cert: str = setting(
        "str",
        "",
        "PEM certificate this node presents to its peers (its fingerprint is in the node's "
        "identity); empty means `keys/tls.crt` in the data directory if it exists "
        "(`cix init --tls` creates it). A relative path is under the data directory.",
    )
    tls_key: str = setting(
        "str",
        "",
        "PEM private key of `tls_cert`; empty means `keys/tls.key` in the data directory.",
    )
    federation_mtls: bool = setting(
        "bool",
        False,
        "Serve HTTPS with `tls_cert` and require every client to present the certificate of "
        "a pinned peer (`cix peer add --cert`). Federation messages are signed either way.",
    )
    receipt_overdue_seconds: int = setting(
        "int",
        86400,
        "A transmission at or above the agreement's receipt level with no receipt this "
        "long after it was requested is listed as overdue.",
        minimum=1,
        maximum=90 * 86400,
    )
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def uses_builtin_issuer(self) -> bool:
        """True when bearer tokens are checked against the key in the data directory."""
        return not self.token_jwks_url


def _declared() -> tuple[Setting, ...]:
    return tuple(
        replace(f.metadata["setting"], name=f.name)
        for f in fields(Settings)
        if "setting" in f.metadata
    )


SETTINGS: tuple[Setting, ...] = _declared()
"""Every setting, in declaration order (the fields of `Settings`)."""
