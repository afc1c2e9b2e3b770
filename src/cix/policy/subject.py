"""Subjects: the people whose access is decided, built only through `subject_from_json`.

A subject carries what the agreements look at: nationalities, a personnel security clearance
(issuing party, level code in that party's scheme, expiry), the date a security briefing is
valid until, time-bounded programme memberships, roles, and the organisation employing it
(a government body, or a contractor facility holding a facility security clearance).

Dates: an expiry may be given as an ISO date (`2027-01-31`, valid through that whole day in
UTC) or as an ISO date-time with a zone (`2027-01-31T12:00:00Z`, valid until that instant).
Every expiry is stored as the first instant at which the grant is no longer valid, in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any

from cix.errors import InputError

_PARTY = re.compile(r"[A-Z]{3}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}")


class SubjectError(InputError):
    """A subject description is malformed: the message names the key and what was wrong."""


class OrganisationKind(Enum):
    """Whether an organisation is a government body or a contractor facility."""

    GOVERNMENT = "government"
    CONTRACTOR = "contractor"


@dataclass(frozen=True, slots=True)
class Clearance:
    """A personnel or facility security clearance: issuing party, level code, expiry (UTC).

    `expires` is the first instant at which the clearance is no longer valid.
    """

    party: str
    level: str
    expires: datetime


@dataclass(frozen=True, slots=True)
class Organisation:
    """The organisation a subject works for; a contractor may hold a facility clearance."""

    id: str
    kind: OrganisationKind
    party: str
    facility_clearance: Clearance | None = None


@dataclass(frozen=True, slots=True)
class Subject:
    """A person asking for access. Immutable, hashable, valid by construction.

    `programmes` maps each programme name to the first instant the membership is no longer
    valid. Roles are recorded for callers (e.g. the NSA officer role that approves consents)
    but never grant access by themselves: no rule of `cix.policy.decide` reads them.
    """

    id: str
    nationalities: frozenset[str]
    clearance: Clearance | None
    briefed_until: datetime | None
    programmes: Mapping[str, datetime]
    roles: frozenset[str]
    organisation: Organisation
    _key: tuple[object, ...] = field(repr=False, compare=True)

    def __hash__(self) -> int:
        return hash(self._key)

    def to_json(self) -> dict[str, Any]:
        """The JSON form accepted by `subject_from_json` (expiries as UTC date-times)."""

        def clearance(value: Clearance | None) -> dict[str, str] | None:
            if value is None:
                return None
            return {"party": value.party, "level": value.level, "expires": _iso(value.expires)}

        org: dict[str, Any] = {
            "id": self.organisation.id,
            "kind": self.organisation.kind.value,
            "party": self.organisation.party,
        }
        if self.organisation.facility_clearance is not None:
            org["facility_clearance"] = clearance(self.organisation.facility_clearance)
        return {
            "id": self.id,
            "nationalities": sorted(self.nationalities),
            "clearance": clearance(self.clearance),
            "briefed_until": None if self.briefed_until is None else _iso(self.briefed_until),
            "programmes": {k: _iso(v) for k, v in sorted(self.programmes.items())},
            "roles": sorted(self.roles),
            "organisation": org,
        }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_instant(text: object, where: str) -> datetime:
    """Parse an ISO date-time with a zone into an aware UTC datetime, naming `where` on error."""
    if not isinstance(text, str):
        raise SubjectError(f"{where}: expected an ISO date-time string, got {type(text).__name__}")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise SubjectError(f"{where}: {text!r} is not an ISO date-time") from None
    if value.tzinfo is None:
        raise SubjectError(f"{where}: {text!r} has no time zone (add Z or +00:00)")
    return value.astimezone(UTC)


def parse_expiry(text: object, where: str) -> datetime:
    """Parse an expiry: an ISO date (valid through that day, UTC) or a zoned ISO date-time."""
    if isinstance(text, str) and len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise SubjectError(f"{where}: {text!r} is not an ISO date") from None
        return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    return parse_instant(text, where)


def _string(obj: Mapping[str, Any], key: str, where: str, pattern: re.Pattern[str]) -> str:
    if key not in obj:
        raise SubjectError(f"{where}: missing key {key!r}")
    value = obj[key]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise SubjectError(f"{where}.{key}: {value!r} is not a valid {key}")
    return value


def _party(obj: Mapping[str, Any], key: str, where: str) -> str:
    if key not in obj:
        raise SubjectError(f"{where}: missing key {key!r}")
    value = obj[key]
    if not isinstance(value, str) or not _PARTY.fullmatch(value):
        raise SubjectError(
            f"{where}.{key}: {value!r} is not a party (an ISO 3166-1 alpha-3 code such as KOR)"
        )
    return value


def _clearance(obj: object, where: str) -> Clearance:
    if not isinstance(obj, Mapping):
        raise SubjectError(f"{where}: expected an object with party, level and expires")
    _only(obj, {"party", "level", "expires"}, where)
    level = obj.get("level")
    if not isinstance(level, str) or not level.strip():
        raise SubjectError(f"{where}.level: {level!r} is not a level")
    if "expires" not in obj:
        raise SubjectError(f"{where}: missing key 'expires'")
    return Clearance(
        party=_party(obj, "party", where),
        level=level.strip(),
        expires=parse_expiry(obj["expires"], f"{where}.expires"),
    )


def _only(obj: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise SubjectError(f"{where}: unknown key {unknown[0]!r} (allowed: {sorted(allowed)})")


def _string_list(obj: Mapping[str, Any], key: str, where: str) -> list[object]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise SubjectError(f"{where}.{key}: expected a list, got {type(value).__name__}")
    return value


def subject_from_json(obj: object, *, where: str = "subject") -> Subject:
    """Build a Subject from its JSON object, checking every key; raise SubjectError naming it.

    Level codes are checked against the national schemes later, when the subject is compiled
    against the agreements a node holds (`cix.policy.Policies.subject`).
    """
    if not isinstance(obj, Mapping):
        raise SubjectError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    _only(
        obj,
        {
            "id",
            "nationalities",
            "clearance",
            "briefed_until",
            "programmes",
            "roles",
            "organisation",
        },
        where,
    )
    subject_id = _string(obj, "id", where, _NAME)

    raw_nat = _string_list(obj, "nationalities", where)
    if not raw_nat:
        raise SubjectError(f"{where}.nationalities: at least one nationality is required")
    nationalities = frozenset(
        _party({"n": n}, "n", f"{where}.nationalities[{i}]") for i, n in enumerate(raw_nat)
    )

    clearance = None
    if obj.get("clearance") is not None:
        clearance = _clearance(obj["clearance"], f"{where}.clearance")

    briefed_until = None
    if obj.get("briefed_until") is not None:
        briefed_until = parse_expiry(obj["briefed_until"], f"{where}.briefed_until")

    raw_prog = obj.get("programmes", {})
    if not isinstance(raw_prog, Mapping):
        raise SubjectError(f"{where}.programmes: expected an object of name: expiry")
    programmes: dict[str, datetime] = {}
    for name, expiry in raw_prog.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise SubjectError(f"{where}.programmes: {name!r} is not a programme name")
        programmes[name] = parse_expiry(expiry, f"{where}.programmes.{name}")

    roles = set()
    for i, role in enumerate(_string_list(obj, "roles", where)):
        if not isinstance(role, str) or not _NAME.fullmatch(role):
            raise SubjectError(f"{where}.roles[{i}]: {role!r} is not a role name")
        roles.add(role)

    organisation = _organisation(obj.get("organisation"), f"{where}.organisation")
    return make_subject(
        id=subject_id,
        nationalities=nationalities,
        clearance=clearance,
        briefed_until=briefed_until,
        programmes=programmes,
        roles=frozenset(roles),
        organisation=organisation,
    )


def _organisation(obj: object, where: str) -> Organisation:
    if not isinstance(obj, Mapping):
        raise SubjectError(f"{where}: expected an object with id, kind and party")
    _only(obj, {"id", "kind", "party", "facility_clearance"}, where)
    kind_text = obj.get("kind")
    try:
        kind = OrganisationKind(kind_text)
    except ValueError:
        raise SubjectError(
            f"{where}.kind: {kind_text!r} is not one of government, contractor"
        ) from None
    facility = None
    if obj.get("facility_clearance") is not None:
        if kind is OrganisationKind.GOVERNMENT:
            raise SubjectError(
                f"{where}.facility_clearance: only a contractor holds a facility clearance"
            )
        facility = _clearance(obj["facility_clearance"], f"{where}.facility_clearance")
    return Organisation(
        id=_string(obj, "id", where, _NAME),
        kind=kind,
        party=_party(obj, "party", where),
        facility_clearance=facility,
    )


def make_subject(
    *,
    id: str,
    nationalities: frozenset[str],
    clearance: Clearance | None,
    briefed_until: datetime | None,
    programmes: Mapping[str, datetime],
    roles: frozenset[str],
    organisation: Organisation,
) -> Subject:
    """Build a Subject from already-typed parts (used by generators and tests)."""
    if not nationalities:
        raise SubjectError("subject.nationalities: at least one nationality is required")
    for moment in [briefed_until, *programmes.values()]:
        if moment is not None and moment.tzinfo is None:
            raise SubjectError("subject: every expiry must carry a time zone")
    progs = dict(sorted(programmes.items()))
    key = (
        id,
        nationalities,
        clearance,
        briefed_until,
        tuple(progs.items()),
        roles,
        organisation,
    )
    return Subject(
        id=id,
        nationalities=nationalities,
        clearance=clearance,
        briefed_until=briefed_until,
        programmes=_FrozenMap(progs),
        roles=roles,
        organisation=organisation,
        _key=key,
    )


class _FrozenMap(Mapping[str, datetime]):
    """A read-only mapping, so that a Subject's programmes cannot change after construction."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, datetime]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> datetime:
        return self._data[key]

    def __iter__(self) -> Any:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return repr(self._data)

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())
