"""Subjects are valid by construction; a malformed one is refused with the key named."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from cix.policy import Policies, PolicyError, SubjectError, subject_from_json
from tests.policy.helpers import CANADIAN_ANALYST


def _changed(**changes: Any) -> dict[str, Any]:
    obj = copy.deepcopy(CANADIAN_ANALYST)
    obj.update(changes)
    return obj


def test_subject_round_trips_through_json() -> None:
    subject = subject_from_json(CANADIAN_ANALYST)
    assert subject_from_json(subject.to_json()) == subject
    assert hash(subject_from_json(subject.to_json())) == hash(subject)


def test_a_date_is_valid_through_that_day_and_a_time_until_that_instant() -> None:
    subject = subject_from_json(
        _changed(clearance={"party": "CAN", "level": "S", "expires": "2027-01-31"})
    )
    assert subject.clearance is not None
    assert subject.clearance.expires == datetime(2027, 2, 1, tzinfo=UTC)
    timed = subject_from_json(
        _changed(clearance={"party": "CAN", "level": "S", "expires": "2027-01-31T09:00:00+09:00"})
    )
    assert timed.clearance is not None
    assert timed.clearance.expires == datetime(2027, 1, 31, 0, 0, tzinfo=UTC)


def test_subject_programmes_cannot_be_changed() -> None:
    subject = subject_from_json(CANADIAN_ANALYST)
    with pytest.raises(TypeError):
        subject.programmes["KSS"] = datetime(2030, 1, 1, tzinfo=UTC)  # type: ignore[index]


@pytest.mark.parametrize(
    ("obj", "named"),
    [
        ([], "expected a JSON object"),
        (_changed(id=""), "subject.id"),
        (_changed(nationalities=[]), "subject.nationalities"),
        (_changed(nationalities=["Canada"]), "subject.nationalities[0]"),
        (_changed(nationalities="CAN"), "subject.nationalities: expected a list"),
        (_changed(clearance={"party": "CAN", "level": "S"}), "missing key 'expires'"),
        (_changed(clearance={"party": "can", "level": "S", "expires": "2027-01-01"}), "party"),
        (
            _changed(clearance={"party": "CAN", "level": "S", "expires": "2027-13-01"}),
            "subject.clearance.expires",
        ),
        (_changed(briefed_until="2027-01-01T10:00:00"), "has no time zone"),
        (_changed(briefed_until=20270101), "subject.briefed_until"),
        (_changed(programmes=["CPSP"]), "subject.programmes"),
        (_changed(programmes={"CPSP": "soon"}), "subject.programmes.CPSP"),
        (_changed(roles=[7]), "subject.roles[0]"),
        (_changed(organisation={"id": "x", "kind": "ministry", "party": "CAN"}), "kind"),
        (
            _changed(
                organisation={
                    "id": "dnd",
                    "kind": "government",
                    "party": "CAN",
                    "facility_clearance": {"party": "CAN", "level": "S", "expires": "2027-01-01"},
                }
            ),
            "only a contractor",
        ),
        (_changed(clearence={}), "unknown key 'clearence'"),
        ({k: v for k, v in CANADIAN_ANALYST.items() if k != "organisation"}, "organisation"),
    ],
)
def test_malformed_subject_is_refused_naming_the_problem(obj: object, named: str) -> None:
    with pytest.raises(SubjectError, match=named.replace("[", r"\[").replace("]", r"\]")):
        subject_from_json(obj)


def test_unknown_clearance_level_or_party_is_refused_when_compiled(policies: Policies) -> None:
    bad_level = subject_from_json(
        _changed(clearance={"party": "CAN", "level": "COSMIC", "expires": "2027-01-01"})
    )
    with pytest.raises(PolicyError, match=r"'COSMIC' is not a level of CAN"):
        policies.subject(bad_level)
    bad_party = subject_from_json(
        _changed(clearance={"party": "USA", "level": "S", "expires": "2027-01-01"})
    )
    with pytest.raises(PolicyError, match=r"party 'USA' has no national scheme"):
        policies.subject(bad_party)


def test_a_subject_compiles_alike_by_identity_or_by_content(policies: Policies) -> None:
    subject = subject_from_json(CANADIAN_ANALYST)
    equal = subject_from_json(CANADIAN_ANALYST)
    other = subject_from_json(
        _changed(clearance={"party": "CAN", "level": "C", "expires": "2027-01-01"})
    )
    first = policies.subject(subject)
    assert policies.subject(subject) is first  # the same object: known by identity
    assert policies.subject(equal) == first  # an equal one: found by content
    assert policies.subject(other) != first
    assert policies.subject(subject) is first
