"""Classification changes: the label history of each document, at the originator and at
each holder of a copy (rule 3).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _string(name: str, size: int, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(size), nullable=nullable)


def upgrade() -> None:
    """Create `label_history`."""
    op.create_table(
        "label_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _string("document_id", 32),
        sa.Column("revision", sa.Integer(), nullable=False),
        _string("side", 16),
        _string("originator_document_id", 32),
        sa.Column("previous_label", sa.JSON(), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _string("changed_by", 64),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        _string("consent_id", 64, nullable=True),
        _string("message_id", 64, nullable=True),
        _string("previous_blob", 64, nullable=True),
        _string("blob", 64, nullable=True),
        sa.CheckConstraint("side IN ('originator', 'copy')", name=op.f("ck_label_history_side")),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name=op.f("fk_label_history_document_id_documents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_history")),
        sa.UniqueConstraint(
            "document_id", "revision", name=op.f("uq_label_history_document_id_revision")
        ),
    )
    op.create_index(op.f("ix_label_history_document_id"), "label_history", ["document_id"])
    op.create_index(
        op.f("ix_label_history_originator_document_id"),
        "label_history",
        ["originator_document_id"],
    )


def downgrade() -> None:
    """Drop `label_history`."""
    op.drop_index(op.f("ix_label_history_originator_document_id"), table_name="label_history")
    op.drop_index(op.f("ix_label_history_document_id"), table_name="label_history")
    op.drop_table("label_history")
