"""A document id as a person types it: whole, or enough of its start to name one document.

Ids are 32 lowercase hex digits and sort by creation time, so documents made together share
their first digits. A prefix is resolved by the node among the documents the caller may read
(`GET /documents?id_prefix=`), so a miss or an ambiguity says nothing about documents out of
the caller's reach.
"""

from __future__ import annotations

import re

from cix.errors import InputError

_FULL_ID = re.compile(r"[0-9a-f]{32}")
_PREFIX = re.compile(r"[0-9a-f]{4,31}")


class IdNotResolved(InputError):
    """A typed id prefix names no document the caller may read, or several."""


def to_look_up(typed: str) -> tuple[str, bool]:
    """(`typed` as sent, whether it is a prefix to look up): a whole id is sent lowercased
    and not looked up; text that is no id at all is sent as typed, for the node to judge."""
    candidate = typed.strip().lower()
    if _FULL_ID.fullmatch(candidate):
        return candidate, False
    if not _PREFIX.fullmatch(candidate):
        return typed, False
    return candidate, True


def the_one(prefix: str, ids: list[str]) -> str:
    """The one id of `ids` (the readable documents whose id starts with `prefix`, a few at
    most); IdNotResolved, naming them, when there are none or several."""
    if not ids:
        raise IdNotResolved(f"{prefix}: no document you may read has an id starting with it")
    if len(ids) > 1:
        shown = ", ".join(ids[:4]) + (", …" if len(ids) > 4 else "")
        raise IdNotResolved(f"{prefix}: the start of several documents' ids ({shown}); type more")
    return ids[0]
