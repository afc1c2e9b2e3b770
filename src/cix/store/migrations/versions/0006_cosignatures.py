"""Peers' cosignatures of the node's own audit-log checkpoints (witnessing evidence).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `peer_cosignatures` (one row per witness and cosigned size)."""
    op.create_table(
        "peer_cosignatures",
        sa.Column("witness_name", sa.String(length=256), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("witness_name", "size", name=op.f("pk_peer_cosignatures")),
    )


def downgrade() -> None:
    """Drop `peer_cosignatures`."""
    op.drop_table("peer_cosignatures")
