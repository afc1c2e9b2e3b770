"""Pinned peers: the peer's TLS certificate itself (its fingerprint is in the identity), so
that `cix serve` can require it of the peer's client and the courier can pin it.

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `peers.tls_cert` (PEM, null when the peer has no certificate pinned)."""
    with op.batch_alter_table("peers") as batch:
        batch.add_column(sa.Column("tls_cert", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop `peers.tls_cert`."""
    with op.batch_alter_table("peers") as batch:
        batch.drop_column("tls_cert")
