"""API tokens remember the API token that minted them, so that revocation reaches them.

Revision ID: 0004
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add `api_tokens.parent_id` (null for tokens minted before, or by a bearer JWT)."""
    op.add_column("api_tokens", sa.Column("parent_id", sa.String(32), nullable=True))
    op.create_index(op.f("ix_api_tokens_parent_id"), "api_tokens", ["parent_id"])


def downgrade() -> None:
    """Drop `api_tokens.parent_id`."""
    op.drop_index(op.f("ix_api_tokens_parent_id"), table_name="api_tokens")
    op.drop_column("api_tokens", "parent_id")
