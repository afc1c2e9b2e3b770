"""The document register's documents: upload (seal, and derive from sources), list, show.

Listings push a superset filter into SQL (levels, releasability, programmes and the
government-only caveat through indexed columns and bitmasks, newest first by keyset) and
then decide every candidate, so a listing never shows the title or label of a document
the caller may not read. Plaintext never touches the disk: uploads are sealed as they
stream in.

An upload audits a refusal as soon as it is decided; its permits (the reads of its sources,
the create) and the registration are recorded as one group only once the row is written and
just before it commits: a failed upload leaves no permit, no row and no blob.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Text, and_, cast, false, or_, select
from sqlalchemy.orm import Session

from cix.agreements import Agreement, bundled_registry
from cix.errors import InputError
from cix.keys.cursor import CursorCipher
from cix.labels import GOVONLY, Label, to_4774_xml
from cix.node.auditing import AuditRecord, audited_write
from cix.node.errors import PayloadTooLarge
from cix.node.labelbits import CAVEAT, PARTY, PROGRAMME, LabelBits
from cix.node.register import DocumentInfo, Register, event, new_id, parse_stored_label
from cix.node.roles import Actor, Role
from cix.node.search import DocumentQuery, conditions, search_form
from cix.node.text import has_control
from cix.policy import (
    Action,
    Clearance,
    OrganisationKind,
    Request,
    Subject,
    decide,
    decide_many,
)
from cix.store.models import Document, DocumentSource

#: The most rows (ids and labels) a listing reads ahead in one query.
_MAX_FETCH = 20_000
#: The most candidate rows (those the SQL prefilter passes) one listing call examines and
#: decides; past it the call returns the page so far with a cursor (docs/node.md, Listing).
SCAN_BUDGET = 20_000
#: The most live rows, readable or not, one listing call lets SQL walk (newest first from the
#: cursor): a subject whose filter excludes nearly every row costs this, not the register.
ROW_BUDGET = 200_000
#: The most candidates (rows the SQL prefilter passes) an id prefix is resolved among.
PREFIX_BUDGET = 256
#: The first window's size; each next window is four times larger (see `page_for`).
_FIRST_WINDOW = 4_096
#: The most characters a title may have.
MAX_TITLE = 500


@dataclass(frozen=True)
class Page:
    """One page of a listing and the cursor of the next (None at the end)."""

    items: tuple[DocumentInfo, ...]
    next_cursor: str | None


def check_title(title: str) -> str:
    """The title, stripped; `InputError` naming the field if it is empty, too long, or holds
    a control character (NUL, ESC, CR, LF, ...: a title is printed on terminals and pages)."""
    if has_control(title):
        raise InputError("title: must not contain control characters")
    stripped = title.strip()
    if not stripped or len(title) > MAX_TITLE:
        raise InputError(f"title: must be 1 to {MAX_TITLE} characters")
    return stripped


class Documents:
    """Upload, list and show documents (see the module docstring)."""

    def __init__(self, register: Register, *, max_upload_bytes: int, cursor_key: Path) -> None:
        self.reg = register
        self.max_upload_bytes = max_upload_bytes
        self.bits = LabelBits()
        self._cursor_key = cursor_key
        self._cursors: CursorCipher | None = None

    @property
    def cursors(self) -> CursorCipher:
        """The node's cursor cipher (its key file, in the node's keys directory shared by
        its workers, made on first use)."""
        if self._cursors is None:
            self._cursors = CursorCipher.at(self._cursor_key)
        return self._cursors

    def check_label(self, label: Label) -> None:
        """Refuse a label this node cannot originate: another party's, or an unheld policy."""
        if label.originator != self.reg.party:
            raise InputError(
                f"label: originator {label.originator} is not this node's party {self.reg.party}"
            )
        if label.policy not in self.reg.agreements:
            held = ", ".join(sorted(self.reg.agreements))
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
        must dominate each source's (no write down, rule 11); a source named twice is bad
        input.
        """
        from cix import envelope
        from cix.node.keyaccess import policy_uuid_for

        reg = self.reg
        now = reg.clock()
        doc_id = new_id(now)
        obj = f"document:{doc_id}"
        reg.require_role(actor, (Role.ORIGINATOR,), "create", obj)
        self.check_label(label)
        title = check_title(title)
        if len(set(derived_from)) != len(derived_from):
            raise InputError("source: each source may be named once")
        subject = reg.registry.subject_for(actor.id, now)
        permits: list[AuditRecord] = []
        source_labels: list[Label] = []
        with reg.db.read() as session:
            for source_id in derived_from:
                src_label = reg.label_of(reg.live(session, source_id))
                reg.decide(
                    actor,
                    subject,
                    src_label,
                    Action.READ,
                    f"document:{source_id}",
                    now,
                    pending=permits,
                )
                source_labels.append(src_label)
        reg.decide(
            actor,
            subject,
            label,
            Action.CREATE,
            obj,
            now,
            sources=source_labels,
            details={"title": title, "sources": list(derived_from)},
            pending=permits,
            own_label=True,
        )
        keys = reg.keys()
        writer = reg.blobs.writer(limit=None)
        try:
            result = envelope.seal(
                _LimitedReader(source, self.max_upload_bytes),  # type: ignore[arg-type]
                writer,  # type: ignore[arg-type]  # write-only file-like sinks
                label_xml=to_4774_xml(label, bundled_registry()),
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
        agreement = reg.agreements[label.policy]
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
            title=title,
            search_text=search_form(title),
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
        try:
            with audited_write(reg.db, reg.audit) as (session, group):
                row.releasability_mask = self.bits.allocate(session, PARTY, label.releasable_to)
                row.programme_mask = self.bits.allocate(session, PROGRAMME, label.programmes)
                row.caveat_mask = self.bits.allocate(session, CAVEAT, label.caveats)
                session.add(row)
                for source_id in derived_from:
                    session.add(DocumentSource(document_id=doc_id, source_id=source_id))
                session.flush()
                info = reg.info(session, row, label)
                registered = event(
                    actor,
                    "register",
                    obj,
                    now=now,
                    details={"blob": ref.sha256, "size": result.plaintext_size},
                )
                # The last step before the commit: a row that could not be written leaves
                # no permit behind, and a failed append aborts the commit.
                group.append([*permits, registered])
        except BaseException:
            reg.blobs.delete(ref.sha256)
            raise
        return info

    # -- listing -------------------------------------------------------------------------

    def _prefilter(self, session: Session, subject: Subject, now: datetime) -> Any:
        """A SQL condition every document the subject may read at `now` satisfies (a superset).

        Each part is one of the READ rules of `cix.policy.engine.access_bits` that depends on
        the subject alone or on indexed columns, applied exactly as the engine applies it, so
        the condition never excludes a readable document; what it cannot express (levels out
        of scope, equivalences) the decision of every candidate still judges.
        """
        if not _may_read_anything(subject, now):
            return false()
        nat = self.bits.mask(session, PARTY, subject.nationalities)
        moment = now.timestamp()
        # A membership counts until its expiry (the engine: expired when expiry <= now).
        current = [name for name, ends in subject.programmes.items() if ends.timestamp() > moment]
        members = self.bits.mask(session, PROGRAMME, current)
        not_member = ((1 << 63) - 1) & ~members
        conditions = [
            Document.destroyed_at.is_(None),
            Document.releasability_mask.op("&")(nat) != 0,
            Document.programme_mask.op("&")(not_member) == 0,
        ]
        facility = subject.organisation.facility_clearance
        contractor = subject.organisation.kind is OrganisationKind.CONTRACTOR
        if contractor:
            govonly = self.bits.mask(session, CAVEAT, [GOVONLY])
            if govonly:
                conditions.append(Document.caveat_mask.op("&")(govonly) == 0)
        clearance = subject.clearance
        assert clearance is not None  # _may_read_anything
        per_policy = []
        for policy_id, agreement in self.reg.agreements.items():
            # third-party-national: under an agreement of several parties, a nationality of
            # any other state refuses every label of that agreement.
            if len(agreement.parties) > 1 and not subject.nationalities <= set(agreement.parties):
                continue
            top = _top_rank(agreement, clearance)
            if contractor and top is not None:
                assert facility is not None  # _may_read_anything
                facility_top = _top_rank(agreement, facility)
                top = None if facility_top is None else min(top, facility_top)
            if top is not None:
                per_policy.append(and_(Document.policy == policy_id, Document.rank <= top))
        conditions.append(or_(*per_policy) if per_policy else false())
        return and_(*conditions)

    def list(
        self,
        actor: Actor,
        *,
        limit: int,
        cursor: str | None = None,
        narrowed: DocumentQuery | None = None,
    ) -> Page:
        """The newest documents the actor may read, after `cursor`, at most `limit` of them,
        narrowed by `narrowed` (words, classification, programme, …: `cix.node.search`).

        One call examines at most `SCAN_BUDGET` candidate rows: a page may hold fewer than
        `limit` documents, even none, and still carry a `next_cursor` to continue from.
        """
        now = self.reg.clock()
        subject = self.reg.registry.subject_for(actor.id, now)
        # Cursors are opaque (cix.keys.cursor): the position a budget-spent page ends at may
        # be a document the actor may not read.
        position = None if cursor is None else self.cursors.open(cursor)
        found = self.page_for(subject, now, limit=limit, cursor=position, narrowed=narrowed)
        after = found.next_cursor
        page = Page(found.items, None if after is None else self.cursors.seal(after))
        self.reg.audit.append(
            event(actor, "list", "documents", now=now, details={"returned": len(page.items)})
        )
        return page

    def page_for(
        self,
        subject: Subject,
        now: datetime,
        *,
        limit: int,
        cursor: str | None = None,
        narrowed: DocumentQuery | None = None,
    ) -> Page:
        """The page `list` returns to `subject` at `now` (unaudited: `list` records it)."""
        permitted: list[str] = []
        # The decision depends on the subject, the label and the time only: decided once per
        # distinct label of the listing, so a subject the prefilter cannot exclude (whom the
        # decision then refuses row after row) costs one decision per label, not per row.
        verdicts: dict[str, bool] = {}
        after = cursor  # every live row at or above it has been examined
        examined = walked = 0
        window, fetch = _FIRST_WINDOW, min(limit * 2, SCAN_BUDGET)
        # A subject whom a rule on the subject alone refuses everything costs no query.
        more = _may_read_anything(subject, now)
        with self.reg.db.read() as session:
            condition = self._prefilter(session, subject, now)
            if narrowed is not None:
                condition = and_(
                    condition, *conditions(narrowed, session, self.bits, self.reg.agreements)
                )
            # Windows of the newest live rows below `after`, growing, walked until the page
            # is full or a budget is spent: both budgets bound one call whatever the subject.
            while more and len(permitted) < limit:
                if walked >= ROW_BUDGET or examined >= SCAN_BUDGET:
                    break  # spent: the page so far, continued from `after` by the cursor
                size = min(window, ROW_BUDGET - walked)
                floor = self._floor(session, after, size)
                walked += size
                window *= 4
                fetch = min(fetch, SCAN_BUDGET - examined)
                while True:
                    query = select(Document.id, cast(Document.label_json, Text)).where(condition)
                    if after is not None:
                        query = query.where(Document.id < after)
                    if floor is not None:
                        query = query.where(Document.id >= floor)
                    batch = list(session.execute(query.order_by(Document.id.desc()).limit(fetch)))
                    examined += len(batch)
                    self._decide_labels(subject, {text for _, text in batch} - verdicts.keys(),
                                        now, verdicts)  # fmt: skip
                    last = False
                    for index, (doc_id, text) in enumerate(batch):
                        after = doc_id
                        if verdicts[text]:
                            permitted.append(doc_id)
                            if len(permitted) == limit:
                                last = index == len(batch) - 1
                                break
                    exhausted = len(batch) < fetch
                    if len(permitted) == limit:
                        # Nothing left only if this was the very last row of the register.
                        more = not (last and exhausted and floor is None)
                        break
                    if exhausted:
                        # The window is done: continue below its floor, or the end is reached.
                        more = floor is not None
                        after = floor if floor is not None else after
                        break
                    if examined >= SCAN_BUDGET:
                        break
                    # Few permitted so far: read further ahead (ids and labels only are cheap).
                    fetch = min(fetch * 4, _MAX_FETCH, SCAN_BUDGET - examined)
            items = self._infos(session, permitted)
        return Page(items, after if more else None)

    def may_read(self, actor: Actor, doc_id: str) -> bool:
        """Whether the actor may read `doc_id`'s information now (its label, destroyed or
        not), unaudited: for a face deciding what to show of entries about it (the audit
        explorer), whose own read is the audited act."""
        now = self.reg.clock()
        with self.reg.db.read() as session:
            row = session.get(Document, doc_id)
            if row is None or row.policy not in self.reg.agreements:
                return False
            label = self.reg.label_of(row)
        subject = self.reg.registry.subject_for(actor.id, now)
        return decide(subject, label, Action.READ, agreements=self.reg.policies, now=now).permit

    def starting_with(self, actor: Actor, prefix: str, *, limit: int) -> Page:
        """The live documents the actor may read whose id starts with `prefix` (lowercase hex),
        newest first, at most `limit`: how a person's typed id prefix is resolved. At most
        `PREFIX_BUDGET` candidates are examined, so a short prefix cannot make one call scan
        the register; what the actor may not read is never counted or shown."""
        now = self.reg.clock()
        subject = self.reg.registry.subject_for(actor.id, now)
        permitted: list[str] = []
        with self.reg.db.read() as session:
            # Ids are fixed-width lowercase hex: those starting with `prefix` are exactly the
            # range [prefix, prefix + "g"), an index range on the primary key.
            query = (
                select(Document.id, cast(Document.label_json, Text))
                .where(self._prefilter(session, subject, now))
                .where(Document.id >= prefix, Document.id < prefix + "g")
                .order_by(Document.id.desc())
                .limit(PREFIX_BUDGET)
            )
            batch = list(session.execute(query)) if _may_read_anything(subject, now) else []
            verdicts: dict[str, bool] = {}
            self._decide_labels(subject, {text for _, text in batch}, now, verdicts)
            permitted = [doc_id for doc_id, text in batch if verdicts[text]][:limit]
            items = self._infos(session, permitted)
        self.reg.audit.append(
            event(actor, "list", "documents", now=now,
                  details={"id_prefix": prefix, "returned": len(items)})
        )  # fmt: skip
        return Page(items, None)

    def _infos(self, session: Session, permitted: Sequence[str]) -> tuple[DocumentInfo, ...]:
        """The register entries of `permitted`, newest first, with their sources."""
        rows = list(
            session.scalars(
                select(Document).where(Document.id.in_(permitted)).order_by(Document.id.desc())
            )
        )
        # One query for the sources of the whole page, not one per document.
        sources: dict[str, list[str]] = {row.id: [] for row in rows}
        if sources:
            links = session.execute(
                select(DocumentSource.document_id, DocumentSource.source_id).where(
                    DocumentSource.document_id.in_(list(sources))
                )
            )
            for document_id, source_id in links:
                sources[document_id].append(source_id)
        return tuple(
            self.reg.info(session, row, self.reg.label_of(row), tuple(sorted(sources[row.id])))
            for row in rows
        )

    def _floor(self, session: Session, below: str | None, size: int) -> str | None:
        """The oldest id of the `size` newest live rows below `below` (None if fewer remain):
        a window's lower end, found by an index-only walk of the listing index."""
        query = select(Document.id).where(Document.destroyed_at.is_(None))
        if below is not None:
            query = query.where(Document.id < below)
        query = query.order_by(Document.id.desc()).offset(size - 1).limit(1)
        floor: str | None = session.scalar(query)
        return floor

    def _decide_labels(
        self, subject: Subject, texts: set[str], now: datetime, verdicts: dict[str, bool]
    ) -> None:
        """Add to `verdicts` whether `subject` may read each label (stored JSON text) at
        `now`. A stored label that no longer parses is refused here, never an error: one
        bad row must not make the listing fail for everyone whose page reaches it."""
        parsed: list[tuple[str, Label]] = []
        for text in texts:
            try:
                parsed.append((text, parse_stored_label(text)))
            except (InputError, ValueError):
                verdicts[text] = False
        decisions = decide_many(
            [Request(subject, label, Action.READ, now) for _, label in parsed],
            agreements=self.reg.policies,
        )
        for (text, _), decision in zip(parsed, decisions, strict=True):
            verdicts[text] = decision.permit

    def show(self, actor: Actor, doc_id: str) -> DocumentInfo:
        """A document's metadata, if the actor may read it."""
        reg = self.reg
        now = reg.clock()
        subject = reg.registry.subject_for(actor.id, now)
        with reg.db.read() as session:
            row = reg.live(session, doc_id)
            label = reg.label_of(row)
            reg.decide(
                actor,
                subject,
                label,
                Action.READ,
                f"document:{doc_id}",
                now,
                details={"what": "metadata"},
            )
            return reg.info(session, row, label)


def _may_read_anything(subject: Subject, now: datetime) -> bool:
    """False when a READ rule on the subject alone refuses every label at `now`: no
    clearance or an expired one, no current briefing, a contractor with no facility
    clearance or an expired one. Compared as the engine compares (POSIX seconds, expired
    when expiry <= now)."""
    moment = now.timestamp()
    clearance = subject.clearance
    if clearance is None or clearance.expires.timestamp() <= moment:
        return False
    if subject.briefed_until is None or subject.briefed_until.timestamp() <= moment:
        return False
    if subject.organisation.kind is OrganisationKind.CONTRACTOR:
        facility = subject.organisation.facility_clearance
        if facility is None or facility.expires.timestamp() <= moment:
            return False
    return True


def _top_rank(agreement: Agreement, clearance: Clearance) -> int | None:
    """The highest common rank of `agreement` a (personal or facility) clearance reaches, or
    None when it reaches none: a clearance of a party outside the agreement is recognised by
    none of its labels (the engine's NOT_RECOGNISED)."""
    if clearance.party not in agreement.parties:
        return None
    try:
        return agreement.rank(clearance.party, clearance.level)
    except InputError:
        # A level out of scope of this agreement has no common rank: no cap here, the
        # decision judges every candidate.
        return 1 << 30


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
