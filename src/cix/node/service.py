"""A national node's services wired together, and its set-up (`cix init`).

`Node.open(data_dir)` resolves the settings, opens the database (refusing one whose schema is
older than this version: run `cix init --dir DIR` to upgrade), the blob store, the audit
sink, the credential services and the registry. `init_node` creates or upgrades a data
directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cix.agreements import Agreement, bundled_registry
from cix.errors import InputError
from cix.node.audit_reading import AuditTrail
from cix.node.auditing import AuditSink, LogAuditSink
from cix.node.datadir import make_private
from cix.node.dates import zone_for
from cix.node.documents import Documents
from cix.node.errors import DatabaseNotTheNodes, StaleSchema
from cix.node.exchange.consent_wiring import wire_consents
from cix.node.exchange.consents import Consents
from cix.node.exchange.exchange import Exchange
from cix.node.exchange.peers import Peers, create_tls_files
from cix.node.exchange.reclassify import Reclassify
from cix.node.exchange.visit_wiring import wire_visits
from cix.node.exchange.visits import Visits
from cix.node.exchange.witness_wiring import wire_witnessing
from cix.node.keyring import (
    CURSOR_KEY,
    KEYS_DIR,
    NodeKeys,
    create_node_keys,
    has_node_keys,
    load_node_keys,
)
from cix.node.opening import Opener
from cix.node.procedures.destruction import Destruction
from cix.node.procedures.incidents import Incidents
from cix.node.procedures.reproductions import Reproductions
from cix.node.register import Register
from cix.node.registry import Clock, PersonnelRegistry, utc_now
from cix.node.roles import SYSTEM, Role
from cix.node.schemas import OrganisationIn, PersonIn
from cix.node.tokens import (
    ISSUER_KEY_FILE,
    ApiTokens,
    TokenIssuer,
    TokenVerifier,
    load_issuer_public,
)
from cix.node.websessions import WebSessions
from cix.policy import Policies
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


def held_agreements(settings: Settings) -> dict[str, Agreement]:
    """The policies this node decides under: its agreements and its own national policy."""
    registry = bundled_registry()
    held = {a: registry.get(a) for a in settings.agreements}
    national = registry.national_policy(settings.party)
    held[national.id] = national
    return held


def _passphrase(settings: Settings) -> bytes:
    value = settings.passphrase.reveal()
    if not value:
        raise SettingsError(
            "no key passphrase: set CIX_PASSPHRASE or CIX_PASSPHRASE_FILE "
            '(or `passphrase = "$env:NAME"` in cix.toml)'
        )
    return value.encode("utf-8")


class Node:
    """Everything one node's API and CLI act through.

    `keys` and `issuer` are None when the node was opened without unlocking its keys
    (commands that need no private key, such as `cix audit verify`); anything that seals,
    opens or issues a token refuses then.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        audit: AuditSink,
        clock: Clock = utc_now,
        keys: NodeKeys | None = None,
        issuer: TokenIssuer | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.audit = audit
        self.clock = clock
        self.keys = keys
        self.blobs = BlobStore(settings.blob_dir)
        self.registry = PersonnelRegistry(db, audit, clock)
        self.api_tokens = ApiTokens(db, audit, max_ttl=settings.api_token_max_ttl_seconds)
        self.audit_trail = AuditTrail(audit, clock)
        self.web_sessions = WebSessions(
            db,
            audit,
            idle_seconds=settings.web_session_idle_seconds,
            absolute_seconds=settings.web_session_absolute_seconds,
        )
        self.issuer = issuer
        self.verifier = TokenVerifier(
            settings,
            load_issuer_public(settings.data_dir) if settings.uses_builtin_issuer else None,
        )
        self.agreements = held_agreements(settings)
        #: Where a bare date given to this node is a day (cix.node.dates).
        self.zone = zone_for(settings.party, settings.time_zone)
        register = Register(
            db=db,
            blobs=self.blobs,
            audit=audit,
            registry=self.registry,
            policies=Policies(self.agreements.values()),
            agreements=self.agreements,
            party=settings.party,
            keys=keys,
            clock=clock,
        )
        self.documents = Documents(
            register,
            max_upload_bytes=settings.max_upload_bytes,
            cursor_key=settings.data_dir / KEYS_DIR / CURSOR_KEY,
        )
        self.opening = Opener(register)
        self.reproductions = Reproductions(register)
        self.destruction = Destruction(register, self.opening)
        self.incidents = Incidents(register)
        self.peers = Peers(db, audit, settings=settings, keys=keys, clock=clock)
        # Federation: the inbox, the outbox's delivery (its transport set by the server)
        # and transmissions (docs/federation.md).
        self.exchange = Exchange(
            register, settings, clock=clock, bits=self.documents.bits, peers=self.peers
        )
        self.opening.pinned_signers = self.exchange.peers.pinned_signers
        self.consents = Consents(
            db,
            audit,
            party=settings.party,
            node_id=settings.node_id,
            agreements=self.agreements,
            keys=keys,
            clock=clock,
        )
        wire_consents(self.exchange, self.consents)
        # Requests for visit (issue 13): between the two authorities, on the same path.
        self.visits = Visits(
            db,
            audit,
            party=settings.party,
            node_id=settings.node_id,
            agreements=self.agreements,
            keys=keys,
            clock=clock,
        )
        wire_visits(self.exchange, self.visits)
        # Witnessing (docs/federation.md): cosigning peers' checkpoints, and ours by them.
        self.witnessing, self.cosigning = wire_witnessing(
            self.exchange, self.incidents, settings, keys=keys, audit=audit, clock=clock
        )
        # Classification changes (rule 3): at the originator and at the holders of copies.
        self.reclassify = Reclassify(register, self.exchange, bits=self.documents.bits)
        self.consents.reclassify = self.reclassify.reclassify

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, object] | None = None,
        audit: AuditSink | None = None,
        clock: Clock = utc_now,
        unlock: bool | None = None,
    ) -> Node:
        """Open the node in `data_dir`; raises `StaleSchema` if its database needs upgrading.

        With `unlock` the private keys are loaded with the configured passphrase (a wrong or
        missing one is an InputError naming what to set); without, they stay locked; by
        default they are unlocked when a passphrase is configured.
        """
        settings = load_settings(data_dir, environ=environ, overrides=overrides)
        url = settings.database_url.reveal()
        _refuse_a_database_not_the_nodes(settings, url)
        revision = migrate.current(url)
        if revision != migrate.head():
            raise StaleSchema(
                f"{settings.data_dir}: database schema is at revision {revision or 'none'}, "
                f"this cix needs {migrate.head()}: run `cix init --dir {settings.data_dir}`"
            )
        if unlock is None:
            unlock = bool(settings.passphrase.reveal())
        keys = load_node_keys(settings.data_dir, _passphrase(settings)) if unlock else None
        issuer = (
            TokenIssuer.load(settings, _passphrase(settings))
            if unlock and settings.uses_builtin_issuer
            else None
        )
        sink: AuditSink
        if audit is None:
            from cix.audit import open_log

            interval = settings.audit_checkpoint_seconds
            sink = LogAuditSink(
                open_log(
                    settings.audit_log.reveal(),
                    create=False,
                    signer=keys.audit_signer if keys else None,
                    checkpoint_interval=timedelta(seconds=interval) if interval else None,
                ),
                settings.node_id,
            )
        else:
            sink = audit
        db = Database(url)
        if isinstance(sink, LogAuditSink):
            sink.keep_checkpoints_in(db)
        return cls(settings, db, sink, clock, keys, issuer)

    def close(self) -> None:
        """Release the audit log, then the database connections: the log's checkpoint keeper
        may still be recording a checkpoint in the database, and must find it open. The
        delivery's sending threads, if any started, end first."""
        self.exchange.delivery.close()
        if isinstance(self.audit, LogAuditSink):
            self.audit.close()
        self.db.dispose()


@dataclass(frozen=True)
class InitResult:
    """What `init_node` did: the settings, whether it created or upgraded, revisions."""

    settings: Settings
    created: bool
    revision_before: str | None
    revision_after: str
    tls_created: bool = False


def _database_url_from(environ: Mapping[str, str]) -> str | None:
    """The database URL `cix init` records from CIX_DATABASE_URL: inline when it holds no
    password, else as the reference `$env:CIX_DATABASE_URL` (a secret is never written)."""
    url = environ.get("CIX_DATABASE_URL")
    if not url:
        return None
    if re.match(r"^[a-z0-9+]+://[^/@]*:[^/@]*@", url):
        return "$env:CIX_DATABASE_URL"
    return url


def _refuse_a_database_not_the_nodes(settings: Settings, url: str) -> None:
    """Raise `DatabaseNotTheNodes` if this directory holds a node (its keys) but the
    configured database does not exist or has no cix schema; never create one."""
    if not has_node_keys(settings.data_dir):
        return
    where = f"{settings.data_dir}: the configured database"
    missing = migrate.sqlite_file_missing(url)
    if missing is not None:
        raise DatabaseNotTheNodes(
            f"{where} {missing} does not exist, though this directory holds a node; check "
            "database_url in cix.toml (or CIX_DATABASE_URL); nothing was created"
        )
    if migrate.current(url) is None:
        raise DatabaseNotTheNodes(
            f"{where} ({migrate.shown(url)}) holds no cix schema, though this "
            "directory holds a node: it is not this node's database; check database_url in "
            "cix.toml (or CIX_DATABASE_URL); nothing was changed"
        )


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
    tls: bool = False,
) -> InitResult:
    """Create the node data directory, or upgrade an existing one's database schema.

    A new directory gets `cix.toml`, the database at the newest schema, the blob store, the
    token issuer key, and (with `admin`) a first administrator in an organisation of the
    node's party. An existing directory keeps its configuration; only its schema is upgraded,
    and `party`, if given, must match. With `tls`, the node gets a TLS key and self-signed
    certificate (`keys/tls.key`, `keys/tls.crt`) unless it has one already.
    """
    data_dir = data_dir.resolve()
    created = not (data_dir / CONFIG_FILE).exists()
    if created:
        if party is None:
            raise InputError("--party is required to create a node")
        if data_dir.exists() and any(data_dir.iterdir()):
            raise InputError(f"{data_dir}: exists and is not empty; choose a new directory")
        env = os.environ if environ is None else environ
        if not (env.get("CIX_PASSPHRASE") or env.get("CIX_PASSPHRASE_FILE")):
            raise SettingsError(
                "no key passphrase: set CIX_PASSPHRASE or CIX_PASSPHRASE_FILE to encrypt "
                "the node keys"
            )
        values: dict[str, object] = {"party": party, "agreements": list(agreements)}
        database_url = database_url or _database_url_from(env)
        if database_url:
            values["database_url"] = database_url
        # Validate every value before anything is written.
        for name, value in values.items():
            if name != "database_url":
                check_value(name, value)
        make_private(data_dir)
        write_config(data_dir, values)
    make_private(data_dir)  # an existing node's directory too (an upgrade fixes it)
    settings = load_settings(data_dir, environ=environ)
    if party is not None and party != settings.party:
        raise SettingsError(f"{data_dir}: the node serves {settings.party}, not {party}")
    url = settings.database_url.reveal()
    if not created:
        _refuse_a_database_not_the_nodes(settings, url)
    before = migrate.current(url)
    migrate.upgrade(url)
    BlobStore(settings.blob_dir).create()
    if not has_node_keys(data_dir):
        create_node_keys(
            data_dir,
            _passphrase(settings),
            kem_algorithm=settings.kem_algorithm,
            node_id=settings.node_id,
        )
    audit_address = settings.audit_log.reveal()
    if "://" not in audit_address:
        Path(audit_address).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    from cix.audit import open_log

    open_log(audit_address, create=True).close()
    if settings.uses_builtin_issuer and not (data_dir / ISSUER_KEY_FILE).exists():
        TokenIssuer.create(data_dir, _passphrase(settings))
    tls_created = tls and create_tls_files(settings, now=clock())
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
    return InitResult(settings, created, before, migrate.head(), tls_created)
