"""Requests for visit across nodes (issue 13, item 1): draft, send, approve, deny, revoke.

At the visiting party's node (KOR, for a Hanwha Ocean engineer visiting a Canadian yard):
an FSO or the NSA officer `draft`s the request (stored `drafted`); the NSA officer `send`s
it, confirming the visitor's clearance as the sending authority: the agreement's rules are
checked (`cix.federation.visit.check_request`: lead time in the host's working days unless
an emergency, the kind's maximum days, the clearance) and the "visit-request" is queued
through the outbox, `sent`, in one audited commit. At the host's node (CAN) the inbox hands
it to `on_request`, which checks the same rules again at arrival and stores it `sent`. The
host's NSA officer `approve`s (with conditions: the grant, bounded by days, facility and
level), `deny`s, or later `revoke`s an approval; each answer is signed by the host node
and queued back as a "visit-answer", which `on_answer` verifies under the host's pinned key
and stores at the requester. Every step is audited at the node that takes it and at the
node that receives it; the visitor's personal data is never in an audit record.
docs/procedures.md has the state diagram.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cix.agreements import Agreement
from cix.errors import InputError
from cix.federation import Message
from cix.federation.visit import (
    ANSWER_TYPE,
    VisitAnswer,
    VisitKind,
    Visitor,
    VisitRefused,
    VisitRequest,
    answer_of,
    check_request,
    read_answer,
    request_from_json,
    sign_answer,
)
from cix.node.auditing import AuditSink, audited_write
from cix.node.errors import Conflict, KeysLocked, NotFound
from cix.node.exchange.consent_rows import pinned_peer
from cix.node.exchange.consents import ConsentMessageRefused, Enqueue, Reply
from cix.node.exchange.visit_rows import VisitInfo, info_of, step, visit_event
from cix.node.refusals import Refusals
from cix.node.register import new_id
from cix.node.roles import Actor, Role
from cix.store.db import Database
from cix.store.models import PeerRow, VisitRow

REQUEST_KIND = "visit-request"
ANSWER_KIND = "visit-answer"

DRAFTERS = (Role.FSO, Role.NSA_OFFICER)
SENDERS = (Role.NSA_OFFICER,)
ANSWERERS = (Role.NSA_OFFICER,)
READERS = (Role.NSA_OFFICER, Role.FSO, Role.AUDITOR)
_MAX_TEXT = 2000
#: The transitions an answer makes at the requester: (state before, decision) → state.
_ANSWERED = {
    ("sent", "approved"): "approved",
    ("sent", "denied"): "denied",
    ("approved", "revoked"): "revoked",
}


class VisitMessageRefused(ConsentMessageRefused):
    """A visit handler refuses a verified message: the inbox answers and audits `code`
    (a kind of the consent handlers' refusal, so that their inbox adapter serves both)."""


class Visits:
    """The visits workflow of one node (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        audit: AuditSink,
        *,
        party: str,
        node_id: str,
        agreements: dict[str, Agreement],
        keys: Any,
        clock: Callable[[], datetime],
        enqueue: Enqueue | None = None,
    ) -> None:
        self.db = db
        self.audit = audit
        self.party = party
        self.node_id = node_id
        self.agreements = agreements
        self._keys = keys
        self.clock = clock
        self.enqueue: Enqueue = enqueue or _outbox_enqueue
        self.refusals = Refusals(audit, clock)

    # -- the visiting party's node ---------------------------------------------------

    def draft(
        self,
        actor: Actor,
        *,
        agreement: str,
        kind: VisitKind,
        host_party: str,
        visitor: dict[str, Any],
        contract: str,
        first_day: date,
        last_day: date,
        purpose: str,
        host_contact: str,
        facility: str,
        highest_level: str,
    ) -> VisitInfo:
        """Draft a request for visit to `host_party`'s authority (an FSO or the NSA officer):
        stored `drafted`, audited; nothing is sent. `InputError` naming the rule if it
        breaks one the lead time aside (checked when sent), or if no node of the host is
        pinned here under `agreement`."""
        self.refusals.require(actor, DRAFTERS, "visit", "visits", "draft")
        now = self.clock()
        held = self._agreement(agreement)
        visit_id = new_id(now)
        with audited_write(self.db, self.audit) as (session, group):
            host_node = self._host_node(session, held, host_party)
            try:
                req = VisitRequest(
                    visit_id=visit_id,
                    agreement=held.id,
                    kind=kind,
                    requester_node=self.node_id,
                    requester_party=self.party,
                    host_party=host_party,
                    visitor=Visitor.model_validate_json(_json(visitor)),
                    contract=contract,
                    first_day=first_day,
                    last_day=last_day,
                    purpose=purpose,
                    host_contact=host_contact,
                    facility=facility,
                    highest_level=highest_level,
                    drafted_by=actor.id,
                    confirmed_by=actor.id,  # replaced by the sending officer
                )
                check_request(req, held, sent_at=now, lead_time=False)
            except ValidationError as exc:
                raise InputError(f"visit: {_field_error(exc)}") from None
            except VisitRefused as exc:
                raise InputError(f"visit refused ({exc.reason.value}): {exc.detail}") from None
            row = _row_of(req, side="requester", host_node=host_node, now=now)
            step(row, "draft", actor.id, now)
            session.add(row)
            session.flush()
            group.append([visit_event(actor.id, visit_id, "draft", now, details=_summary(req))])
            return info_of(row, self._host_day(row, now), detail=True)

    def send(self, actor: Actor, visit_id: str) -> VisitInfo:
        """Send a drafted request to the host's node (the NSA officer, confirming the
        visitor and the clearance as the sending authority): the rules are checked at this
        instant, the lead time in the host's working days (`InputError` naming the rule;
        nothing changes), then the "visit-request" is queued and the visit is `sent`."""
        obj = f"visit:{visit_id}"
        self.refusals.require(actor, SENDERS, "visit", obj, "send")
        now = self.clock()
        with audited_write(self.db, self.audit) as (session, group):
            row = session.get(VisitRow, visit_id)
            if row is None or row.side != "requester":
                raise NotFound(f"no visit {visit_id!r} drafted here")
            if row.state != "drafted":
                raise Conflict(f"visit {visit_id} is already {row.state}")
            held = self._agreement(row.agreement)
            req = VisitRequest.model_validate_json(_json({**row.request, "confirmed_by": actor.id}))
            try:
                check_request(req, held, sent_at=now)
            except VisitRefused as exc:
                self.refusals.record(
                    actor, "visit", obj, "send", decision="deny", reasons=(exc.reason.value,)
                )
                raise InputError(f"visit refused ({exc.reason.value}): {exc.detail}") from None
            row.request = req.to_json()
            row.digest = req.digest()
            row.state = "sent"
            row.sent_by = actor.id
            row.sent_at = now
            message_id = self.enqueue(
                session,
                peer=row.host_node,
                kind=REQUEST_KIND,
                agreement=row.agreement,
                body=req.to_json(),
                now=now,
            )
            step(row, "send", actor.id, now, message=message_id)
            session.flush()
            group.append(
                [
                    visit_event(
                        actor.id,
                        visit_id,
                        "send",
                        now,
                        details={**_summary(req), "to_node": row.host_node, "message": message_id},
                    )
                ]
            )
            return info_of(row, self._host_day(row, now), detail=True)

    def on_answer(self, session: Session, message: Message, body_path: Path | None) -> Reply:
        """The inbox handler of "visit-answer" (this node asked): verify the answer under
        the host's pinned key, check it answers exactly the request sent, move the visit
        (sent → approved/denied, approved → revoked) and keep the signed answer. A replayed
        answer (the one already stored) gets the same reply and changes nothing; any other
        answer out of turn is refused."""
        body = message.body
        now = self.clock()
        visit_id = body.get("visit_id") if isinstance(body, dict) else None
        obj = f"visit:{visit_id}"
        if (
            not isinstance(body, dict)
            or set(body) != {"type", "visit_id", "answer"}
            or body["type"] != ANSWER_TYPE
        ):
            raise _refuse(message, obj, 400, "visit-malformed")
        row = session.get(VisitRow, visit_id) if isinstance(visit_id, str) else None
        if row is None or row.side != "requester":
            raise _refuse(message, obj, 404, "visit-unknown")
        if message.sender != row.host_node:
            raise _refuse(message, obj, 403, "visit-answer-not-from-host")
        found = pinned_peer(session, message.sender)
        token = body["answer"]
        if found is None or not isinstance(token, str):
            raise _refuse(message, obj, 400, "visit-malformed")
        try:
            answer = read_answer(token, host_key=found[0].identity.signing_key)
        except VisitRefused as exc:
            raise _refuse(message, obj, 422, exc.reason.value) from None
        if (
            answer.visit_id != row.id
            or answer.requester_node != self.node_id
            or answer.host_node != row.host_node
            or answer.host_party != row.host_party
            or answer.request_digest != row.digest
        ):
            raise _refuse(message, obj, 422, "visit-answer-mismatch")
        if token in (row.answer, row.approval):  # a replay: the same reply, no change
            return Reply(200, {"visit_id": row.id, "state": row.state})
        after = _ANSWERED.get((row.state, answer.decision))
        if after is None:
            raise _refuse(message, obj, 409, "visit-answer-out-of-turn")
        self._take_answer(row, answer, token, message.sender, now)
        step(row, f"receive-{answer.decision}", message.sender, now, message=message.message_id)
        session.flush()
        event = visit_event(
            message.sender,
            row.id,
            f"receive-{answer.decision}",
            now,
            details={"state": row.state, "message": message.message_id},
        )
        return Reply(200, {"visit_id": row.id, "state": row.state}, (event,))

    # -- the host's node -------------------------------------------------------------

    def on_request(self, session: Session, message: Message, body_path: Path | None) -> Reply:
        """The inbox handler of "visit-request": check it comes from its requester, is for
        this party, under the message's agreement, and keeps the agreement's rules at
        arrival (the lead time in this party's working days unless an emergency); store it
        `sent` for the NSA officer. The same request again gets the same reply."""
        now = self.clock()
        try:
            req = request_from_json(message.body)
        except VisitRefused as exc:
            raise _refuse(message, "visit:", 400, exc.reason.value) from None
        obj = f"visit:{req.visit_id}"
        if req.requester_node != message.sender:
            raise _refuse(message, obj, 403, "visit-request-not-from-requester")
        found = pinned_peer(session, message.sender)
        if found is None or found[0].identity.party != req.requester_party:
            raise _refuse(message, obj, 403, "visit-request-not-from-requester")
        if req.host_party != self.party or req.agreement != message.agreement:
            raise _refuse(message, obj, 404, "visit-not-for-this-node")
        existing = session.get(VisitRow, req.visit_id)
        if existing is not None:
            if existing.side == "host" and existing.digest == req.digest():
                return Reply(202, {"visit_id": existing.id, "state": existing.state})
            raise _refuse(message, obj, 409, "visit-id-taken")
        held = self.agreements.get(req.agreement)
        if held is None:
            raise _refuse(message, obj, 404, "visit-not-for-this-node")
        try:
            check_request(req, held, sent_at=now)
        except VisitRefused as exc:
            raise _refuse(message, obj, 422, exc.reason.value) from None
        row = _row_of(req, side="host", host_node=self.node_id, now=now)
        row.state = "sent"
        row.sent_by = req.confirmed_by
        row.sent_at = now
        row.digest = req.digest()
        step(row, "receive-request", message.sender, now, message=message.message_id)
        session.add(row)
        session.flush()
        event = visit_event(
            message.sender,
            row.id,
            "receive-request",
            now,
            details={**_summary(req), "message": message.message_id},
        )
        return Reply(202, {"visit_id": row.id, "state": "sent"}, (event,))

    def approve(self, actor: Actor, visit_id: str, *, conditions: str | None = None) -> VisitInfo:
        """Approve a request made to this node (the NSA officer), with `conditions`: the
        grant (its days, facility and level are the request's) is signed and sent back."""
        return self._answer(actor, visit_id, "approved", conditions)

    def deny(self, actor: Actor, visit_id: str, *, reason: str | None = None) -> VisitInfo:
        """Deny a request made to this node (the NSA officer): a signed denial goes back."""
        return self._answer(actor, visit_id, "denied", reason)

    def revoke(self, actor: Actor, visit_id: str, *, reason: str | None = None) -> VisitInfo:
        """Revoke an approved visit (the host's NSA officer): the grant ends at once and a
        signed revocation goes back to the requester."""
        return self._answer(actor, visit_id, "revoked", reason)

    def _answer(
        self,
        actor: Actor,
        visit_id: str,
        decision: Literal["approved", "denied", "revoked"],
        words: str | None,
    ) -> VisitInfo:
        action = {"approved": "approve", "denied": "deny", "revoked": "revoke"}[decision]
        obj = f"visit:{visit_id}"
        self.refusals.require(actor, ANSWERERS, "visit", obj, action)
        if self._keys is None:
            raise KeysLocked("the node's keys are locked: open it with the passphrase")
        if words is not None:
            words = _words(words, "conditions" if decision == "approved" else "reason")
        now = self.clock()
        with audited_write(self.db, self.audit) as (session, group):
            row = session.get(VisitRow, visit_id)
            if row is None or row.side != "host":
                raise NotFound(f"no request for visit {visit_id!r} to this node")
            before = "approved" if decision == "revoked" else "sent"
            if row.state != before:
                raise Conflict(f"visit {visit_id} is {row.state}: it cannot be {decision}")
            if decision == "approved" and date.fromisoformat(row.last_day) < self._host_day(
                row, now
            ):
                # A grant for days already past would be a grant for nothing (review).
                raise Conflict(f"visit {visit_id}: its last day {row.last_day} has passed")
            req = VisitRequest.model_validate_json(_json(row.request))
            answer = answer_of(
                req, decision=decision, host_node=self.node_id, conditions=words, issued_at=now
            )
            token = sign_answer(answer, self._keys.signing)
            self._take_answer(row, answer, token, actor.id, now)
            message_id = self.enqueue(
                session,
                peer=row.requester_node,
                kind=ANSWER_KIND,
                agreement=row.agreement,
                body={"type": ANSWER_TYPE, "visit_id": row.id, "answer": token},
                now=now,
            )
            step(row, action, actor.id, now, message=message_id)
            session.flush()
            group.append(
                [
                    visit_event(
                        actor.id,
                        row.id,
                        action,
                        now,
                        details={
                            "requester": row.requester_node,
                            "first_day": row.first_day,
                            "last_day": row.last_day,
                            "facility": row.facility,
                            "highest_level": row.highest_level,
                            "conditions": words,
                            "message": message_id,
                        },
                    )
                ]
            )
            return info_of(row, self._host_day(row, now), detail=True)

    # -- both sides ------------------------------------------------------------------

    def list(
        self,
        actor: Actor,
        *,
        state: str | None = None,
        kind: str | None = None,
        side: str | None = None,
        party: str | None = None,
        waiting_on: str | None = None,
    ) -> list[VisitInfo]:
        """Every visit held here that `actor` may see, newest first, filtered by `state`
        (as shown: `expired` included), `kind`, `side`, the other `party` and whom the next
        step `waiting_on` (`requester` or `host`: the queue of what waits on whom). An NSA officer
        or an auditor sees all; an FSO the requests they drafted."""
        self.refusals.require(actor, READERS, "visit", "visits", "list")
        now = self.clock()
        with self.db.read() as session:
            rows = session.scalars(select(VisitRow).order_by(VisitRow.id.desc())).all()
            infos = [info_of(row, self._host_day(row, now)) for row in rows if _may_see(actor, row)]
        return [
            i
            for i in infos
            if (state is None or i.state == state)
            and (kind is None or i.kind == kind)
            and (side is None or i.side == side)
            and (party is None or party in (i.requester_party, i.host_party))
            and (waiting_on is None or i.waiting_on == waiting_on)
        ]

    def show(self, actor: Actor, visit_id: str) -> VisitInfo:
        """One visit with its request, the host's signed answer and its history;
        `NotFound` if this node holds none of that id the actor may see."""
        self.refusals.require(actor, READERS, "visit", f"visit:{visit_id}", "show")
        with self.db.read() as session:
            row = session.get(VisitRow, visit_id)
            if row is None or not _may_see(actor, row):
                raise NotFound(f"no visit {visit_id!r}")
            return info_of(row, self._host_day(row, self.clock()), detail=True)

    # -- helpers ---------------------------------------------------------------------

    def _take_answer(
        self, row: VisitRow, answer: VisitAnswer, token: str, by: str, now: datetime
    ) -> None:
        row.answer = token
        if answer.decision == "revoked":
            row.state = "revoked"
            row.revoked_at = now
            return
        row.state = answer.decision
        row.conditions = answer.conditions
        row.answered_by = by
        row.answered_at = now
        if answer.decision == "approved":
            row.approval = token

    def _agreement(self, agreement_id: str) -> Agreement:
        held = self.agreements.get(agreement_id)
        if held is None or held.kind != "agreement":
            raise InputError(f"agreement: this node holds no agreement {agreement_id!r}")
        return held

    def _host_node(self, session: Session, agreement: Agreement, host_party: str) -> str:
        rows = session.scalars(select(PeerRow).where(PeerRow.party == host_party)).all()
        for row in sorted(rows, key=lambda r: r.node_id):
            if agreement.id in row.agreements:
                return row.node_id
        raise InputError(f"host_party: no node of {host_party} is pinned here under {agreement.id}")

    def _host_day(self, row: VisitRow, now: datetime) -> date:
        held = self.agreements.get(row.agreement)
        if held is None or row.host_party not in held.calendars:
            return now.date()
        return held.calendar(row.host_party).day_of(now)


def _may_see(actor: Actor, row: VisitRow) -> bool:
    if actor.has(Role.NSA_OFFICER, Role.AUDITOR):
        return True
    return row.side == "requester" and row.drafted_by == actor.id


def _refuse(message: Message, obj: str, status: int, code: str) -> VisitMessageRefused:
    # the inbox audits the refusal with its code and answers it; nothing is stored
    return VisitMessageRefused(code, f"{obj} from {message.sender}", status=status)


def _words(text: str, name: str) -> str:
    if not isinstance(text, str) or not text.strip() or len(text) > _MAX_TEXT:
        raise InputError(f"{name}: 1 to {_MAX_TEXT} characters are required")
    if not text.isprintable():
        raise InputError(f"{name}: control characters are not allowed")
    return text


def _json(value: Any) -> str:
    return json.dumps(value, default=str)


def _outbox_enqueue(session: Session, **kwargs: Any) -> str:
    from cix.node.exchange import outbox

    message_id: str = outbox.enqueue(session, **kwargs)
    return message_id


def _field_error(exc: ValidationError) -> str:
    # the field and the rule, never the value given (it may be personal data)
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc']) or 'visit'}: {error['msg']}"


def _summary(req: VisitRequest) -> dict[str, Any]:
    """What the audit log keeps of a request: no personal data."""
    return {
        "kind": req.kind.value,
        "agreement": req.agreement,
        "host_party": req.host_party,
        "first_day": req.first_day.isoformat(),
        "last_day": req.last_day.isoformat(),
        "facility": req.facility,
        "highest_level": req.highest_level,
    }


def _row_of(req: VisitRequest, *, side: str, host_node: str, now: datetime) -> VisitRow:
    return VisitRow(
        id=req.visit_id,
        side=side,
        state="drafted",
        kind=req.kind.value,
        agreement=req.agreement,
        requester_node=req.requester_node,
        requester_party=req.requester_party,
        host_node=host_node,
        host_party=req.host_party,
        request=req.to_json(),
        digest=None,
        first_day=req.first_day.isoformat(),
        last_day=req.last_day.isoformat(),
        facility=req.facility,
        highest_level=req.highest_level,
        drafted_by=req.drafted_by,
        drafted_at=now,
        history=[],
    )
