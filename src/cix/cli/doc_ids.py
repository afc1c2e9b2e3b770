"""A document id as a person types it: whole, or enough of its start to name one document.

Ids are 32 lowercase hex digits and sort by creation time, so documents made together share
their first digits: a person copies a few more than git's seven. The prefix is resolved by the
node among the documents the caller may read (`GET /documents?id_prefix=`), so an ambiguity or
a miss says nothing about documents the caller may not read.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

import typer

from cix.errors import InputError

if TYPE_CHECKING:
    from cix.cli.client_http import ClientSession

DocId = Annotated[
    str, typer.Argument(help="Document id, or enough of its start to name one document.")
]

# A document id as the node writes it: 32 lowercase hex digits.
_FULL_ID = re.compile(r"[0-9a-f]{32}")
_PREFIX = re.compile(r"[0-9a-f]{4,31}")


def resolved(session: ClientSession, typed: str) -> str:
    """The document id `typed` names: itself when whole, else the one document you may read
    whose id starts with it. InputError when no such document or several match (listing
    them, so the next try can be exact); anything else is passed on for the node to judge."""
    candidate = typed.strip().lower()
    if _FULL_ID.fullmatch(candidate):
        return candidate
    if not _PREFIX.fullmatch(candidate):
        return typed
    page = session.json("GET", "/documents", params={"id_prefix": candidate, "limit": 5})
    ids = [str(item["id"]) for item in page.get("items", [])]
    if not ids:
        raise InputError(f"{candidate}: no document you may read has an id starting with it")
    if len(ids) > 1:
        shown = ", ".join(ids[:4]) + (", …" if len(ids) > 4 else "")
        raise InputError(f"{candidate}: the start of several documents' ids ({shown}); type more")
    return ids[0]
