"""The audit entry: what every cix service records, validated on construction.

An `Event` is what a service reports (time, node, event type, actor, object, action,
decision, reasons, free details); the log gives it a sequence number and it becomes an
`Entry`. The bytes the Merkle tree hashes are the entry's canonical JSON: keys sorted, no
whitespace, UTF-8, every field present (absent ones as `null` or `[]`), time as
`YYYY-MM-DDTHH:MM:SS.ffffffZ`. Floating-point numbers are refused anywhere, so the canonical
form is unique (it coincides with RFC 8785 for such documents).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, cast

from cix.audit.errors import AuditInputError, EntryTooLarge

Json = None | bool | int | str | list["Json"] | dict[str, "Json"]
"""A JSON value an entry may carry in `details` (no floats: they have no canonical form)."""

MAX_ENTRY_BYTES: Final = 32 * 1024
"""Largest canonical entry accepted, in bytes."""
MAX_DETAILS_DEPTH: Final = 8
"""Deepest nesting of objects and arrays accepted in `details`."""
MAX_REASONS: Final = 64
"""Most reasons one entry may carry."""
_LIMITS: Final = {"node": 128, "type": 64, "actor": 256, "object": 1024, "action": 64}
_REASON_LIMIT: Final = 256
_MAX_INT: Final = 2**53 - 1  # the integers every JSON reader represents exactly

DECISIONS: Final = frozenset({"permit", "deny"})
"""The values `decision` may take (or none)."""
FIELDS: Final = (
    "seq",
    "time",
    "node",
    "type",
    "actor",
    "object",
    "action",
    "decision",
    "reasons",
    "details",
)
"""Every key of an entry's JSON form."""

_TYPE_RE: Final = re.compile(r"[a-z][a-z0-9._-]*\Z")
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f]")
_TIME_RE: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)\Z")
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


def canonical_json(value: Json) -> bytes:
    """The canonical encoding of a JSON value (sorted keys, no whitespace, UTF-8)."""
    try:
        return _encode(value).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise AuditInputError("text is not valid Unicode (unpaired surrogate)") from exc


_quote: Final = json.encoder.encode_basestring


def _str(value: str | None) -> str:
    return "null" if value is None else str(_quote(value))


def format_time(t: datetime) -> str:
    """The canonical text of an entry time: UTC, microseconds, `Z`."""
    if t.tzinfo is not UTC:
        t = t.astimezone(UTC)
    # One %-format: the same text as an f-string of seven format specs, in half the time.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 (faster, see above)
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.microsecond,
    )


def parse_time(text: object, where: str = "time") -> datetime:
    """Parse an RFC 3339 time with an explicit offset into an aware UTC datetime."""
    if not isinstance(text, str) or not _TIME_RE.match(text):
        raise AuditInputError(
            f"{where}: expected an RFC 3339 time with offset, e.g. 2026-01-31T12:00:00Z"
        )
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as exc:
        raise AuditInputError(f"{where}: {exc}") from exc


def _text(name: str, value: object, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        kind = "a non-empty string or null" if optional else "a non-empty string"
        raise AuditInputError(f"{name}: expected {kind}")
    if len(value) > _LIMITS[name]:
        raise EntryTooLarge(f"{name}: longer than {_LIMITS[name]} characters")
    if _CONTROL_RE.search(value):
        raise AuditInputError(f"{name}: control characters are not allowed")
    return value


#: Field texts already checked, as their JSON strings: the same few values (the node, the
#: event types and actions, the active people, the documents in use) recur in most entries.
#: Bounded: emptied when full.
_CHECKED: dict[tuple[str, str], str] = {}
_CHECKED_SIZE: Final = 8192


def _json_text(name: str, value: object, *, optional: bool = False) -> str:
    """`value` checked as the field `name` (as `_text`; a type also by its pattern), as JSON."""
    if type(value) is not str:  # None, a str subclass, or not text: checked uncached
        checked = _text(name, value, optional=optional)
        if checked is None:
            return "null"
        if name == "type" and not _TYPE_RE.match(checked):
            raise AuditInputError("type: expected lower-case letters, digits, '.', '_', '-'")
        return str(_quote(checked))
    found = _CHECKED.get((name, value))
    if found is None:
        _text(name, value)
        if name == "type" and not _TYPE_RE.match(value):
            raise AuditInputError("type: expected lower-case letters, digits, '.', '_', '-'")
        found = str(_quote(value))
        if len(_CHECKED) >= _CHECKED_SIZE:
            _CHECKED.clear()
        _CHECKED[name, value] = found
    return found


def _flat_text_details(details: Mapping[str, Json]) -> str | None:
    """The canonical JSON of `details` when every value is a string (no check needed beyond
    that: a string is always a valid detail), else None (the general path)."""
    for key, item in details.items():
        if type(key) is not str or type(item) is not str:
            return None
    pairs = sorted(cast(Mapping[str, str], details).items())
    return "{" + ",".join(f"{_quote(k)}:{_quote(v)}" for k, v in pairs) + "}"


def _check_details(value: object, depth: int, where: str) -> None:
    if depth > MAX_DETAILS_DEPTH:
        raise EntryTooLarge(f"{where}: nested deeper than {MAX_DETAILS_DEPTH} levels")
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        if not -_MAX_INT <= value <= _MAX_INT:
            raise AuditInputError(f"{where}: integer outside ±(2**53 - 1)")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_details(item, depth + 1, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditInputError(f"{where}: object keys must be strings")
            _check_details(item, depth + 1, f"{where}.{key}")
        return
    if isinstance(value, float):
        raise AuditInputError(f"{where}: floating-point numbers are not allowed (use a string)")
    raise AuditInputError(f"{where}: {type(value).__name__} is not a JSON value")


@dataclass(frozen=True, slots=True)
class Event:
    """Something a service did or decided, before the log numbers it. Valid once built.

    `time` is an aware datetime (the caller's clock: the core never reads one). `details`
    is copied on construction and must be treated as read-only.
    """

    time: datetime
    node: str
    type: str
    actor: str
    object: str | None = None
    action: str | None = None
    decision: str | None = None
    reasons: tuple[str, ...] = ()
    details: Mapping[str, Json] = field(default_factory=dict)
    _head: bytes = field(default=b"", repr=False, compare=False)
    _tail: bytes = field(default=b"", repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.time, datetime) or self.time.utcoffset() is None:
            raise AuditInputError("time: expected a timezone-aware datetime")
        node = _json_text("node", self.node)
        kind = _json_text("type", self.type)
        actor = _json_text("actor", self.actor)
        obj = _json_text("object", self.object, optional=True)
        action = _json_text("action", self.action, optional=True)
        if self.decision is not None and self.decision not in DECISIONS:
            raise AuditInputError("decision: expected 'permit', 'deny' or null")
        # Callers may pass a list; store the checked tuple.
        object.__setattr__(self, "reasons", _reasons(self.reasons))
        if not isinstance(self.details, dict):
            raise AuditInputError("details: expected a JSON object")
        flat = _flat_text_details(self.details) if self.details else "{}"
        if flat is None:
            _check_details(self.details, 1, "details")
        # Hand-assembled in sorted key order (the fast path of every append); equal to
        # canonical_json() of the same object, which the tests check.
        try:
            details = flat if flat is not None else canonical_json(self.details).decode()
            text = (
                f'{{"action":{action},"actor":{actor},'
                f'"decision":{_str(self.decision)},"details":{details},'
                f'"node":{node},"object":{obj},'
                f'"reasons":[{",".join(map(_quote, self.reasons))}],"seq":0,'
                f'"time":"{format_time(self.time)}","type":{kind}}}'
            )
            body = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise AuditInputError("text is not valid Unicode (unpaired surrogate)") from exc
        if len(body) + 16 > MAX_ENTRY_BYTES:
            raise EntryTooLarge(f"entry: larger than {MAX_ENTRY_BYTES} bytes")
        # Only "time" and "type" (plain strings, quotes escaped) follow the top-level "seq"
        # key, so its last occurrence is the top-level one.
        cut = body.rindex(b'"seq":0,') + 6
        if self.details:
            copied = dict(self.details) if flat is not None else _copy(self.details)
            object.__setattr__(self, "details", copied)
        object.__setattr__(self, "_head", body[:cut])
        object.__setattr__(self, "_tail", body[cut + 1 :])

    def canonical(self, seq: int) -> bytes:
        """The canonical JSON bytes of this event recorded at sequence number `seq`."""
        return self._head + str(seq).encode() + self._tail


def _copy(value: Any) -> Any:
    """A deep copy of checked JSON data (dicts and lists are the only mutable parts)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _reasons(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise AuditInputError("reasons: expected a list of strings")
    if len(value) > MAX_REASONS:
        raise EntryTooLarge(f"reasons: more than {MAX_REASONS} reasons")
    for i, r in enumerate(value):
        if not isinstance(r, str) or not r or len(r) > _REASON_LIMIT or _CONTROL_RE.search(r):
            raise AuditInputError(
                f"reasons[{i}]: expected a string of 1 to {_REASON_LIMIT} printable characters"
            )
    return tuple(value)


MAX_REASON_CODE: Final = 64
"""Longest reason code `bounded_reasons` keeps (a code names a rule, it is never data)."""
MAX_REASON_DETAIL: Final = 256
"""Longest detail of one reason `bounded_reasons` keeps; a longer one is cut, saying so."""
_CODE_RE: Final = re.compile(r"[a-z][a-z0-9._-]*\Z")
_UNPRINTABLE_RE: Final = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def bound_text(text: str, limit: int) -> str:
    """`text` with control characters and lone surrogates replaced by `?`, cut to at most
    `limit` characters, a cut one ending `…(+N)` with the number of characters left out.
    Deterministic: the same text always gives the same bounded text."""
    text = _UNPRINTABLE_RE.sub("?", text)
    if len(text) <= limit:
        return text
    # The marker's own length depends on N; reserve for the largest N the text can give.
    marker_room = len(f"…(+{len(text)})")
    kept = max(limit - marker_room, 0)
    return f"{text[:kept]}…(+{len(text) - kept})"


def bounded_reasons(reasons: Sequence[str]) -> tuple[tuple[str, ...], dict[str, Json]]:
    """Reasons of any number and size as an entry stores them: bounded codes, and each code's
    detail (the text after the first `:` of `code:detail`) bounded, keyed by code.

    A code that is not lower-case letters, digits, `.`, `_`, `-` of at most `MAX_REASON_CODE`
    characters is replaced by `malformed-reason` (its text kept as the detail); details of a
    repeated code are joined with `; `; past `MAX_REASONS` - 1 codes the rest are counted
    under `reasons-truncated`. The result always builds an `Event`, so no decision is ever
    left unaudited for the size of its reasons.
    """
    details: dict[str, list[str]] = {}
    for reason in reasons:
        code, sep, detail = str(reason).partition(":")
        if not (_CODE_RE.match(code) and len(code) <= MAX_REASON_CODE):
            code, detail, sep = "malformed-reason", str(reason), ":"
        if code not in details and len(details) >= MAX_REASONS - 1:
            code, detail, sep = "reasons-truncated", "", ""
        found = details.setdefault(code, [])
        if sep and detail:
            found.append(detail)
        elif code == "reasons-truncated":
            found.append("1")
    if "reasons-truncated" in details:
        details["reasons-truncated"] = [str(len(details["reasons-truncated"]))]
    codes = tuple(details)
    bounded: dict[str, Json] = {
        code: bound_text("; ".join(parts), MAX_REASON_DETAIL)
        for code, parts in details.items()
        if parts
    }
    return codes, bounded


def bounded_details(details: Mapping[str, Json], budget: int) -> dict[str, Json]:
    """`details` whose canonical JSON fits in `budget` bytes, as they are if they fit, else
    as one `details-truncated` string: the start of their canonical JSON, cut by
    `bound_text` (so an entry is recorded whatever the size of what a service reported)."""
    text = canonical_json(cast(Json, dict(details))).decode("utf-8")
    if len(text.encode("utf-8")) <= budget:
        return dict(details)
    # Characters, not bytes, are cut: a sixth of the budget fits whatever the text (at most
    # 4 bytes a character in UTF-8, 2 for a quote escaped again).
    return {"details-truncated": bound_text(text, max(budget // 6 - 32, 16))}


@dataclass(frozen=True, slots=True)
class Entry:
    """An event as recorded at position `seq` of a log; `body` is what the tree hashes."""

    seq: int
    event: Event
    body: bytes

    def to_json(self) -> dict[str, Any]:
        """The entry as a JSON object (the same content as `body`)."""
        result: dict[str, Any] = json.loads(self.body)
        return result


def record(seq: int, event: Event) -> Entry:
    """Number an event: the entry at position `seq`."""
    if not isinstance(seq, int) or not 0 <= seq <= _MAX_INT:
        raise AuditInputError(f"seq: expected an integer from 0, got {seq!r}")
    return Entry(seq, event, event.canonical(seq))


def event_from_json(
    obj: object, *, default_time: datetime | None = None, default_node: str | None = None
) -> tuple[int | None, Event]:
    """Build an event from a JSON object; return it with the `seq` the object gave, if any.

    `default_time` and `default_node` fill in `time` and `node` where the object leaves them
    out (the CLI's behaviour); without a default the key is required.
    """
    if not isinstance(obj, dict):
        raise AuditInputError("expected a JSON object")
    unknown = sorted(set(obj) - set(FIELDS))
    if unknown:
        raise AuditInputError(f"unknown key {unknown[0]!r} (known: {', '.join(FIELDS)})")
    seq = obj.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 0):
        raise AuditInputError("seq: expected a non-negative integer")
    if obj.get("time") is not None:
        time = parse_time(obj["time"])
    elif default_time is not None:
        time = default_time
    else:
        raise AuditInputError("time: missing")
    node = obj.get("node", default_node)
    if node is None:
        raise AuditInputError("node: missing")
    for key in ("type", "actor"):
        if key not in obj:
            raise AuditInputError(f"{key}: missing")
    event = Event(
        time=time,
        node=node,
        type=obj["type"],
        actor=obj["actor"],
        object=obj.get("object"),
        action=obj.get("action"),
        decision=obj.get("decision"),
        reasons=_reasons(obj.get("reasons", [])),
        details=obj.get("details", {}),
    )
    return seq, event


def entry_from_bytes(body: bytes) -> Entry:
    """Parse stored canonical bytes back into an entry; raise if they are not canonical."""
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AuditInputError(f"entry is not JSON: {exc}") from exc
    if not isinstance(obj, dict) or set(obj) != set(FIELDS):
        raise AuditInputError("entry does not have exactly the entry keys")
    seq, event = event_from_json(obj)
    if seq is None:
        raise AuditInputError("seq: missing")
    entry = record(seq, event)
    if entry.body != body:
        raise AuditInputError(f"entry {seq} is not in canonical form")
    return entry
