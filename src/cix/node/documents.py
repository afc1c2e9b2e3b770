"""The document register: upload (seal), list, show, open, derive, reproduce, destroy, incidents.

Every access is decided by `cix.policy.decide` on the stored label and audited, permit or
deny. Listings push a superset filter into SQL (levels, releasability, programmes and the
government-only caveat through indexed columns and bitmasks, newest first by keyset) and
then decide every candidate, so a listing never shows the title or label of a document
the caller may not read. Plaintext never touches the disk: uploads are sealed as they
stream in, opens are decrypted as they stream out.

An open is the hot path: `admit_open` decides from cached facts (the person's view in the
registry, the document's label and metadata per id until the next database write, see
`cix.node.cache`) and returns the audit events to record: on a permit, the decision and the
key access together, which the caller records as one durable group before the key is
unwrapped and any byte decrypted. `open` does all of it for a blocking caller.
"""

from __future__ import annotations

import functools
import json
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from sqlalchemy import and_, false, or_, select
from sqlalchemy.orm import Session

from cix.agreements import Agreement
from cix.errors import AccessDenied, InputError
from cix.labels import GOVONLY, Label, banner, label_from_json, to_4774_xml
from cix.node.auditing import AuditEvent, AuditSink, append_many
from cix.node.cache import GenerationCache, NotCached
from cix.node.errors import NotFound, PayloadTooLarge
from cix.node.keyaccess import Expected, KeyAccess, VerifiedBlobs
from cix.node.labelbits import CAVEAT, PARTY, PROGRAMME, LabelBits
from cix.node.registry import PersonnelRegistry
from cix.node.roles import Actor, Role
from cix.policy import Action, Decision, Policies, Request, Subject, decide, decide_many
from cix.store.blobs import BlobStore
from cix.store.db import Database
from cix.store.models import (
    DestructionCertificate,
    Document,
    DocumentSource,
    Incident,
    Reproduction,
)

Clock = Callable[[], datetime]


class DocumentRefused(AccessDenied):
    """The decision function (or a role check) refused.

    `reasons` are the stable reason codes (never their details, such as which programme):
    the caller is told which rules failed, as the issue's demonstration shows; the details
    are in the audit record only.
    """

    def __init__(self, *reasons: str) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = tuple(r.split(":", 1)[0] for r in reasons)


class KeysLocked(InputError):
    """The node was opened without its private keys; sealing and opening need them."""


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


@dataclass(frozen=True)
class DocumentInfo:
    """What a reader may see of a document: its label, title, sizes, custody."""

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

    def to_json(self) -> dict[str, Any]:
        """The JSON form the API returns."""
        return {
            "id": self.id,
            "label": self.label,
            "banner": self.banner,
            "title": self.title,
            "media_type": self.media_type,
            "plaintext_size": self.plaintext_size,
            "sealed_size": self.sealed_size,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "custodian": self.custodian,
            "copies_made": self.copies_made,
            "sources": list(self.sources),
        }


@dataclass(frozen=True)
class Page:
    """One page of a listing and the cursor of the next (None at the end)."""

    items: tuple[DocumentInfo, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class Opening:
    """A permitted open: the document, the obligations to fulfil, and the plaintext stream."""

    info: DocumentInfo
    obligations: tuple[dict[str, str], ...]
    marking: str
    reader: str


@dataclass(frozen=True, slots=True)
class _Meta:
    """What an open needs of a live document's row, as of one database generation."""

    label: Label
    info: DocumentInfo
    blob: str


@dataclass(frozen=True)
class Admission:
    """The outcome of `Documents.admit_open`: the audit `events` to record first (as one
    group), then either the `refusal` to raise or the `opening` and its key grant."""

    events: tuple[AuditEvent, ...]
    refusal: DocumentRefused | None
    opening: Opening | None
    blob: str
    grant: Any  # cix.node.keyaccess.Grant when permitted

    def recorded(self) -> Opening:
        """Say the events are durable; raise the refusal, or return the opening."""
        if self.refusal is not None:
            raise self.refusal
        assert self.opening is not None
        assert self.grant is not None
        self.grant.recorded()
        return self.opening

    def write_to(
        self,
        dst: BinaryIO,
        *,
        whole: bool = False,
        record_denial: Callable[[AuditEvent], None] | None = None,
    ) -> None:
        """Decrypt into `dst` (after `recorded`); `whole` reads the sealed blob into memory;
        `record_denial` as `Grant.open`."""
        self.grant.open(self.blob, dst, whole=whole, record_denial=record_denial)


class Documents:
    """Application service of the document register (see the module docstring)."""

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
        max_upload_bytes: int,
        cache_size: int = 16384,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.audit = audit
        self.registry = registry
        self.policies = policies
        self.agreements = agreements
        self.party = party
        self.keys = keys
        self.clock = clock
        self.max_upload_bytes = max_upload_bytes
        self.bits = LabelBits()
        self._meta: GenerationCache[str, _Meta] = GenerationCache(cache_size)
        from cix.envelope import ManifestCache

        self._manifests = ManifestCache(1024)
        # Holds no key material (blob names and manifest digests): outlives a destruction.
        self._verified_blobs = VerifiedBlobs(cache_size)
        self._destructions_seen = db.destructions

    # -- audit and decisions -----------------------------------------------------------

    def _record(
        self,
        actor: Actor,
        action: str,
        obj: str,
        *,
        decision: Decision | None = None,
        denied_reason: str | None = None,
        details: dict[str, Any] | None = None,
        now: datetime,
    ) -> None:
        self.audit.append(
            self._event(
                actor,
                action,
                obj,
                decision=decision,
                denied_reason=denied_reason,
                details=details,
                now=now,
            )
        )

    @staticmethod
    def _event(
        actor: Actor,
        action: str,
        obj: str,
        *,
        decision: Decision | None = None,
        denied_reason: str | None = None,
        details: dict[str, Any] | None = None,
        now: datetime,
    ) -> AuditEvent:
        if decision is not None:
            verdict = "permit" if decision.permit else "deny"
            reasons = tuple(r.code + (f":{r.detail}" if r.detail else "") for r in decision.reasons)
        else:
            verdict = "deny" if denied_reason else "permit"
            reasons = (denied_reason,) if denied_reason else ()
        return AuditEvent(
            type="document",
            actor=actor.id,
            object=obj,
            action=action,
            decision=verdict,
            time=now,
            reasons=reasons,
            details=details or {},
        )

    def _decide(
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
    ) -> Decision:
        if label.policy not in self.agreements:
            self._record(
                actor, action.value, obj, denied_reason="policy-not-held", now=now, details=details
            )
            raise DocumentRefused("policy-not-held")
        decision = decide(
            subject, label, action, agreements=self.policies, now=now, sources=sources
        )
        self._record(actor, action.value, obj, decision=decision, now=now, details=details)
        if not decision.permit:
            raise DocumentRefused(*sorted(decision.codes))
        return decision

    def _require_role(self, actor: Actor, roles: tuple[Role, ...], action: str, obj: str) -> None:
        if not actor.has(*roles):
            now = self.clock()
            reason = "role-required:" + "|".join(sorted(r.value for r in roles))
            self._record(actor, action, obj, denied_reason=reason, now=now)
            raise DocumentRefused(reason)

    def _keys(self) -> Any:
        if self.keys is None:
            raise KeysLocked("the node's keys are locked: open it with the passphrase")
        return self.keys

    # -- rows --------------------------------------------------------------------------

    def _label_of(self, row: Document) -> Label:
        return _parse_label(json.dumps(row.label_json, sort_keys=True))

    def _info(
        self,
        session: Session,
        row: Document,
        label: Label,
        sources: tuple[str, ...] | None = None,
    ) -> DocumentInfo:
        if sources is None:
            sources = tuple(
                session.scalars(
                    select(DocumentSource.source_id).where(DocumentSource.document_id == row.id)
                )
            )
        return DocumentInfo(
            id=row.id,
            label=dict(label.to_json()),
            banner=banner(label, self.agreements[label.policy]),
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

    def _live(self, session: Session, doc_id: str) -> Document:
        row = session.get(Document, doc_id)
        if row is None or row.destroyed_at is not None:
            raise NotFound(f"no document {doc_id!r}")
        return row

    # -- upload and derive -------------------------------------------------------------

    def check_label(self, label: Label) -> None:
        """Refuse a label this node cannot originate: another party's, or an unheld policy."""
        if label.originator != self.party:
            raise InputError(
                f"label: originator {label.originator} is not this node's party {self.party}"
            )
        if label.policy not in self.agreements:
            held = ", ".join(sorted(self.agreements))
            raise InputError(f"label: policy {label.policy!r} is not held here (held: {held})")

    def upload(
        self,
        actor: Actor,
        *,
        label: Label,
        title: str,
        media_type: str,
        source: BinaryIO,
        size_hint: int | None = None,
        derived_from: Sequence[str] = (),
    ) -> DocumentInfo:
        """Seal `source` under `label` and register it; the caller must be an originator.

        With `derived_from`, the caller must be able to read every source and the new label
        must dominate each source's (no write down, rule 11).
        """
        from cix import envelope
        from cix.node.keyaccess import policy_uuid_for

        now = self.clock()
        doc_id = new_id(now)
        obj = f"document:{doc_id}"
        self._require_role(actor, (Role.ORIGINATOR,), "create", obj)
        self.check_label(label)
        if not title.strip() or len(title) > 500:
            raise InputError("title: must be 1 to 500 characters")
        subject = self.registry.subject_for(actor.id, now)
        source_labels: list[Label] = []
        with self.db.read() as session:
            for source_id in derived_from:
                row = self._live(session, source_id)
                src_label = self._label_of(row)
                self._decide(actor, subject, src_label, Action.READ, f"document:{source_id}", now)
                source_labels.append(src_label)
        self._decide(
            actor,
            subject,
            label,
            Action.CREATE,
            obj,
            now,
            sources=source_labels,
            details={"title": title, "sources": list(derived_from)},
        )
        keys = self._keys()
        writer = self.blobs.writer(limit=None)
        try:
            result = envelope.seal(
                _LimitedReader(source, self.max_upload_bytes),  # type: ignore[arg-type]
                writer,  # type: ignore[arg-type]  # write-only file-like sinks
                label_xml=to_4774_xml(label),
                label_json=label.to_json(),
                recipients=[keys.kem_public],
                signer=keys.signing,
                mime_type=media_type,
                size_hint=size_hint,
                policy_uuid=policy_uuid_for(doc_id),
            )
            ref = writer.commit()
        except BaseException:
            writer.abort()
            raise
        agreement = self.agreements[label.policy]
        row = Document(
            id=doc_id,
            policy=label.policy,
            originator=label.originator,
            classification=label.classification,
            rank=agreement.rank(label.originator, label.classification),
            releasability_mask=0,
            programme_mask=0,
            caveat_mask=0,
            label_json=dict(label.to_json()),
            title=title.strip(),
            purpose=label.purpose,
            media_type=media_type,
            plaintext_size=result.plaintext_size,
            sealed_size=ref.size,
            blob_hash=ref.sha256,
            created_by=actor.id,
            created_at=now,
            custodian_id=actor.id,
            copies_made=0,
            destroyed_at=None,
        )
        with self.db.write() as session:
            row.releasability_mask = self.bits.allocate(session, PARTY, label.releasable_to)
            row.programme_mask = self.bits.allocate(session, PROGRAMME, label.programmes)
            row.caveat_mask = self.bits.allocate(session, CAVEAT, label.caveats)
            session.add(row)
            session.flush()
            for source_id in derived_from:
                session.add(DocumentSource(document_id=doc_id, source_id=source_id))
            self._record(
                actor,
                "register",
                obj,
                now=now,
                details={"blob": ref.sha256, "size": result.plaintext_size},
            )
            info = self._info(session, row, label)
        return info

    # -- listing -------------------------------------------------------------------------

    def _prefilter(self, session: Session, subject: Subject) -> Any:
        """A SQL condition every document the subject may read satisfies (a superset)."""
        nat = self.bits.mask(session, PARTY, subject.nationalities)
        members = self.bits.mask(session, PROGRAMME, subject.programmes)
        not_member = ((1 << 63) - 1) & ~members
        conditions = [
            Document.destroyed_at.is_(None),
            Document.releasability_mask.op("&")(nat) != 0,
            Document.programme_mask.op("&")(not_member) == 0,
        ]
        if subject.organisation.kind.value == "contractor":
            govonly = self.bits.mask(session, CAVEAT, [GOVONLY])
            if govonly:
                conditions.append(Document.caveat_mask.op("&")(govonly) == 0)
        per_policy = []
        clearance = subject.clearance
        for policy_id, agreement in self.agreements.items():
            if clearance is None:
                break
            try:
                top = agreement.rank(clearance.party, clearance.level)
            except InputError:
                # Not rankable under this policy (out of scope or another scheme): let the
                # decision function judge every candidate.
                top = 1 << 30
            per_policy.append(and_(Document.policy == policy_id, Document.rank <= top))
        conditions.append(or_(*per_policy) if per_policy else false())
        return and_(*conditions)

    def list(
        self,
        actor: Actor,
        *,
        limit: int,
        cursor: str | None = None,
        title_contains: str | None = None,
    ) -> Page:
        """The newest documents the actor may read, after `cursor`, at most `limit` of them."""
        now = self.clock()
        subject = self.registry.subject_for(actor.id, now)
        permitted: list[tuple[Document, Label]] = []
        after = cursor
        more = False
        fetch = limit * 2
        with self.db.read() as session:
            condition = self._prefilter(session, subject)
            while len(permitted) < limit:
                query = select(Document).where(condition)
                if after is not None:
                    query = query.where(Document.id < after)
                if title_contains:
                    query = query.where(Document.title.contains(title_contains, autoescape=True))
                batch = list(session.scalars(query.order_by(Document.id.desc()).limit(fetch)))
                if not batch:
                    break
                labels = [self._label_of(row) for row in batch]
                decisions = decide_many(
                    [Request(subject, lab, Action.READ, now) for lab in labels],
                    agreements=self.policies,
                )
                for index, (row, lab, decision) in enumerate(
                    zip(batch, labels, decisions, strict=True)
                ):
                    after = row.id
                    if decision.permit:
                        permitted.append((row, lab))
                        if len(permitted) == limit:
                            more = index < len(batch) - 1 or len(batch) == fetch
                            break
                if len(batch) < fetch:
                    break
            # One query for the sources of the whole page, not one per document.
            sources: dict[str, list[str]] = {row.id: [] for row, _ in permitted}
            if sources:
                links = session.execute(
                    select(DocumentSource.document_id, DocumentSource.source_id).where(
                        DocumentSource.document_id.in_(list(sources))
                    )
                )
                for document_id, source_id in links:
                    sources[document_id].append(source_id)
            items = [
                self._info(session, row, lab, tuple(sorted(sources[row.id])))
                for row, lab in permitted
            ]
        self._record(actor, "list", "documents", now=now, details={"returned": len(items)})
        return Page(tuple(items), items[-1].id if more else None)

    # -- show, open ----------------------------------------------------------------------

    def show(self, actor: Actor, doc_id: str) -> DocumentInfo:
        """A document's metadata, if the actor may read it."""
        now = self.clock()
        subject = self.registry.subject_for(actor.id, now)
        with self.db.read() as session:
            row = self._live(session, doc_id)
            label = self._label_of(row)
            self._decide(
                actor,
                subject,
                label,
                Action.READ,
                f"document:{doc_id}",
                now,
                details={"what": "metadata"},
            )
            return self._info(session, row, label)

    def open(self, actor: Actor, doc_id: str) -> tuple[Opening, Callable[[BinaryIO], None]]:
        """Decide, then return the opening and a function that decrypts into a stream.

        The decision and the key access are audited, as one durable group, before any byte
        is decrypted; the key is unwrapped by the node's key access service only after the
        permit.
        """
        admission = self.admit_open(actor, doc_id)
        append_many(self.audit, admission.events)
        opening = admission.recorded()
        return opening, admission.write_to

    def admit_open(self, actor: Actor, doc_id: str, *, cached_only: bool = False) -> Admission:
        """Decide whether `actor` may open `doc_id`; nothing is recorded or decrypted yet.

        The caller records `events` durably as one group (`append_many`, or `submit` and
        wait), then calls `recorded()` (which raises the refusal, if it is one) and only
        then `write_to`. With `cached_only`, raises `NotCached` instead of reading the
        database (so that an event loop can try it first without blocking). `NotFound`
        for a document that is not live, as `show` (not audited: there is nothing to see).
        """
        now = self.clock()
        if cached_only:
            subject = self.registry.cached_subject(actor.id, now)
            meta = self._meta.get(doc_id, self.db.generation)
            if subject is None or meta is None:
                raise NotCached(doc_id)
        else:
            subject = self.registry.subject_for(actor.id, now)
            meta = self._document(doc_id)
        obj = f"document:{doc_id}"
        label = meta.label
        if label.policy not in self.agreements:
            event = self._event(actor, "read", obj, denied_reason="policy-not-held", now=now)
            return Admission((event,), DocumentRefused("policy-not-held"), None, meta.blob, None)
        decision = decide(subject, label, Action.READ, agreements=self.policies, now=now)
        event = self._event(actor, Action.READ.value, obj, decision=decision, now=now)
        if not decision.permit:
            refusal = DocumentRefused(*sorted(decision.codes))
            return Admission((event,), refusal, None, meta.blob, None)
        opening = Opening(
            info=meta.info,
            obligations=tuple(
                {k: str(v) for k, v in o.to_json().items()} for o in decision.obligations
            ),
            marking=meta.info.banner,
            reader=actor.id,
        )
        # The row's label JSON, as its metadata already holds it (not rebuilt on every open).
        expected = Expected(label_json=meta.info.label, document_id=doc_id)
        grant = self._key_access().grant(actor, obj, now=now, permit=decision, expected=expected)
        return Admission((event, grant.event), None, opening, meta.blob, grant)

    def _key_access(self) -> KeyAccess:
        # A document destroyed by any process serving this node (another worker) since the
        # last open: no wrapped key of it may stay cached here either.
        self.forget_destroyed()
        return KeyAccess(
            self._keys(), self.audit, self.blobs, self._manifests, self._verified_blobs
        )

    def _document(self, doc_id: str) -> _Meta:
        generation = self.db.generation
        meta = self._meta.get(doc_id, generation)
        if meta is None:
            with self.db.read() as session:
                row = self._live(session, doc_id)
                label = self._label_of(row)
                info = self._info(session, row, label)
            assert row.blob_hash is not None  # a live document has its blob
            meta = _Meta(label, info, row.blob_hash)
            self._meta.put(doc_id, generation, meta)
        return meta

    # -- reproduction, destruction, incidents -------------------------------------------

    def reproduce(self, actor: Actor, doc_id: str, *, holder: str, reason: str) -> int:
        """Account for a numbered copy; the actor must be able to read the document."""
        if not reason.strip():
            raise InputError("reason: a reproduction needs a reason")
        now = self.clock()
        subject = self.registry.subject_for(actor.id, now)
        holder_subject = self.registry.subject_for(holder, now)
        with self.db.write() as session:
            row = self._live(session, doc_id)
            label = self._label_of(row)
            obj = f"document:{doc_id}"
            self._decide(actor, subject, label, Action.READ, obj, now, details={"what": "copy"})
            self._decide(
                actor, holder_subject, label, Action.READ, obj, now, details={"holder": holder}
            )
            row.copies_made += 1
            number = row.copies_made
            session.add(
                Reproduction(
                    document_id=doc_id,
                    copy_number=number,
                    made_by=actor.id,
                    made_at=now,
                    holder=holder,
                    reason=reason,
                )
            )
            self._record(
                actor, "reproduce", obj, now=now, details={"copy": number, "holder": holder}
            )
        return number

    def destroy(self, actor: Actor, doc_id: str, *, reason: str) -> dict[str, Any]:
        """Destroy a document: its sealed blob (with every wrapped copy of its data key) is
        deleted, the row is marked destroyed, and a destruction certificate is issued.

        The custodian or an NSA officer may destroy, and the decision function must permit
        `destroy` on the label.
        """
        if not reason.strip():
            raise InputError("reason: a destruction needs a reason")
        now = self.clock()
        obj = f"document:{doc_id}"
        subject = self.registry.subject_for(actor.id, now)
        with self.db.write() as session:
            row = self._live(session, doc_id)
            if row.custodian_id != actor.id and not actor.has(Role.NSA_OFFICER):
                self._record(actor, "destroy", obj, denied_reason="not-custodian", now=now)
                raise DocumentRefused("not-custodian")
            label = self._label_of(row)
            self._decide(actor, subject, label, Action.DESTROY, obj, now)
            blob = row.blob_hash
            assert blob is not None
            certificate = {
                "document": doc_id,
                "label": row.label_json,
                "title": row.title,
                "sealed_sha256": blob,
                "copies_made": row.copies_made,
                "destroyed_by": actor.id,
                "destroyed_at": now.isoformat(),
                "method": "crypto-erase: sealed object and its wrapped data keys deleted",
                "reason": reason,
            }
            cert_id = new_id(now)
            session.add(
                DestructionCertificate(
                    id=cert_id,
                    document_id=doc_id,
                    destroyed_by=actor.id,
                    destroyed_at=now,
                    method="crypto-erase",
                    reason=reason,
                    certificate=certificate,
                )
            )
            row.destroyed_at = now
            row.blob_hash = None
            for copy in session.scalars(
                select(Reproduction).where(Reproduction.document_id == doc_id)
            ):
                copy.destroyed_at = now
            self._record(
                actor, "destroyed", obj, now=now, details={"certificate": cert_id, "blob": blob}
            )
        # After the commit: a crash in between leaves an unreferenced blob, swept later,
        # never a live row without its blob.
        # Destruction is cryptographic: no copy of the wrapped data key may outlive it, not
        # even in a cache of verified manifests, this process's or another worker's.
        self.db.count_destruction()
        self._manifests.clear()
        if not self._blob_shared(blob):
            self.blobs.delete(blob)
        return {"id": cert_id, **certificate}

    def recover(self) -> tuple[int, int]:
        """After a crash, before serving: drop temporary blob files and blobs no row names.

        An upload writes its blob before its row, and a destruction deletes its row's blob
        after the commit, so either crash leaves at most an unreferenced blob, never a row
        without its blob. Returns (temporary files removed, orphan blobs removed). Call only
        while nothing else writes to this node.
        """
        temporary = self.blobs.sweep_temporary()
        with self.db.read() as session:
            referenced = set(
                session.scalars(select(Document.blob_hash).where(Document.blob_hash.is_not(None)))
            )
        orphans = [h for h in self.blobs.hashes() if h not in referenced]
        for blob in orphans:
            self.blobs.delete(blob)
        return temporary, len(orphans)

    def forget_destroyed(self) -> None:
        """Drop the cached verified manifests (their wrapped keys) if a document has been
        destroyed by any process serving this node since this process last looked."""
        destructions = self.db.destructions
        if destructions != self._destructions_seen:
            self._manifests.clear()
            self._destructions_seen = destructions

    def sweep_destroyed(self) -> int:
        """Delete the sealed objects of destroyed documents that are still on disk (a
        process killed between a destruction's commit and the deletion of its blob);
        returns how many. Unlike `recover`, safe while other processes serve the node: it
        deletes only blobs that a destruction certificate names and no live row uses."""
        with self.db.read() as session:
            named = {
                str(c["sealed_sha256"])
                for c in session.scalars(select(DestructionCertificate.certificate))
                if isinstance(c, dict) and c.get("sealed_sha256")
            }
        swept = 0
        for blob in named:
            if self.blobs.exists(blob) and not self._blob_shared(blob):
                self.blobs.delete(blob)
                swept += 1
        return swept

    def _blob_shared(self, blob: str) -> bool:
        with self.db.read() as session:
            return session.scalar(select(Document.id).where(Document.blob_hash == blob)) is not None

    def report_incident(
        self, actor: Actor, *, doc_id: str | None, kind: str, description: str
    ) -> dict[str, Any]:
        """Record a loss or compromise (or a suspicion), against a document or not."""
        if kind not in ("loss", "compromise", "suspected"):
            raise InputError(f"kind: {kind!r} is not loss, compromise or suspected")
        if not description.strip():
            raise InputError("description: an incident report needs a description")
        now = self.clock()
        incident_id = new_id(now)
        with self.db.write() as session:
            if doc_id is not None and session.get(Document, doc_id) is None:
                raise NotFound(f"no document {doc_id!r}")
            session.add(
                Incident(
                    id=incident_id,
                    document_id=doc_id,
                    kind=kind,
                    description=description,
                    reported_by=actor.id,
                    reported_at=now,
                    status="open",
                )
            )
            self._record(
                actor,
                "incident",
                f"document:{doc_id}" if doc_id else "node",
                now=now,
                details={"incident": incident_id, "kind": kind},
            )
        return {"id": incident_id, "document": doc_id, "kind": kind, "status": "open"}

    def certificate(self, actor: Actor, doc_id: str) -> dict[str, Any]:
        """The destruction certificate of a document (custodian, NSA officer, auditor)."""
        with self.db.read() as session:
            cert = session.scalars(
                select(DestructionCertificate).where(DestructionCertificate.document_id == doc_id)
            ).first()
            if cert is None:
                raise NotFound(f"no destruction certificate for {doc_id!r}")
            if cert.destroyed_by != actor.id and not actor.has(Role.NSA_OFFICER, Role.AUDITOR):
                raise NotFound(f"no destruction certificate for {doc_id!r}")
            return {"id": cert.id, **cert.certificate}


@functools.lru_cache(maxsize=8192)
def _parse_label(text: str) -> Label:
    # Labels repeat across documents; a stored label was checked when it was registered, and
    # is checked again here (once per distinct label) against the policies of this version.
    return label_from_json(json.loads(text))


class _LimitedReader:
    """A read-only stream that refuses to yield more than `limit` bytes in total."""

    def __init__(self, inner: BinaryIO, limit: int) -> None:
        self._inner = inner
        self._left = limit

    def read(self, size: int = -1) -> bytes:
        """Read up to `size` bytes; raises PayloadTooLarge past the limit."""
        data = self._inner.read(size)
        self._left -= len(data)
        if self._left < 0:
            raise PayloadTooLarge("the document is larger than max_upload_bytes")
        return data

    def readinto(self, buffer: Any) -> int:
        """Fill `buffer` from the stream."""
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seekable(self) -> bool:
        """Never: the source is a stream."""
        return False


def iter_chunks(stream: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    """The stream's bytes in chunks."""
    while data := stream.read(size):
        yield data
