"""A third party's copy keeps the originator's label as received.

DEU holds KOR's information released by CAN under `can-deu` with KOR's consent: its
register row carries the onward label it decides on (CAN's equivalent under `can-deu`),
and `received_copies.originator_label` the originator's own label, as signed by the
originator in the sealed object (null for a copy received from its originator, whose row
holds the originator's label itself).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `received_copies.originator_label`."""
    op.add_column("received_copies", sa.Column("originator_label", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("received_copies") as batch:
        batch.drop_column("originator_label")
