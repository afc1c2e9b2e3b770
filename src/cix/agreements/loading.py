"""Loading agreement files (TOML) and the bundled ones; every error names the file and key.

The file format is documented in `docs/labels.md`; the bundled files under
`cix/agreements/bundled/` are examples of it.
"""

from __future__ import annotations

import datetime as _dt
import functools
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from cix.agreements.calendar import PartyCalendar, calendar_of
from cix.agreements.model import Agreement, LevelRef
from cix.agreements.registry import Registry
from cix.errors import InputError
from cix.labels.errors import LabelError
from cix.labels.scheme import Level, Scheme, level_of

_TOP_KEYS = frozenset(
    {
        "id",
        "kind",
        "title",
        "parties",
        "purposes",
        "caveats",
        "visit_lead_working_days",
        "incident_notice_hours",
        "one_time_visit_max_days",
        "recurring_visit_max_days",
        "receipt_level",
        "schemes",
        "equivalence",
        "out_of_scope",
        "notes",
        "calendars",
    }
)
_OPTIONAL_KEYS = frozenset({"caveats", "equivalence", "out_of_scope", "notes", "calendars"})
_LEVEL_KEYS = frozenset({"code", "rank", "names"})


class AgreementFileError(InputError):
    """An agreement file is unreadable, malformed or inconsistent; the message names file, key."""


def _expect(value: object, kind: type, key: str) -> Any:
    if isinstance(value, bool) and kind is not bool:
        raise LabelError(f"{key}: expected {kind.__name__}, got a boolean")
    if not isinstance(value, kind):
        raise LabelError(f"{key}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def _strings(value: object, key: str) -> list[str]:
    items = _expect(value, list, key)
    for index, item in enumerate(items):
        _expect(item, str, f"{key}[{index}]")
    return list(items)


def _scheme(party: str, raw: object) -> Scheme:
    key = f"schemes.{party}"
    table = _expect(raw, dict, key)
    unknown = set(table) - {"languages", "levels"}
    if unknown:
        raise LabelError(f"{key}: unknown key {sorted(unknown)[0]!r}")
    for needed in ("languages", "levels"):
        if needed not in table:
            raise LabelError(f"{key}: missing key {needed!r}")
    languages = _strings(table["languages"], f"{key}.languages")
    levels: list[Level] = []
    for index, entry in enumerate(_expect(table["levels"], list, f"{key}.levels")):
        where = f"{key}.levels[{index}]"
        entry = _expect(entry, dict, where)
        for needed in sorted(_LEVEL_KEYS - set(entry)):
            raise LabelError(f"{where}: missing key {needed!r}")
        for extra in sorted(set(entry) - _LEVEL_KEYS):
            raise LabelError(f"{where}: unknown key {extra!r}")
        names = _expect(entry["names"], dict, f"{where}.names")
        for language, name in names.items():
            _expect(name, str, f"{where}.names.{language}")
        try:
            levels.append(
                level_of(
                    _expect(entry["code"], str, f"{where}.code"),
                    _expect(entry["rank"], int, f"{where}.rank"),
                    names,
                )
            )
        except LabelError as exc:
            raise LabelError(f"{where}: {exc}") from None
    try:
        return Scheme(party=party, languages=tuple(languages), levels=tuple(levels))
    except LabelError as exc:
        raise LabelError(f"{key}: {exc}") from None


def _calendar(party: str, raw: object) -> PartyCalendar:
    key = f"calendars.{party}"
    table = _expect(raw, dict, key)
    unknown = set(table) - {"time_zone", "holidays"}
    if unknown:
        raise LabelError(f"{key}: unknown key {sorted(unknown)[0]!r}")
    if "time_zone" not in table:
        raise LabelError(f"{key}: missing key 'time_zone'")
    holidays = _expect(table.get("holidays", []), list, f"{key}.holidays")
    for index, day in enumerate(holidays):
        # a TOML local date; a date-time is not a day
        if not isinstance(day, _dt.date) or isinstance(day, _dt.datetime):
            raise LabelError(f"{key}.holidays[{index}]: expected a date (YYYY-MM-DD)")
    try:
        return calendar_of(_expect(table["time_zone"], str, f"{key}.time_zone"), holidays)
    except LabelError as exc:
        raise LabelError(f"{key}: {exc}") from None


def _resolve(schemes: Mapping[str, Scheme], party: str, word: str, key: str) -> LevelRef:
    """A level written by code or by any of its names, as (party, code)."""
    scheme = schemes.get(party)
    if scheme is None:
        raise LabelError(f"{key}: {party!r} is not a party with a scheme")
    level = scheme.find(word)
    if level is None:
        raise LabelError(
            f"{key}: names an unknown level {word!r} of {party}"
            f" (known: {', '.join(scheme.codes())})"
        )
    return (party, level.code)


def agreement_from_toml(data: Mapping[str, object]) -> Agreement:
    """Build and validate an `Agreement` from a parsed TOML document; errors name the key."""
    for needed in sorted(_TOP_KEYS - _OPTIONAL_KEYS - set(data)):
        raise LabelError(f"missing key {needed!r}")
    for extra in sorted(set(data) - _TOP_KEYS):
        raise LabelError(f"unknown key {extra!r}")
    raw_schemes = _expect(data["schemes"], dict, "schemes")
    schemes = {party: _scheme(party, raw) for party, raw in raw_schemes.items()}
    equivalence: list[tuple[LevelRef, ...]] = []
    for index, row in enumerate(_expect(data.get("equivalence", []), list, "equivalence")):
        where = f"equivalence[{index}]"
        row = _expect(row, dict, where)
        equivalence.append(
            tuple(
                _resolve(schemes, party, _expect(word, str, f"{where}.{party}"), f"{where}.{party}")
                for party, word in row.items()
            )
        )
    out_of_scope: dict[LevelRef, str] = {}
    for index, entry in enumerate(_expect(data.get("out_of_scope", []), list, "out_of_scope")):
        where = f"out_of_scope[{index}]"
        entry = _expect(entry, dict, where)
        for needed in sorted({"party", "level", "reason"} - set(entry)):
            raise LabelError(f"{where}: missing key {needed!r}")
        for extra in sorted(set(entry) - {"party", "level", "reason"}):
            raise LabelError(f"{where}: unknown key {extra!r}")
        ref = _resolve(
            schemes,
            _expect(entry["party"], str, f"{where}.party"),
            _expect(entry["level"], str, f"{where}.level"),
            f"{where}.level",
        )
        if ref in out_of_scope:
            raise LabelError(f"{where}: {ref[0]} {ref[1]} is listed twice")
        out_of_scope[ref] = _expect(entry["reason"], str, f"{where}.reason")
    receipt: dict[str, str] = {}
    for party, word in _expect(data["receipt_level"], dict, "receipt_level").items():
        key = f"receipt_level.{party}"
        receipt[party] = _resolve(schemes, party, _expect(word, str, key), key)[1]
    if "notes" in data:
        _expect(data["notes"], str, "notes")
    return Agreement(
        id=_expect(data["id"], str, "id"),
        kind=_expect(data["kind"], str, "kind"),
        title=_expect(data["title"], str, "title"),
        parties=tuple(_strings(data["parties"], "parties")),
        schemes=schemes,
        equivalence=tuple(equivalence),
        out_of_scope=out_of_scope,
        receipt_level=receipt,
        purposes=tuple(_strings(data["purposes"], "purposes")),
        caveats=frozenset(_strings(data.get("caveats", []), "caveats")),
        visit_lead_working_days=_expect(
            data["visit_lead_working_days"], int, "visit_lead_working_days"
        ),
        incident_notice_hours=_expect(data["incident_notice_hours"], int, "incident_notice_hours"),
        one_time_visit_max_days=_expect(
            data["one_time_visit_max_days"], int, "one_time_visit_max_days"
        ),
        recurring_visit_max_days=_expect(
            data["recurring_visit_max_days"], int, "recurring_visit_max_days"
        ),
        calendars={
            party: _calendar(party, raw)
            for party, raw in _expect(data.get("calendars", {}), dict, "calendars").items()
        },
    )


def loads_agreement(text: str, source: str = "<string>") -> Agreement:
    """Parse and validate agreement TOML text; errors start with `source`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AgreementFileError(f"{source}: not valid TOML: {exc}") from None
    try:
        return agreement_from_toml(data)
    except LabelError as exc:
        raise AgreementFileError(f"{source}: {exc}") from None


def load_agreement(path: str | Path) -> Agreement:
    """Read, parse and validate the agreement file at `path`; errors name the file and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AgreementFileError(f"{path}: cannot read: {exc}") from None
    return loads_agreement(text, str(path))


def _bundled_dir() -> resources.abc.Traversable:
    return resources.files("cix.agreements").joinpath("bundled")


@functools.cache
def bundled_ids() -> tuple[str, ...]:
    """The ids of the agreements and national policies shipped with cix, sorted."""
    return tuple(
        sorted(
            entry.name.removesuffix(".toml")
            for entry in _bundled_dir().iterdir()
            if entry.name.endswith(".toml")
        )
    )


@functools.cache
def bundled(agreement_id: str) -> Agreement:
    """The bundled agreement or national policy with this id (e.g. `kor-can`, `can-national`)."""
    if agreement_id not in bundled_ids():
        raise AgreementFileError(
            f"no bundled agreement {agreement_id!r} (bundled: {', '.join(bundled_ids())})"
        )
    entry = _bundled_dir().joinpath(f"{agreement_id}.toml")
    agreement = loads_agreement(entry.read_text(encoding="utf-8"), f"bundled/{entry.name}")
    if agreement.id != agreement_id:
        raise AgreementFileError(f"bundled/{entry.name}: id: {agreement.id!r} is not the file name")
    return agreement


@functools.cache
def bundled_registry() -> Registry:
    """A registry of every bundled agreement and national policy."""
    return Registry({agreement_id: bundled(agreement_id) for agreement_id in bundled_ids()})


def registry_of(*agreements: Agreement) -> Registry:
    """A registry of the bundled policies plus `agreements` (which replace same-id ones)."""
    base = bundled_registry()
    if all(base.agreements.get(a.id) is a for a in agreements):
        return base  # nothing new: skip re-checking every scheme
    merged = dict(base.agreements)
    merged.update({a.id: a for a in agreements})
    return Registry(merged)
