"""The canonical JSON form: stable, and every malformed object refused naming the key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cix.agreements import bundled, bundled_registry
from cix.labels import (
    LabelError,
    LabelSyntaxError,
    OutOfScope,
    UnknownLevel,
    UnknownParty,
    canonical_json,
    label_from_json,
    label_from_json_text,
    make_label,
)

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
GOOD: dict[str, object] = {
    "policy": "kor-can",
    "originator": "KOR",
    "classification": "군사Ⅱ급비밀",
    "releasable_to": ["KOR", "CAN"],
    "programmes": ["CPSP"],
    "caveats": [],
    "purpose": None,
    "created": "2026-03-01T18:30:00+09:00",
}


def test_canonical_json_is_sorted_compact_and_uses_codes() -> None:
    label = label_from_json(GOOD, registry=bundled_registry())
    assert canonical_json(label) == (
        b'{"caveats":[],"classification":"II","created":"2026-03-01T09:30:00Z",'
        b'"originator":"KOR","policy":"kor-can","programmes":["CPSP"],"purpose":null,'
        b'"releasable_to":["CAN","KOR"]}'
    )


def test_created_keeps_microseconds_and_converts_to_utc() -> None:
    moment = datetime(2026, 3, 1, 18, 30, 0, 250, tzinfo=timezone(timedelta(hours=9)))
    label = make_label(
        bundled("can-national"),
        originator="CAN",
        classification="C",
        releasable_to={"CAN"},
        created=moment,
        registry=bundled_registry(),
    )
    assert label.to_json()["created"] == "2026-03-01T09:30:00.000250Z"


def _with(**changes: object) -> dict[str, object]:
    obj = dict(GOOD)
    for key, value in changes.items():
        if value is KeyError:
            del obj[key]
        else:
            obj[key] = value
    return obj


@pytest.mark.parametrize(
    ("obj", "error", "message"),
    [
        ([], LabelSyntaxError, "expected an object, got list"),
        (_with(created=KeyError), LabelSyntaxError, "missing key 'created'"),
        (_with(colour="red"), LabelSyntaxError, "unknown key 'colour'"),
        (_with(originator=7), LabelSyntaxError, "'originator' must be a string"),
        (_with(releasable_to="KOR"), LabelSyntaxError, "'releasable_to' must be a list"),
        (_with(programmes=["A", "A"]), LabelSyntaxError, "names a value twice"),
        (_with(purpose=3), LabelSyntaxError, "'purpose' must be a string or null"),
        (_with(created="2026-03-01T09:30:00"), LabelError, "with an offset"),
        (_with(created="2026-02-30T09:30:00Z"), LabelError, "not a valid date-time"),
        (_with(policy="kor-usa"), LabelError, "unknown agreement or policy 'kor-usa'"),
        (_with(classification="SECRET"), UnknownLevel, "'SECRET' is not a level of KOR"),
        (_with(classification="I"), OutOfScope, "out of scope of kor-can"),
        (_with(originator="DEU"), UnknownParty, "'DEU' is not a party to kor-can"),
        (_with(releasable_to=["KOR", "BRA"]), UnknownParty, "BRA is not a party"),
        (_with(releasable_to=["CAN"]), LabelError, "must include the originator KOR"),
        (_with(caveats=["NOFORN"]), LabelError, "unknown caveat NOFORN"),
        (_with(programmes=["ORCON"]), LabelError, "ORCON is a caveat, not a programme"),
        (_with(programmes=["cpsp"]), LabelError, "'cpsp' is not a valid code"),
        (_with(purpose="espionage"), LabelError, "'espionage' is not a purpose of kor-can"),
        (
            _with(policy="kor-national", classification="I"),
            LabelError,
            "national-only information, releasable to KOR alone",
        ),
    ],
)
def test_malformed_json_label_is_refused_naming_the_problem(
    obj: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        label_from_json(obj, registry=bundled_registry())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('{"policy": "kor-can",}', "not valid JSON"),
        (b"\xff\xfe{", "not"),
        ("null", "expected an object"),
    ],
)
def test_malformed_json_text_is_refused(text: str | bytes, message: str) -> None:
    with pytest.raises(LabelSyntaxError, match=message):
        label_from_json_text(text, registry=bundled_registry())
