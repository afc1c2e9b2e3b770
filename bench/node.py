"""Node benchmark: first-page listing among 1,000,000 documents (SQLite).

The register is filled directly with 1,000,000 rows of varied labels (levels, programmes,
government-only, two policies), then the first page (50) a reader may see is timed through
`Documents.list` (SQL prefilter on the indexed label columns, keyset order, then the
decision function on each candidate), against a baseline in the same run: the naive
listing that reads rows newest first and decides each until the page is full.

Run: `.venv/bin/python -m bench node` (set CIX_BENCH_DOCS to change the count).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import insert, select, text

from cix.labels import label_from_json
from cix.node.auditing import MemoryAuditSink
from cix.node.documents import new_id
from cix.node.labelbits import CAVEAT, PARTY, PROGRAMME
from cix.node.roles import SYSTEM, Role
from cix.node.schemas import (
    Clearance,
    MembershipIn,
    OrganisationIn,
    OrganisationPatch,
    PersonIn,
    ProgrammeIn,
)
from cix.node.service import Node, init_node
from cix.policy import Action, Request, decide_many
from cix.store.models import Document

NOW = datetime(2026, 6, 1, tzinfo=UTC)
YEAR = NOW + timedelta(days=365)
PROGRAMMES = [f"P{i:02d}" for i in range(20)]


def _setup(data_dir: Path) -> Node:
    env = {"CIX_PASSPHRASE": "bench"}
    audit = MemoryAuditSink()
    init_node(data_dir, party="CAN", agreements=("kor-can",), environ=env, audit=audit)
    node = Node.open(data_dir, environ=env, audit=audit, clock=lambda: NOW)
    reg = node.registry
    reg.create_organisation(
        SYSTEM, OrganisationIn(id="dnd", name="DND", kind="government", party="CAN")
    )
    reg.create_organisation(
        SYSTEM, OrganisationIn(id="acme", name="Acme", kind="contractor", party="CAN")
    )
    reg.update_organisation(
        SYSTEM,
        "acme",
        OrganisationPatch(facility_clearance=Clearance(level="S", party="CAN", expires=YEAR)),
    )
    people = [
        ("analyst", "dnd", "S", ["CAN"], PROGRAMMES[:2]),
        ("contractor", "acme", "C", ["CAN"], []),
        ("liaison", "dnd", "C", ["KOR"], []),
    ]
    for programme in PROGRAMMES:
        reg.create_programme(SYSTEM, ProgrammeIn(id=programme, title=programme, party="CAN"))
    for person_id, org, level, nationalities, programmes in people:
        reg.create_person(
            SYSTEM,
            PersonIn(
                id=person_id,
                name=person_id,
                organisation=org,
                nationalities=nationalities,
                clearance=Clearance(level=level, party="CAN", expires=YEAR),
                briefed_until=YEAR,
                roles=[Role.READER],
            ),
        )
        for programme in programmes:
            reg.grant_membership(
                SYSTEM,
                MembershipIn(
                    person=person_id,
                    programme=programme,
                    valid_from=NOW - timedelta(days=1),
                    valid_until=YEAR,
                    justification="benchmark",
                ),
            )
    return node


def _fill(node: Node, count: int) -> None:
    rng = random.Random(7)
    docs = node.documents
    with node.db.write() as session:
        party_bits = {p: docs.bits.allocate(session, PARTY, [p]) for p in ("CAN", "KOR")}
        prog_bits = {p: docs.bits.allocate(session, PROGRAMME, [p]) for p in PROGRAMMES}
        govonly = docs.bits.allocate(session, CAVEAT, ["GOVONLY"])
    created = "2026-01-01T00:00:00Z"
    batch: list[dict[str, object]] = []
    for i in range(count):
        joint = rng.random() < 0.2
        level = rng.choice(["C", "S"]) if joint else rng.choice(["C", "S", "TS"])
        programmes = rng.sample(PROGRAMMES, k=rng.choice([0, 0, 1, 2]))
        caveats = ["GOVONLY"] if rng.random() < 0.1 else []
        releasable = ["CAN", "KOR"] if joint else ["CAN"]
        policy = "kor-can" if joint else "can-national"
        label = {
            "caveats": caveats,
            "classification": level,
            "created": created,
            "originator": "CAN",
            "policy": policy,
            "programmes": sorted(programmes),
            "purpose": None,
            "releasable_to": releasable,
        }
        batch.append(
            {
                "id": new_id(NOW - timedelta(seconds=count - i)),
                "policy": policy,
                "originator": "CAN",
                "classification": level,
                "rank": docs.agreements[policy].rank("CAN", level),
                "releasability_mask": sum(party_bits[p] for p in releasable),
                "programme_mask": sum(prog_bits[p] for p in programmes),
                "caveat_mask": govonly if caveats else 0,
                "label_json": label,
                "title": f"document {i}",
                "purpose": None,
                "media_type": "text/plain",
                "plaintext_size": 1000,
                "sealed_size": 2000,
                "blob_hash": None,
                "created_by": "analyst",
                "created_at": NOW,
                "custodian_id": "analyst",
                "copies_made": 0,
                "destroyed_at": None,
            }
        )
        if len(batch) == 50_000:
            with node.db.write() as session:
                session.execute(insert(Document), batch)
            batch = []
    if batch:
        with node.db.write() as session:
            session.execute(insert(Document), batch)
    with node.db.write() as session:
        session.execute(text("ANALYZE"))


def _naive_first_page(node: Node, person: str, limit: int) -> int:
    """Baseline: newest first, decide every row until the page is full (no SQL filter)."""
    subject = node.registry.subject_for(person, NOW)
    found = 0
    after: str | None = None
    with node.db.read() as session:
        while found < limit:
            query = select(Document).where(Document.destroyed_at.is_(None))
            if after:
                query = query.where(Document.id < after)
            rows = list(session.scalars(query.order_by(Document.id.desc()).limit(1000)))
            if not rows:
                break
            labels = [label_from_json(r.label_json) for r in rows]
            decisions = decide_many(
                [Request(subject, lab, Action.READ, NOW) for lab in labels],
                agreements=node.documents.policies,
            )
            for row, decision in zip(rows, decisions, strict=True):
                after = row.id
                if decision.permit:
                    found += 1
                    if found == limit:
                        break
    return found


def _time(fn: Callable[[], object], repeat: int = 5) -> float:
    fn()  # warm the caches, as a running node has them
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    """Fill the register and print first-page times, cix vs the naive baseline."""
    count = int(os.environ.get("CIX_BENCH_DOCS", "1000000"))
    with tempfile.TemporaryDirectory(prefix="cix-bench-node-") as tmp:
        node = _setup(Path(tmp) / "node")
        start = time.perf_counter()
        _fill(node, count)
        print(f"filled {count:,} documents in {time.perf_counter() - start:.1f} s")
        print(f"{'reader':<12}{'visible':>9}{'cix first page':>17}{'naive':>12}{'ratio':>8}")
        for person in ("analyst", "contractor", "liaison"):
            actor = node.registry.actor_for(person)
            page = node.documents.list(actor, limit=50)
            ours = _time(partial(node.documents.list, actor, limit=50))
            naive = _time(partial(_naive_first_page, node, person, 50), repeat=1)
            print(
                f"{person:<12}{len(page.items):>9}{ours * 1000:>14.1f} ms"
                f"{naive * 1000:>9.0f} ms{naive / ours:>7.1f}x"
            )
        node.close()


if __name__ == "__main__":
    main()
