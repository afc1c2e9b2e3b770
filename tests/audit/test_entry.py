"""Entries validate on construction, have one canonical form, and refuse oversize input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cix.audit import MAX_ENTRY_BYTES, entry_from_bytes, event_from_json, merkle
from cix.audit.entry import (
    MAX_REASON_CODE,
    MAX_REASON_DETAIL,
    MAX_REASONS,
    bounded_details,
    bounded_reasons,
    canonical_json,
    format_time,
    record,
)
from cix.audit.errors import AuditInputError, EntryTooLarge
from tests.audit.conftest import T0, event

VECTORS = Path(__file__).parents[1] / "vectors" / "audit" / "entries.json"


def test_canonical_vectors() -> None:
    for v in json.loads(VECTORS.read_text())["vectors"]:
        seq, ev = event_from_json(v["input"])
        assert seq is not None
        entry = record(seq, ev)
        assert entry.body.decode() == v["canonical"]
        assert merkle.leaf_hash(entry.body).hex() == v["leaf_hex"]
        assert entry_from_bytes(entry.body) == entry


def test_time_is_normalised_to_utc_microseconds() -> None:
    kst = timezone(timedelta(hours=9))
    a = event(0, time=datetime(2026, 2, 1, 18, 0, tzinfo=kst))
    b = event(0, time=datetime(2026, 2, 1, 9, 0, tzinfo=UTC))
    assert record(0, a).body == record(0, b).body
    assert b'"time":"2026-02-01T09:00:00.000000Z"' in record(0, a).body


def test_details_are_copied_on_construction() -> None:
    details: dict[str, Any] = {"list": [1, 2]}
    ev = event(0, details=details)
    details["list"].append(3)
    assert ev.details == {"list": [1, 2]}
    assert b"[1,2]" in record(0, ev).body


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"time": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"node": ""}, "node: expected a non-empty string"),
        ({"type": "Document Open"}, "type: expected lower-case"),
        ({"actor": "a\nb"}, "actor: control characters"),
        ({"decision": "maybe"}, "decision: expected 'permit', 'deny' or null"),
        ({"reasons": ["ok", ""]}, r"reasons\[1\]"),
        ({"reasons": "ok"}, "reasons: expected a list"),
        ({"details": []}, "details: expected a JSON object"),
        ({"details": {"ratio": 0.5}}, "details.ratio: floating-point"),
        ({"details": {"big": 2**60}}, "details.big: integer outside"),
        ({"details": {"k": {1, 2}}}, "details.k: set is not a JSON value"),
        ({"details": {"s": "\ud800"}}, "unpaired surrogate"),
    ],
)
def test_invalid_events_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(AuditInputError, match=message):
        event(0, **changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"actor": "a" * 257},
        {"object": "o" * 1025},
        {"reasons": ["r"] * 65},
        {"details": {"blob": "x" * MAX_ENTRY_BYTES}},
        {"details": {"d": {"d": {"d": {"d": {"d": {"d": {"d": {"d": {}}}}}}}}}},
    ],
)
def test_oversized_events_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(EntryTooLarge):
        event(0, **changes)


def test_an_entry_just_under_the_limit_is_accepted() -> None:
    size = len(record(0, event(0, details={"blob": ""})).body)
    ev = event(0, details={"blob": "x" * (MAX_ENTRY_BYTES - size - 32)})
    assert len(record(0, ev).body) < MAX_ENTRY_BYTES


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([], "expected a JSON object"),
        ({"type": "x", "actor": "a", "node": "n", "colour": "red"}, "unknown key 'colour'"),
        ({"actor": "a", "node": "n"}, "type: missing"),
        ({"type": "x", "node": "n"}, "actor: missing"),
        ({"type": "x", "actor": "a"}, "node: missing"),
        ({"type": "x", "actor": "a", "node": "n", "time": "yesterday"}, "time: expected"),
        ({"type": "x", "actor": "a", "node": "n", "time": "2026-01-01T00:00:00"}, "time:"),
        ({"type": "x", "actor": "a", "node": "n", "seq": -1}, "seq: expected"),
        ({"type": "x", "actor": "a", "node": "n", "seq": True}, "seq: expected"),
    ],
)
def test_json_objects_are_checked(obj: object, message: str) -> None:
    with pytest.raises(AuditInputError, match=message):
        event_from_json(obj, default_time=T0)


def test_non_canonical_bytes_are_refused() -> None:
    body = record(0, event(0)).body
    spaced = json.dumps(json.loads(body), indent=1).encode()
    with pytest.raises(AuditInputError, match="not in canonical form"):
        entry_from_bytes(spaced)
    with pytest.raises(AuditInputError, match="not JSON"):
        entry_from_bytes(b"{not json")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
printable = st.text(
    st.characters(min_codepoint=0x20, codec="utf-8", exclude_characters="\x7f"),
    min_size=1,
    max_size=40,
)


@given(
    actor=printable,
    details=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    reasons=st.lists(printable, max_size=5),
    seq=st.integers(0, 2**40),
    micros=st.integers(0, 10**12),
)
def test_canonical_form_round_trips(
    actor: str, details: dict[str, Any], reasons: list[str], seq: int, micros: int
) -> None:
    try:  # only unencodable text may be refused
        ev = event(
            0,
            actor=actor,
            details=details,
            reasons=reasons,
            time=T0 + timedelta(microseconds=micros),
        )
    except AuditInputError as exc:
        if "surrogate" not in str(exc):
            raise
        return
    entry = record(seq, ev)
    again = entry_from_bytes(entry.body)
    assert again == entry
    assert canonical_json(json.loads(entry.body)) == entry.body  # fast path == generic encoder
    assert json.loads(entry.body)["details"] == details


def _reference_body(seq: int, ev: Any) -> bytes:
    """The canonical bytes written out from the definition: the generic encoder over the
    entry's JSON object, the time formatted field by field in UTC."""
    t = ev.time.astimezone(UTC)
    time = (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}"
        f"T{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{t.microsecond:06d}Z"
    )
    obj = {
        "seq": seq,
        "time": time,
        "node": ev.node,
        "type": ev.type,
        "actor": ev.actor,
        "object": ev.object,
        "action": ev.action,
        "decision": ev.decision,
        "reasons": list(ev.reasons),
        "details": ev.details,
    }
    return canonical_json(obj)


@pytest.mark.parametrize(
    "fields",
    [
        # The two events of every open: the decision, and the key access.
        {"type": "document", "action": "read", "decision": "permit", "details": {}},
        {
            "type": "key-access",
            "action": "unwrap",
            "decision": "permit",
            "details": {"kid": "x25519:9f86d081884c7d65"},
        },
        {
            "type": "key-access",
            "action": "unwrap",
            "decision": "deny",
            "reasons": ["blob-hash-mismatch"],
            "details": {"kid": "x25519:9f86d081884c7d65"},
        },
        {"type": "document", "action": "read", "decision": "deny", "reasons": ["a:b", "c"]},
        {"type": "x", "details": {"b": '\u00e9\u4e2d"\\', "a": "\x7f", "c": "</script>"}},
        {"type": "x", "details": {"n": 1, "s": "1"}},  # not all text: the general path
    ],
)
def test_event_bytes_are_the_canonical_form_of_the_definition(fields: dict[str, Any]) -> None:
    for repeat in range(2):  # the second time from the checked-field memo
        ev = event(0, actor="tide-eng", object=f"document:{repeat:032x}", time=T0, **fields)
        for seq in (0, 7, 2**40):
            assert record(seq, ev).body == _reference_body(seq, ev)


@given(
    micros=st.integers(0, (datetime.max - datetime.min).days * 86_400_000_000),
    offset_minutes=st.integers(-23 * 60, 23 * 60),
)
def test_entry_time_is_formatted_as_defined(micros: int, offset_minutes: int) -> None:
    moment = datetime.min.replace(tzinfo=UTC) + timedelta(microseconds=micros)
    zone = timezone(timedelta(minutes=offset_minutes))
    if not datetime.min.replace(tzinfo=UTC) + timedelta(days=1) <= moment:
        return  # astimezone of the first day to a negative offset underflows
    if moment > datetime.max.replace(tzinfo=UTC) - timedelta(days=1):
        return
    local = moment.astimezone(zone)
    ev = event(0, time=local)
    assert record(3, ev).body == _reference_body(3, ev)
    assert format_time(local) == _reference_body(0, ev).split(b'"time":"')[1][:27].decode()


@given(
    details=st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=5),
    actor=printable,
)
def test_text_only_details_take_the_fast_path_to_the_same_bytes(
    details: dict[str, str], actor: str
) -> None:
    try:
        ev = event(0, actor=actor, details=details)
    except AuditInputError as exc:
        if "surrogate" not in str(exc):
            raise
        return
    assert record(1, ev).body == _reference_body(1, ev)
    assert ev.details == details
    assert not details or ev.details is not details  # copied


def test_a_value_checked_for_one_field_is_checked_again_for_another() -> None:
    # The memo of checked field texts is per field: limits differ between fields.
    long = "x" * 100
    event(0, object=long)  # fine as an object (1024 characters)
    with pytest.raises(EntryTooLarge, match="action: longer than 64"):
        event(0, object=long, action=long)
    with pytest.raises(AuditInputError, match="type: expected lower-case"):
        event(0, actor="Bad Type", type="Bad Type")  # an actor, but never a type
    for _ in range(2):  # refused every time, not remembered
        with pytest.raises(AuditInputError, match="actor: control characters"):
            event(0, actor="a\x00b")


def test_event_type_given_as_a_str_subclass_is_still_checked() -> None:
    # The memo of checked field texts holds plain strings only; a subclass (a StrEnum
    # member, say) takes the uncached path, which must check the type's pattern too.
    class Text(str):
        pass

    with pytest.raises(AuditInputError, match="type"):
        record(0, event(1, type=Text("BAD TYPE!")))


_any_reason = st.text(max_size=2000) | st.builds(
    lambda code, items: f"{code}:{','.join(items)}",
    st.sampled_from(["programme-missing", "caveat-missing", "not-releasable"]),
    st.lists(st.text(st.characters(), min_size=1, max_size=40), max_size=100),
)


@given(st.lists(_any_reason, max_size=200), st.dictionaries(st.text(), st.text(), max_size=50))
def test_reasons_of_any_size_make_a_bounded_entry(
    reasons: list[str], extra: dict[str, str]
) -> None:
    codes, details = bounded_reasons(reasons)
    assert bounded_reasons(reasons) == (codes, details)  # deterministic
    assert len(codes) <= MAX_REASONS
    assert all(len(c) <= MAX_REASON_CODE for c in codes)
    assert all(isinstance(d, str) and len(d) <= MAX_REASON_DETAIL for d in details.values())
    kept = bounded_details({"reason_details": details, **extra}, 12 * 1024)
    entry = record(0, event(0, reasons=codes, details=kept))
    assert len(entry.body) <= MAX_ENTRY_BYTES
    assert entry_from_bytes(entry.body) == entry


def test_a_long_reason_detail_is_cut_saying_how_much() -> None:
    ids = [f"P{i:02d}" + "X" * 27 for i in range(70)]
    codes, details = bounded_reasons([f"programme-missing:{','.join(ids)}", "clearance-expired"])
    assert codes == ("programme-missing", "clearance-expired")
    detail = details["programme-missing"]
    assert isinstance(detail, str)
    assert detail.startswith(ids[0])
    assert len(detail) <= MAX_REASON_DETAIL
    assert detail.endswith(f"…(+{len(','.join(ids)) - detail.index('…')})")
    assert "clearance-expired" not in details


def test_a_reason_with_control_characters_or_a_lone_surrogate_is_still_recorded() -> None:
    codes, details = bounded_reasons(["caveat-missing:A\x1b[2J\ud800B", "Not A Code"])
    assert codes == ("caveat-missing", "malformed-reason")
    assert details == {"caveat-missing": "A?[2J?B", "malformed-reason": "Not A Code"}
    record(0, event(0, reasons=codes, details={"reason_details": details}))
