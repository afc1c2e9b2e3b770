"""The inbox: the gate every federation message passes, and the answers it gives.

`Inbox.receive(token, url=..., body=...)` verifies the message (`cix.federation.
verify_message`: a pinned sender, its signature, this node as audience, the route it
arrived at, an agreement held here and pinned for that peer, the clock-skew bound), then
looks its message id up in `federation_inbox`, which is kept for good:

- seen before (the same sender, kind, agreement and body): the stored answer is returned,
  byte for byte, and nothing else happens (a replay registers nothing twice);
- seen before with other content: refused, `message-id-reused`;
- new: the handler registered for its kind runs inside one write transaction that also
  stores the message and the signed answer, and appends the audit group just before the
  commit (`audited_write`). A crash leaves either nothing (the sender retries) or both.

Refusals never store the message (a corrected resend is judged afresh); they are audited
with their code as the reason. When the sender's signature verified, the refusal is a
signed answer like any other (status 4xx, body `{"refused": code}`), so the sender can
record the peer's code; when it did not (an unknown sender, a bad signature, a token that
is not one), the answer is an unsigned problem (401 or 400) that the sender cannot take
for ours and only retries. Nothing a peer sends makes the inbox answer 5xx: a handler's
`InputError` on the body is a 400 refusal.

Every answer is itself a message (kind "answer", audience the sender, the same route,
body `{"in_reply_to": <message id>, "status": <int>, **answer.body}`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cix.errors import InputError, PeerError, StorageError
from cix.federation import (
    Message,
    MessageRefusal,
    MessageRefused,
    PinnedPeer,
    canonical_json,
    new_message_id,
    peek_sender,
    sign_message,
    verify_message,
)
from cix.federation.canonical import unb64url
from cix.keys import SigningKey
from cix.node.auditing import AuditRecord, AuditSink, audited_write
from cix.store.db import Database
from cix.store.models import InboxMessage

ANSWER_KIND = "answer"
"""The kind of every answer: a message in reply to another (`body.in_reply_to`)."""


@dataclass(frozen=True)
class Answer:
    """What a handler answers: the HTTP status and the body of the signed answer.

    `events` are the handler's audit entries, appended with the inbox's own in the group
    of the write that stores the message (so they are in the log exactly when it is)."""

    status: int
    body: dict[str, Any]
    events: tuple[AuditRecord, ...] = field(default=())


Handler = Callable[[Session, Message, Path | None], Answer]
"""Handles one kind of message inside the inbox's write transaction; the Path is the
received body file (documents) or None. Raise `ContentRefused` to refuse it."""

Prepare = Callable[[Message, Path | None], Path | None]
"""Optional work of a kind before the write transaction (what needs no database lock: a
large object's verification); returns the body file the handler is then given. Raise
`ContentRefused` to refuse the message."""


class ContentRefused(PeerError):
    """A handler refuses a verified message for what it carries (a tampered object, a
    label it may not hold...): `code` is answered and audited, nothing is stored."""

    def __init__(self, code: str, detail: str = "", *, status: int = 422) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        if not 400 <= status < 500:
            raise ValueError("a refusal is answered with a 4xx status")
        self.code = code
        self.detail = detail or code
        self.status = status


@dataclass(frozen=True)
class Reply:
    """What the route sends back: `status`, and the signed answer `token`
    (application/jose) or, for a sender whose signature did not verify, no token and
    `detail` for an unsigned problem."""

    status: int
    token: str | None
    detail: str = ""


#: The refusals after which the sender is known (its signature verified): answered signed.
_SIGNED_REFUSALS = frozenset(
    {
        MessageRefusal.WRONG_AUDIENCE,
        MessageRefusal.WRONG_TARGET,
        MessageRefusal.AGREEMENT_NOT_HELD,
        MessageRefusal.NOT_PEERED_UNDER_AGREEMENT,
        MessageRefusal.CLOCK_SKEW,
        MessageRefusal.MESSAGE_ID_REUSED,
    }
)
_STATUS = {
    MessageRefusal.MALFORMED: 400,
    MessageRefusal.UNKNOWN_SENDER: 401,
    MessageRefusal.SIGNATURE_INVALID: 401,
    MessageRefusal.MESSAGE_ID_REUSED: 409,
}


class Inbox:
    """Receives federation messages (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        audit: AuditSink,
        *,
        node_id: str,
        signer: Callable[[], SigningKey],
        peer: Callable[[str], PinnedPeer | None],
        agreements: Collection[str],
        clock: Callable[[], datetime],
        max_skew: timedelta,
    ) -> None:
        self.db = db
        self.audit = audit
        self.node_id = node_id
        self._signer = signer
        self._peer = peer
        self._agreements = frozenset(agreements)
        self._clock = clock
        self._max_skew = max_skew
        self._handlers: dict[str, Handler] = {}
        self._prepares: dict[str, Prepare] = {}
        self.on_received: Callable[[Message], None] | None = None
        """Told each new message once its handler's write committed (witnessing's cue to
        exchange checkpoints with the sender, `cix.node.exchange.cosigning`)."""

    def register(self, kind: str, handler: Handler, *, prepare: Prepare | None = None) -> None:
        """Route messages of `kind` to `handler` (one handler per kind); `prepare`, if
        given, runs first, outside the transaction, for a message not seen before."""
        if kind in self._handlers:
            raise ValueError(f"a handler for {kind!r} is already registered")
        self._handlers[kind] = handler
        if prepare is not None:
            self._prepares[kind] = prepare

    def receive(self, token: str, *, url: str, body: Path | None = None) -> Reply:
        """Verify, deduplicate and handle one message received at route `url`."""
        now = self._clock()
        try:
            message = verify_message(
                token,
                peer=self._peer,
                audience=self.node_id,
                url=url,
                held_agreements=self._agreements,
                now=now,
                max_skew=self._max_skew,
            )
        except MessageRefused as refused:
            return self._refuse_unverified(token, url, refused, now)
        try:
            return self._handle(message, url, body, now)
        except ContentRefused as refused:
            return self._refuse(message, url, refused.code, refused.detail, refused.status, now)
        except MessageRefused as refused:
            status = _STATUS.get(refused.reason, 403)
            return self._refuse(message, url, refused.reason.value, refused.detail, status, now)

    # -- the message itself ------------------------------------------------------------

    def _handle(self, message: Message, url: str, body: Path | None, now: datetime) -> Reply:
        stored = self._stored(message)
        if stored is not None:
            return stored
        handler = self._handlers.get(message.kind)
        if handler is None:
            raise ContentRefused("unknown-kind", f"no handler for {message.kind!r}", status=400)
        prepare = self._prepares.get(message.kind)
        if prepare is not None:
            try:
                body = prepare(message, body)
            except InputError as exc:  # the peer's body, not our fault: never a 5xx
                raise ContentRefused("malformed-body", str(exc), status=400) from None
        try:
            with audited_write(self.db, self.audit) as (session, group):
                if session.get(InboxMessage, message.message_id) is not None:
                    raise _SeenMeanwhile()
                try:
                    answer = handler(session, message, body)
                except InputError as exc:  # the peer's body, not our fault: never a 5xx
                    raise ContentRefused("malformed-body", str(exc), status=400) from None
                answer_token = self._sign_answer(message, url, answer.status, answer.body, now)
                session.add(
                    InboxMessage(
                        message_id=message.message_id,
                        sender=message.sender,
                        kind=message.kind,
                        agreement=message.agreement,
                        message=message.token,
                        answer_status=answer.status,
                        answer=answer_token,
                        received_at=now,
                    )
                )
                session.flush()
                group.append([self._event(message, "permit", (), now), *answer.events])
        except (_SeenMeanwhile, IntegrityError, StorageError):
            # Another delivery of the same message committed first (concurrent workers):
            # its answer is the answer. Anything else is re-raised.
            stored = self._stored(message)
            if stored is None:
                raise
            return stored
        if self.on_received is not None:
            self.on_received(message)
        return Reply(answer.status, answer_token)

    def _stored(self, message: Message) -> Reply | None:
        """The stored answer of an earlier delivery of `message`, if any."""
        with self.db.read() as session:
            row = session.get(InboxMessage, message.message_id)
            if row is None:
                return None
            if row.sender != message.sender or not _same_content(row.message, message):
                raise MessageRefused(
                    MessageRefusal.MESSAGE_ID_REUSED,
                    "a message with this id and other content was received before",
                )
            return Reply(row.answer_status, row.answer)

    def _sign_answer(
        self, message: Message, url: str, status: int, body: dict[str, Any], now: datetime
    ) -> str:
        return sign_message(
            self._signer(),
            sender=self.node_id,
            audience=message.sender,
            url=url,
            agreement=message.agreement,
            kind=ANSWER_KIND,
            body={**body, "in_reply_to": message.message_id, "status": status},
            message_id=new_message_id(),
            issued_at=now,
        )

    # -- refusals ----------------------------------------------------------------------

    def _refuse(
        self, message: Message, url: str, code: str, detail: str, status: int, now: datetime
    ) -> Reply:
        self.audit.append(self._event(message, "deny", (code,), now, detail=detail))
        token = self._sign_answer(message, url, status, {"refused": code}, now)
        return Reply(status, token)

    def _refuse_unverified(
        self, token: str, url: str, refused: MessageRefused, now: datetime
    ) -> Reply:
        status = _STATUS.get(refused.reason, 403)
        claims = _claims(token) if refused.reason in _SIGNED_REFUSALS else None
        sender = peek_sender(token) or "unknown"
        message_id = claims.get("jti") if claims else None
        self.audit.append(
            AuditRecord(
                type="federation",
                actor=sender,
                object=f"message:{message_id if isinstance(message_id, str) else 'unknown'}",
                action="receive",
                decision="deny",
                time=now,
                reasons=(refused.reason.value,),
                details={"url": url[:200], "detail": refused.detail[:500]},
            )
        )
        if claims is None:
            return Reply(status, None, f"refused: {refused.reason.value}")
        # The signature verified, so the claims are the sender's: answer it signed.
        answer = sign_message(
            self._signer(),
            sender=self.node_id,
            audience=claims["iss"],
            url=url,
            agreement=claims["agreement"],
            kind=ANSWER_KIND,
            body={
                "in_reply_to": claims["jti"],
                "status": status,
                "refused": refused.reason.value,
            },
            message_id=new_message_id(),
            issued_at=now,
        )
        return Reply(status, answer)

    def _event(
        self,
        message: Message,
        decision: str,
        reasons: tuple[str, ...],
        now: datetime,
        *,
        detail: str = "",
    ) -> AuditRecord:
        details: dict[str, Any] = {"kind": message.kind, "agreement": message.agreement}
        if detail:
            details["detail"] = detail[:500]
        return AuditRecord(
            type="federation",
            actor=message.sender,
            object=f"message:{message.message_id}",
            action="receive",
            decision=decision,
            time=now,
            reasons=reasons,
            details=details,
        )


class _SeenMeanwhile(Exception):
    """The message was stored by a concurrent delivery between the look-up and the write."""


def _claims(token: str) -> dict[str, Any] | None:
    """The claims of a token whose signature has verified (only then are they the
    sender's)."""
    try:
        claims = json.loads(unb64url(token.split(".")[1]))
    except (ValueError, IndexError):
        return None
    return claims if isinstance(claims, dict) else None


def _same_content(stored_token: str, message: Message) -> bool:
    """Whether the stored message and `message` say the same (a resend signs afresh: the
    issue time differs, nothing else may)."""
    stored = _claims(stored_token)
    if stored is None:
        return False
    return (
        stored.get("kind") == message.kind
        and stored.get("agreement") == message.agreement
        and stored.get("aud") == message.audience
        and stored.get("url") == message.url
        and canonical_json(stored.get("body")) == canonical_json(message.body)
    )
