"""Federation: pinned peers, the inbox kept for good, the outbox, transmissions and their
receipts, received copies, consents.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _string(name: str, size: int, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(size), nullable=nullable)


def _check(table: str, name: str, condition: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(condition, name=op.f(f"ck_{table}_{name}"))


def upgrade() -> None:
    """Create the federation tables."""
    op.create_table(
        "peers",
        _string("node_id", 64),
        _string("party", 3),
        _text("url"),
        _text("identity"),
        sa.Column("agreements", sa.JSON(), nullable=False),
        _string("added_by", 64),
        _time("added_at"),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_peers")),
    )
    op.create_table(
        "federation_inbox",
        _string("message_id", 64),
        _string("sender", 64),
        _string("kind", 32),
        _string("agreement", 64),
        _text("message"),
        sa.Column("answer_status", sa.Integer(), nullable=False),
        _text("answer"),
        _time("received_at"),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_federation_inbox")),
    )
    op.create_index(op.f("ix_federation_inbox_sender"), "federation_inbox", ["sender"])
    op.create_table(
        "federation_outbox",
        _string("message_id", 64),
        _string("peer", 64),
        _string("kind", 32),
        _string("agreement", 64),
        sa.Column("body", sa.JSON(), nullable=False),
        _string("blob_hash", 64, nullable=True),
        _string("state", 16),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("next_attempt_at"),
        _text("last_error", nullable=True),
        _text("answer", nullable=True),
        _time("created_at"),
        _time("delivered_at", nullable=True),
        _check("federation_outbox", "state", "state IN ('queued', 'delivered', 'refused')"),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_federation_outbox")),
    )
    op.create_index("ix_federation_outbox_due", "federation_outbox", ["state", "next_attempt_at"])
    op.create_table(
        "transmissions",
        _string("id", 64),
        _string("document_id", 32),
        _string("to_party", 3),
        _string("to_node", 64),
        _string("agreement", 64),
        _string("purpose", 200, nullable=True),
        _string("consent_id", 64, nullable=True),
        _string("requested_by", 64),
        _time("requested_at"),
        _string("state", 16),
        _string("refusal_code", 64, nullable=True),
        sa.Column("requires_receipt", sa.Boolean(), nullable=False),
        _text("receipt", nullable=True),
        _time("receipted_at", nullable=True),
        _check("transmissions", "state", "state IN ('queued', 'sent', 'receipted', 'refused')"),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name=op.f("fk_transmissions_document_id_documents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transmissions")),
    )
    op.create_index(op.f("ix_transmissions_document_id"), "transmissions", ["document_id"])
    op.create_table(
        "received_copies",
        _string("document_id", 32),
        _string("message_id", 64),
        _string("originator_party", 3),
        _string("originator_document_id", 32),
        sa.Column("copy_number", sa.Integer(), nullable=False),
        _string("received_from", 64),
        _string("releasing_party", 3),
        _string("agreement", 64),
        _string("purpose", 200, nullable=True),
        _text("consent", nullable=True),
        _time("received_at"),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_received_copies_document_id_documents"),
        ),
        sa.PrimaryKeyConstraint("document_id", name=op.f("pk_received_copies")),
        sa.UniqueConstraint("message_id", name=op.f("uq_received_copies_message_id")),
    )
    op.create_index(
        op.f("ix_received_copies_originator_document_id"),
        "received_copies",
        ["originator_document_id"],
    )
    op.create_table(
        "consents",
        _string("id", 64),
        _string("side", 16),
        _string("act", 16),
        _string("document_id", 32),
        _string("originator_party", 3),
        _string("requester_node", 64),
        _string("to_party", 3, nullable=True),
        _string("purpose", 200, nullable=True),
        sa.Column("new_label", sa.JSON(), nullable=True),
        _string("requested_by", 64),
        _time("requested_at"),
        _string("state", 16),
        _text("conditions", nullable=True),
        _string("answered_by", 64, nullable=True),
        _time("answered_at", nullable=True),
        _time("expires_at", nullable=True),
        _text("answer", nullable=True),
        _time("used_at", nullable=True),
        _check("consents", "side", "side IN ('requester', 'originator')"),
        _check("consents", "act", "act IN ('release', 'downgrade', 'purpose')"),
        _check(
            "consents",
            "state",
            "state IN ('requested', 'approved', 'denied', 'used', 'expired')",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index(op.f("ix_consents_document_id"), "consents", ["document_id"])


def downgrade() -> None:
    """Drop the federation tables."""
    for table in (
        "consents",
        "received_copies",
        "transmissions",
        "federation_outbox",
        "federation_inbox",
        "peers",
    ):
        op.drop_table(table)
