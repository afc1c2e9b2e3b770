"""A national node's services wired together, and its set-up (`cix init`).

`Node.open(data_dir)` resolves the settings, opens the database (refusing one whose schema is
older than this version: run `cix init --dir DIR` to upgrade), the blob store, the audit
sink, the credential services and the registry. `init_node` creates or upgrades a data
directory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cix.errors import InputError
from cix.node.auditing import AuditSink, JsonLinesAuditSink
from cix.node.registry import Clock, Registry, utc_now
from cix.node.roles import SYSTEM, Role
from cix.node.schemas import OrganisationIn, PersonIn
from cix.node.tokens import ApiTokens, TokenIssuer, TokenVerifier
from cix.settings import (
    CONFIG_FILE,
    Settings,
    SettingsError,
    check_value,
    load_settings,
    write_config,
)
from cix.store import migrate
from cix.store.blobs import BlobStore
from cix.store.db import Database

AUDIT_EVENTS_FILE = Path("audit") / "events.jsonl"


class StaleSchema(InputError):
    """The database schema is older than this version of cix; `cix init --dir` upgrades it."""


class Node:
    """Everything one node's API and CLI act through."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        audit: AuditSink,
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings
        self.db = db
        self.audit = audit
        self.clock = clock
        self.blobs = BlobStore(settings.blob_dir)
        self.registry = Registry(db, audit, clock)
        self.api_tokens = ApiTokens(db, audit)
        self.issuer = TokenIssuer.load(settings) if settings.uses_builtin_issuer else None
        self.verifier = TokenVerifier(settings, self.issuer)

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, object] | None = None,
        audit: AuditSink | None = None,
        clock: Clock = utc_now,
    ) -> Node:
        """Open the node in `data_dir`; raises `StaleSchema` if its database needs upgrading."""
        settings = load_settings(data_dir, environ=environ, overrides=overrides)
        url = settings.database_url.reveal()
        revision = migrate.current(url)
        if revision != migrate.head():
            raise StaleSchema(
                f"{settings.data_dir}: database schema is at revision {revision or 'none'}, "
                f"this cix needs {migrate.head()}: run `cix init --dir {settings.data_dir}`"
            )
        db = Database(url)
        sink = audit or JsonLinesAuditSink(settings.data_dir / AUDIT_EVENTS_FILE)
        return cls(settings, db, sink, clock)

    def close(self) -> None:
        """Release the database connections."""
        self.db.dispose()


@dataclass(frozen=True)
class InitResult:
    """What `init_node` did: the settings, whether it created or upgraded, revisions."""

    settings: Settings
    created: bool
    revision_before: str | None
    revision_after: str


def init_node(
    data_dir: Path,
    *,
    party: str | None,
    agreements: Sequence[str] = (),
    database_url: str | None = None,
    admin: str | None = None,
    environ: Mapping[str, str] | None = None,
    audit: AuditSink | None = None,
    clock: Clock = utc_now,
) -> InitResult:
    """Create the node data directory, or upgrade an existing one's database schema.

    A new directory gets `cix.toml`, the database at the newest schema, the blob store, the
    token issuer key, and (with `admin`) a first administrator in an organisation of the
    node's party. An existing directory keeps its configuration; only its schema is upgraded,
    and `party`, if given, must match.
    """
    data_dir = data_dir.resolve()
    created = not (data_dir / CONFIG_FILE).exists()
    if created:
        if party is None:
            raise InputError("--party is required to create a node")
        if data_dir.exists() and any(data_dir.iterdir()):
            raise InputError(f"{data_dir}: exists and is not empty; choose a new directory")
        values: dict[str, object] = {"party": party, "agreements": list(agreements)}
        if database_url:
            values["database_url"] = database_url
        # Validate every value before anything is written.
        for name, value in values.items():
            if name != "database_url":
                check_value(name, value)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_config(data_dir, values)
    settings = load_settings(data_dir, environ=environ)
    if party is not None and party != settings.party:
        raise SettingsError(f"{data_dir}: the node serves {settings.party}, not {party}")
    url = settings.database_url.reveal()
    before = migrate.current(url)
    migrate.upgrade(url)
    BlobStore(settings.blob_dir).create()
    (data_dir / AUDIT_EVENTS_FILE).parent.mkdir(exist_ok=True, mode=0o700)
    if settings.uses_builtin_issuer and not (data_dir / "keys" / "token-issuer.jwk").exists():
        TokenIssuer.create(data_dir)
    if created and admin is not None:
        node = Node.open(data_dir, environ=environ, audit=audit, clock=clock)
        try:
            org_id = f"{settings.party.lower()}-node"
            node.registry.create_organisation(
                SYSTEM,
                OrganisationIn(
                    id=org_id,
                    name=f"{settings.party} node operator",
                    kind="government",
                    party=settings.party,
                ),
            )
            node.registry.create_person(
                SYSTEM,
                PersonIn(
                    id=admin,
                    name=admin,
                    organisation=org_id,
                    nationalities=[settings.party],
                    roles=[Role.ADMINISTRATOR],
                ),
            )
        finally:
            node.close()
    return InitResult(settings, created, before, migrate.head())
