"""Fixtures of the federation tests: a real CAN node (tests/node_support.py) and a
simulated KOR node paired with it (tests/federation/simulator.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cix.node.auditing import MemoryAuditSink
from cix.node.service import Node
from tests.federation.cast import make_party_node, seed_cast
from tests.federation.simulator import PeerSimulator
from tests.node_support import Clock, audit, clock, database_url, node

__all__ = ["audit", "can", "clock", "database_url", "kor", "kor_node", "node"]


@pytest.fixture
def kor(node: Node, clock: Clock) -> PeerSimulator:
    """KOR's node, simulated, pinned at the CAN node under kor-can and pinning it back."""
    simulator = PeerSimulator(party="KOR", node_id="cix-kor", agreements=("kor-can",), clock=clock)
    simulator.pair_with(node)
    node.exchange.delivery.transport = simulator
    return simulator


@pytest.fixture
def kor_node(
    tmp_path: Path, clock: Clock, audit: MemoryAuditSink, database_url: str
) -> Iterator[Node]:
    """A real KOR node on the parametrised database with the cast seeded."""
    opened = make_party_node(tmp_path / "kor", "KOR", clock, audit, database_url=database_url)
    seed_cast(opened, clock.now)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def can(kor_node: Node, clock: Clock) -> PeerSimulator:
    """CAN's node, simulated, paired with the real KOR node and its delivery's transport."""
    simulator = PeerSimulator(party="CAN", node_id="cix-can", agreements=("kor-can",), clock=clock)
    simulator.pair_with(kor_node)
    kor_node.exchange.delivery.transport = simulator
    return simulator
