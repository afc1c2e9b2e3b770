"""The audit log's newest signed checkpoint, kept in the node database (truncation evidence).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `log_evidence` (one row: size, root, signed note)."""
    op.create_table(
        "log_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_evidence")),
    )


def downgrade() -> None:
    """Drop `log_evidence`."""
    op.drop_table("log_evidence")
