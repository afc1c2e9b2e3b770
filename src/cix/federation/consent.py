"""The originator's consent (rules 2-4): the request, the signed statement, and the check.

A node holding another party's information asks the originator's node for consent to one
act: release to a third party, downgrade or declassification (to a new label), or use for
another purpose (`ConsentRequest`, the body of a "consent-request" message). The
originator answers with a `ConsentStatement` signed by its node's signing key as a compact
JWS (`sign_statement`); the statement names exactly the act it permits, and
`check_consent` raises unless the token, verified under the originator's key, permits
exactly the act asked about (that document, that party, that purpose, that label) before
its expiry.

Pure: no database, no clock (`now` is a parameter). Whether a consent was already used is
the caller's (one statement permits one act: the node marks it used in the transaction of
the act, and a receiver keeps the consent id of every copy it registered).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cix.errors import VerificationError
from cix.federation.jws import JwsInvalid, sign_compact, verify_compact
from cix.keys import SigningKey, VerifyKey

STATEMENT_TYPE = "cix-consent/v1"
REQUEST_TYPE = "cix-consent-request/v1"
STATEMENT_TYP = "cix-consent+jws"

_PARTY = re.compile(r"[A-Z]{3}\Z")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z")
#: A label's purpose (cix.labels.PURPOSE_PATTERN), which is what a transmission states: a
#: consent for any other text would be signed and kept, and permit no act.
_PURPOSE = re.compile(r"[a-z][a-z0-9-]{0,63}\Z")
MAX_TEXT = 2000


class ConsentAct(enum.StrEnum):
    """The one act a consent is for (the `act` column of the consents table)."""

    RELEASE = "release"  # release to a third party (rule 2)
    DOWNGRADE = "downgrade"  # downgrade or declassification, to `new_label` (rule 3)
    PURPOSE = "purpose"  # use for another purpose (rule 4)


class ConsentRefusal(enum.StrEnum):
    """Why a consent (or a chain carrying one) does not permit the act: the audit code."""

    MALFORMED = "consent-malformed"
    SIGNATURE_INVALID = "consent-signature-invalid"
    DENIED = "consent-denied"
    OTHER_DOCUMENT = "consent-for-another-document"
    OTHER_ACT = "consent-for-another-act"
    OTHER_PARTY = "consent-for-another-party"
    OTHER_PURPOSE = "consent-for-another-purpose"
    OTHER_LABEL = "consent-for-another-label"
    OTHER_REQUESTER = "consent-for-another-requester"
    EXPIRED = "consent-expired"
    ALREADY_USED = "consent-already-used"
    MISSING = "consent-missing"
    CHAIN_MISSING = "consent-chain-missing"
    CHAIN_MALFORMED = "consent-chain-malformed"
    IDENTITY_INVALID = "consent-chain-identity-invalid"
    VOUCHER_INVALID = "consent-chain-voucher-invalid"
    ORIGINATOR_MISMATCH = "consent-chain-originator-mismatch"


class ConsentRefused(VerificationError):
    """A consent does not permit the act; `reason` is the code to audit, `detail` words for
    the audit record. Callers outside the node see the one opaque refusal."""

    def __init__(self, reason: ConsentRefusal, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _refuse(reason: ConsentRefusal, detail: str) -> ConsentRefused:
    return ConsentRefused(reason, detail)


def _text(doc: dict[str, Any], name: str, pattern: re.Pattern[str] | None) -> str:
    value = doc.get(name)
    if not (isinstance(value, str) and 0 < len(value) <= MAX_TEXT and value.isprintable()) or (
        pattern is not None and not pattern.match(value)
    ):
        raise _refuse(ConsentRefusal.MALFORMED, f"`{name}` is missing or malformed")
    return value


def _optional(doc: dict[str, Any], name: str, pattern: re.Pattern[str] | None) -> str | None:
    return None if doc.get(name) is None else _text(doc, name, pattern)


def _label(doc: dict[str, Any]) -> dict[str, Any] | None:
    value = doc.get("new_label")
    if value is not None and not isinstance(value, dict):
        raise _refuse(ConsentRefusal.MALFORMED, "`new_label` must be a label object or null")
    return value


def _seconds(doc: dict[str, Any], name: str, *, optional: bool) -> datetime | None:
    value = doc.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 40:
        raise _refuse(ConsentRefusal.MALFORMED, f"`{name}` must be integer seconds")
    return datetime.fromtimestamp(value, UTC)


def _exact(doc: Any, fields: frozenset[str], what: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or set(doc) != fields:
        raise _refuse(ConsentRefusal.MALFORMED, f"{what}: expected exactly {sorted(fields)}")
    return doc


def _check_act_fields(
    act: ConsentAct, to_party: str | None, purpose: str | None, new_label: Any
) -> None:
    # each act names what it is about, and nothing that belongs to another act
    if act is ConsentAct.RELEASE and to_party is None:
        raise _refuse(ConsentRefusal.MALFORMED, "a release names the party it is to")
    if act is ConsentAct.DOWNGRADE and (new_label is None or to_party is not None):
        raise _refuse(ConsentRefusal.MALFORMED, "a downgrade names the new label, no party")
    if act is ConsentAct.PURPOSE and (purpose is None or new_label is not None):
        raise _refuse(ConsentRefusal.MALFORMED, "a use for another purpose names the purpose")
    if act is not ConsentAct.DOWNGRADE and new_label is not None:
        raise _refuse(ConsentRefusal.MALFORMED, "only a downgrade names a new label")


def _act(doc: dict[str, Any]) -> ConsentAct:
    try:
        return ConsentAct(str(doc.get("act")))
    except ValueError:
        raise _refuse(
            ConsentRefusal.MALFORMED, "`act` is not release, downgrade or purpose"
        ) from None


@dataclass(frozen=True)
class ConsentRequest:
    """A request for the originator's consent to one act on one of its documents.

    `document_id` is the originator's document id; `requested_by` the person at the
    requesting node; `reason` why the act is needed (the originator's officer reads it).
    """

    consent_id: str
    requester_node: str
    requester_party: str
    originator_party: str
    document_id: str
    act: ConsentAct
    to_party: str | None
    purpose: str | None
    new_label: dict[str, Any] | None
    requested_by: str
    reason: str

    def checked(self) -> ConsentRequest:
        """`self`, once it passes the checks a receiver makes (raises `ConsentRefused`)."""
        return _request_from_doc(self.to_json())

    def to_json(self) -> dict[str, Any]:
        """The request as the body of a "consent-request" message."""
        return {
            "type": REQUEST_TYPE,
            "consent_id": self.consent_id,
            "requester_node": self.requester_node,
            "requester_party": self.requester_party,
            "originator_party": self.originator_party,
            "document_id": self.document_id,
            "act": self.act.value,
            "to_party": self.to_party,
            "purpose": self.purpose,
            "new_label": self.new_label,
            "requested_by": self.requested_by,
            "reason": self.reason,
        }


_REQUEST_FIELDS = frozenset(ConsentRequest.__dataclass_fields__) | {"type"}


def _request_from_doc(doc: Any) -> ConsentRequest:
    doc = _exact(doc, _REQUEST_FIELDS, "consent request")
    if doc["type"] != REQUEST_TYPE:
        raise _refuse(ConsentRefusal.MALFORMED, f"`type` must be {REQUEST_TYPE!r}")
    act = _act(doc)
    to_party = _optional(doc, "to_party", _PARTY)
    purpose = _optional(doc, "purpose", _PURPOSE)
    new_label = _label(doc)
    _check_act_fields(act, to_party, purpose, new_label)
    return ConsentRequest(
        consent_id=_text(doc, "consent_id", _ID),
        requester_node=_text(doc, "requester_node", _ID),
        requester_party=_text(doc, "requester_party", _PARTY),
        originator_party=_text(doc, "originator_party", _PARTY),
        document_id=_text(doc, "document_id", _ID),
        act=act,
        to_party=to_party,
        purpose=purpose,
        new_label=new_label,
        requested_by=_text(doc, "requested_by", _ID),
        reason=_text(doc, "reason", None),
    )


def request_from_json(doc: Any) -> ConsentRequest:
    """Parse a "consent-request" body, checking every field; raises `ConsentRefused`
    (`consent-malformed`)."""
    return _request_from_doc(doc)


@dataclass(frozen=True)
class ConsentStatement:
    """The originator's answer to one request, as signed by the originator's node.

    `approved` false is a signed denial (it permits nothing). An approval permits exactly
    `act` on `document_id` (to `to_party`, for `purpose`, to `new_label`) by
    `requester_node`, until `expires_at`, under `conditions` (words the requester must keep).
    """

    consent_id: str
    approved: bool
    originator_party: str
    originator_node: str
    requester_node: str
    document_id: str
    act: ConsentAct
    to_party: str | None
    purpose: str | None
    new_label: dict[str, Any] | None
    conditions: str | None
    expires_at: datetime | None
    issued_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The JSON object that is signed (times as integer seconds)."""
        return {
            "type": STATEMENT_TYPE,
            "consent_id": self.consent_id,
            "decision": "approved" if self.approved else "denied",
            "originator_party": self.originator_party,
            "originator_node": self.originator_node,
            "requester_node": self.requester_node,
            "document_id": self.document_id,
            "act": self.act.value,
            "to_party": self.to_party,
            "purpose": self.purpose,
            "new_label": self.new_label,
            "conditions": self.conditions,
            "expires_at": None if self.expires_at is None else int(self.expires_at.timestamp()),
            "issued_at": int(self.issued_at.timestamp()),
        }


_STATEMENT_FIELDS = frozenset(
    {
        "type",
        "consent_id",
        "decision",
        "originator_party",
        "originator_node",
        "requester_node",
        "document_id",
        "act",
        "to_party",
        "purpose",
        "new_label",
        "conditions",
        "expires_at",
        "issued_at",
    }
)


def statement_from_json(doc: Any) -> ConsentStatement:
    """Parse a statement's JSON object, checking every field (not its signature)."""
    doc = _exact(doc, _STATEMENT_FIELDS, "consent statement")
    if doc["type"] != STATEMENT_TYPE:
        raise _refuse(ConsentRefusal.MALFORMED, f"`type` must be {STATEMENT_TYPE!r}")
    if doc["decision"] not in ("approved", "denied"):
        raise _refuse(ConsentRefusal.MALFORMED, "`decision` must be approved or denied")
    approved = doc["decision"] == "approved"
    act = _act(doc)
    to_party = _optional(doc, "to_party", _PARTY)
    purpose = _optional(doc, "purpose", _PURPOSE)
    new_label = _label(doc)
    _check_act_fields(act, to_party, purpose, new_label)
    expires_at = _seconds(doc, "expires_at", optional=True)
    if approved and expires_at is None:
        raise _refuse(ConsentRefusal.MALFORMED, "an approval has an expiry")
    issued = _seconds(doc, "issued_at", optional=False)
    assert issued is not None
    return ConsentStatement(
        consent_id=_text(doc, "consent_id", _ID),
        approved=approved,
        originator_party=_text(doc, "originator_party", _PARTY),
        originator_node=_text(doc, "originator_node", _ID),
        requester_node=_text(doc, "requester_node", _ID),
        document_id=_text(doc, "document_id", _ID),
        act=act,
        to_party=to_party,
        purpose=purpose,
        new_label=new_label,
        conditions=_optional(doc, "conditions", None),
        expires_at=expires_at,
        issued_at=issued,
    )


def answer_request(
    request: ConsentRequest,
    *,
    approved: bool,
    originator_node: str,
    conditions: str | None,
    expires_at: datetime | None,
    now: datetime,
) -> ConsentStatement:
    """The statement answering `request` (it names the very act requested, nothing else)."""
    if approved and (expires_at is None or expires_at <= now):
        raise _refuse(ConsentRefusal.MALFORMED, "an approval expires after it is given")
    statement = ConsentStatement(
        consent_id=request.consent_id,
        approved=approved,
        originator_party=request.originator_party,
        originator_node=originator_node,
        requester_node=request.requester_node,
        document_id=request.document_id,
        act=request.act,
        to_party=request.to_party,
        purpose=request.purpose,
        new_label=request.new_label,
        conditions=conditions,
        expires_at=expires_at if approved else None,
        issued_at=now,
    )
    statement_from_json(statement.to_json())  # what a receiver will check, checked here
    return statement


def sign_statement(statement: ConsentStatement, signer: SigningKey) -> str:
    """The compact JWS of `statement`, signed by the originator node's signing key."""
    return sign_compact(statement.to_json(), signer, STATEMENT_TYP)


def read_statement(token: str, *, originator_key: VerifyKey) -> ConsentStatement:
    """The statement in `token` once its signature by `originator_key` verifies and its
    fields parse; raises `ConsentRefused`. It says nothing yet of what it permits."""
    try:
        payload = verify_compact(token, originator_key, STATEMENT_TYP)
    except JwsInvalid as exc:
        raise _refuse(ConsentRefusal.SIGNATURE_INVALID, str(exc)) from None
    return statement_from_json(payload)


def check_consent(
    statement_token: str,
    *,
    originator_key: VerifyKey,
    document_id: str,
    act: ConsentAct,
    to_party: str | None,
    purpose: str | None,
    now: datetime,
    new_label: dict[str, Any] | None = None,
    requester_node: str | None = None,
) -> ConsentStatement:
    """Raise `ConsentRefused` unless `statement_token`, signed by `originator_key`, approves
    exactly this act: on `document_id`, of kind `act`, to `to_party`, for `purpose` (and,
    for a downgrade, to `new_label`; with `requester_node`, given to that node), and `now`
    is before its expiry. Returns the statement that permits it."""
    statement = read_statement(statement_token, originator_key=originator_key)
    if not statement.approved:
        raise _refuse(ConsentRefusal.DENIED, f"consent {statement.consent_id} was denied")
    if statement.document_id != document_id:
        raise _refuse(ConsentRefusal.OTHER_DOCUMENT, f"given for {statement.document_id}")
    if statement.act is not act:
        raise _refuse(ConsentRefusal.OTHER_ACT, f"given for {statement.act.value}")
    if statement.to_party != to_party:
        raise _refuse(ConsentRefusal.OTHER_PARTY, f"given for {statement.to_party}")
    if statement.purpose != purpose:
        raise _refuse(ConsentRefusal.OTHER_PURPOSE, f"given for {statement.purpose}")
    if statement.new_label != new_label:
        raise _refuse(ConsentRefusal.OTHER_LABEL, "given for another label")
    if requester_node is not None and statement.requester_node != requester_node:
        raise _refuse(ConsentRefusal.OTHER_REQUESTER, f"given to {statement.requester_node}")
    if statement.expires_at is None or now >= statement.expires_at:
        raise _refuse(ConsentRefusal.EXPIRED, f"expired at {statement.expires_at}")
    return statement
