"""A document id as a person types it at the command line: whole, or enough of its start.

The prefix is resolved by the SDK (`cix.client.resolve`), among the documents the caller may
read, so a miss or an ambiguity tells nothing of documents out of the caller's reach.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from cix.client import Client

DocId = Annotated[
    str, typer.Argument(help="Document id, or enough of its start to name one document.")
]


def resolved(client: Client, typed: str) -> str:
    """The whole id of the one document you may read that `typed` names (InputError else)."""
    return client.documents.resolve(typed)
