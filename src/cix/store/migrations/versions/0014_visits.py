"""Visits: requests for visit between two nodes and the host's signed answers (issue 13).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create `visits`."""
    op.create_table(
        "visits",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("side", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("agreement", sa.String(64), nullable=False),
        sa.Column("requester_node", sa.String(64), nullable=False),
        sa.Column("requester_party", sa.String(3), nullable=False),
        sa.Column("host_node", sa.String(64), nullable=False),
        sa.Column("host_party", sa.String(3), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("first_day", sa.String(10), nullable=False),
        sa.Column("last_day", sa.String(10), nullable=False),
        sa.Column("facility", sa.String(500), nullable=False),
        sa.Column("highest_level", sa.String(16), nullable=False),
        sa.Column("drafted_by", sa.String(64), nullable=False),
        sa.Column("drafted_at", _TS, nullable=False),
        sa.Column("sent_by", sa.String(64), nullable=True),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("conditions", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(64), nullable=True),
        sa.Column("answered_at", _TS, nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("approval", sa.Text(), nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.CheckConstraint("side IN ('requester', 'host')", name=op.f("ck_visits_side")),
        sa.CheckConstraint(
            "kind IN ('one-time', 'recurring', 'emergency')", name=op.f("ck_visits_kind")
        ),
        sa.CheckConstraint(
            "state IN ('drafted', 'sent', 'approved', 'denied', 'revoked')",
            name=op.f("ck_visits_state"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
    )
    op.create_index(op.f("ix_visits_state"), "visits", ["state"])


def downgrade() -> None:
    """Drop `visits`."""
    op.drop_index(op.f("ix_visits_state"), table_name="visits")
    op.drop_table("visits")
