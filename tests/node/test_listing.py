"""The document listing's SQL prefilter and scan budget (docs/node.md, Listing).

The prefilter must be a superset of what the decision permits: property-tested here by
paging a listing to its end for random subjects over random labels and comparing it with
the decision on every document. The budget must bound one call's work whatever the subject.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

import cix.node.documents as documents_module
from cix.agreements import bundled_registry
from cix.labels import Label, make_label
from cix.node.auditing import MemoryAuditSink
from cix.node.documents import Documents
from cix.node.labelbits import CAVEAT, PARTY, PROGRAMME
from cix.node.service import Node, init_node
from cix.policy import (
    Action,
    Clearance,
    Organisation,
    OrganisationKind,
    Subject,
    decide,
    make_subject,
)
from cix.store.models import Document
from tests.node_support import ENVIRON, T0, Clock

NOW = T0 + timedelta(days=10)
LATER = NOW + timedelta(days=100)
EARLIER = NOW - timedelta(days=1)
_ids = itertools.count(1)
_SECRET = Clearance("CAN", "S", LATER)
_GOVERNMENT = Organisation("dnd", OrganisationKind.GOVERNMENT, "CAN")


@pytest.fixture
def node(tmp_path: Path, database_url: str) -> Iterator[Node]:
    """A CAN node holding kor-can and can-deu (and the national policy), on each database."""
    clock, audit = Clock(NOW), MemoryAuditSink()
    data_dir = tmp_path / "node"
    init_node(data_dir, party="CAN", agreements=("kor-can", "can-deu"), database_url=database_url,
              admin="root", environ=ENVIRON, audit=audit, clock=clock)  # fmt: skip
    opened = Node.open(data_dir, environ=ENVIRON, audit=audit, clock=clock)
    try:
        yield opened
    finally:
        opened.close()


def _label(policy: str, originator: str, level: str, rel: list[str], progs: list[str],
           caveats: list[str]) -> Label:  # fmt: skip
    registry = bundled_registry()
    return make_label(registry.get(policy), originator=originator, classification=level,
                      releasable_to=rel, programmes=progs, caveats=caveats, created=T0,
                      registry=registry)  # fmt: skip


def _insert(node: Node, labels: list[Label]) -> list[str]:
    """Register a row per label directly (no blob: the listing reads rows only); ids in
    the order given, so the last is the newest."""
    docs: Documents = node.documents
    ids = []
    with node.db.write() as session:
        for label in labels:
            doc_id = f"{next(_ids):032x}"
            agreement = docs.reg.agreements[label.policy]
            session.add(
                Document(
                    id=doc_id, policy=label.policy, originator=label.originator,
                    classification=label.classification,
                    rank=agreement.rank(label.originator, label.classification),
                    releasability_mask=docs.bits.allocate(session, PARTY, label.releasable_to),
                    programme_mask=docs.bits.allocate(session, PROGRAMME, label.programmes),
                    caveat_mask=docs.bits.allocate(session, CAVEAT, label.caveats),
                    label_json=dict(label.to_json()), title=f"t{doc_id}",
                    purpose=label.purpose, media_type="text/plain", plaintext_size=1,
                    sealed_size=1, blob_hash=None, created_by="root", created_at=NOW,
                    custodian_id="root", copies_made=0, destroyed_at=None,
                )
            )  # fmt: skip
            ids.append(doc_id)
    return ids


def _everything(docs: Documents, subject: Subject, limit: int) -> list[str]:
    """Every id the listing returns to `subject`, following cursors to the end."""
    seen: list[str] = []
    cursor = None
    for _ in range(10_000):
        page = docs.page_for(subject, NOW, limit=limit, cursor=cursor)
        seen += [item.id for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return seen
    raise AssertionError("the listing never ended")


def _subject(
    *,
    nationalities: frozenset[str] = frozenset({"CAN"}),
    clearance: Clearance | None = _SECRET,
    briefed_until: datetime | None = LATER,
    programmes: dict[str, datetime] | None = None,
    organisation: Organisation = _GOVERNMENT,
) -> Subject:
    return make_subject(id="p", nationalities=nationalities, clearance=clearance,
                        briefed_until=briefed_until, programmes=programmes or {},
                        roles=frozenset(), organisation=organisation)  # fmt: skip


# -- labels and subjects at random -----------------------------------------------------------

_LEVELS = {"CAN": ["C", "S", "TS"], "KOR": ["III", "II", "I"], "DEU": ["VSV", "GEH", "SG"]}
_POLICY_PARTIES = {"can-national": ["CAN"], "kor-can": ["CAN", "KOR"], "can-deu": ["CAN", "DEU"]}
# mostly valid, so that subjects are permitted something and the property has teeth
_moments = st.sampled_from([LATER, LATER, LATER, EARLIER])


def _label_pool() -> list[Label]:
    """Every valid label of a small product: each policy, originator and level, a few
    releasabilities, programmes and the government-only caveat."""
    pool = []
    for policy, parties in sorted(_POLICY_PARTIES.items()):
        for originator in parties:
            for level, rel, progs, caveats in itertools.product(
                _LEVELS[originator],
                (["CAN"], ["KOR"], ["CAN", "KOR"], ["CAN", "DEU"], ["CAN", "USA"]),
                ([], ["CPSP"], ["CPSP", "ARC"]),
                ([], ["GOVONLY"]),
            ):
                try:
                    label = _label(policy, originator, level, sorted({originator, *rel}),
                                   progs, caveats)  # fmt: skip
                    bundled_registry().agreements[policy].rank(originator, level)
                except ValueError:
                    continue  # not a valid label under that policy (out of scope, ...)
                pool.append(label)
    return pool


_clearances = st.one_of(
    st.just(None),
    st.builds(Clearance, st.just("CAN"), st.sampled_from(["S", "TS"]), st.just(LATER)),
    st.builds(
        Clearance,
        st.sampled_from(sorted(_LEVELS)),
        st.sampled_from(["C", "S", "TS"]),
        _moments,
    ).filter(lambda c: c.level in _LEVELS[c.party]),
    st.sampled_from(sorted(_LEVELS)).flatmap(
        lambda p: st.builds(Clearance, st.just(p), st.sampled_from(_LEVELS[p]), _moments)
    ),
)


@st.composite
def _subjects(draw: st.DrawFn) -> Subject:
    contractor = draw(st.sampled_from([False, False, True]))
    facility = draw(_clearances) if contractor else None
    kind = OrganisationKind.CONTRACTOR if contractor else OrganisationKind.GOVERNMENT
    return _subject(
        nationalities=frozenset(
            draw(
                st.lists(
                    st.sampled_from(["CAN", "CAN", "KOR", "DEU", "USA"]), min_size=1, max_size=2
                )
            )
        ),
        clearance=draw(_clearances),
        briefed_until=draw(st.one_of(_moments, st.none())),
        programmes=draw(st.dictionaries(st.sampled_from(["CPSP", "ARC"]), _moments)),
        organisation=Organisation("o", kind, "CAN", facility),
    )


def test_listing_never_hides_a_readable_document_nor_shows_a_refused_one(node: Node) -> None:
    docs = node.documents
    labels = _label_pool()
    assert len(labels) > 100
    ids = _insert(node, labels * 2)
    by_id = dict(zip(ids, labels * 2, strict=True))

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        subject=_subjects(),
        limit=st.integers(1, 7),
        budgets=st.sampled_from([(20_000, 200_000), (5, 200_000), (20_000, 7), (3, 11)]),
    )
    def check(subject: Subject, limit: int, budgets: tuple[int, int]) -> None:
        # small budgets too: short pages and cursors must not lose or repeat a document
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(documents_module, "SCAN_BUDGET", budgets[0])
            patch.setattr(documents_module, "ROW_BUDGET", budgets[1])
            listed = _everything(docs, subject, limit)
        assert len(listed) == len(set(listed)), "a document listed twice"
        expected = [
            doc_id
            for doc_id in reversed(ids)
            if decide(
                subject, by_id[doc_id], Action.READ, agreements=docs.reg.policies, now=NOW
            ).permit
        ]
        assert listed == expected
        permitted.append(len(expected))

    permitted: list[int] = []
    check()
    # The property says something only if some subjects are permitted something: about one
    # in ten of the drawn subjects is (a mean of ~15 in 150), so fewer than 3 would mean the
    # strategy stopped drawing readers (p < 1e-4 by chance), not a flaky run.
    assert sum(1 for n in permitted if n) >= 3, permitted


# -- the subject-level gates -------------------------------------------------------------------


def _candidates(docs: Documents, subject: Subject) -> int:
    with docs.reg.db.read() as session:
        condition = docs._prefilter(session, subject, NOW)
        count = session.scalar(select(func.count()).select_from(Document).where(condition))
        return int(count or 0)


@pytest.mark.parametrize(
    "profile",
    [
        "expired clearance",
        "expired briefing",
        "never briefed",
        "contractor without a facility clearance",
        "contractor with an expired facility clearance",
    ],
)
def test_subject_refused_everything_costs_no_row_in_the_listing(node: Node, profile: str) -> None:
    # A subject whom a rule on the subject alone refuses every label: the SQL prefilter
    # passes none of the register's rows, so such a page cannot cost a scan of it.
    _insert(node, [_label("can-national", "CAN", "C", ["CAN"], [], [])] * 30)
    contractor = Organisation("o", OrganisationKind.CONTRACTOR, "CAN")
    subject = {
        "expired clearance": lambda: _subject(clearance=Clearance("CAN", "S", NOW)),
        "expired briefing": lambda: _subject(briefed_until=EARLIER),
        "never briefed": lambda: _subject(briefed_until=None),
        "contractor without a facility clearance": lambda: _subject(organisation=contractor),
        "contractor with an expired facility clearance": lambda: _subject(
            organisation=Organisation(
                "o", OrganisationKind.CONTRACTOR, "CAN", Clearance("CAN", "S", EARLIER)
            )
        ),
    }[profile]()
    assert _candidates(node.documents, subject) == 0
    assert _candidates(node.documents, _subject()) == 30


def test_dual_national_costs_no_row_of_an_agreement_he_is_a_third_party_to(node: Node) -> None:
    # A CAN–DEU dual national is a third party to kor-can information, readable or not by
    # releasability: those rows never reach the decision. National CAN rows still do.
    _insert(node, [_label("kor-can", "CAN", "S", ["CAN", "KOR"], [], [])] * 20)
    _insert(node, [_label("can-national", "CAN", "S", ["CAN"], [], [])] * 3)
    dual = _subject(nationalities=frozenset({"CAN", "DEU"}))
    assert _candidates(node.documents, dual) == 3
    assert len(_everything(node.documents, dual, 50)) == 3


def test_facility_clearance_caps_a_contractors_rank_like_his_own(node: Node) -> None:
    # A SECRET-cleared employee of a CONFIDENTIAL-cleared contractor: the SECRET rows are
    # excluded in SQL, not refused one by one.
    _insert(node, [_label("can-national", "CAN", "S", ["CAN"], [], [])] * 20)
    _insert(node, [_label("can-national", "CAN", "C", ["CAN"], [], [])] * 2)
    contractor = Organisation("o", OrganisationKind.CONTRACTOR, "CAN", Clearance("CAN", "C", LATER))
    subject = _subject(organisation=contractor)
    assert _candidates(node.documents, subject) == 2
    assert len(_everything(node.documents, subject, 50)) == 2


def test_expired_membership_costs_no_row_of_its_programme(node: Node) -> None:
    _insert(node, [_label("can-national", "CAN", "S", ["CAN"], ["CPSP"], [])] * 20)
    lapsed = _subject(programmes={"CPSP": EARLIER})
    assert _candidates(node.documents, lapsed) == 0
    assert _candidates(node.documents, _subject(programmes={"CPSP": LATER})) == 20


# -- the scan budget ---------------------------------------------------------------------------


def test_listing_cost_is_bounded_for_a_subject_refused_everything(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Whatever the prefilter cannot express is refused by the decision row by row: here the
    # prefilter is made the weakest superset (live rows), so that every refused row is a
    # candidate, and the budget small, so that the register is many budgets long.
    budget = 25
    monkeypatch.setattr(documents_module, "SCAN_BUDGET", budget)
    weakest = lambda self, session, subject, now: Document.destroyed_at.is_(None)  # noqa: E731
    monkeypatch.setattr(Documents, "_prefilter", weakest)
    secret = _label("can-national", "CAN", "S", ["CAN"], [], [])
    confidential = _label("can-national", "CAN", "C", ["CAN"], [], [])
    readable = []
    for chunk in range(6):
        readable += _insert(node, [confidential])
        _insert(node, [secret] * (budget * 3 + chunk))
    docs = node.documents

    # refused everything (a KOR national: no row is released to KOR): each call examines at
    # most the budget, returns an empty page with a cursor, and the cursors end with nothing.
    refused = _subject(nationalities=frozenset({"KOR"}))
    page = docs.page_for(refused, NOW, limit=10)
    assert page.items == ()
    assert page.next_cursor is not None
    assert _everything(docs, refused, 10) == []

    # a CONFIDENTIAL reader among SECRET rows: pages may be short or empty, and following
    # the cursors reaches every readable document exactly once, newest first.
    reader = _subject(clearance=Clearance("CAN", "C", LATER))
    pages = []
    cursor = None
    while True:
        page = docs.page_for(reader, NOW, limit=4, cursor=cursor)
        pages.append(len(page.items))
        cursor = page.next_cursor
        if cursor is None:
            break
    assert any(n == 0 for n in pages[:-1])
    assert _everything(docs, reader, 4) == list(reversed(readable))


def test_listing_walk_is_bounded_for_a_subject_the_filter_excludes_nearly_everywhere(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CONFIDENTIAL reader among SECRET rows: the SQL filter itself excludes them, but
    # finding that out walks the index; one call walks at most ROW_BUDGET rows.
    budget = 30
    monkeypatch.setattr(documents_module, "ROW_BUDGET", budget)
    secret = _label("can-national", "CAN", "S", ["CAN"], [], [])
    confidential = _label("can-national", "CAN", "C", ["CAN"], [], [])
    readable = _insert(node, [confidential])
    _insert(node, [secret] * (budget * 4))
    readable += _insert(node, [confidential])
    docs = node.documents
    reader = _subject(clearance=Clearance("CAN", "C", LATER))
    first = docs.page_for(reader, NOW, limit=5)
    assert [item.id for item in first.items] == [readable[1]]
    assert first.next_cursor is not None
    second = docs.page_for(reader, NOW, limit=5, cursor=first.next_cursor)
    assert second.items == ()
    assert second.next_cursor is not None
    assert _everything(docs, reader, 5) == list(reversed(readable))
