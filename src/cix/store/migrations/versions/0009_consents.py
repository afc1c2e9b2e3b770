"""Consents: what the workflow across nodes needs besides 0005's table.

`consents` gains the originator's node (where a request goes, whose key signs the answer),
the requesting party, the agreement the messages travel under and the requester's reason.
`received_copies.consent_id` is unique: one consent permits one act, so a third party
registers at most one copy under each consent.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the consent workflow's columns and the one-copy-per-consent index."""
    op.add_column("consents", sa.Column("originator_node", sa.String(64), nullable=True))
    op.add_column("consents", sa.Column("requester_party", sa.String(3), nullable=True))
    op.add_column("consents", sa.Column("agreement", sa.String(64), nullable=True))
    op.add_column("consents", sa.Column("reason", sa.Text(), nullable=True))
    op.add_column("received_copies", sa.Column("consent_id", sa.String(64), nullable=True))
    op.create_index(
        op.f("ux_received_copies_consent_id"), "received_copies", ["consent_id"], unique=True
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_index(op.f("ux_received_copies_consent_id"), table_name="received_copies")
    with op.batch_alter_table("received_copies") as batch:
        batch.drop_column("consent_id")
    with op.batch_alter_table("consents") as batch:
        for name in ("reason", "agreement", "requester_party", "originator_node"):
            batch.drop_column(name)
