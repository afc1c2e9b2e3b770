"""Two real nodes in-process for the visit tests: KOR (the visiting party: Hanwha Ocean's
engineer) and CAN (the host: a Canadian shipyard), paired under kor-can, whose messages go
through each node's real outbox, delivery and inbox (`Loopback`, which can be taken down)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cix.federation.visit import VisitKind
from cix.node.auditing import AuditRecord, MemoryAuditSink
from cix.node.exchange.transport import PeerUnreachable
from cix.node.exchange.visit_rows import VisitInfo
from cix.node.roles import SYSTEM, Actor, Role
from cix.node.schemas import PersonIn, RegistryClearance
from cix.node.service import Node
from tests.federation.three_nodes import Loopback, open_node, pair, seed, url_of
from tests.node_support import T0, Clock

VISITOR: dict[str, Any] = {
    "name": "Kim Min-jun",
    "date_of_birth": "1985-04-12",
    "place_of_birth": "Geoje",
    "nationality": "KOR",
    "passport_number": "M12345678",
    "job_title": "Hull structures engineer",
    "organisation": "Hanwha Ocean",
    "clearance_level": "II",
    "clearance_valid_until": "2027-12-31",
}


@dataclass
class FlakyLoopback(Loopback):
    """A loopback that can be down (nothing arrives) or lose answers (the message arrives,
    its answer is lost on the way back, as when a peer dies after committing)."""

    down: bool = False
    lose_answers: int = 0
    attempts: list[str] = field(default_factory=list)

    def send(self, url: str, path: str, token: str, body: Path | None) -> tuple[int, bytes]:
        self.attempts.append(url)
        if self.down:
            raise PeerUnreachable(f"{url} is down")
        answer = super().send(url, path, token, body)
        if self.lose_answers:
            self.lose_answers -= 1
            raise PeerUnreachable(f"{url}: the answer was lost")
        return answer


@dataclass
class Pair:
    """KOR and CAN, paired and seeded; `fso` is a KOR facility security officer."""

    kor: Node
    can: Node
    wire: FlakyLoopback
    clock: Clock

    def deliver(self) -> None:
        """Run both nodes' delivery until nothing is due."""
        for _ in range(10):
            if not sum(n.exchange.delivery.run_once() for n in (self.kor, self.can)):
                return
        raise AssertionError("delivery did not settle")

    def actor(self, node: Node, person: str) -> Actor:
        return node.registry.actor_for(person)

    def events(self, node: Node, action: str, decision: str = "permit") -> list[AuditRecord]:
        audit = node.audit
        assert isinstance(audit, MemoryAuditSink)
        return [e for e in audit.events if e.action == action and e.decision == decision]

    def draft(self, first: date, days: int = 5, **over: Any) -> VisitInfo:
        """KOR's FSO drafts a visit to CAN from `first` for `days` days."""
        fields: dict[str, Any] = {
            "agreement": "kor-can",
            "kind": VisitKind.ONE_TIME,
            "host_party": "CAN",
            "visitor": VISITOR,
            "contract": "CPSP hull section contract",
            "first_day": first,
            "last_day": first + timedelta(days=days - 1),
            "purpose": "Hull section design review",
            "host_contact": "J. Tremblay, CPSP project office",
            "facility": "Halifax Shipyard",
            "highest_level": "S",
            **over,
        }
        return self.kor.visits.draft(self.actor(self.kor, "fso"), **fields)


def make_pair(tmp_path: Path) -> Generator[Pair]:
    """KOR and CAN (the generator of a fixture), with KOR's FSO `fso`."""
    clock = Clock(T0)
    kor = open_node(tmp_path, "KOR", ("kor-can",), clock)
    can = open_node(tmp_path, "CAN", ("kor-can",), clock)
    wire = FlakyLoopback()
    for node in (kor, can):
        wire.nodes[url_of(node)] = node
        node.exchange.delivery.transport = wire
    pair(kor, can, "kor-can")
    seed(kor, "II")
    seed(can, "S")
    kor.registry.create_person(
        SYSTEM,
        PersonIn(
            id="fso",
            name="Fso",
            organisation="yard",
            nationalities=["KOR"],
            clearance=RegistryClearance(level="II", party="KOR", expires=T0 + timedelta(days=365)),
            briefed_at=T0 - timedelta(days=1),
            briefed_until=T0 + timedelta(days=365),
            roles=[Role.FSO],
        ),
    )
    try:
        yield Pair(kor, can, wire, clock)
    finally:
        kor.close()
        can.close()
