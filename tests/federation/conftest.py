"""Fixtures of the federation tests: a real CAN node (tests/node_support.py) and a
simulated KOR node paired with it (tests/federation/simulator.py)."""

from __future__ import annotations

import pytest

from cix.node.service import Node
from tests.federation.simulator import PeerSimulator
from tests.node_support import Clock, audit, clock, database_url, node

__all__ = ["audit", "clock", "database_url", "kor", "node"]


@pytest.fixture
def kor(node: Node, clock: Clock) -> PeerSimulator:
    """KOR's node, simulated, pinned at the CAN node under kor-can and pinning it back."""
    simulator = PeerSimulator(party="KOR", node_id="cix-kor", agreements=("kor-can",), clock=clock)
    simulator.pair_with(node)
    node.exchange.delivery.transport = simulator
    return simulator
