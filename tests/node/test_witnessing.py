"""Witnessing between two real nodes (KOR's log, CAN's witness, and back): cosignatures are
exchanged as tlog-witness bodies, stored, and `cix audit verify --dir` holds a node's log to
the sizes its peer cosigned, even when its own evidence row was rolled back."""

from __future__ import annotations

import hashlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cix.audit import Log, Signer, generate_signer, merkle, open_checkpoint, open_log
from cix.audit.checkpoint import Checkpoint, sign_checkpoint
from cix.audit.cosignature import cosignature_line, verify_cosigned
from cix.audit.errors import (
    InconsistentCheckpoint,
    LogTruncated,
    RootMismatch,
    SplitView,
    WitnessConflict,
    WrongKey,
)
from cix.audit.witness_protocol import (
    build_add_checkpoint,
    parse_add_checkpoint,
    parse_cosignature_response,
)
from cix.cli.main import run
from cix.node.exchange.witnessing import (
    Witnessing,
    check_log_against_cosignatures,
    open_witness,
    tlog_witness_status,
)
from cix.node.roles import SYSTEM
from cix.node.schemas import ProgrammeIn
from cix.node.service import Node, init_node
from cix.settings import load_settings
from tests.audit.conftest import sql
from tests.node_support import ENVIRON, Clock


class Peer:
    """A node with its witnessing service and its witness key."""

    def __init__(self, node: Node, witness_key: Signer) -> None:
        self.node = node
        self.witness_key = witness_key
        self.witnessing = Witnessing(
            node.db,
            self.log,
            open_witness(node.settings.data_dir, witness_key),
            node.audit,
            node.clock,
        )

    @property
    def log(self) -> Log:
        log: Log = self.node.audit.log  # type: ignore[attr-defined]
        return log

    @property
    def clock(self) -> Clock:
        clock = self.node.clock
        assert isinstance(clock, Clock)
        return clock

    def act(self, n: int = 1) -> None:
        """`n` audited changes, a minute apart (each batch past the interval is signed)."""
        for _ in range(n):
            self.clock.advance(seconds=61)
            number = self.log.size()
            self.node.registry.create_programme(
                SYSTEM,
                ProgrammeIn(id=f"P{number}", title="witnessed", party=self.node.settings.party),
            )

    def audit_events(self, event_type: str) -> list[dict[str, Any]]:
        return [
            e.to_json()
            for e in self.log.entries(0, self.log.size())
            if e.to_json()["type"] == event_type
        ]


def _peer(tmp_path: Path, party: str) -> Peer:
    clock = Clock()
    data_dir = tmp_path / party.lower()
    init_node(
        data_dir, party=party, agreements=("kor-can",), admin="root", environ=ENVIRON, clock=clock
    )
    node = Node.open(data_dir, environ=ENVIRON, clock=clock)
    return Peer(node, generate_signer(f"{node.settings.node_id}/witness"))


@pytest.fixture
def kor(tmp_path: Path) -> Iterator[Peer]:
    peer = _peer(tmp_path, "KOR")
    yield peer
    peer.node.close()


@pytest.fixture
def can(tmp_path: Path) -> Iterator[Peer]:
    peer = _peer(tmp_path, "CAN")
    yield peer
    peer.node.close()


def _exchange(log_side: Peer, witness_side: Peer) -> int:
    """One round: the log side asks the witness side to cosign its newest checkpoint and
    stores the answer; returns the cosigned size."""
    name = witness_side.witness_key.name
    request = log_side.witnessing.checkpoint_request(log_side.witnessing.cosigned_size(name))
    verifier = log_side.log.verifier
    assert verifier is not None
    response = witness_side.witnessing.add_checkpoint(verifier, request, witness_side.clock.now)
    [line] = parse_cosignature_response(response)
    note = parse_add_checkpoint(request).note
    log_side.witnessing.store_cosignature(
        name, witness_side.witnessing.witness.cosigner.vkey(), note, line
    )
    return open_checkpoint(note, verifier).checkpoint.size


def test_add_checkpoint_round_trip_between_two_nodes(kor: Peer, can: Peer) -> None:
    kor.act(2)
    first = _exchange(kor, can)
    name = can.witness_key.name
    assert kor.witnessing.cosigned_size(name) == first
    kor.act(3)
    second = _exchange(kor, can)  # from the stored size, with a consistency proof
    assert second > first
    assert kor.witnessing.cosigned_size(name) == second
    assert can.witnessing.witness.known_size(kor.log.verifier) == second  # type: ignore[arg-type]
    # What KOR stored is its own checkpoint with CAN's valid cosignature.
    check_log_against_cosignatures(kor.node.db, kor.log, {name: can.witnessing.witness.cosigner})
    permits = can.audit_events("witness.cosign")
    assert [(e["decision"], e["details"]["size"]) for e in permits] == [
        ("permit", first),
        ("permit", second),
    ]
    stored = kor.audit_events("witness.cosignature")
    assert [e["details"]["size"] for e in stored] == [first, second]
    # And the other way round: KOR witnesses CAN.
    can.act(2)
    back = _exchange(can, kor)
    assert kor.witnessing.witness.known_size(can.log.verifier) == back > 0  # type: ignore[arg-type]


def test_cosignature_by_unknown_witness_is_refused(kor: Peer, can: Peer) -> None:
    kor.act(2)
    request = kor.witnessing.checkpoint_request(0)
    note = parse_add_checkpoint(request).note
    head = open_checkpoint(note, kor.log.verifier).checkpoint  # type: ignore[arg-type]
    pinned = can.witnessing.witness.cosigner.vkey()
    # A witness key nobody pinned, under CAN's witness name.
    stranger = generate_signer(can.witness_key.name)
    line = cosignature_line(stranger, head.text(), 1_780_000_000)
    with pytest.raises(WrongKey):
        kor.witnessing.store_cosignature(can.witness_key.name, pinned, note, line)
    # The stranger's own key, offered under the pinned witness's name: refused as well.
    other = generate_signer("deu.cix.example/witness")
    with pytest.raises(WrongKey):
        kor.witnessing.store_cosignature(
            can.witness_key.name,
            other.verifier.vkey(),
            note,
            cosignature_line(other, head.text(), 1_780_000_000),
        )
    # A genuine CAN cosignature of a checkpoint KOR's log never signed.
    forged = sign_checkpoint(Checkpoint(head.origin, head.size, bytes(32)), stranger).note
    with pytest.raises(WrongKey):
        kor.witnessing.store_cosignature(
            can.witness_key.name,
            pinned,
            forged,
            cosignature_line(can.witness_key, head.text(), 1_780_000_000),
        )
    assert kor.witnessing.cosigned_size(can.witness_key.name) == 0
    assert kor.audit_events("witness.cosignature") == []


def test_peer_presenting_a_forked_log_is_refused_and_audited(kor: Peer, can: Peer) -> None:
    kor.act(2)
    _exchange(kor, can)
    last = can.witnessing.witness.last_cosigned(kor.log.verifier)  # type: ignore[arg-type]
    assert last is not None
    cosigned = last.checkpoint
    # KOR's key signs another root for the same size: a split view shown to CAN.
    signer = kor.node.keys.audit_signer  # type: ignore[union-attr]
    fork = sign_checkpoint(
        Checkpoint(cosigned.origin, cosigned.size, hashlib.sha256(b"fork").digest()), signer
    )
    verifier = kor.log.verifier
    assert verifier is not None
    with pytest.raises(SplitView) as caught:
        can.witnessing.add_checkpoint(
            verifier, build_add_checkpoint(cosigned.size, [], fork.note), can.clock.now
        )
    assert tlog_witness_status(caught.value) == 409
    # A larger forked checkpoint with a proof that cannot hold.
    bigger = sign_checkpoint(
        Checkpoint(cosigned.origin, cosigned.size + 4, hashlib.sha256(b"f2").digest()), signer
    )
    bad_proof = [hashlib.sha256(b"p").digest()] * 3
    with pytest.raises(InconsistentCheckpoint) as inconsistent:
        can.witnessing.add_checkpoint(
            verifier, build_add_checkpoint(cosigned.size, bad_proof, bigger.note), can.clock.now
        )
    assert tlog_witness_status(inconsistent.value) == 422
    denials = [e for e in can.audit_events("witness.cosign") if e["decision"] == "deny"]
    assert [e["reasons"] for e in denials] == [["split-view"], ["inconsistent-proof"]]
    assert len(can.witnessing.witness.evidence()) == 2
    assert can.witnessing.witness.known_size(verifier) == cosigned.size


def test_peer_rolling_back_gets_the_conflict_size(kor: Peer, can: Peer) -> None:
    kor.act(2)
    old_request = kor.witnessing.checkpoint_request(0)
    _exchange(kor, can)
    kor.act(2)
    size = _exchange(kor, can)
    verifier = kor.log.verifier
    assert verifier is not None
    with pytest.raises(WitnessConflict) as caught:
        can.witnessing.add_checkpoint(verifier, old_request, can.clock.now)
    assert caught.value.known_size == size
    assert tlog_witness_status(caught.value) == 409
    denials = [e for e in can.audit_events("witness.cosign") if e["decision"] == "deny"]
    assert denials[-1]["reasons"] == ["witness-conflict"]
    assert denials[-1]["details"]["known_size"] == size
    # A checkpoint from a peer whose key is not the pinned one: 403, audited.
    with pytest.raises(WrongKey) as wrong:
        can.witnessing.add_checkpoint(
            generate_signer(verifier.name).verifier, old_request, can.clock.now
        )
    assert tlog_witness_status(wrong.value) == 403


def test_a_request_from_past_our_checkpoint_means_our_log_was_cut(kor: Peer) -> None:
    kor.act(2)
    size = kor.log.size()
    with pytest.raises(LogTruncated):
        kor.witnessing.checkpoint_request(size + 5)


def _cut_log(data_dir: Path, cut: int) -> None:
    address = load_settings(data_dir).audit_log.reveal()
    sql(address, "DELETE FROM audit_entries WHERE seq >= ?", [cut])
    sql(address, "DELETE FROM audit_checkpoints WHERE size > ?", [cut])
    sql(address, "DELETE FROM audit_nodes WHERE id >= ?", [merkle.storage_id(0, cut)])
    sql(address, "UPDATE audit_meta SET value = ? WHERE key = 'size'", [str(cut)])
    with open_log(address, create=False) as cut_log:
        cut_log.verify()  # self-consistent: the log alone cannot tell


def _verify_dir(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["cix", "audit", "verify", "--dir", str(data_dir)])
    code = 0
    try:
        run()
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_log_cut_below_cosigned_size_is_detected_even_with_evidence_rolled_back(
    kor: Peer,
    can: Peer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kor.act(3)
    older = kor.log.latest_checkpoint()  # a genuine checkpoint the attacker will put back
    assert older is not None
    kor.act(3)
    cosigned = _exchange(kor, can)
    assert cosigned > older.checkpoint.size
    data_dir = kor.node.settings.data_dir
    kor.node.close()
    assert _verify_dir(data_dir, monkeypatch, capsys)[0] == 0

    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy)
    cut = older.checkpoint.size
    _cut_log(copy, cut)
    db_path = load_settings(copy).database_url.reveal().split("///", 1)[1]
    # The evidence row rolled back to the older genuine checkpoint: on its own, it agrees.
    sql(
        db_path,
        "UPDATE log_evidence SET size = ?, root = ?, note = ?",
        [cut, older.checkpoint.root.hex(), older.note],
    )
    from cix.node.auditing import check_log_against_database
    from cix.store.db import Database

    db = Database(load_settings(copy).database_url.reveal())
    with open_log(load_settings(copy).audit_log.reveal(), create=False) as cut_log:
        check_log_against_database(db, cut_log)  # the attack the row alone cannot see
        with pytest.raises(LogTruncated):
            check_log_against_cosignatures(db, cut_log)
    db.dispose()
    code, out = _verify_dir(copy, monkeypatch, capsys)
    assert code == 1, out
    assert (
        f"truncated: log has {cut} entries, witness {can.witness_key.name!r} cosigned size "
        f"{cosigned}" in out
    )


def test_an_edited_cosignature_row_is_refused(kor: Peer, can: Peer, tmp_path: Path) -> None:
    kor.act(3)
    cosigned = _exchange(kor, can)
    db_path = load_settings(kor.node.settings.data_dir).database_url.reveal().split("///", 1)[1]
    # Lowered by hand to hide a cut: the row no longer matches its own signed note.
    sql(db_path, "UPDATE peer_cosignatures SET size = ?", [cosigned - 1])
    with pytest.raises(RootMismatch, match="disagrees"):
        check_log_against_cosignatures(kor.node.db, kor.log)
    sql(db_path, "UPDATE peer_cosignatures SET size = ?", [cosigned])
    check_log_against_cosignatures(kor.node.db, kor.log)
    # A row whose witness line was swapped for another's: refused when the key is pinned.
    stranger = generate_signer(can.witness_key.name)
    [(note,)] = sql(db_path, "SELECT note FROM peer_cosignatures")
    body = note[: note.index("\n\n") + 1].encode()
    keep = note[: note.rindex("\u2014 ")]
    sql(
        db_path,
        "UPDATE peer_cosignatures SET note = ?",
        [keep + cosignature_line(stranger, body, 1_780_000_000)],
    )
    with pytest.raises(WrongKey):
        check_log_against_cosignatures(
            kor.node.db, kor.log, {can.witness_key.name: can.witnessing.witness.cosigner}
        )
    assert verify_cosigned(note, can.witnessing.witness.cosigner) > 0


def test_stored_cosignatures_hold_the_log_on_either_database(
    database_url: str, tmp_path: Path
) -> None:
    from cix.audit.witness import Witness
    from cix.node.auditing import MemoryAuditSink
    from cix.store import migrate
    from cix.store.db import Database
    from tests.audit.conftest import event

    migrate.upgrade(database_url)
    db = Database(database_url)
    signer = generate_signer("kor.cix.example/audit")
    clock = Clock()
    try:
        with open_log(tmp_path / "kor.db", signer=signer) as log:
            log.append_batch([event(i) for i in range(6)])
            witnessing = Witnessing(
                db, log, Witness(tmp_path / "w", generate_signer("x/w")), MemoryAuditSink(), clock
            )
            witnesses = {}
            for name, batch in (("can.cix.example/witness", 4), ("deu.cix.example/witness", 3)):
                peer = Witness(tmp_path / name.split(".")[0], generate_signer(name))
                witnesses[name] = peer.cosigner
                request = parse_add_checkpoint(witnessing.checkpoint_request(0))
                line = peer.add_checkpoint(request, signer.verifier, timestamp=1_780_000_000)
                witnessing.store_cosignature(name, peer.cosigner.vkey(), request.note, line)
                log.append_batch([event(i) for i in range(100, 100 + batch)])
            assert witnessing.cosigned_size("can.cix.example/witness") == 6
            assert witnessing.cosigned_size("deu.cix.example/witness") == 10
            check_log_against_cosignatures(db, log, witnesses)
        # The same key over a log cut to 8 entries, then over one rewritten at entry 2.
        with open_log(tmp_path / "cut.db", signer=signer) as cut:
            cut.append_batch([event(i) for i in range(6)])
            cut.append_batch([event(i) for i in range(100, 102)])
            with pytest.raises(LogTruncated, match=r"'deu\.cix\.example/witness' cosigned size 10"):
                check_log_against_cosignatures(db, cut)
        with open_log(tmp_path / "rewritten.db", signer=signer) as rewritten:
            rewritten.append_batch([event(i if i != 2 else 102) for i in range(12)])
            with pytest.raises(RootMismatch):
                check_log_against_cosignatures(db, rewritten)
    finally:
        db.dispose()


def test_a_naive_time_is_refused_before_the_witness_moves(kor: Peer, can: Peer) -> None:
    from datetime import datetime

    from cix.audit.errors import AuditInputError

    kor.act(2)
    verifier = kor.log.verifier
    assert verifier is not None
    with pytest.raises(AuditInputError, match="timezone"):
        can.witnessing.add_checkpoint(
            verifier, kor.witnessing.checkpoint_request(0), datetime(2026, 3, 1)
        )
    assert can.witnessing.witness.known_size(verifier) == 0
