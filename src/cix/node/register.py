"""What every service of the document register shares: its collaborators, the output model of
a document, and the audited decision.

Every access to a document is decided by `cix.policy.decide` on the stored label and audited,
permit or deny; a refusal reaches the caller as one opaque `DocumentRefused` (the reasons are
in the audit record only). The services built on this (`cix.node.documents`: upload, list,
show; `cix.node.opening`: the open admission; `cix.node.procedures`: reproductions,
destruction, incidents) hold a `Register` rather than repeating it.
"""

from __future__ import annotations

import functools
import json
import secrets
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_serializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from cix.agreements import Agreement, bundled_registry
from cix.errors import InputError
from cix.labels import Label, alternative_label, banner, label_from_json
from cix.node.auditing import AuditRecord, AuditSink
from cix.node.errors import DocumentRefused, KeysLocked, LabelRefused, NotFound
from cix.node.refusals import Refusals
from cix.node.registry import PersonnelRegistry
from cix.node.roles import Actor, Role
from cix.policy import Action, Decision, Policies, Subject, decide
from cix.store.blobs import BlobStore
from cix.store.db import Database
from cix.store.models import Document, DocumentSource, ReceivedCopy

Clock = Callable[[], datetime]


_last_stamp = 0
_stamp_lock = threading.Lock()


def new_id(now: datetime) -> str:
    """A 32-hex id that sorts by creation order: a 64-bit stamp (milliseconds << 16, kept
    strictly increasing within the process, so ids made in the same millisecond still sort
    in order) and 64 random bits."""
    global _last_stamp
    with _stamp_lock:
        _last_stamp = max(int(now.timestamp() * 1000) << 16, _last_stamp + 1)
        stamp = _last_stamp
    return f"{stamp:016x}{secrets.token_hex(8)}"


class DocumentInfo(BaseModel):
    """What a reader may see of a document: its label, title, sizes, custody. The node's
    result and the API's response body alike."""

    model_config = ConfigDict(frozen=True)

    id: str
    label: dict[str, Any]
    banner: str
    title: str
    media_type: str
    plaintext_size: int
    sealed_size: int
    created_by: str
    created_at: datetime
    custodian: str
    copies_made: int
    sources: tuple[str, ...]
    destroyed_at: datetime | None = None
    """When it was destroyed (shown only to those entitled to its certificate)."""
    certificate: str | None = None
    """The id of its destruction certificate, if destroyed."""

    @field_serializer("created_at")
    def _created_at(self, value: datetime) -> str:
        return value.isoformat()

    @field_serializer("destroyed_at")
    def _destroyed_at(self, value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    def to_json(self) -> dict[str, Any]:
        """The JSON form the API returns."""
        return self.model_dump(mode="json")


class Register:
    """The collaborators of the document services and the audited decision they all make."""

    def __init__(
        self,
        *,
        db: Database,
        blobs: BlobStore,
        audit: AuditSink,
        registry: PersonnelRegistry,
        policies: Policies,
        agreements: dict[str, Agreement],
        party: str,
        keys: Any,
        clock: Clock,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.audit = audit
        self.registry = registry
        self.policies = policies
        self.agreements = agreements
        self.party = party
        self._keys = keys
        self.clock = clock
        #: The language of the node's national scheme: markings are shown in it (issue 14 #10).
        self.language = next(
            (a.schemes[party].language for a in agreements.values() if party in a.schemes), "en"
        )

    def keys(self) -> Any:
        """The node's unlocked keys; `KeysLocked` if it was opened without them."""
        if self._keys is None:
            raise KeysLocked("the node's keys are locked: open it with the passphrase")
        return self._keys

    # -- audit and decisions -----------------------------------------------------------

    def decide(
        self,
        actor: Actor,
        subject: Subject,
        label: Label,
        action: Action,
        obj: str,
        now: datetime,
        *,
        sources: Sequence[Label] = (),
        details: dict[str, Any] | None = None,
        pending: list[AuditRecord] | None = None,
        own_label: bool = False,
    ) -> Decision:
        """Decide `action` on `label` for `subject` and raise `DocumentRefused` unless it
        permits. A refusal is audited at once; a permit too, unless `pending` is given: then
        its event is added there, for the caller to record with the effect it permits (so a
        permit is never in the log for something that then did not happen). `own_label`: the
        label is the caller's own input (a new document's), so the refusal is `LabelRefused`,
        naming each failing rule, instead of the opaque `DocumentRefused`."""
        if label.policy not in self.agreements:
            self.audit.append(
                event(
                    actor,
                    action.value,
                    obj,
                    denied_reason="policy-not-held",
                    now=now,
                    details=details,
                )
            )
            raise DocumentRefused("policy-not-held")
        decision = decide(
            subject, label, action, agreements=self.policies, now=now, sources=sources
        )
        audited = event(actor, action.value, obj, decision=decision, now=now, details=details)
        if not decision.permit:
            self.audit.append(audited)
            if own_label:
                raise LabelRefused(
                    tuple(
                        (r.code, r.message + (f" ({r.detail})" if r.detail else ""))
                        for r in decision.reasons
                    )
                )
            raise DocumentRefused(*sorted(decision.codes))
        if pending is None:
            self.audit.append(audited)
        else:
            pending.append(audited)
        return decision

    def require_role(self, actor: Actor, roles: tuple[Role, ...], action: str, obj: str) -> None:
        """Refuse, audited, unless the actor holds one of `roles` (through `Refusals`, the
        one audited-refusal helper of every node service)."""
        Refusals(self.audit, self.clock).require(actor, roles, "document", obj, action)

    # -- rows --------------------------------------------------------------------------

    def label_of(self, row: Document) -> Label:
        """The stored label of a row (parsed once per distinct label)."""
        return _parse_label(json.dumps(row.label_json, sort_keys=True))

    def info(
        self,
        session: Session,
        row: Document,
        label: Label,
        sources: tuple[str, ...] | None = None,
    ) -> DocumentInfo:
        """The reader's view of a row; its sources are read unless given."""
        if sources is None:
            sources = tuple(
                session.scalars(
                    select(DocumentSource.source_id).where(DocumentSource.document_id == row.id)
                )
            )
        marking = self.marking(session, row, label)
        return DocumentInfo(
            id=row.id,
            label=dict(label.to_json()),
            banner=marking,
            title=row.title,
            media_type=row.media_type,
            plaintext_size=row.plaintext_size,
            sealed_size=row.sealed_size,
            created_by=row.created_by,
            created_at=row.created_at,
            custodian=row.custodian_id,
            copies_made=row.copies_made,
            sources=sources,
        )

    def marking(self, session: Session, row: Document, label: Label) -> str:
        """The marking a reader here must apply, in the node's language: for another
        party's information the node's own equivalent naming the originator (its
        alternative label, as the agreement requires of the receiver), else the label's."""
        agreement = self.agreements[label.policy]
        if label.originator == self.party:
            return banner(label, agreement, self.language)
        # A third party's copy is held under the releasing party's label, but its marking
        # names the originator, whose information it is (the copy's record says who).
        originator = None
        copy = session.get(ReceivedCopy, row.id)
        if copy is not None and copy.originator_party != label.originator:
            originator = copy.originator_party
        try:
            ours = alternative_label(label, agreement, self.party)
        except InputError:
            # No equivalent of ours under the label's agreement: the originator's words.
            return banner(label, agreement, self.language, originator=originator)
        return banner(ours, agreement, self.language, originator=originator)

    @staticmethod
    def live(session: Session, doc_id: str) -> Document:
        """The row of a live document; `NotFound` for one never held or destroyed."""
        row = session.get(Document, doc_id)
        if row is None or row.destroyed_at is not None:
            raise NotFound(f"no document {doc_id!r}")
        return row


def event(
    actor: Actor,
    action: str,
    obj: str,
    *,
    decision: Decision | None = None,
    denied_reason: str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime,
) -> AuditRecord:
    """The audit record of a document action: a decision's verdict and reasons, or a permit
    (a refusal when `denied_reason` is given)."""
    if decision is not None:
        verdict = "permit" if decision.permit else "deny"
        reasons = tuple(r.code + (f":{r.detail}" if r.detail else "") for r in decision.reasons)
    else:
        verdict = "deny" if denied_reason else "permit"
        reasons = (denied_reason,) if denied_reason else ()
    return AuditRecord(
        type="document",
        actor=actor.id,
        object=obj,
        action=action,
        decision=verdict,
        time=now,
        reasons=reasons,
        details=details or {},
    )


def parse_stored_label(text: str) -> Label:
    """A stored label from its JSON text (as the database returns it), parsed once per
    distinct text; `InputError` if it no longer parses under this version."""
    return _parse_label(text)


@functools.lru_cache(maxsize=8192)
def _parse_label(text: str) -> Label:
    # Labels repeat across documents; a stored label was checked when it was registered, and
    # is checked again here (once per distinct label) against the policies of this version.
    return label_from_json(json.loads(text), bundled_registry())
