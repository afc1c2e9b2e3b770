"""The document register: label bits, documents, sources, reproductions, destruction, incidents.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _document_fk(table: str, column: str = "document_id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["documents.id"], name=op.f(f"fk_{table}_{column}_documents")
    )


def upgrade() -> None:
    """Create the document register tables and the index that serves filtered listings."""
    op.create_table(
        "label_bits",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("bit", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('party', 'programme', 'caveat')", name=op.f("ck_label_bits_kind")
        ),
        sa.CheckConstraint("bit >= 0 AND bit < 63", name=op.f("ck_label_bits_bit")),
        sa.PrimaryKeyConstraint("kind", "name", name=op.f("pk_label_bits")),
        sa.UniqueConstraint("kind", "bit", name=op.f("uq_label_bits_kind_bit")),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("originator", sa.String(3), nullable=False),
        sa.Column("classification", sa.String(32), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("releasability_mask", sa.BigInteger(), nullable=False),
        sa.Column("programme_mask", sa.BigInteger(), nullable=False),
        sa.Column("caveat_mask", sa.BigInteger(), nullable=False),
        sa.Column("label_json", sa.JSON(), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=True),
        sa.Column("media_type", sa.String(200), nullable=False),
        sa.Column("plaintext_size", sa.BigInteger(), nullable=False),
        sa.Column("sealed_size", sa.BigInteger(), nullable=False),
        sa.Column("blob_hash", sa.String(64), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        _time("created_at"),
        sa.Column("custodian_id", sa.String(64), nullable=False),
        sa.Column("copies_made", sa.Integer(), nullable=False),
        _time("destroyed_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
    )
    op.create_index(op.f("ix_documents_blob_hash"), "documents", ["blob_hash"])
    op.create_index(
        "ix_documents_listing",
        "documents",
        [
            "id",
            "originator",
            "rank",
            "releasability_mask",
            "programme_mask",
            "caveat_mask",
            "policy",
        ],
        sqlite_where=sa.text("destroyed_at IS NULL"),
        postgresql_where=sa.text("destroyed_at IS NULL"),
    )
    op.create_table(
        "document_sources",
        sa.Column("document_id", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(32), nullable=False),
        _document_fk("document_sources"),
        _document_fk("document_sources", "source_id"),
        sa.PrimaryKeyConstraint("document_id", "source_id", name=op.f("pk_document_sources")),
    )
    op.create_table(
        "reproductions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.String(32), nullable=False),
        sa.Column("copy_number", sa.Integer(), nullable=False),
        sa.Column("made_by", sa.String(64), nullable=False),
        _time("made_at"),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _time("destroyed_at", nullable=True),
        _document_fk("reproductions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reproductions")),
        sa.UniqueConstraint(
            "document_id", "copy_number", name=op.f("uq_reproductions_document_id_copy_number")
        ),
    )
    op.create_index(op.f("ix_reproductions_document_id"), "reproductions", ["document_id"])
    op.create_table(
        "destruction_certificates",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("document_id", sa.String(32), nullable=False),
        sa.Column("destroyed_by", sa.String(64), nullable=False),
        sa.Column("witnessed_by", sa.String(64), nullable=True),
        _time("destroyed_at"),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("certificate", sa.JSON(), nullable=False),
        _document_fk("destruction_certificates"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destruction_certificates")),
        sa.UniqueConstraint("document_id", name=op.f("uq_destruction_certificates_document_id")),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("document_id", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("reported_by", sa.String(64), nullable=False),
        _time("reported_at"),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('loss', 'compromise', 'suspected')", name=op.f("ck_incidents_kind")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'investigating', 'closed')", name=op.f("ck_incidents_status")
        ),
        _document_fk("incidents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_index(op.f("ix_incidents_document_id"), "incidents", ["document_id"])


def downgrade() -> None:
    """Drop the document register tables."""
    for table in (
        "incidents",
        "destruction_certificates",
        "reproductions",
        "document_sources",
        "documents",
        "label_bits",
    ):
        op.drop_table(table)
