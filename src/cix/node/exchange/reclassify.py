"""Classification changes across nations (rule 3: only the originator changes a
classification, and every copy is re-marked; docs/federation.md (classification changes)).

At the originator, `Reclassify.reclassify` (an NSA officer; a copy's holder is refused,
`not-originator`) parses the new label under the document's own agreement, decides it as
the policy's downgrade action (access to the document as it stands, and the originator's
consent, which is its own decision or the approved downgrade request that called it),
relabels the sealed object (`cix.envelope.relabel`: the payload is not re-encrypted),
updates the document row's label columns and keeps a `label_history` row; in the same
commit, with the audit group, it queues one "classification-change" notice per node that
holds a copy (its `transmissions` that were sent or receipted). The notice carries the
originator's one signed `LabelChange`, which binds to every copy of the object and to
nothing else (docs/format.md §7b).

At a holder, `handle_notice` (`cix.node.exchange.remark`) re-marks every copy it received
from the notice's sender and forwards the notice onward.

`on_answer` is the sender's hook: each holder's signed answer, audited.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cix import envelope
from cix.agreements import bundled_registry
from cix.errors import InputError
from cix.federation import Message
from cix.labels import (
    AlternativeLabel,
    Label,
    banner,
    label_from_json,
    parse_any,
    to_4774_xml,
)
from cix.node.auditing import AuditRecord, audited_write
from cix.node.errors import Conflict, DocumentRefused
from cix.node.exchange._changes import CLASSIFICATION_CHANGE, MAX_REASON
from cix.node.exchange.exchange import Exchange
from cix.node.exchange.remark import Remarking
from cix.node.labelbits import LabelBits
from cix.node.register import Register, event
from cix.node.roles import Actor, Role
from cix.node.text import has_control
from cix.policy import Action, decide
from cix.store.blobs import BlobRef
from cix.store.models import LabelHistory, OutboxItem, ReceivedCopy

#: Who may change a classification at the originator (design.md: the NSA officer approves
#: downgrades).
RECLASSIFIERS = (Role.NSA_OFFICER,)


@dataclass(frozen=True)
class Reclassification:
    """What a classification change did at the originator: the document, its new label
    and revision, and the nodes a notice was queued for."""

    document_id: str
    revision: int
    label: Mapping[str, Any]
    banner: str
    notified: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The JSON form the API returns."""
        return {
            "document": self.document_id,
            "revision": self.revision,
            "label": dict(self.label),
            "banner": self.banner,
            "notified": list(self.notified),
        }


@dataclass(frozen=True)
class HistoryEntry:
    """One row of a document's label history."""

    revision: int
    side: str
    previous_label: Mapping[str, Any]
    label: Mapping[str, Any]
    reason: str
    changed_by: str
    changed_at: datetime
    consent_id: str | None
    message_id: str | None

    def to_json(self) -> dict[str, Any]:
        """The JSON form the API returns."""
        return {
            "revision": self.revision,
            "side": self.side,
            "previous_label": dict(self.previous_label),
            "label": dict(self.label),
            "reason": self.reason,
            "changed_by": self.changed_by,
            "changed_at": self.changed_at.isoformat(),
            "consent": self.consent_id,
            "message": self.message_id,
        }


def check_reason(reason: str) -> str:
    """The reason, stripped; `InputError` if it is empty, too long or holds a control
    character other than a line break."""
    if not isinstance(reason, str) or has_control(reason, multiline=True):
        raise InputError("reason: must be text without control characters")
    stripped = reason.strip()
    if not stripped or len(stripped) > MAX_REASON:
        raise InputError(f"reason: a classification change needs a reason (1 to {MAX_REASON})")
    return stripped


def parse_new_label(value: Label | Mapping[str, Any] | str, old: Label) -> Label:
    """The new label of a document labelled `old`, from a `Label`, its JSON form, or text
    (a banner, JSON or 4774 XML) parsed under `old`'s agreement, with `old`'s creation time
    and purpose where the text carries none. `InputError` (naming the rule) unless it is
    under the same policy, of the same originator, keeps the purpose (rule 4: changing the
    purpose is another consent, not a classification change) and differs from `old`."""
    registry = bundled_registry()
    parsed: object
    if isinstance(value, Label):
        parsed = value
    elif isinstance(value, Mapping):
        parsed = label_from_json({"created": old.to_json()["created"], **value}, registry)
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError):
                raise InputError("label: not valid JSON (or nested too deeply)") from None
            if not isinstance(obj, dict):
                raise InputError("label: the JSON form is an object")
            return parse_new_label(obj, old)
        parsed = parse_any(
            text,
            registry=registry,
            agreement=registry.get(old.policy),
            created=old.created,
            purpose=old.purpose,
        )
    else:
        raise InputError("label: give a banner, the label's JSON or its 4774 XML")
    if isinstance(parsed, AlternativeLabel) or not isinstance(parsed, Label):
        raise InputError("label: give the originator's label, not an alternative label")
    if parsed.policy != old.policy:
        raise InputError(f"label: the document is under {old.policy!r}, not {parsed.policy!r}")
    if parsed.originator != old.originator:
        raise InputError(f"label: only the originator {old.originator} labels this document")
    if parsed.purpose != old.purpose:
        raise InputError("label: a classification change keeps the purpose (rule 4)")
    if parsed == old:
        raise InputError("label: the document already has this label")
    return parsed


class Reclassify(Remarking):
    """Classification changes at the originator, and (`Remarking`) at the holders of its
    copies (see the module docstring). Registers the inbox handler and the answer hook of
    "classification-change" on `exchange`."""

    def __init__(self, register: Register, exchange: Exchange, *, bits: LabelBits) -> None:
        super().__init__(register, exchange, bits=bits)
        exchange.inbox.register(CLASSIFICATION_CHANGE, self.handle_notice)
        exchange.delivery.on_answer(CLASSIFICATION_CHANGE, self.on_answer)

    # -- at the originator -------------------------------------------------------------

    def reclassify(
        self,
        actor: Actor,
        doc_id: str,
        *,
        new_label: Label | Mapping[str, Any] | str,
        reason: str,
        consent: str | None = None,
    ) -> Reclassification:
        """Change the classification of this node's own document `doc_id` (see the module
        docstring). `consent` names the approved downgrade request that asks for it (the
        consent workflow calls this on approval); without it the change is the
        originator's own decision. Raises `Forbidden` (role), `DocumentRefused`
        (`not-originator` for a copy or another party's document, or the decision's
        reasons), `InputError` for a label or reason that cannot be, `NotFound`, and
        `Conflict` if the document changed meanwhile."""
        reg = self.reg
        now = reg.clock()
        obj = f"document:{doc_id}"
        reg.require_role(actor, RECLASSIFIERS, "reclassify", obj)
        reason = check_reason(reason)
        with reg.db.read() as session:
            row = reg.live(session, doc_id)
            is_copy = session.get(ReceivedCopy, doc_id) is not None
            old = reg.label_of(row)
            blob = row.blob_hash
        if is_copy or old.originator != reg.party or blob is None:
            # Rule 3: only the originator changes a classification; a holder asks it.
            reg.audit.append(
                event(actor, "reclassify", obj, denied_reason="not-originator", now=now)
            )
            raise DocumentRefused("not-originator")
        label = parse_new_label(new_label, old)
        subject = reg.registry.subject_for(actor.id, now)
        decision = decide(
            subject,
            old,
            Action.DOWNGRADE,
            agreements=reg.policies,
            now=now,
            consent=consent or f"originator:{actor.id}",
        )
        details = {"from": old.to_json(), "to": label.to_json(), "reason": reason}
        if consent is not None:
            details["consent"] = consent
        decided = event(actor, "reclassify", obj, decision=decision, now=now, details=details)
        if not decision.permit:
            reg.audit.append(decided)
            raise DocumentRefused(*sorted(decision.codes))
        keys = reg.keys()
        ref, change = self._relabel(actor, obj, blob, label, now)
        try:
            with audited_write(reg.db, reg.audit) as (session, group):
                row = reg.live(session, doc_id)
                if row.blob_hash != blob:
                    raise Conflict("the document changed meanwhile: try again")
                self.set_label(session, row, label, ref)
                session.add(
                    LabelHistory(
                        document_id=doc_id,
                        revision=change.revision,
                        side="originator",
                        originator_document_id=doc_id,
                        previous_label=old.to_json(),
                        label=label.to_json(),
                        reason=reason,
                        changed_by=actor.id,
                        changed_at=now,
                        consent_id=consent,
                        message_id=None,
                        previous_blob=blob,
                        blob=ref.sha256,
                    )
                )
                body = {
                    "document": doc_id,
                    "originator_party": reg.party,
                    "revision": change.revision,
                    "change": change.to_json(),
                    "reason": reason,
                    "changed_at": now.isoformat(),
                }
                notified = self.queue_notices(session, doc_id, body, now)
                session.flush()
                changed = event(
                    actor,
                    "relabel",
                    obj,
                    now=now,
                    details={
                        "revision": change.revision,
                        "blob": ref.sha256,
                        "previous_blob": blob,
                        "notified": notified,
                        "signer": keys.signing.kid,
                    },
                )
                group.append([decided, changed])
        except BaseException:
            reg.blobs.delete(ref.sha256)
            raise
        self.exchange.delivery.wake()
        agreement = reg.agreements[label.policy]
        return Reclassification(
            doc_id, change.revision, label.to_json(), banner(label, agreement), tuple(notified)
        )

    def _relabel(
        self, actor: Actor, obj: str, blob: str, label: Label, now: datetime
    ) -> tuple[BlobRef, envelope.LabelChange]:
        """Relabel the stored object `blob` under `label`; the new blob and the change. A
        stored object that does not verify is refused, audited (our storage's integrity)."""
        reg = self.reg
        keys = reg.keys()
        writer = reg.blobs.writer(limit=None)
        try:
            with reg.blobs.open(blob) as src:
                change = envelope.relabel(
                    src,
                    writer,  # type: ignore[arg-type]  # a write-only file-like sink
                    private_key=keys.kem,
                    trusted_signers=self.trusted(),
                    label_xml=to_4774_xml(label, bundled_registry()),
                    label_json=label.to_json(),
                    signer=keys.signing,
                )
            ref = writer.commit()
        except envelope.ObjectRefused as exc:
            writer.abort()
            reg.audit.append(
                event(
                    actor,
                    "relabel",
                    obj,
                    denied_reason=exc.reason.value,
                    now=now,
                    details={"detail": exc.detail[:300]},
                )
            )
            raise DocumentRefused(exc.reason.value) from None
        except BaseException:
            writer.abort()
            raise
        return ref, change

    # -- the sender's side of the answer -----------------------------------------------

    def on_answer(self, session: Session, item: OutboxItem, answer: Message) -> list[AuditRecord]:
        """The delivery hook of "classification-change": the holder's signed answer (its
        receipt of the notice, or its refusal code), audited at the sender."""
        status = answer.body.get("status")
        permit = isinstance(status, int) and 200 <= status < 300
        refused = answer.body.get("refused")
        return [
            AuditRecord(
                type="document",
                actor=item.peer,
                object=f"document:{item.body.get('document')}",
                action="reclassify-receipt",
                decision="permit" if permit else "deny",
                time=self.reg.clock(),
                reasons=() if permit else (str(refused or f"status-{status}"),),
                details={
                    "peer": item.peer,
                    "message": item.message_id,
                    "revision": item.body.get("revision"),
                    "state": answer.body.get("state"),
                    "copies": answer.body.get("copies"),
                    "receipt": answer.message_id,
                },
            )
        ]

    # -- reading -----------------------------------------------------------------------

    def history(self, actor: Actor, doc_id: str) -> Sequence[HistoryEntry]:
        """The label history of a document the actor may read, oldest first."""
        reg = self.reg
        now = reg.clock()
        subject = reg.registry.subject_for(actor.id, now)
        with reg.db.read() as session:
            row = reg.live(session, doc_id)
            reg.decide(actor, subject, reg.label_of(row), Action.READ, f"document:{doc_id}",
                       now, details={"what": "label-history"})  # fmt: skip
            rows = session.scalars(
                select(LabelHistory)
                .where(LabelHistory.document_id == doc_id)
                .order_by(LabelHistory.revision)
            )
            return [
                HistoryEntry(
                    h.revision,
                    h.side,
                    h.previous_label,
                    h.label,
                    h.reason,
                    h.changed_by,
                    h.changed_at,
                    h.consent_id,
                    h.message_id,
                )
                for h in rows
            ]
