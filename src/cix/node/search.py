"""What a listing may be narrowed by, and how each narrowing becomes SQL.

Words match the title whatever their order, case or accents, in any script: every title is
stored beside its *search form* (`search_form`: compatibility-decomposed, accents dropped,
recomposed so that Hangul syllables stay whole, case-folded, spaces collapsed), and each word
of a query, put in the same form, must occur in it. The other filters — classification
(a level's code or name in any scheme the node holds, its equivalents included), programme,
originator, creation time, the node or party a copy was received from — are conditions on
indexed columns. All of them only narrow the rows the label prefilter and the decision
function admit: a filter can never show a document its reader may not read.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import and_, exists, false, or_, select
from sqlalchemy.orm import Session

from cix.agreements import Agreement
from cix.errors import InputError
from cix.node.dates import end_of, in_utc, start_of
from cix.node.labelbits import PROGRAMME, LabelBits
from cix.store.models import Document, ReceivedCopy

#: The most words a query may have (each is one more condition on every candidate row).
MAX_WORDS = 16


@dataclass(frozen=True)
class DocumentQuery:
    """The narrowing of a listing: each field given must hold of every document listed."""

    words: tuple[str, ...] = ()
    """Each in search form (`words_of`), each occurring in the title's search form."""
    classification: str | None = None
    """A level's code or name, in any scheme of an agreement the node holds."""
    programme: str | None = None
    originator: str | None = None
    since: datetime | None = None
    """Created at or after."""
    before: datetime | None = None
    """Created before (`day_or_moment(..., end=True)` makes an inclusive end of one)."""
    received_from: str | None = None
    """A copy received from this node id, or released by this party."""


def search_form(text: str) -> str:
    """`text` as titles are matched: without accents or case, Hangul whole, spaces single."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(unicodedata.normalize("NFC", bare).casefold().split())


def words_of(query: str) -> tuple[str, ...]:
    """The distinct words of `query` in search form; InputError past `MAX_WORDS`."""
    words = tuple(dict.fromkeys(search_form(query).split()))
    if len(words) > MAX_WORDS:
        raise InputError(f"q: at most {MAX_WORDS} words")
    return words


def day_or_moment(option: str, value: str, *, end: bool, zone: tzinfo) -> datetime:
    """`value` (an ISO 8601 date, or a date and time with a zone) as a bound of creation
    time: a bare date is that whole day in `zone` (the node's: `cix.node.dates`), so as an
    end (`end=True`) it is the start of the next day and the bound excludes it. InputError
    naming `option` otherwise."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return end_of(day, zone) if end else start_of(day, zone)
        moment = datetime.fromisoformat(value)
    except InputError as exc:  # a day at the calendar's edge, with no bound in UTC
        raise InputError(f"{option}: {exc}") from None
    except ValueError:
        raise InputError(f"{option}: {value!r} is not an ISO 8601 date or time") from None
    if moment.tzinfo is None:
        raise InputError(f"{option}: {value!r} has no time zone (add Z or an offset)")
    try:
        # An end moment is included: the bound excludes what comes after it.
        return in_utc(moment + timedelta(microseconds=1) if end else moment)
    except (InputError, OverflowError):
        raise InputError(f"{option}: {value!r} is outside the dates UTC can hold") from None


def conditions(
    query: DocumentQuery,
    session: Session,
    bits: LabelBits,
    agreements: Mapping[str, Agreement],
) -> list[Any]:
    """SQL conditions on `Document` that hold exactly of the documents `query` admits."""
    found: list[Any] = [
        Document.search_text.contains(word, autoescape=True) for word in query.words
    ]
    if query.classification is not None:
        found.append(_classification(query.classification, agreements))
    if query.programme is not None:
        mask = bits.mask(session, PROGRAMME, [query.programme])
        found.append(Document.programme_mask.op("&")(mask) != 0 if mask else false())
    if query.originator is not None:
        # A third party's copy is held under the releasing party's label; its originator
        # is on the copy's record.
        found.append(
            or_(
                Document.originator == query.originator,
                exists(
                    select(ReceivedCopy.document_id).where(
                        ReceivedCopy.document_id == Document.id,
                        ReceivedCopy.originator_party == query.originator,
                    )
                ),
            )
        )
    if query.since is not None:
        found.append(Document.created_at >= query.since)
    if query.before is not None:
        found.append(Document.created_at < query.before)
    if query.received_from is not None:
        source = query.received_from
        found.append(
            exists(
                select(ReceivedCopy.document_id).where(
                    ReceivedCopy.document_id == Document.id,
                    or_(
                        ReceivedCopy.received_from == source, ReceivedCopy.releasing_party == source
                    ),
                )
            )
        )
    return found


def _classification(word: str, agreements: Mapping[str, Agreement]) -> Any:
    # Equivalent levels share a rank within an agreement, so one rank per agreement names a
    # level and all its equivalents (SECRET, SECRET and 군사Ⅱ급비밀 under kor-can).
    per_policy = []
    for policy_id, agreement in agreements.items():
        ranks = set()
        for party, scheme in agreement.schemes.items():
            level = scheme.find(word)
            if level is None:
                continue
            try:
                ranks.add(agreement.rank(party, level.code))
            except InputError:
                continue  # a level out of the agreement's scope: no document is under it
        if ranks:
            per_policy.append(and_(Document.policy == policy_id, Document.rank.in_(sorted(ranks))))
    if not per_policy:
        raise InputError(f"classification: {word!r} is not a level of any scheme this node holds")
    return or_(*per_policy)
