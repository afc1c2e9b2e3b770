"""Two real nodes, KOR and CAN, set up on disk and paired, to be served as processes
(`tests/live_node.py`): each pins the other's identity (a `peers` row, as `cix peer add`
writes), both have the cast of `tests/federation/cast.py`, and KOR holds a document."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cix.demo import PASSPHRASE
from cix.node.exchange.peers import create_tls_files, local_operator, tls_files
from cix.node.service import Node, init_node
from tests.federation.cast import actor, kor_label, seed_cast, upload
from tests.live_node import free_port, node_environ

ENV = {"CIX_PASSPHRASE": PASSPHRASE}
DATA = b"KSS-III / CPSP pressure hull design, section 4\n" * 2000


@dataclass
class Pair:
    """The two data directories, their ports, tokens, and KOR's document."""

    kor_dir: Path
    can_dir: Path
    kor_port: int
    can_port: int
    kor_officer: str
    can_reader: str
    can_outsider: str
    document: str

    def environ(self, **extra: str) -> dict[str, str]:
        """The environment to serve either node with."""
        return node_environ(**extra)


def _open(data_dir: Path, party: str) -> Node:
    init_node(data_dir, party=party, agreements=("kor-can",), admin="root", environ=ENV)
    return Node.open(data_dir, environ=ENV)


def _token(node: Node, person: str) -> str:
    token, _ = node.api_tokens.create(actor(node, person), "test", ttl=3600, now=node.clock())
    return token


def make_pair(tmp_path: Path, *, tls: bool = False) -> Pair:
    """Create, seed and pair the two nodes (not serving yet); with `tls`, each has a TLS
    certificate and pins the other's (for serving with `federation_mtls`)."""
    kor_port, can_port = free_port(), free_port()
    kor = _open(tmp_path / "kor", "KOR")
    can = _open(tmp_path / "can", "CAN")
    scheme = "https" if tls else "http"
    try:
        now = datetime.now(UTC)
        seed_cast(kor, now)
        seed_cast(can, now)
        if tls:
            create_tls_files(kor.settings, now=now)
            create_tls_files(can.settings, now=now)

        def cert(node: Node) -> str | None:
            return tls_files(node.settings).cert.read_text() if tls else None

        # As two operators do: each hands over its signed identity, the other pins it.
        operator = local_operator("test")
        kor.peers.add(
            operator,
            can.peers.own_identity_document(),
            agreement="kor-can",
            url=f"{scheme}://127.0.0.1:{can_port}",
            tls_cert=cert(can),
        )
        can.peers.add(
            operator,
            kor.peers.own_identity_document(),
            agreement="kor-can",
            url=f"{scheme}://127.0.0.1:{kor_port}",
            tls_cert=cert(kor),
        )
        document = upload(kor, kor_label(now), DATA, title="Pressure hull design")
        return Pair(
            kor_dir=tmp_path / "kor",
            can_dir=tmp_path / "can",
            kor_port=kor_port,
            can_port=can_port,
            kor_officer=_token(kor, "officer"),
            can_reader=_token(can, "reader"),
            can_outsider=_token(can, "outsider"),
            document=document,
        )
    finally:
        kor.close()
        can.close()


def transmit_now(data_dir: Path, document: str) -> str:
    """Transmit `document` to CAN from the stopped KOR node in `data_dir` (queued in its
    outbox for the server to deliver); the transmission id."""
    node = Node.open(data_dir, environ=ENV)
    try:
        return node.exchange.transmit(actor(node, "officer"), document, to_party="CAN").id
    finally:
        node.close()


def transmission_state(data_dir: Path, transmission: str) -> str:
    """The state of a transmission, read from the database of a node that may be serving."""
    from cix.store.models import Transmission

    node = Node.open(data_dir, environ=ENV, unlock=False)
    try:
        with node.db.read() as session:
            row = session.get(Transmission, transmission)
            assert row is not None
            return row.state
    finally:
        node.close()


def audit_actions(data_dir: Path) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(type, action, decision, reasons) of every entry of a stopped node's audit log."""
    node = Node.open(data_dir, environ=ENV, unlock=False)
    try:
        log = node.audit.log  # type: ignore[attr-defined]
        return [
            (e.event.type, e.event.action, e.event.decision, tuple(e.event.reasons))
            for e in log.entries(0, log.size())
        ]
    finally:
        node.close()
