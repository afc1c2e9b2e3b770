"""A holder of a copy re-marks it on the originator's classification change notice
(rule 3; docs/federation.md (classification changes)).

`Remarking.handle_notice` is the inbox's handler of "classification-change". It re-marks
every copy this node received from the notice's sender: it installs the originator's
signed change (`cix.envelope.install_label`, verified against a key of the originator
party: a pinned peer's, or for a third party's copy the key its consent chain vouched for),
adds this party's new alternative label, updates the register's label columns, keeps a
`label_history` row, audits, and forwards the notice to each node it transmitted the copy
to (a consented release onward). The third party verifies the same originator signature,
which the forwarder cannot forge. The signed answer is the receipt; a notice replayed gets
the inbox's stored answer, and a change a copy already carries (or an older one) is
answered `already-current`: installed never twice, never rolled back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from cix import envelope
from cix.agreements import Agreement, bundled_registry
from cix.errors import InputError
from cix.federation import Message
from cix.federation.chain import recorded_originator
from cix.keys import VerifyKey
from cix.labels import (
    AlternativeLabel,
    Label,
    LabelError,
    OutOfScope,
    alternative_label,
    alternative_to_json,
    banner,
    label_from_json,
    to_4774_xml,
)
from cix.labels.onward import onward_label
from cix.node.auditing import AuditRecord
from cix.node.exchange._changes import MAX_REASON, LabelChanges, agreement_of
from cix.node.exchange.inbox import Answer, ContentRefused
from cix.store.blobs import BlobRef
from cix.store.models import Document, LabelHistory, ReceivedCopy

_DOC_ID = re.compile(r"[0-9a-f]{32}\Z")
#: One step of a re-marking: stored object in, new object out; what it returns.
_Work = Callable[[BinaryIO, BinaryIO], object]


class Remarking(LabelChanges):
    """The holder's side of classification changes (see the module docstring)."""

    def handle_notice(self, session: Session, message: Message, body_file: Path | None) -> Answer:
        """The inbox handler of "classification-change" (see the module docstring).

        Refuses (answered with the code, audited by the inbox, nothing kept): a malformed
        body (400), `copy-not-held` (404: no copy of that document came from the sender),
        `originator-key-unknown` (a third party's copy without its consent chain), the
        envelope's codes for a change that does not verify against the copy
        (`signer-not-originator`, `assertion-binding-mismatch`, ...), `label-malformed`,
        `label-xml-mismatch`, `policy-changed`, `level-without-equivalent`."""
        reg = self.reg
        now = reg.clock()
        body = message.body
        doc = body.get("document")
        reason = body.get("reason")
        if not isinstance(doc, str) or not _DOC_ID.match(doc):
            raise InputError("`document` must be 32 hex digits")
        if not isinstance(reason, str) or len(reason) > MAX_REASON:
            raise InputError("`reason` must be text")
        change = envelope.LabelChange.from_json(body.get("change"))
        copies = list(
            session.scalars(
                select(ReceivedCopy).where(
                    ReceivedCopy.originator_document_id == doc,
                    ReceivedCopy.received_from == message.sender,
                )
            )
        )
        rows = [(c, session.get(Document, c.document_id)) for c in copies]
        live = [(c, r) for c, r in rows if r is not None and r.destroyed_at is None]
        if not copies:
            raise ContentRefused(
                "copy-not-held", f"no copy of {doc} from {message.sender}", status=404
            )
        created: list[str] = []
        events: list[AuditRecord] = []
        remarked: list[str] = []
        current: list[str] = []
        forwarded: set[str] = set()
        try:
            for copy, row in live:
                assert row is not None
                result = self._remark(session, message, copy, row, change, reason, now, created)
                if result is None:
                    current.append(row.id)
                    continue
                remarked.append(row.id)
                events.extend(result)
                onward = {**body, "forwarded_by": self.exchange.node_id}
                forwarded.update(self.queue_notices(session, row.id, onward, now))
        except BaseException:
            for sha256 in created:
                reg.blobs.delete(sha256)
            raise
        if forwarded:
            self.exchange.delivery.wake()
        state = "re-marked" if remarked else "already-current" if current else "destroyed"
        return Answer(
            200,
            {
                "document": doc,
                "revision": change.revision,
                "state": state,
                "copies": remarked + current,
                "forwarded_to": sorted(forwarded),
            },
            tuple(events),
        )

    def _copy_signers(self, copy: ReceivedCopy) -> dict[str, list[VerifyKey]]:
        """The signers a copy is verified against: the pinned peers and this node, and for
        a third party's copy, for the originator party, only the originator key its consent
        chain vouched for (recorded on the copy at reception)."""
        trusted = self.trusted()
        if copy.releasing_party == copy.originator_party:
            return trusted
        try:
            identity = recorded_originator(copy.consent)
        except InputError:
            raise ContentRefused(
                "originator-key-unknown", "the copy's consent chain names no originator key"
            ) from None
        if identity.party != copy.originator_party:
            raise ContentRefused("originator-key-unknown", "the chain is of another party")
        trusted[identity.party] = [identity.signing_key]
        return trusted

    def _remark(
        self,
        session: Session,
        message: Message,
        copy: ReceivedCopy,
        row: Document,
        change: envelope.LabelChange,
        reason: str,
        now: datetime,
        created: list[str],
    ) -> list[AuditRecord] | None:
        """Install `change` in one copy and re-add this party's alternative label; the
        audit events, or None if the copy already carries that change or a newer one."""
        reg = self.reg
        keys = reg.keys()
        trusted = self._copy_signers(copy)
        old = reg.label_of(row)
        # the originator's label the sealed object carries: a third party's copy keeps it
        # on its record, its row holding the onward label it decides on
        sealed = old
        if copy.originator_label is not None:
            sealed = self._parse(copy.originator_label)
        assert row.blob_hash is not None
        installed = self._write(
            row.blob_hash,
            created,
            lambda src, dst: envelope.install_label(
                src, dst, private_key=keys.kem, trusted_signers=trusted, change=change
            ),
        )
        if installed is None:
            return None
        ref, label_json = installed
        label = self._parse(label_json)
        if label.policy != sealed.policy:
            raise ContentRefused("policy-changed", f"{sealed.policy} to {label.policy}")
        statement = change.assertion.get("statement")
        xml = statement.get("value") if isinstance(statement, Mapping) else None
        if not isinstance(xml, str) or xml.encode() != to_4774_xml(label, bundled_registry()):
            raise ContentRefused("label-xml-mismatch", "the 4774 XML is not of the label")
        originator_label: dict[str, Any] | None = None
        if copy.originator_label is not None:
            # A third party: the releasing party's onward label of the new label, under the
            # agreement the copy came under; the object keeps the originator's, unmarked.
            originator_label = dict(label.to_json())
            label = self._onward(label, row.policy, copy.releasing_party)
        agreement = agreement_of(label.policy)
        marking: str | None = None
        if copy.originator_label is not None:
            alternative = self._alternative(label, agreement)
            marking = banner(alternative, agreement, originator=copy.originator_party)
        elif reg.party in agreement.parties:
            alternative = self._alternative(label, agreement)
            marking = banner(alternative, agreement)
            marked = self._write(
                ref.sha256,
                created,
                lambda src, dst: envelope.add_alternative_label(
                    src,
                    dst,
                    private_key=keys.kem,
                    trusted_signers=trusted,
                    label_xml=to_4774_xml(alternative, bundled_registry()),
                    label_json=alternative_to_json(alternative),
                    signer=keys.signing,
                ),
            )
            assert marked is not None
            reg.blobs.delete(ref.sha256)  # the unmarked intermediate
            created.remove(ref.sha256)
            ref = marked[0]
        # else: a copy under the originator's label at a party outside its agreement has no
        # equivalence to mark with; the originator's label is what it carries.
        previous_blob = row.blob_hash
        self.set_label(session, row, label, ref)
        if originator_label is not None:
            copy.originator_label = originator_label
        session.add(
            LabelHistory(
                document_id=row.id,
                revision=change.revision,
                side="copy",
                originator_document_id=copy.originator_document_id,
                previous_label=old.to_json(),
                label=label.to_json(),
                reason=reason,
                changed_by=message.sender,
                changed_at=now,
                consent_id=None,
                message_id=message.message_id,
                previous_blob=previous_blob,
                blob=ref.sha256,
            )
        )
        session.flush()
        return [
            AuditRecord(
                type="document",
                actor=message.sender,
                object=f"document:{row.id}",
                action="reclassify",
                decision="permit",
                time=now,
                details={
                    "originator_document": copy.originator_document_id,
                    "originator_party": copy.originator_party,
                    "from": old.to_json(),
                    "to": label.to_json(),
                    "revision": change.revision,
                    "reason": reason,
                    "message": message.message_id,
                    "forwarded_by": message.body.get("forwarded_by"),
                    "marking": marking,
                    "originator_label": originator_label,
                    "blob": ref.sha256,
                    "previous_blob": previous_blob,
                },
            )
        ]

    @staticmethod
    def _parse(label_json: Mapping[str, Any]) -> Label:
        try:
            return label_from_json(dict(label_json), bundled_registry())
        except (LabelError, InputError, ValueError, TypeError) as exc:
            raise ContentRefused("label-malformed", str(exc)[:300]) from None

    def _alternative(self, label: Label, agreement: Agreement) -> AlternativeLabel:
        try:
            return alternative_label(label, agreement, self.reg.party)
        except (LabelError, InputError):
            raise ContentRefused("level-without-equivalent", label.classification) from None

    def _onward(self, label: Label, policy: str, releasing: str) -> Label:
        """A third party's label of the originator's new `label`: the releasing party's
        onward label under `policy`, the agreement its copy is held under."""
        try:
            return onward_label(
                label,
                agreement_of(label.policy),
                agreement_of(policy),
                releasing_party=releasing,
                to_party=self.reg.party,
            )
        except OutOfScope:
            raise ContentRefused("level-without-equivalent", label.classification) from None
        except (LabelError, InputError) as exc:
            raise ContentRefused("label-malformed", str(exc)[:300]) from None

    def _write(
        self, blob: str, created: list[str], work: _Work
    ) -> tuple[BlobRef, Mapping[str, Any]] | None:
        """Run `work(src, dst)` from stored `blob` into a new blob; the new blob and what
        `work` returned, or None for a change the copy already carries (label-change-stale).
        Any other refusal of the envelope is the peer's (`ContentRefused` with its code)."""
        reg = self.reg
        writer = reg.blobs.writer(limit=None)
        try:
            with reg.blobs.open(blob) as src:
                result = work(src, writer)  # type: ignore[arg-type]  # a write-only sink
            ref = writer.commit()
        except envelope.ObjectRefused as exc:
            writer.abort()
            if exc.reason is envelope.RefusalReason.LABEL_CHANGE_STALE:
                return None
            raise ContentRefused(exc.reason.value, exc.detail[:300]) from None
        except BaseException:
            writer.abort()
            raise
        created.append(ref.sha256)
        return ref, result if isinstance(result, Mapping) else {}
