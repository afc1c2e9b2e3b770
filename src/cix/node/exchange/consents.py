"""The originator's consent across nodes (rules 2-4): request, answer, use, and the chain.

At the requesting node (CAN, holding a received copy of KOR's document): `request` stores a
consent `requested` and queues a "consent-request" to the originator's node, in one audited
commit. At the originator's node (KOR): the inbox hands the message to `on_request`, which
stores it `requested`; the NSA officer sees it (`list`, `show`) and `approve`s or `deny`s
it: the statement is signed with the node's key and queued back as a "consent-answer". At
CAN again `on_answer` verifies the statement against KOR's pinned key and stores it
(`approved` or `denied`).

Transmit asks `permit_for` for a stored, verified consent permitting exactly that release,
decides with it (`transmit_action`), marks it `used` (`use`, one consent permits one act)
and adds `chain_for` to the transmission body. The receiving third party (DEU) calls
`accept_chain` before it registers the copy. docs/federation.md (consents) has the states.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cix.agreements import Agreement
from cix.errors import InputError, PeerError
from cix.federation import Message
from cix.federation.consent import (
    ConsentAct,
    ConsentRefusal,
    ConsentRefused,
    ConsentRequest,
    answer_request,
    read_statement,
    request_from_json,
    sign_statement,
)
from cix.node.auditing import AuditRecord, AuditSink, audited_write
from cix.node.errors import Conflict, KeysLocked, NotFound
from cix.node.exchange.consent_rows import (
    ConsentInfo,
    consent_event,
    info_of,
    pinned_peer,
    request_of,
)
from cix.node.exchange.consent_use import ConsentUse
from cix.node.refusals import Refusals
from cix.node.register import new_id
from cix.node.roles import Actor, Role
from cix.store.db import Database
from cix.store.models import Consent, Document, ReceivedCopy, Transmission

REQUEST_KIND = "consent-request"
ANSWER_KIND = "consent-answer"
ANSWER_TYPE = "cix-consent-answer/v1"
#: An approval given without an expiry lasts this long; none lasts longer than the maximum.
DEFAULT_VALIDITY = timedelta(days=30)
MAX_VALIDITY = timedelta(days=365)
_MAX_TEXT = 2000

REQUESTERS = (Role.NSA_OFFICER, Role.ORIGINATOR)
READERS = (Role.NSA_OFFICER, Role.ORIGINATOR, Role.AUDITOR)
ANSWERERS = (Role.NSA_OFFICER,)


class Enqueue(Protocol):
    """The outbox's `enqueue` (cix.node.exchange.outbox): a message row in the caller's
    transaction."""

    def __call__(
        self,
        session: Session,
        *,
        peer: str,
        kind: str,
        agreement: str,
        body: dict[str, Any],
        now: datetime,
        blob_hash: str | None = None,
        message_id: str | None = None,
    ) -> str: ...


def _default_enqueue(session: Session, **kwargs: Any) -> str:
    from cix.node.exchange import outbox

    message_id: str = outbox.enqueue(session, **kwargs)
    return message_id


@dataclass(frozen=True)
class Reply:
    """What a consent handler answers a peer's message: the status and body the inbox signs
    into its answer, and the audit records of the write (the inbox's `Answer`)."""

    status: int
    body: dict[str, Any]
    events: tuple[AuditRecord, ...] = ()


class Reclassify(Protocol):
    """The classification change at the originator (`cix.node.exchange.reclassify`), which
    an approved downgrade request calls with its consent."""

    def __call__(
        self,
        actor: Actor,
        doc_id: str,
        *,
        new_label: Any,
        reason: str,
        consent: str | None = None,
    ) -> Any: ...


class ConsentMessageRefused(PeerError):
    """A consent handler refuses a verified message (the inbox's `ContentRefused`): `code`
    is answered and audited by the inbox, nothing is stored."""

    def __init__(self, code: str, detail: str, *, status: int) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.status = status


class Consents(ConsentUse):
    """The consent workflow of one node (see the module docstring); the transmit and
    receive gates (`permit_for`, `use`, `chain_for`, `accept_chain`) are `ConsentUse`'s."""

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
        self.enqueue: Enqueue = enqueue or _default_enqueue
        self.refusals = Refusals(audit, clock)
        self.reclassify: Reclassify | None = None
        """Set by the node: an approved downgrade request changes the classification."""

    # -- the requesting node ---------------------------------------------------------

    def request(
        self,
        actor: Actor,
        document_id: str,
        *,
        act: ConsentAct = ConsentAct.RELEASE,
        to_party: str | None = None,
        purpose: str | None = None,
        new_label: dict[str, Any] | None = None,
        reason: str,
    ) -> ConsentInfo:
        """Ask the originator's node for consent to `act` on the received copy
        `document_id` (this node's id of it): stores the consent `requested` and queues the
        "consent-request" in one audited commit. `NotFound` unless it is a received copy;
        `InputError` if its originator's node is not pinned here or no consent is needed."""
        obj = f"document:{document_id}"
        self.refusals.require(actor, REQUESTERS, "consent", obj, "request")
        reason = _words(reason, "reason")
        now = self.clock()
        consent_id = new_id(now)
        with audited_write(self.db, self.audit) as (session, group):
            copy = session.get(ReceivedCopy, document_id)
            doc = session.get(Document, document_id)
            if copy is None or doc is None or doc.destroyed_at is not None:
                raise NotFound(f"no received copy {document_id!r}")
            found = pinned_peer(session, copy.received_from)
            if found is None or found[0].identity.party != copy.originator_party:
                raise InputError(
                    f"the copy came from {copy.received_from}, not a pinned node of its "
                    f"originator {copy.originator_party}: the request cannot reach it"
                )
            agreement = self.agreements.get(copy.agreement)
            if (
                act is ConsentAct.RELEASE
                and agreement is not None
                and to_party in (agreement.parties)
            ):
                raise InputError(f"{to_party} is a party of {copy.agreement}: no consent needed")
            try:
                req = ConsentRequest(
                    consent_id=consent_id,
                    requester_node=self.node_id,
                    requester_party=self.party,
                    originator_party=copy.originator_party,
                    document_id=copy.originator_document_id,
                    act=act,
                    to_party=to_party,
                    purpose=purpose,
                    new_label=new_label,
                    requested_by=actor.id,
                    reason=reason,
                ).checked()
            except ConsentRefused as exc:
                raise InputError(f"consent request: {exc.detail}") from None
            row = _row_of(req, side="requester", now=now)
            row.originator_node = found[0].identity.node_id
            row.agreement = copy.agreement
            session.add(row)
            message_id = self.enqueue(
                session,
                peer=row.originator_node,
                kind=REQUEST_KIND,
                agreement=copy.agreement,
                body=req.to_json(),
                now=now,
            )
            session.flush()
            group.append(
                [
                    consent_event(
                        actor.id,
                        consent_id,
                        "request",
                        now,
                        details={
                            "document": document_id,
                            "originator_document": req.document_id,
                            "act": act.value,
                            "to_party": to_party,
                            "purpose": purpose,
                            "to_node": row.originator_node,
                            "message": message_id,
                        },
                    )
                ]
            )
            return info_of(row, now)

    def on_answer(self, session: Session, message: Message, body_path: Path | None) -> Reply:
        """The inbox handler of "consent-answer" (this node asked): verify the statement
        under the originator's pinned key, check it answers exactly what was asked, store
        it. Runs in the inbox's write transaction; audited, refusals too."""
        body = message.body
        now = self.clock()
        consent_id = body.get("consent_id") if isinstance(body, dict) else None
        obj = f"consent:{consent_id}"
        if set(body) != {"type", "consent_id", "statement"} or body["type"] != ANSWER_TYPE:
            raise self._refuse_message(message, obj, 400, ConsentRefusal.MALFORMED.value)
        row = session.get(Consent, consent_id) if isinstance(consent_id, str) else None
        if row is None or row.side != "requester":
            raise self._refuse_message(message, obj, 404, "consent-unknown")
        if message.sender != row.originator_node:
            raise self._refuse_message(message, obj, 403, "consent-answer-not-from-originator")
        found = pinned_peer(session, message.sender)
        token = body["statement"]
        try:
            if found is None or not isinstance(token, str):
                raise ConsentRefused(ConsentRefusal.MALFORMED, "no statement or no peer")
            statement = read_statement(token, originator_key=found[0].identity.signing_key)
        except ConsentRefused as exc:
            raise self._refuse_message(message, obj, 422, exc.reason.value) from None
        asked = request_of(row)
        names = (
            statement.consent_id,
            statement.requester_node,
            statement.originator_party,
            statement.originator_node,
            statement.document_id,
            statement.act,
            statement.to_party,
            statement.purpose,
            statement.new_label,
        )
        expected = (
            asked.consent_id,
            self.node_id,
            asked.originator_party,
            row.originator_node,
            asked.document_id,
            asked.act,
            asked.to_party,
            asked.purpose,
            asked.new_label,
        )
        if names != expected:
            raise self._refuse_message(message, obj, 422, "consent-answer-mismatch")
        if row.state != "requested":
            if row.answer == token:  # the same answer again: the same reply
                return Reply(200, {"consent_id": row.id, "state": row.state})
            raise self._refuse_message(message, obj, 409, "consent-already-answered")
        row.state = "approved" if statement.approved else "denied"
        row.answer = token
        row.conditions = statement.conditions
        row.expires_at = statement.expires_at
        row.answered_at = statement.issued_at
        row.answered_by = message.sender
        session.flush()
        received = consent_event(
            message.sender,
            row.id,
            "receive-answer",
            now,
            details={"state": row.state, "message": message.message_id},
        )
        return Reply(200, {"consent_id": row.id, "state": row.state}, (received,))

    # -- the originator's node -------------------------------------------------------

    def on_request(self, session: Session, message: Message, body_path: Path | None) -> Reply:
        """The inbox handler of "consent-request": store the request `requested` for the
        NSA officer, once it is checked to come from its requester, about a live document
        originated here of which that node holds a copy. Audited, refusals too."""
        now = self.clock()
        try:
            req = request_from_json(message.body)
        except ConsentRefused as exc:
            raise self._refuse_message(message, "consent:", 400, exc.reason.value) from None
        obj = f"consent:{req.consent_id}"
        if req.requester_node != message.sender:
            raise self._refuse_message(message, obj, 403, "consent-request-not-from-requester")
        doc = session.get(Document, req.document_id)
        if (
            req.originator_party != self.party
            or doc is None
            or doc.originator != self.party
            or doc.destroyed_at is not None
        ):
            raise self._refuse_message(message, obj, 404, "document-not-originated-here")
        sent = session.scalar(
            select(Transmission.id).where(
                Transmission.document_id == req.document_id,
                Transmission.to_node == message.sender,
                Transmission.state != "refused",
            )
        )
        if sent is None:
            raise self._refuse_message(message, obj, 403, "no-copy-held-by-requester")
        existing = session.get(Consent, req.consent_id)
        if existing is not None:
            if existing.side == "originator" and request_of(existing) == req:
                return Reply(202, {"consent_id": existing.id, "state": existing.state})
            raise self._refuse_message(message, obj, 409, "consent-id-taken")
        row = _row_of(req, side="originator", now=now)
        row.originator_node = self.node_id
        row.agreement = message.agreement
        session.add(row)
        session.flush()
        received = consent_event(
            message.sender,
            row.id,
            "receive-request",
            now,
            details={
                "document": req.document_id,
                "act": req.act.value,
                "to_party": req.to_party,
                "purpose": req.purpose,
                "requested_by": req.requested_by,
                "message": message.message_id,
            },
        )
        return Reply(202, {"consent_id": row.id, "state": "requested"}, (received,))

    def approve(
        self,
        actor: Actor,
        consent_id: str,
        *,
        conditions: str | None = None,
        expires_at: datetime | None = None,
    ) -> ConsentInfo:
        """Approve a request made to this node (the originator): sign the statement with
        the node's key and queue it back as a "consent-answer", audited. Without
        `expires_at` the approval lasts `DEFAULT_VALIDITY`; never more than
        `MAX_VALIDITY`.

        An approved downgrade (or declassification) is the originator's own act (rule 3):
        once the approval is committed, the classification change is made with this
        consent (`reclassify(..., consent=consent_id)`: the document relabelled, every
        holder notified). Its refusals are its own (audited, raised); the approval stands
        then, and the officer can make the change with `cix docs reclassify`."""
        info = self._answer(actor, consent_id, True, conditions, expires_at)
        if info.act == ConsentAct.DOWNGRADE.value and self.reclassify is not None:
            with self.db.read() as session:
                row = session.get(Consent, consent_id)
                assert row is not None  # _answer found it
                document, new_label, reason = row.document_id, row.new_label, row.reason
            self.reclassify(
                actor,
                document,
                new_label=new_label,
                reason=f"downgrade consented ({consent_id}): {reason or 'requested'}"[:_MAX_TEXT],
                consent=consent_id,
            )
        return info

    def deny(self, actor: Actor, consent_id: str, *, conditions: str | None = None) -> ConsentInfo:
        """Deny a request made to this node: a signed denial goes back, audited."""
        return self._answer(actor, consent_id, False, conditions, None)

    def _answer(
        self,
        actor: Actor,
        consent_id: str,
        approved: bool,
        conditions: str | None,
        expires_at: datetime | None,
    ) -> ConsentInfo:
        action = "approve" if approved else "deny"
        obj = f"consent:{consent_id}"
        self.refusals.require(actor, ANSWERERS, "consent", obj, action)
        if self._keys is None:
            raise KeysLocked("the node's keys are locked: open it with the passphrase")
        if conditions is not None:
            conditions = _words(conditions, "conditions")
        now = self.clock()
        if approved:
            expires_at = expires_at or now + DEFAULT_VALIDITY
            if expires_at.tzinfo is None or not now < expires_at <= now + MAX_VALIDITY:
                raise InputError(f"expires: after now and at most {MAX_VALIDITY.days} days on")
        with audited_write(self.db, self.audit) as (session, group):
            row = session.get(Consent, consent_id)
            if row is None or row.side != "originator":
                raise NotFound(f"no consent request {consent_id!r} to this node")
            if row.state != "requested":
                raise Conflict(f"consent {consent_id} is already {row.state}")
            statement = answer_request(
                request_of(row),
                approved=approved,
                originator_node=self.node_id,
                conditions=conditions,
                expires_at=expires_at,
                now=now,
            )
            token = sign_statement(statement, self._keys.signing)
            row.state = "approved" if approved else "denied"
            row.answer = token
            row.conditions = conditions
            row.expires_at = statement.expires_at
            row.answered_by = actor.id
            row.answered_at = now
            message_id = self.enqueue(
                session,
                peer=row.requester_node,
                kind=ANSWER_KIND,
                agreement=row.agreement or "",
                body={"type": ANSWER_TYPE, "consent_id": row.id, "statement": token},
                now=now,
            )
            session.flush()
            group.append(
                [
                    consent_event(
                        actor.id,
                        row.id,
                        action,
                        now,
                        details={
                            "document": row.document_id,
                            "requester": row.requester_node,
                            "conditions": conditions,
                            "expires_at": statement.expires_at,
                            "message": message_id,
                        },
                    )
                ]
            )
            return info_of(row, now)

    # -- both sides ------------------------------------------------------------------

    def list(self, actor: Actor, *, state: str | None = None) -> list[ConsentInfo]:
        """Every consent held here (both sides) that `actor` may see, newest first; with
        `state`, those in it (`expired` as shown: approved, unused, past expiry). An NSA
        officer or an auditor sees all; an originator only the requests they made and the
        requests about documents in their custody (need to know, as for transmissions)."""
        self.refusals.require(actor, READERS, "consent", "consents", "list")
        now = self.clock()
        with self.db.read() as session:
            rows = session.scalars(select(Consent).order_by(Consent.id.desc())).all()
            infos = [info_of(row, now) for row in rows if _may_see(session, actor, row)]
        return [i for i in infos if state is None or i.state == state]

    def show(self, actor: Actor, consent_id: str) -> ConsentInfo:
        """One consent; `NotFound` if this node holds none of that id (or none the actor
        may see: see `list`)."""
        self.refusals.require(actor, READERS, "consent", f"consent:{consent_id}", "show")
        with self.db.read() as session:
            row = session.get(Consent, consent_id)
            if row is None or not _may_see(session, actor, row):
                raise NotFound(f"no consent {consent_id!r}")
            return info_of(row, self.clock())

    # -- helpers ---------------------------------------------------------------------

    def _refuse_message(
        self, message: Message, obj: str, status: int, code: str
    ) -> ConsentMessageRefused:
        # the inbox audits the refusal with its code and answers it; nothing is stored
        return ConsentMessageRefused(code, f"{obj} from {message.sender}", status=status)


def _may_see(session: Session, actor: Actor, row: Consent) -> bool:
    """Whether `actor` may see consent `row` (see `Consents.list`)."""
    if actor.has(Role.NSA_OFFICER, Role.AUDITOR):
        return True
    if row.side == "requester":
        return row.requested_by == actor.id
    doc = session.get(Document, row.document_id)
    return doc is not None and doc.custodian_id == actor.id


def _words(text: str, name: str) -> str:
    if not isinstance(text, str) or not text.strip() or len(text) > _MAX_TEXT:
        raise InputError(f"{name}: 1 to {_MAX_TEXT} characters are required")
    if not text.isprintable():
        raise InputError(f"{name}: control characters are not allowed")
    return text


def _row_of(req: ConsentRequest, *, side: str, now: datetime) -> Consent:
    return Consent(
        id=req.consent_id,
        side=side,
        act=req.act.value,
        document_id=req.document_id,
        originator_party=req.originator_party,
        requester_node=req.requester_node,
        requester_party=req.requester_party,
        to_party=req.to_party,
        purpose=req.purpose,
        new_label=req.new_label,
        requested_by=req.requested_by,
        requested_at=now,
        reason=req.reason,
        state="requested",
    )
