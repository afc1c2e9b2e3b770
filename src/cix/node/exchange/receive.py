"""Reception of a transmitted document, and the sender's side of its receipt.

`Receiver.prepare` and `Receiver.handle` are the inbox's prepare step and handler for
kind "transmission": `prepare` checks everything that needs no transaction and verifies
and stores the object before the inbox takes the write lock; `handle` registers the copy
inside the inbox's write, which also stores the message and the signed answer. They
refuse, each with its own code (answered to the sender, audited here), nothing registered:

- `object-missing`, `object-size-mismatch`, `object-digest-mismatch`: the body is not
  the object the signed message describes (changed in transit);
- `label-malformed`, `level-without-equivalent` (a level this party has no mapping for:
  refused, never guessed), `label-not-under-agreement`, `not-releasable` (to this
  party), `releasing-party-mismatch` (the sender is not of the releasing party it
  names);
- for a copy of another party's information released by the sender (a consented release
  to this node, a third party: rule 2), the chain's codes (`consent-chain-missing`,
  `consent-chain-voucher-invalid`, `consent-for-another-party`, `consent-expired`,
  `consent-already-used`, ...: `cix.federation.chain`), checked before the object is
  verified (the label must be signed by the originator key the chain vouches for, that
  one only) and again in the write by the consent service (`chain_check`; unset, such a
  copy is refused `third-party-chain-unverified`);
- the sealed object's own refusal codes (`cix.envelope.RefusalReason`: a tampered
  payload or manifest, `signer-not-originator` or `unknown-signer` for a label not signed
  by a pinned key *of its originator party*, `label-mismatch` for an object whose signed
  label is not the one the message names, `policy-uuid-mismatch`): the whole object is
  verified (every segment decrypted and authenticated, nothing written) before it is kept.

A copy that passes is registered: a document row (the originator's label, unaltered),
its `received_copies` row (originator's document id, copy number, received from, the
releasing party, agreement, purpose) and its blob. A third party's copy is held under the
releasing party's onward label (`cix.labels.onward`: its equivalent under the agreement
the copy came under, releasable to it and this party only), the object kept as the
originator sealed it, and its record keeps the originator's label (`originator_label`)
and the verified chain (`consent`, `consent_id`: one copy per consent). The answer is the
receipt: `{"receipt": {...}}`, signed like every answer; that signed token is what the
sender stores.

The stored object carries this node's alternative label (rule 5: this party's equivalent
marking, the originator named, `cix.envelope.add_alternative_label`) as a second assertion
signed by this node, the originator's label never altered; the marking is in the receipt
and the audit entry too. A blob left by a write that then failed is unreferenced (no row
names it), never a visible copy.

`on_answer` is the sender's `AnswerHook` for "transmission": the receipt token stored on
the transmission (`receipted`), or the peer's refusal code (`refused`), audited.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from cix.agreements import bundled_registry
from cix.errors import InputError
from cix.federation import Message, PinnedPeer
from cix.federation.chain import CHAIN_FIELD, ChainEvidence, check_third_party_chain
from cix.federation.consent import ConsentRefused
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
from cix.node.documents import check_title
from cix.node.exchange._peering import PeerBook
from cix.node.exchange.inbox import Answer, ContentRefused
from cix.node.exchange.transmissions import RECEIPTED, REFUSED, SENT
from cix.node.keyaccess import policy_uuid_for
from cix.node.labelbits import CAVEAT, PARTY, PROGRAMME, LabelBits
from cix.node.register import Register, new_id
from cix.node.search import search_form
from cix.store.blobs import BlobRef
from cix.store.models import Document, OutboxItem, ReceivedCopy, Transmission

_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
_DOC_ID = re.compile(r"[0-9a-f]{32}\Z")
_PARTY = re.compile(r"[A-Z]{3}\Z")
# A media type as the upload took it: parameters (`text/plain; charset=utf-8`) included.
_MEDIA = re.compile(r"[!-~][ -~]{0,199}\Z")
_CHUNK = 1 << 20

ChainCheck = Callable[[Session, Message, Label], ChainEvidence]
"""Checks, in the write that registers it, a copy whose originator is not the sender (a
consented third-party release): the evidence to record on it; raises `ContentRefused`
unless the chain of consent and identity checks out and no copy holds that consent yet."""


class _Discard:
    """A sink that verifies by reading: what the open decrypts is counted, not kept."""

    def write(self, data: bytes | bytearray | memoryview) -> int:
        return len(data)


def _str(body: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not pattern.match(value):
        raise ContentRefused("malformed-body", f"`{name}` is missing or malformed", status=400)
    return value


def _int(body: dict[str, Any], name: str, low: int) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ContentRefused("malformed-body", f"`{name}` must be an integer >= {low}", status=400)
    return value


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Checked:
    """What `Receiver._check` found of one transmission, for `handle` to register."""

    doc: str
    copy_number: int
    sha256: str
    originator: str
    releasing: str
    media_type: str
    title: str
    purpose: str | None
    consent: str | None
    label: Label
    held: Label
    chain: ChainEvidence | None
    alternative: AlternativeLabel
    plaintext_size: int
    ref: BlobRef


class Receiver:
    """Receives transmitted documents; records their receipts (see the module docstring)."""

    def __init__(
        self, register: Register, peers: PeerBook, bits: LabelBits, *, node_id: str
    ) -> None:
        self.reg = register
        self.peers = peers
        self.bits = bits
        self.node_id = node_id
        self._prepared: dict[str, _Checked] = {}
        self.chain_check: ChainCheck | None = None
        """Set by the consent service; without it a copy not from its originator is refused."""

    # -- the receiver ------------------------------------------------------------------

    def prepare(self, message: Message, body_file: Path | None) -> Path | None:
        """The inbox's `prepare` for "transmission": every check that needs no transaction,
        the whole object verified and stored with this node's alternative label, before the
        inbox takes the write lock (a large object is not decrypted while other writes
        wait). `handle` then registers it."""
        checked = self._check(message, body_file)
        if len(self._prepared) > 1024:  # left by concurrent deliveries of one message
            self._prepared.clear()
        self._prepared[message.message_id] = checked
        return body_file

    def _check(self, message: Message, body_file: Path | None) -> _Checked:
        reg = self.reg
        body = message.body
        doc = _str(body, "document", _DOC_ID)
        copy_number = _int(body, "copy", 1)
        size = _int(body, "object_size", 0)
        sha256 = _str(body, "object_sha256", _HEX64)
        originator = _str(body, "originator_party", _PARTY)
        releasing = _str(body, "releasing_party", _PARTY)
        media_type = _str(body, "media_type", _MEDIA)
        title = body.get("title")
        purpose = body.get("purpose")
        consent = body.get("consent")
        if not isinstance(title, str):
            raise ContentRefused("malformed-body", "`title` must be a string", status=400)
        title = check_title(title)
        if purpose is not None and not isinstance(purpose, str):
            raise ContentRefused("malformed-body", "`purpose` must be a string", status=400)
        if consent is not None and not isinstance(consent, str):
            raise ContentRefused("malformed-body", "`consent` must be a string", status=400)
        if body_file is None:
            raise ContentRefused("object-missing", "a transmission carries its object", status=400)
        if body_file.stat().st_size != size:
            raise ContentRefused("object-size-mismatch", "the object is not the size signed")
        if _sha256(body_file) != sha256:
            raise ContentRefused("object-digest-mismatch", "the object is not the one signed")
        label = self._label(body.get("label"))
        if label.originator != originator:
            raise ContentRefused("label-not-under-agreement", "originator party differs")
        sender = self.peers.pinned(message.sender)
        if sender is None or sender.identity.party != releasing:
            raise ContentRefused("releasing-party-mismatch", "the sender is not of that party")
        keys = reg.keys()
        trusted = dict(self.peers.trusted_signers(keys.verify_key))
        chain: ChainEvidence | None = None
        if originator == releasing:
            if label.policy != message.agreement:
                raise ContentRefused("label-not-under-agreement", f"label under {label.policy!r}")
            if reg.party not in label.releasable_to:
                raise ContentRefused("not-releasable", f"not releasable to {reg.party}")
            held = label
        else:
            chain = self._chain(message, sender, label, doc, purpose)
            # the label must be signed by the originator key the chain vouches for, only
            trusted[originator] = [chain.originator_key(originator)]
            held = self._onward(label, message.agreement, releasing)
        agreement = reg.agreements[held.policy]
        try:
            alternative = alternative_label(held, agreement, reg.party)
        except (OutOfScope, InputError):
            raise ContentRefused("level-without-equivalent", label.classification) from None
        plaintext_size = self._verify_object(body_file, body["label"], doc, trusted)
        # A third party's equivalence runs through the releasing party's agreement: a 4774
        # alternative label is of the label's own policy, so its object is kept as the
        # originator sealed it, and its marking is the register's (the onward label).
        ref = self._keep(body_file) if chain else self._mark(body_file, alternative, trusted)
        return _Checked(
            doc=doc,
            copy_number=copy_number,
            sha256=sha256,
            originator=originator,
            releasing=releasing,
            media_type=media_type,
            title=title,
            purpose=purpose,
            consent=consent,
            label=label,
            held=held,
            chain=chain,
            alternative=alternative,
            plaintext_size=plaintext_size,
            ref=ref,
        )

    def _chain(
        self,
        message: Message,
        sender: PinnedPeer,
        label: Label,
        doc: str,
        purpose: str | None,
    ) -> ChainEvidence:
        """A copy of another party's information from `sender`, a consented release (rule
        2): the chain of the originator's vouched identity and signed consent it carries,
        checked (`check_third_party_chain`) for this document, this party and this purpose,
        now; `ContentRefused` with the chain's code otherwise. `handle` checks it again in
        the write, through the consent service (`chain_check`: one copy per consent)."""
        if self.chain_check is None:
            raise ContentRefused("third-party-chain-unverified", "no consent chain check")
        try:
            evidence = check_third_party_chain(
                message.body.get(CHAIN_FIELD),
                releasing_peer=sender,
                document_id=doc,
                to_party=self.reg.party,
                purpose=purpose,
                now=self.reg.clock(),
            )
            evidence.originator_key(label.originator)
        except ConsentRefused as exc:
            raise ContentRefused(exc.reason.value, exc.detail[:300], status=403) from None
        return evidence

    def _onward(self, label: Label, agreement_id: str, releasing: str) -> Label:
        """The label a third party holds another party's information under: the releasing
        party's equivalent under the agreement the message came under (`onward_label`)."""
        reg = self.reg
        onward = reg.agreements.get(agreement_id)
        origin = bundled_registry().get(label.policy)
        if onward is None or agreement_id == label.policy:
            raise ContentRefused("label-not-under-agreement", f"label under {label.policy!r}")
        try:
            return onward_label(
                label, origin, onward, releasing_party=releasing, to_party=reg.party
            )
        except OutOfScope:
            raise ContentRefused("level-without-equivalent", label.classification) from None
        except (LabelError, InputError) as exc:
            raise ContentRefused("label-not-under-agreement", str(exc)[:300]) from None

    def handle(self, session: Session, message: Message, body_file: Path | None) -> Answer:
        """The inbox handler of "transmission" (see the module docstring): registers what
        `prepare` checked (checking it now when it was not prepared)."""
        reg = self.reg
        now = reg.clock()
        c = self._prepared.pop(message.message_id, None) or self._check(message, body_file)
        doc, copy_number, sha256 = c.doc, c.copy_number, c.sha256
        originator, releasing, media_type = c.originator, c.releasing, c.media_type
        title, purpose, consent, label = c.title, c.purpose, c.consent, c.label
        alternative, plaintext_size, ref, held = c.alternative, c.plaintext_size, c.ref, c.held
        agreement = reg.agreements[held.policy]
        consent_id: str | None = None
        if c.chain is not None:
            assert self.chain_check is not None  # _check refused otherwise
            evidence = self.chain_check(session, message, label)
            consent = json.dumps(evidence.to_json(), sort_keys=True)
            consent_id = evidence.consent_id
        doc_id = new_id(now)
        # a third party's marking names the originator, whose information it is
        marking = banner(alternative, agreement, originator=originator)
        session.add(
            Document(
                id=doc_id,
                policy=held.policy,
                originator=held.originator,
                classification=held.classification,
                rank=agreement.rank(held.originator, held.classification),
                releasability_mask=self.bits.allocate(session, PARTY, held.releasable_to),
                programme_mask=self.bits.allocate(session, PROGRAMME, held.programmes),
                caveat_mask=self.bits.allocate(session, CAVEAT, held.caveats),
                label_json=dict(held.to_json()),
                title=title,
                search_text=search_form(title),
                purpose=held.purpose,
                media_type=media_type,
                plaintext_size=plaintext_size,
                sealed_size=ref.size,
                blob_hash=ref.sha256,
                created_by=message.sender,
                created_at=now,
                custodian_id=self.node_id,
                copies_made=0,
                destroyed_at=None,
            )
        )
        session.flush()  # the document row first: the copy's row refers to it
        session.add(
            ReceivedCopy(
                document_id=doc_id,
                message_id=message.message_id,
                originator_party=originator,
                originator_document_id=doc,
                copy_number=copy_number,
                received_from=message.sender,
                releasing_party=releasing,
                agreement=message.agreement,
                purpose=purpose,
                consent=consent,
                consent_id=consent_id,
                originator_label=None if c.chain is None else dict(label.to_json()),
                received_at=now,
            )
        )
        receipt = {
            "document": doc,
            "copy": copy_number,
            "registered_as": doc_id,
            "party": reg.party,
            "node": self.node_id,
            "received_at": now.isoformat(),
            "object_sha256": sha256,
            "marking": marking,
        }
        third: dict[str, Any] = {}
        if c.chain is not None:
            # the evidence of the consented release: whose information, whose consent
            third = {
                "originator_party": originator,
                "originator_label": label.to_json(),
                "consent": consent_id,
                "originator_fingerprint": c.chain.originator.fingerprint,
            }
            receipt["consent"] = consent_id
        registered = AuditRecord(
            type="document",
            actor=message.sender,
            object=f"document:{doc_id}",
            action="receive",
            decision="permit",
            time=now,
            details={
                "originator_document": doc,
                "copy": copy_number,
                "from": message.sender,
                "releasing_party": releasing,
                "agreement": message.agreement,
                "purpose": purpose,
                "message": message.message_id,
                "received_object": sha256,
                "blob": ref.sha256,
                "alternative_label": alternative_to_json(alternative),
                "marking": marking,
                **third,
            },
        )
        return Answer(200, {"receipt": receipt}, (registered,))

    def _label(self, value: Any) -> Label:
        if not isinstance(value, dict):
            raise ContentRefused("label-malformed", "the label must be an object")
        try:
            return label_from_json(value, bundled_registry())
        except OutOfScope as exc:
            raise ContentRefused("level-without-equivalent", str(exc)) from None
        except (LabelError, InputError, ValueError, TypeError) as exc:
            raise ContentRefused("label-malformed", str(exc)[:300]) from None

    def _keep(self, path: Path) -> BlobRef:
        """Store the verified object as it came."""

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as src:
                while chunk := src.read(_CHUNK):
                    yield chunk

        return self.reg.blobs.put(chunks())

    def _mark(
        self, path: Path, alternative: AlternativeLabel, trusted: Mapping[str, Sequence[VerifyKey]]
    ) -> BlobRef:
        """Store the object with this node's alternative label added (rule 5): a second
        assertion signed by this node, the originator's label and payload untouched."""
        from cix import envelope

        keys = self.reg.keys()
        writer = self.reg.blobs.writer(limit=None)
        reasons: list[str] = []
        try:
            with path.open("rb") as src:
                envelope.add_alternative_label(
                    src,
                    writer,  # type: ignore[arg-type]  # a write-only file-like sink
                    private_key=keys.kem,
                    trusted_signers=trusted,
                    label_xml=to_4774_xml(alternative, bundled_registry()),
                    label_json=alternative_to_json(alternative),
                    signer=keys.signing,
                    audit_hook=lambda error: reasons.append(error.reason.value),
                )
            return writer.commit()
        except envelope.ObjectRefused as exc:
            writer.abort()
            raise ContentRefused(reasons[0] if reasons else exc.reason.value, exc.detail) from None
        except BaseException:
            writer.abort()
            raise

    def _verify_object(
        self,
        path: Path,
        label_json: dict[str, Any],
        doc: str,
        trusted: Mapping[str, Sequence[VerifyKey]],
    ) -> int:
        """Verify the whole sealed object (see the module docstring); its plaintext size."""
        from cix import envelope

        keys = self.reg.keys()
        reasons: list[str] = []
        try:
            with path.open("rb") as src:
                opened = envelope.open(
                    src,
                    _Discard(),  # type: ignore[arg-type]  # a write-only sink
                    private_key=keys.kem,
                    trusted_signers=trusted,
                    audit_hook=lambda error: reasons.append(error.reason.value),
                    expected_label=label_json,
                    expected_policy_uuid=policy_uuid_for(doc),
                )
        except envelope.ObjectRefused as exc:
            code = reasons[0] if reasons else exc.reason.value
            raise ContentRefused(code, exc.detail) from None
        except InputError as exc:  # not even a container: the peer's bytes
            raise ContentRefused("malformed-object", str(exc)[:300]) from None
        return opened.plaintext_size

    # -- the sender's side -------------------------------------------------------------

    def on_answer(self, session: Session, item: OutboxItem, answer: Message) -> list[AuditRecord]:
        """The sender's `AnswerHook` for "transmission" (see the module docstring)."""
        row = session.get(Transmission, item.message_id)
        if row is None:
            return []
        now: datetime = self.reg.clock()
        status = answer.body.get("status")
        receipt = answer.body.get("receipt")
        details: dict[str, Any] = {"transmission": row.id, "node": row.to_node}
        reasons: tuple[str, ...] = ()
        if isinstance(status, int) and 200 <= status < 300:
            if isinstance(receipt, dict):
                row.state = RECEIPTED
                row.receipt = answer.token
                row.receipted_at = now
                details["receipt"] = receipt
                action, decision = "receipt", "permit"
            else:
                row.state = SENT
                action, decision = "sent", "permit"
        else:
            code = str(answer.body.get("refused") or f"status-{status}")[:64]
            row.state = REFUSED
            row.refusal_code = code
            action, decision, reasons = "peer-refused", "deny", (code,)
        return [
            AuditRecord(
                type="document",
                actor=row.to_node,
                object=f"document:{row.document_id}",
                action=action,
                decision=decision,
                time=now,
                reasons=reasons,
                details=details,
            )
        ]
