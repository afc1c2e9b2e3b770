"""End to end with two real node processes on loopback ports: a transmission from KOR to
CAN is followed by checkpoints cosigned both ways, with the timer off
(`witness_interval_seconds` 0), so it is the messages crossing that cue the rounds; then
`cix audit verify --dir` at each node names the other's cosignature."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from cix.node.service import Node
from cix.store.models import PeerCosignature
from tests.federation.two_nodes import ENV, make_pair, transmission_state, transmit_now
from tests.live_node import LiveNode, node_environ

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


def _cosigned(data_dir: Path) -> list[tuple[str, int]]:
    node = Node.open(data_dir, environ=ENV, unlock=False)
    try:
        with node.db.read() as session:
            rows = session.execute(select(PeerCosignature.witness_name, PeerCosignature.size))
            return sorted((r[0], r[1]) for r in rows)
    finally:
        node.close()


def _verify(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cix.cli.main", "audit", "verify", "--dir", str(data_dir)],
        env=node_environ(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_transmission_is_followed_by_checkpoints_cosigned_both_ways(tmp_path: Path) -> None:
    pair = make_pair(tmp_path)
    transmission = transmit_now(pair.kor_dir, pair.document)
    environ = pair.environ(CIX_WITNESS_INTERVAL_SECONDS="0", CIX_FEDERATION_RETRY_SECONDS="1")
    can = LiveNode.start(pair.can_dir, port=pair.can_port, environ=environ)
    try:
        kor = LiveNode.start(pair.kor_dir, port=pair.kor_port, environ=environ)
        try:
            deadline = time.monotonic() + 60
            while True:
                at_kor, at_can = _cosigned(pair.kor_dir), _cosigned(pair.can_dir)
                done = transmission_state(pair.kor_dir, transmission) == "receipted"
                if done and at_kor and at_can:
                    break
                assert time.monotonic() < deadline, (at_kor, at_can, kor.tail(), can.tail())
                time.sleep(0.2)
        finally:
            kor.stop()
    finally:
        can.stop()
    assert {name for name, _ in at_kor} == {"cix-can/audit"}
    assert {name for name, _ in at_can} == {"cix-kor/audit"}
    for data_dir, witness in ((pair.kor_dir, "cix-can/audit"), (pair.can_dir, "cix-kor/audit")):
        verified = _verify(data_dir)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert f"cosigned by {witness}" in verified.stdout
