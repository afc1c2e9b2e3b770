"""The node database schema (SQLAlchemy 2), identical on SQLite and PostgreSQL.

The migrations in `cix/store/migrations/versions` create exactly this schema; a test compares
them. Times are stored in UTC and always come back timezone-aware.

Labels are stored twice on a document: the canonical JSON (the authority, re-checked by the
decision function on every access) and indexed columns that let a listing push the label
filter into SQL: the classification rank in the originator's scheme, and bitmasks of the
releasability parties, programmes and caveats (bits allocated per node in `label_bits`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Bits 0..62 of a signed 64-bit integer: bit 63 would make masks negative on PostgreSQL.
MASK_BITS = 63


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC that refuses naive input and returns aware datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; a naive datetime is a programming error, refused."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC where the backend (SQLite) returned a naive value."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table, with stable constraint names for migrations."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class OrganisationRow(Base):
    """A government body or a contractor facility, with its facility security clearance: the
    stored row (the decision function's view of it is `cix.policy.Organisation`)."""

    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))
    party: Mapped[str] = mapped_column(String(3))
    facility_level: Mapped[str | None] = mapped_column(String(32))
    facility_party: Mapped[str | None] = mapped_column(String(3))
    facility_expires: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (CheckConstraint("kind IN ('government', 'contractor')", name="kind"),)


class Person(Base):
    """A person who may hold a clearance, programme memberships and roles on this node."""

    __tablename__ = "people"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    nationalities: Mapped[list[str]] = mapped_column(JSON)
    clearance_level: Mapped[str | None] = mapped_column(String(32))
    clearance_party: Mapped[str | None] = mapped_column(String(3))
    clearance_expires: Mapped[datetime | None]
    briefed_at: Mapped[datetime | None]
    briefed_until: Mapped[datetime | None]
    roles: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Programme(Base):
    """A need-to-know group such as CPSP, owned by one party's authority."""

    __tablename__ = "programmes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    party: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime]


class Membership(Base):
    """A time-bounded membership of a person in a programme, granted with a justification."""

    __tablename__ = "memberships"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    programme_id: Mapped[str] = mapped_column(ForeignKey("programmes.id"), index=True)
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    justification: Mapped[str] = mapped_column(Text)
    granted_by: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (CheckConstraint("valid_until > valid_from", name="interval"),)


class ApiToken(Base):
    """An API token for the CLI: only its SHA-256 is stored, the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # The API token whose request minted this one (None: a bearer JWT or the node itself):
    # revoking a token revokes its descendants.
    parent_id: Mapped[str | None] = mapped_column(String(32), index=True)


class WebSession(Base):
    """A browser session of the web interface: only the SHA-256 of its cookie is stored.

    Kept in the database, not in a worker's memory, so that every worker process of a node
    serves the same sessions and a sign-out in one is seen by all.
    """

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    # The API token signed in with (None: a bearer JWT): its revocation ends the session.
    token_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LabelBit(Base):
    """The bit a party, programme or caveat occupies in the document label bitmasks."""

    __tablename__ = "label_bits"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    bit: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("kind", "bit"),
        CheckConstraint("kind IN ('party', 'programme', 'caveat')", name="kind"),
        CheckConstraint(f"bit >= 0 AND bit < {MASK_BITS}", name="bit"),
    )


class Document(Base):
    """The register entry of one sealed information object.

    `id` sorts by creation time, so keyset pagination on it lists newest first.
    """

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    policy: Mapped[str] = mapped_column(String(64))
    originator: Mapped[str] = mapped_column(String(3))
    classification: Mapped[str] = mapped_column(String(32))
    rank: Mapped[int] = mapped_column(Integer)
    releasability_mask: Mapped[int] = mapped_column(BigInteger)
    programme_mask: Mapped[int] = mapped_column(BigInteger)
    caveat_mask: Mapped[int] = mapped_column(BigInteger)
    label_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    title: Mapped[str] = mapped_column(String(500))
    # The title as words are matched (cix.node.search.search_form; migration 0012).
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    purpose: Mapped[str | None] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(200))
    plaintext_size: Mapped[int] = mapped_column(BigInteger)
    sealed_size: Mapped[int] = mapped_column(BigInteger)
    blob_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    custodian_id: Mapped[str] = mapped_column(String(64))
    copies_made: Mapped[int] = mapped_column(Integer)
    destroyed_at: Mapped[datetime | None]

    __table_args__ = (
        # Serves the filtered listing: newest first, the label columns alongside so the
        # filter is evaluated on the index alone (a covering index), live documents only.
        Index(
            "ix_documents_listing",
            "id",
            "originator",
            "rank",
            "releasability_mask",
            "programme_mask",
            "caveat_mask",
            "policy",
            sqlite_where=text("destroyed_at IS NULL"),
            postgresql_where=text("destroyed_at IS NULL"),
        ),
    )


class DocumentSource(Base):
    """A document derived from another: the derived label dominates the source's."""

    __tablename__ = "document_sources"

    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), primary_key=True)


class Reproduction(Base):
    """A numbered copy of a document, accounted for (rule 7)."""

    __tablename__ = "reproductions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    copy_number: Mapped[int] = mapped_column(Integer)
    made_by: Mapped[str] = mapped_column(String(64))
    made_at: Mapped[datetime]
    holder: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    destroyed_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("document_id", "copy_number"),)


class DestructionCertificate(Base):
    """The certificate issued when a document's data key was destroyed."""

    __tablename__ = "destruction_certificates"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), unique=True)
    destroyed_by: Mapped[str] = mapped_column(String(64))
    witnessed_by: Mapped[str | None] = mapped_column(String(64))
    destroyed_at: Mapped[datetime]
    method: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    certificate: Mapped[dict[str, Any]] = mapped_column(JSON)


class Incident(Base):
    """A reported loss or compromise (or suspicion of one), rule 8."""

    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    document_id: Mapped[str | None] = mapped_column(ForeignKey("documents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    reported_by: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("kind IN ('loss', 'compromise', 'suspected')", name="kind"),
        CheckConstraint("status IN ('open', 'investigating', 'closed')", name="status"),
    )


class LogEvidence(Base):
    """The newest signed checkpoint of the node's audit log, kept outside the log (one row):
    a log found smaller than `size`, or with another root at `size`, was cut or rewritten."""

    __tablename__ = "log_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)


# --- federation (docs/federation.md) -----------------------------------------------------


class PeerRow(Base):
    """A pinned peer node: its signed identity as handed over out of band, and the
    agreements under which this node federates with it (rule 6: node to node only)."""

    __tablename__ = "peers"

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    party: Mapped[str] = mapped_column(String(3))
    url: Mapped[str] = mapped_column(Text)
    identity: Mapped[str] = mapped_column(Text)
    agreements: Mapped[list[str]] = mapped_column(JSON)
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime]
    # The peer's TLS certificate (PEM) when one was pinned with it (migration 0008).
    tls_cert: Mapped[str | None] = mapped_column(Text, nullable=True)


class InboxMessage(Base):
    """A federation message received, kept for good with the answer given: a message id
    seen again gets the same answer back (no time window: treaty messages may be resent
    days later), and the row is the evidence of what the peer sent."""

    __tablename__ = "federation_inbox"

    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sender: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    agreement: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    answer_status: Mapped[int] = mapped_column(Integer)
    answer: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]


class OutboxItem(Base):
    """A federation message waiting to be delivered, written in the same commit as the
    audited decision that caused it. The delivery worker picks rows that are due
    (`state`, `next_attempt_at`), never by an id high-water mark, which would skip rows
    committed out of order. The message is signed afresh at each attempt (a new issue
    time, the same message id)."""

    __tablename__ = "federation_outbox"

    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    peer: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    agreement: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    blob_hash: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("state IN ('queued', 'delivered', 'refused')", name="state"),
        Index("ix_federation_outbox_due", "state", "next_attempt_at"),
    )


class Transmission(Base):
    """One document sent to a peer node (rule 6), its receipt when it comes back."""

    __tablename__ = "transmissions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    to_party: Mapped[str] = mapped_column(String(3))
    to_node: Mapped[str] = mapped_column(String(64))
    agreement: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(200))
    consent_id: Mapped[str | None] = mapped_column(String(64))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))
    refusal_code: Mapped[str | None] = mapped_column(String(64))
    requires_receipt: Mapped[bool] = mapped_column(Boolean)
    receipt: Mapped[str | None] = mapped_column(Text)
    receipted_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("state IN ('queued', 'sent', 'receipted', 'refused')", name="state"),
    )


class ReceivedCopy(Base):
    """A document registered here as a copy of another party's document (rule 5: it keeps
    the originator's label and carries this node's alternative label)."""

    __tablename__ = "received_copies"

    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    originator_party: Mapped[str] = mapped_column(String(3))
    originator_document_id: Mapped[str] = mapped_column(String(32), index=True)
    copy_number: Mapped[int] = mapped_column(Integer)
    received_from: Mapped[str] = mapped_column(String(64))
    releasing_party: Mapped[str] = mapped_column(String(3))
    agreement: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(200))
    consent: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
    # one consent permits one act: a third party registers one copy per consent (0009)
    consent_id: Mapped[str | None] = mapped_column(String(64))
    # 0011: a third party's copy (its row holds the onward label it decides on) keeps the
    # originator's label as received; null for a copy received from its originator
    originator_label: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ux_received_copies_consent_id", "consent_id", unique=True),)


class Consent(Base):
    """A request for the originator's consent (rules 2-4: release to a third party,
    downgrade or declassification, use for another purpose) and its signed answer; kept at
    both the requesting node and the originator's."""

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    side: Mapped[str] = mapped_column(String(16))
    act: Mapped[str] = mapped_column(String(16))
    document_id: Mapped[str] = mapped_column(String(32), index=True)
    originator_party: Mapped[str] = mapped_column(String(3))
    requester_node: Mapped[str] = mapped_column(String(64))
    to_party: Mapped[str | None] = mapped_column(String(3))
    purpose: Mapped[str | None] = mapped_column(String(200))
    new_label: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))
    conditions: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    answer: Mapped[str | None] = mapped_column(Text)
    used_at: Mapped[datetime | None]
    # 0009: where the request goes and under which agreement; the requester's reason
    originator_node: Mapped[str | None] = mapped_column(String(64))
    requester_party: Mapped[str | None] = mapped_column(String(3))
    agreement: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("side IN ('requester', 'originator')", name="side"),
        CheckConstraint("act IN ('release', 'downgrade', 'purpose')", name="act"),
        CheckConstraint(
            "state IN ('requested', 'approved', 'denied', 'used', 'expired')", name="state"
        ),
    )


class PeerCosignature(Base):
    """A peer witness's tlog-cosignature/v1 of one of the node's own audit-log checkpoints:
    the note (our signature and the witness's line) as received. The witness also keeps the
    size, so a log cut below it is caught here and refused at the peer's next exchange."""

    __tablename__ = "peer_cosignatures"

    witness_name: Mapped[str] = mapped_column(String(256), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    root: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]


class LabelHistory(Base):
    """One classification change of a document (rule 3), kept for good: at the originator
    (`side` "originator": who decided it and why) and at each holder of a copy (`side`
    "copy": the notice it came in, from which node). `revision` is the sealed object's
    policy revision the change set (docs/format.md §7b)."""

    __tablename__ = "label_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    side: Mapped[str] = mapped_column(String(16))
    originator_document_id: Mapped[str] = mapped_column(String(32), index=True)
    previous_label: Mapped[dict[str, Any]] = mapped_column(JSON)
    label: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime]
    consent_id: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(64))
    previous_blob: Mapped[str | None] = mapped_column(String(64))
    blob: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("document_id", "revision"),
        CheckConstraint("side IN ('originator', 'copy')", name="side"),
    )


class VisitRow(Base):
    """A request for visit (issue 13), kept at both nodes: at the visiting party's
    (`side` "requester": drafted, sent, then the host's answer) and at the host's (`side`
    "host": received, answered, revoked). `request` is the request as sent (personal data:
    shown to officers, never logged); `answer` the host's latest signed answer (compact JWS),
    `approval` its approval (kept when revoked); `history` every step (who, when, what)."""

    __tablename__ = "visits"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    side: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    agreement: Mapped[str] = mapped_column(String(64))
    requester_node: Mapped[str] = mapped_column(String(64))
    requester_party: Mapped[str] = mapped_column(String(3))
    host_node: Mapped[str] = mapped_column(String(64))
    host_party: Mapped[str] = mapped_column(String(3))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    digest: Mapped[str | None] = mapped_column(String(64))
    first_day: Mapped[str] = mapped_column(String(10))
    last_day: Mapped[str] = mapped_column(String(10))
    facility: Mapped[str] = mapped_column(String(500))
    highest_level: Mapped[str] = mapped_column(String(16))
    drafted_by: Mapped[str] = mapped_column(String(64))
    drafted_at: Mapped[datetime]
    sent_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    conditions: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_at: Mapped[datetime | None]
    answer: Mapped[str | None] = mapped_column(Text)
    approval: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[datetime | None]
    history: Mapped[list[Any]] = mapped_column(JSON)

    __table_args__ = (
        CheckConstraint("side IN ('requester', 'host')", name="side"),
        CheckConstraint("kind IN ('one-time', 'recurring', 'emergency')", name="kind"),
        CheckConstraint(
            "state IN ('drafted', 'sent', 'approved', 'denied', 'revoked')", name="state"
        ),
    )
