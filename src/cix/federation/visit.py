"""A request for visit between two national security authorities, and the host's signed answer.

The visiting party's authority sends a `VisitRequest` (the body of a "visit-request"
message) naming the visitor with the fields the agreements list (Korea–Japan Art 8, the
European bilateral agreements, MISWG Doc 7). `check_request` applies the agreement's rules:
both parties of it, the kind's maximum length (`one_time_visit_max_days` for one-time and
emergency visits, `recurring_visit_max_days` for recurring ones), the visitor's clearance at
or above the highest level to be disclosed and valid to the last day, and the lead time
(`visit_lead_working_days`, counted in the host's calendar) unless the visit is an
emergency. The host answers with a `VisitAnswer` signed by its node (`sign_answer`):
approved (a grant bounded by days, facility and level, with conditions), denied, or later
revoked; the answer names the digest of the exact request it answers.

Pure: no database, no clock (`sent_at`, `issued_at` are parameters).
"""

from __future__ import annotations

import enum
import hashlib
import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from cix.agreements import Agreement
from cix.agreements.calendar import earliest_first_day, in_time
from cix.errors import VerificationError
from cix.federation.canonical import canonical_json
from cix.federation.jws import JwsInvalid, sign_compact, verify_compact
from cix.keys import SigningKey, VerifyKey
from cix.labels.errors import LabelError

REQUEST_TYPE: Literal["cix-visit-request/v1"] = "cix-visit-request/v1"
ANSWER_TYPE: Literal["cix-visit-answer/v1"] = "cix-visit-answer/v1"
ANSWER_TYP = "cix-visit+jws"

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
Party = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
Code = Annotated[str, Field(pattern=r"^[A-Z0-9-]{1,16}$")]
Words = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$")]
Passport = Annotated[str, Field(pattern=r"^[A-Z0-9]{5,20}$")]
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


def _iso_day(value: Any) -> Any:
    # strict, but a JSON day is text: YYYY-MM-DD exactly (no time, no number of seconds)
    if isinstance(value, str) and _DAY.match(value):
        return date.fromisoformat(value)
    if isinstance(value, datetime):
        raise ValueError("a day, not a date and time")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]


class VisitKind(enum.StrEnum):
    """The kinds of visit (MISWG Doc 7)."""

    ONE_TIME = "one-time"
    RECURRING = "recurring"
    EMERGENCY = "emergency"


class VisitRefusal(enum.StrEnum):
    """Why a request for visit (or an answer to one) is refused: the audit code."""

    MALFORMED = "visit-malformed"
    NOT_PARTIES = "visit-parties-not-of-agreement"
    TOO_LONG = "visit-longer-than-allowed"
    INSIDE_LEAD_TIME = "visit-inside-lead-time"
    CLEARANCE_TOO_LOW = "visit-clearance-below-level"
    CLEARANCE_EXPIRES = "visit-clearance-expires-before-visit"
    LEVEL_UNKNOWN = "visit-level-unknown"
    SIGNATURE_INVALID = "visit-answer-signature-invalid"


class VisitRefused(VerificationError):
    """A request or an answer breaks a rule; `reason` is the audit code, `detail` names the
    rule (and where its number comes from). No personal data goes into `detail`."""

    def __init__(self, reason: VisitRefusal, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Visitor(_Strict):
    """The person visiting, as the sending authority confirms them. Personal data: it is
    stored and sent, never logged or audited."""

    name: Words
    date_of_birth: Day
    place_of_birth: Words
    nationality: Party
    passport_number: Passport
    job_title: Words
    organisation: Words
    clearance_level: Code
    """A level code of the requesting party's scheme."""
    clearance_valid_until: Day


class VisitRequest(_Strict):
    """A request for visit, as the body of a "visit-request" message."""

    type: Literal["cix-visit-request/v1"] = REQUEST_TYPE
    visit_id: Id
    agreement: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    kind: VisitKind
    requester_node: Id
    requester_party: Party
    host_party: Party
    visitor: Visitor
    contract: Words
    """The contract or programme the visit is for."""
    first_day: Day
    last_day: Day
    purpose: Words
    host_contact: Words
    facility: Words
    """The place visited (the host's facility)."""
    highest_level: Code
    """The highest level of the host's scheme to be disclosed."""
    drafted_by: Id
    confirmed_by: Id
    """The officer of the sending authority who confirmed the request and the clearance."""

    @model_validator(mode="after")
    def _days(self) -> VisitRequest:
        if self.last_day < self.first_day:
            raise ValueError("last_day is before first_day")
        return self

    def to_json(self) -> dict[str, Any]:
        """The request as a message body (dates in ISO 8601)."""
        return self.model_dump(mode="json")

    def digest(self) -> str:
        """The SHA-256 of the request's canonical JSON: what the host's answer names."""
        return hashlib.sha256(canonical_json(self.to_json())).hexdigest()

    @property
    def days(self) -> int:
        """How many calendar days the visit spans (first and last day included)."""
        return (self.last_day - self.first_day).days + 1


def request_from_json(doc: Any) -> VisitRequest:
    """Parse a "visit-request" body, every field checked; raises `VisitRefused`."""
    try:
        return VisitRequest.model_validate_json(canonical_json(doc))
    except (ValidationError, ValueError, TypeError) as exc:
        raise VisitRefused(VisitRefusal.MALFORMED, _first_error(exc)) from None


def _first_error(exc: Exception) -> str:
    # the field's name and the rule, never the value (it may be personal data)
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "request"
        return f"{where}: {error['msg']}"
    return "not a JSON object"


def max_days(agreement: Agreement, kind: VisitKind) -> tuple[int, str]:
    """The longest visit of `kind` under `agreement`, and the agreement key it comes from."""
    if kind is VisitKind.RECURRING:
        return agreement.recurring_visit_max_days, "recurring_visit_max_days"
    return agreement.one_time_visit_max_days, "one_time_visit_max_days"


def check_request(
    request: VisitRequest, agreement: Agreement, *, sent_at: datetime, lead_time: bool = True
) -> None:
    """Raise `VisitRefused` naming the rule unless `request` keeps `agreement`'s rules when
    sent at `sent_at`; with `lead_time` false the lead time is not checked (a draft)."""
    parties = agreement.parties
    if (
        agreement.kind != "agreement"
        or request.agreement != agreement.id
        or request.requester_party not in parties
        or request.host_party not in parties
        or request.requester_party == request.host_party
    ):
        raise VisitRefused(
            VisitRefusal.NOT_PARTIES,
            f"the requester and the host are two parties of {agreement.id}",
        )
    longest, key = max_days(agreement, request.kind)
    if request.days > longest:
        raise VisitRefused(
            VisitRefusal.TOO_LONG,
            f"a {request.kind.value} visit lasts at most {longest} days ({key} of "
            f"{agreement.id}); this one lasts {request.days}",
        )
    try:
        agreement.check_in_scope(request.host_party, request.highest_level)
        agreement.scheme(request.requester_party).level(request.visitor.clearance_level)
        cleared = agreement.level_dominates(
            request.requester_party,
            request.visitor.clearance_level,
            request.host_party,
            request.highest_level,
        )
    except LabelError as exc:
        raise VisitRefused(VisitRefusal.LEVEL_UNKNOWN, str(exc)) from None
    if not cleared:
        raise VisitRefused(
            VisitRefusal.CLEARANCE_TOO_LOW,
            f"the visitor's clearance is below {request.host_party} {request.highest_level}"
            " (the highest level to be disclosed)",
        )
    if request.visitor.clearance_valid_until < request.last_day:
        raise VisitRefused(
            VisitRefusal.CLEARANCE_EXPIRES, "the visitor's clearance expires before the last day"
        )
    if lead_time:
        check_lead_time(request, agreement, sent_at=sent_at)


def check_lead_time(request: VisitRequest, agreement: Agreement, *, sent_at: datetime) -> None:
    """Raise `VisitRefused` (`visit-inside-lead-time`) unless the request leaves the
    agreement's `visit_lead_working_days` working days of the host's calendar before its
    first day; an emergency visit needs only a first day not already past there."""
    try:
        calendar = agreement.calendar(request.host_party)
    except LabelError as exc:
        raise VisitRefused(VisitRefusal.INSIDE_LEAD_TIME, str(exc)) from None
    lead = agreement.visit_lead_working_days
    if request.kind is VisitKind.EMERGENCY:
        if request.first_day < calendar.day_of(sent_at):
            raise VisitRefused(VisitRefusal.INSIDE_LEAD_TIME, "the first day is already past")
        return
    if not in_time(calendar, sent_at, request.first_day, lead):
        earliest = earliest_first_day(calendar, sent_at, lead)
        raise VisitRefused(
            VisitRefusal.INSIDE_LEAD_TIME,
            f"a request reaches the host {lead} working days ahead (visit_lead_working_days "
            f"of {agreement.id}, in {request.host_party}'s calendar); the earliest first day "
            f"now is {earliest.isoformat()} unless the visit is an emergency",
        )


class VisitAnswer(_Strict):
    """The host's answer, signed by the host's node: `approved` (the grant: `first_day` to
    `last_day`, at `facility`, up to `highest_level`, under `conditions`), `denied`, or
    `revoked` (a grant withdrawn). `request_digest` binds it to the exact request."""

    type: Literal["cix-visit-answer/v1"] = ANSWER_TYPE
    visit_id: Id
    decision: Literal["approved", "denied", "revoked"]
    host_party: Party
    host_node: Id
    requester_node: Id
    request_digest: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    first_day: Day
    last_day: Day
    facility: Words
    highest_level: Code
    conditions: Annotated[str, Field(min_length=1, max_length=2000)] | None
    issued_at: int


def answer_of(
    request: VisitRequest,
    *,
    decision: Literal["approved", "denied", "revoked"],
    host_node: str,
    conditions: str | None,
    issued_at: datetime,
) -> VisitAnswer:
    """The answer to `request` (its bounds are the request's: a grant never widens it)."""
    return VisitAnswer(
        visit_id=request.visit_id,
        decision=decision,
        host_party=request.host_party,
        host_node=host_node,
        requester_node=request.requester_node,
        request_digest=request.digest(),
        first_day=request.first_day,
        last_day=request.last_day,
        facility=request.facility,
        highest_level=request.highest_level,
        conditions=conditions,
        issued_at=int(issued_at.timestamp()),
    )


def sign_answer(answer: VisitAnswer, signer: SigningKey) -> str:
    """The compact JWS of `answer`, signed by the host node's signing key."""
    return sign_compact(answer.model_dump(mode="json"), signer, ANSWER_TYP)


def read_answer(token: str, *, host_key: VerifyKey) -> VisitAnswer:
    """The answer in `token` once its signature by `host_key` verifies and its fields
    parse; raises `VisitRefused`."""
    try:
        payload = verify_compact(token, host_key, ANSWER_TYP)
    except JwsInvalid as exc:
        raise VisitRefused(VisitRefusal.SIGNATURE_INVALID, str(exc)) from None
    try:
        return VisitAnswer.model_validate_json(canonical_json(payload))
    except (ValidationError, ValueError) as exc:
        raise VisitRefused(VisitRefusal.MALFORMED, _first_error(exc)) from None


def grant_covers(
    answer: VisitAnswer, agreement: Agreement, *, day: date, facility: str, level: str
) -> bool:
    """True if the approved `answer` covers oral and visual access on `day` (the host's
    day) at `facility` to the host's `level` (at or below the grant's highest level)."""
    if answer.decision != "approved" or not answer.first_day <= day <= answer.last_day:
        return False
    if facility != answer.facility:
        return False
    return agreement.level_dominates(
        answer.host_party, answer.highest_level, answer.host_party, level
    )
