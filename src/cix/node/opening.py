"""The open admission: may this actor open this document, and with what key grant.

An open is the hot path: `Opener.admit` decides from cached facts (the person's view in the
registry, the document's label and metadata per id until the next database write, see
`cix.node.cache`) and returns the audit records to append: on a permit, the decision and the
key access together, which the caller records as one durable group before the key is
unwrapped (`cix.node.keyaccess`) and any byte decrypted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from cix.errors import InputError
from cix.federation.chain import recorded_originator
from cix.labels import Label
from cix.node.auditing import AuditRecord
from cix.node.cache import GenerationCache, NotCached
from cix.node.errors import DocumentRefused
from cix.node.keyaccess import Expected, KeyAccess, VerifiedBlobs
from cix.node.register import DocumentInfo, Register, event
from cix.node.roles import Actor
from cix.policy import Action, decide
from cix.store.models import ReceivedCopy


@dataclass(frozen=True)
class Opening:
    """A permitted open: the document, the obligations to fulfil, the marking and reader."""

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
    origin: str  # the document id the sealed object's policy uuid carries (its originator's)
    # a third party's copy: the originator's label, as received, and its vouched key
    sealed_label: Mapping[str, Any] | None = None
    signers: Mapping[str, Sequence[Any]] | None = None


def _third_party(meta: _Meta, copy: ReceivedCopy) -> _Meta:
    """A third party's copy opens against the originator's label as received, signed by
    the originator key its consent chain vouched for (recorded on the copy); a copy whose
    record names no such key opens against nothing (the open is refused, audited)."""
    try:
        originator = recorded_originator(copy.consent)
    except InputError:
        originator = None
    keys = (
        [originator.signing_key]
        if originator is not None and originator.party == copy.originator_party
        else []
    )
    signers: Mapping[str, Sequence[Any]] = {copy.originator_party: keys}
    return _Meta(meta.label, meta.info, meta.blob, meta.origin, copy.originator_label, signers)


@dataclass(frozen=True)
class Admission:
    """The outcome of `Opener.admit`: the audit `events` to record first (as one group),
    then either the `refusal` to raise or the `opening` and its key grant."""

    events: tuple[AuditRecord, ...]
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
        record_denial: Callable[[AuditRecord], None] | None = None,
    ) -> None:
        """Decrypt into `dst` (after `recorded`); `whole` reads the sealed blob into memory;
        `record_denial` as `Grant.open`."""
        self.grant.open(self.blob, dst, whole=whole, record_denial=record_denial)


class Opener:
    """Admits opens (see the module docstring) and holds the caches that make them cheap."""

    def __init__(self, register: Register, *, cache_size: int = 16384) -> None:
        from cix.envelope import ManifestCache

        self.reg = register
        self._meta: GenerationCache[str, _Meta] = GenerationCache(cache_size)
        self._manifests = ManifestCache(1024)
        # Holds no key material (blob names and manifest digests): outlives a destruction.
        self._verified_blobs = VerifiedBlobs(cache_size)
        self._destructions_seen = register.db.destructions
        self.pinned_signers: Callable[[], Mapping[str, Sequence[Any]]] = dict
        """The label signing keys pinned for other parties (set by federation's exchange):
        a received copy opens only if a pinned key of its originator party signed it."""

    def admit(self, actor: Actor, doc_id: str, *, cached_only: bool = False) -> Admission:
        """Decide whether `actor` may open `doc_id`; nothing is recorded or decrypted yet.

        The caller records `events` durably as one group (`append_many`, or `submit` and
        wait), then calls `recorded()` (which raises the refusal, if it is one) and only
        then `write_to`. With `cached_only`, raises `NotCached` instead of reading the
        database (so that an event loop can try it first without blocking). `NotFound`
        for a document that is not live, as `show` (not audited: there is nothing to see).
        """
        reg = self.reg
        now = reg.clock()
        if cached_only:
            subject = reg.registry.cached_subject(actor.id, now)
            meta = self._meta.get(doc_id, reg.db.generation)
            if subject is None or meta is None:
                raise NotCached(doc_id)
        else:
            subject = reg.registry.subject_for(actor.id, now)
            meta = self._document(doc_id)
        obj = f"document:{doc_id}"
        label = meta.label
        if label.policy not in reg.agreements:
            denied = event(actor, "read", obj, denied_reason="policy-not-held", now=now)
            return Admission((denied,), DocumentRefused("policy-not-held"), None, meta.blob, None)
        decision = decide(subject, label, Action.READ, agreements=reg.policies, now=now)
        decided = event(actor, Action.READ.value, obj, decision=decision, now=now)
        if not decision.permit:
            refusal = DocumentRefused(*sorted(decision.codes))
            return Admission((decided,), refusal, None, meta.blob, None)
        opening = Opening(
            info=meta.info,
            obligations=tuple(
                {k: str(v) for k, v in o.to_json().items()} for o in decision.obligations
            ),
            marking=meta.info.banner,
            reader=actor.id,
        )
        # The row's label JSON, as its metadata already holds it (not rebuilt on every open).
        expected = Expected(
            label_json=meta.sealed_label or meta.info.label,
            document_id=meta.origin,
            signers=meta.signers or {},
        )
        grant = self._key_access().grant(actor, obj, now=now, permit=decision, expected=expected)
        return Admission((decided, grant.event), None, opening, meta.blob, grant)

    def forget_destroyed(self) -> None:
        """Drop the cached verified manifests (their wrapped keys) if a document has been
        destroyed by any process serving this node since this process last looked."""
        destructions = self.reg.db.destructions
        if destructions != self._destructions_seen:
            self._manifests.clear()
            self._destructions_seen = destructions

    def forget_keys(self) -> None:
        """Drop every cached wrapped key now (this process has just destroyed a document)."""
        self._manifests.clear()

    def _key_access(self) -> KeyAccess:
        # A document destroyed by any process serving this node (another worker) since the
        # last open: no wrapped key of it may stay cached here either.
        self.forget_destroyed()
        reg = self.reg
        return KeyAccess(
            reg.keys(),
            reg.audit,
            reg.blobs,
            self._manifests,
            self._verified_blobs,
            party=reg.party,
            pinned=self.pinned_signers(),
        )

    def _document(self, doc_id: str) -> _Meta:
        reg = self.reg
        generation = reg.db.generation
        meta = self._meta.get(doc_id, generation)
        if meta is None:
            with reg.db.read() as session:
                row = reg.live(session, doc_id)
                label = reg.label_of(row)
                info = reg.info(session, row, label)
                # A copy received from another party keeps the originator's sealed object,
                # whose policy uuid is the originator's document id.
                copy = session.get(ReceivedCopy, doc_id)
            assert row.blob_hash is not None  # a live document has its blob
            meta = _Meta(
                label, info, row.blob_hash, copy.originator_document_id if copy else doc_id
            )
            if copy is not None and copy.originator_label is not None:
                meta = _third_party(meta, copy)
            self._meta.put(doc_id, generation, meta)
        return meta
