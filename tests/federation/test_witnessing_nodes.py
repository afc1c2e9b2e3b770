"""Witnessing between two real nodes in one process (KOR and CAN, each with its own audit
log and keys): their `Cosigning` rounds travel through the other's inbox exactly as the
route hands them on, so what each stores, refuses and reports is the wired path's."""

from __future__ import annotations

import base64
import json
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from cix.audit import merkle
from cix.cli.main import run
from cix.node.exchange.transport import PeerUnreachable
from cix.node.roles import SYSTEM
from cix.node.schemas import ProgrammeIn
from cix.node.service import Node, init_node
from cix.settings import load_settings
from cix.store.models import Incident, PeerCosignature
from tests.audit.conftest import sql
from tests.federation.simulator import node_identity, pin
from tests.node_support import ENVIRON, Clock

URLS = {"KOR": "http://kor.test", "CAN": "http://can.test"}


@dataclass
class Wire:
    """The transport between the two: a POST to a node's URL is its inbox's `receive` at
    that route, the answer its reply (a signed token, or an unsigned problem)."""

    nodes: dict[str, Node] = field(default_factory=dict)
    sent: int = 0

    def send(self, url: str, path: str, token: str, body: Path | None) -> tuple[int, bytes]:
        self.sent += 1
        reply = self.nodes[url].exchange.inbox.receive(token, url=path, body=body)
        return reply.status, (reply.token or reply.detail).encode()


@dataclass
class Pair:
    tmp: Path
    clock: Clock
    wire: Wire
    kor: Node
    can: Node

    def reopen(self, party: str) -> Node:
        old = self.kor if party == "KOR" else self.can
        old.close()
        node = _open(old.settings.data_dir, self.clock, self.wire, party)
        if party == "KOR":
            self.kor = node
        else:
            self.can = node
        return node


def _open(data_dir: Path, clock: Clock, wire: Wire, party: str) -> Node:
    node = Node.open(data_dir, environ=ENVIRON, clock=clock)
    assert node.cosigning is not None
    node.cosigning.transport = wire
    wire.nodes[URLS[party]] = node
    return node


def _act(node: Node, n: int = 1) -> None:
    for _ in range(n):
        node.registry.create_programme(
            SYSTEM,
            ProgrammeIn(
                id=f"P{uuid.uuid4().hex[:8].upper()}", title="x", party=node.settings.party
            ),
        )


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    clock, wire = Clock(), Wire()
    opened: dict[str, Node] = {}
    for party in ("KOR", "CAN"):
        data_dir = tmp_path / party.lower()
        init_node(data_dir, party=party, agreements=("kor-can",), admin="root", environ=ENVIRON)
        opened[party] = _open(data_dir, clock, wire, party)
    kor, can = opened["KOR"], opened["CAN"]
    for here, there in ((kor, can), (can, kor)):
        assert there.keys is not None
        identity = node_identity(there, url=URLS[there.settings.party])
        pin(here, identity, there.keys.signing, ["kor-can"])
    state = Pair(tmp_path, clock, wire, kor, can)
    yield state
    state.kor.close()
    state.can.close()


def _cosigned(node: Node) -> list[tuple[str, int]]:
    with node.db.read() as session:
        rows = session.execute(select(PeerCosignature.witness_name, PeerCosignature.size))
        return sorted((r[0], r[1]) for r in rows)


def _incidents(node: Node) -> list[str]:
    with node.db.read() as session:
        return list(session.scalars(select(Incident.description)))


def _cix(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["cix", *args])
    code = 0
    try:
        run()
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_checkpoints_are_cosigned_both_ways_and_verify_reports_them(
    pair: Pair, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kor, can = pair.kor, pair.can
    assert kor.cosigning is not None
    assert can.cosigning is not None
    _act(kor, 2)
    first = kor.cosigning.exchange_with("cix-can")
    assert first is not None
    assert first == kor.audit.log.latest_checkpoint().checkpoint.size  # type: ignore[attr-defined]
    back = can.cosigning.exchange_with("cix-kor")
    assert back is not None
    _act(kor, 3)
    second = kor.cosigning.exchange_with("cix-can")  # from the stored size, with a proof
    assert second is not None
    assert second > first
    assert _cosigned(kor) == [("cix-can/audit", first), ("cix-can/audit", second)]
    assert _cosigned(can) == [("cix-kor/audit", back)]
    kor_dir = kor.settings.data_dir
    pair.kor.close()
    code, out = _cix(["audit", "verify", "--dir", str(kor_dir)], monkeypatch, capsys)
    assert code == 0, out
    assert f"reaches size {second}, cosigned by cix-can/audit" in out
    code, out = _cix(
        ["audit", "cosignatures", "--dir", str(kor_dir), "--json"], monkeypatch, capsys
    )
    assert code == 0, out
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["peer"], r["witness"], r["size"]) for r in rows] == [
        ("cix-can", "cix-can/audit", first),
        ("cix-can", "cix-can/audit", second),
    ]
    assert all(r["cosigned_at"] for r in rows)  # verified under CAN's pinned audit key
    pair.kor = _open(kor_dir, pair.clock, pair.wire, "KOR")


def test_a_lost_cosignature_row_is_recovered_from_the_witnesss_409(pair: Pair) -> None:
    kor = pair.kor
    assert kor.cosigning is not None
    _act(kor, 2)
    size = kor.cosigning.exchange_with("cix-can")
    assert size is not None
    with kor.db.write() as session:
        session.query(PeerCosignature).delete()
    _act(kor)
    sent = pair.wire.sent
    again = kor.cosigning.exchange_with("cix-can")  # asks from 0, told the size, retries
    assert again is not None
    assert again > size
    assert pair.wire.sent == sent + 2
    assert _incidents(kor) == []


def _cut_log(data_dir: Path, cut: int) -> None:
    address = load_settings(data_dir).audit_log.reveal()
    sql(address, "DELETE FROM audit_entries WHERE seq >= ?", [cut])
    sql(address, "DELETE FROM audit_checkpoints WHERE size > ?", [cut])
    sql(address, "DELETE FROM audit_nodes WHERE id >= ?", [merkle.storage_id(0, cut)])
    sql(address, "UPDATE audit_meta SET value = ? WHERE key = 'size'", [str(cut)])


def test_peer_presenting_forked_log_is_refused_and_raises_incidents(pair: Pair) -> None:
    kor = pair.kor
    assert kor.cosigning is not None
    _act(kor, 3)
    cosigned = kor.cosigning.exchange_with("cix-can")
    assert cosigned is not None
    # An attacker at KOR rewrites its log's tail: cut below what CAN cosigned, then grown
    # again past it with other entries. KOR's node presents that history at its next round.
    kor_dir = kor.settings.data_dir
    kor.close()
    _cut_log(kor_dir, cosigned - 3)
    kor = pair.reopen("KOR")
    assert kor.cosigning is not None
    _act(kor, 8)
    assert kor.audit.log.size() > cosigned  # type: ignore[attr-defined]
    assert kor.cosigning.exchange_with("cix-can") is None
    assert pair.can.witnessing is not None
    kor_key = kor.audit.log.verifier  # type: ignore[attr-defined]
    assert pair.can.witnessing.witness.known_size(kor_key) == cosigned  # not advanced
    assert len(pair.can.witnessing.witness.evidence()) == 1
    # At both nodes, an incident: CAN refused the fork, KOR was told the code.
    [at_can] = _incidents(pair.can)
    [at_kor] = _incidents(kor)
    assert "split view" in at_can
    assert "cix-kor/audit" in at_can
    assert "split view" in at_kor
    assert "inconsistent-proof" in at_kor
    # Presented again at the next round: refused again, still one incident each.
    assert kor.cosigning.exchange_with("cix-can") is None
    assert (len(_incidents(pair.can)), len(_incidents(kor))) == (1, 1)
    assert _cosigned(kor) == [("cix-can/audit", cosigned)]


def test_log_cut_below_cosigned_size_fails_verify(
    pair: Pair, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kor = pair.kor
    assert kor.cosigning is not None
    _act(kor, 4)
    cosigned = kor.cosigning.exchange_with("cix-can")
    assert cosigned is not None
    kor_dir = kor.settings.data_dir
    kor.close()
    cut = cosigned - 2
    _cut_log(kor_dir, cut)
    # The evidence row put back to agree with the cut log: only the cosignature holds.
    db_path = load_settings(kor_dir).database_url.reveal().split("///", 1)[1]
    kept = sql(
        load_settings(kor_dir).audit_log.reveal(),
        "SELECT size, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
    )
    if kept:
        [(size, note)] = kept
        root = base64.b64decode(note.split("\n")[2]).hex()
        sql(db_path, "UPDATE log_evidence SET size = ?, root = ?, note = ?", [size, root, note])
    else:
        sql(db_path, "DELETE FROM log_evidence")
    code, out = _cix(["audit", "verify", "--dir", str(kor_dir)], monkeypatch, capsys)
    assert code == 1, out
    assert f"truncated: log has {cut} entries, witness 'cix-can/audit' cosigned size" in out
    # And the node, at its next round, finds it cannot extend what CAN cosigned.
    kor = pair.reopen("KOR")
    assert kor.cosigning is not None
    assert kor.cosigning.exchange_with("cix-can") is None
    [incident] = _incidents(kor)
    assert "log cut" in incident
    assert _incidents(pair.can) == []
    # The cosignature rows deleted as well, and the log grown again past the cut: CAN's
    # witness still holds the size (its 409), which the new history does not extend.
    with kor.db.write() as session:
        session.query(PeerCosignature).delete()
    _act(kor, 4)
    assert kor.audit.log.size() > cosigned  # type: ignore[attr-defined]
    sent = pair.wire.sent
    assert kor.cosigning.exchange_with("cix-can") is None
    assert pair.wire.sent == sent + 2  # asked from 0, told the size, asked from it
    assert len(_incidents(kor)) == 2
    [at_can] = _incidents(pair.can)
    assert "split view" in at_can


def test_a_peer_down_is_audited_and_retried_later(pair: Pair) -> None:
    kor = pair.kor
    assert kor.cosigning is not None
    can = pair.wire.nodes.pop(URLS["CAN"])

    def down(url: str, path: str, token: str, body: Path | None) -> tuple[int, bytes]:
        raise PeerUnreachable("CAN is down")

    kor.cosigning.transport = type("Down", (), {"send": staticmethod(down)})()
    _act(kor)
    before = kor.audit.log.size()  # type: ignore[attr-defined]
    assert kor.cosigning.exchange_with("cix-can") is None
    entries = kor.audit.log.entries(before, kor.audit.log.size())  # type: ignore[attr-defined]
    [denied] = [e.event for e in entries if e.event.type == "witness.exchange"]
    assert (denied.decision, denied.reasons) == ("deny", ("not-answered",))
    # Not due again until the retry delay (1 s at first) has passed; then due without a cue.
    now = time.monotonic()
    assert kor.cosigning.due(now, timer=False) == []
    assert kor.cosigning.due(now + 1.5, timer=False) == ["cix-can"]
    pair.wire.nodes[URLS["CAN"]] = can
    kor.cosigning.transport = pair.wire
    assert kor.cosigning.exchange_with("cix-can") is not None


def test_many_messages_crossing_cue_one_round_a_second(pair: Pair) -> None:
    cosigning = pair.kor.cosigning
    assert cosigning is not None
    for _ in range(50):
        cosigning.wake("cix-can")
    now = time.monotonic()
    assert cosigning.due(now, timer=False) == ["cix-can"]
    cosigning.wake("cix-can")
    assert cosigning.due(now + 0.5, timer=False) == []  # within MIN_GAP: held back
    assert cosigning.due(now + 1.0, timer=False) == ["cix-can"]  # not forgotten
    assert cosigning.due(now + 1.1, timer=False) == []
    assert cosigning.due(now + 1.2, timer=True) == ["cix-can"]  # the timer: every peer
