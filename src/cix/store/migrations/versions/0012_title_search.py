"""Word search: each document's title in search form, beside the title (issue 14 #8).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_BATCH = 5_000


def _search_form(text: str) -> str:
    # cix.node.search.search_form as of this revision, copied so that the migration keeps
    # meaning what it meant when later code changes.
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(unicodedata.normalize("NFC", bare).casefold().split())


def upgrade() -> None:
    """Add `documents.search_text` and fill it from every title."""
    op.add_column(
        "documents", sa.Column("search_text", sa.Text(), nullable=False, server_default="")
    )
    documents = sa.table(
        "documents", sa.column("id", sa.String()), sa.column("title", sa.String()),
        sa.column("search_text", sa.Text()),
    )  # fmt: skip
    bind = op.get_bind()
    after = ""
    while True:
        rows = bind.execute(
            sa.select(documents.c.id, documents.c.title)
            .where(documents.c.id > after)
            .order_by(documents.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        bind.execute(
            documents.update()
            .where(documents.c.id == sa.bindparam("doc_id"))
            .values(search_text=sa.bindparam("form")),
            [{"doc_id": doc_id, "form": _search_form(title)} for doc_id, title in rows],
        )
        after = rows[-1][0]


def downgrade() -> None:
    """Drop `documents.search_text`."""
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("search_text")
