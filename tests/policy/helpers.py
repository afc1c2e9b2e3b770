"""Shared helpers of the policy tests: a time, a subject and a label that permit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cix.labels import Label

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HELD = ("kor-can", "can-deu", "kor-national", "can-national", "deu-national")

CANADIAN_ANALYST: dict[str, Any] = {
    "id": "cdn-analyst-1",
    "nationalities": ["CAN"],
    "clearance": {"party": "CAN", "level": "S", "expires": "2027-12-31"},
    "briefed_until": "2026-12-31",
    "programmes": {"CPSP": "2027-03-31"},
    "roles": ["analyst"],
    "organisation": {"id": "dnd", "kind": "government", "party": "CAN"},
}


def label(
    classification: str = "II",
    *,
    policy: str = "kor-can",
    originator: str = "KOR",
    releasable_to: frozenset[str] = frozenset({"KOR", "CAN"}),
    programmes: frozenset[str] = frozenset({"CPSP"}),
    caveats: frozenset[str] = frozenset(),
    purpose: str | None = None,
) -> Label:
    """A label, by default 군사Ⅱ급비밀 from Korea under kor-can, REL CAN/KOR, programme CPSP."""
    return Label(
        policy=policy,
        originator=originator,
        classification=classification,
        releasable_to=releasable_to,
        programmes=programmes,
        caveats=caveats,
        purpose=purpose,
        created=datetime(2026, 3, 1, tzinfo=UTC),
    )
