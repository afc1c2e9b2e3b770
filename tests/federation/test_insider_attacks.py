"""Insider attacks on the user API side of federation, and receipts a hostile peer forges.

A real KOR node (its user API in-process, `ApiClient`) transmits to a simulated CAN node
(`tests/federation/simulator.py`). A user without the role is refused with the one opaque
403 and the refusal is audited naming the role required; a receipt that is not the signed
answer of the peer the transmission went to, in reply to it, is never stored; bad input is
a clear 4xx and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.from_thread
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cix.cli.main import app as cli
from cix.federation import new_message_id, sign_identity, sign_message
from cix.node.auditing import MemoryAuditSink
from cix.node.exchange.peers import PeerRefused
from cix.node.exchange.transport import JOSE, MESSAGES_PATH
from cix.node.service import Node
from cix.store.models import OutboxItem, Transmission
from tests.federation.cast import actor, kor_label, upload
from tests.federation.simulator import PeerSimulator
from tests.node_support import SQLITE_ONLY, ApiClient, Clock, assert_problem

DATA = b"KSS-III combat system interface\n" * 100
LISTERS = "role-required:auditor|nsa-officer|originator"


@pytest.fixture
def http(kor_node: Node, can: PeerSimulator) -> Iterator[ApiClient]:
    portal_cm: AbstractContextManager[Any] = anyio.from_thread.start_blocking_portal()
    with portal_cm as portal:
        client = ApiClient(kor_node, portal)
        try:
            yield client
        finally:
            client.close()


@pytest.fixture
def doc(kor_node: Node, clock: Clock) -> str:
    return upload(kor_node, kor_label(clock.now), DATA)


def rows(node: Node) -> tuple[int, int]:
    """(transmissions, outbox items) at `node`."""
    with node.db.read() as session:
        return (
            int(session.scalar(select(func.count()).select_from(Transmission)) or 0),
            int(session.scalar(select(func.count()).select_from(OutboxItem)) or 0),
        )


def transmission(node: Node, transmission_id: str) -> Transmission:
    with node.db.read() as session:
        row = session.get(Transmission, transmission_id)
        assert row is not None
        return row


def refusals(audit: MemoryAuditSink, action: str) -> list[tuple[str, ...]]:
    return [e.reasons for e in audit.events if e.action == action and e.decision == "deny"]


# --- roles -----------------------------------------------------------------------------


@SQLITE_ONLY
def test_transmit_by_a_user_without_the_role_is_refused_and_audited(
    http: ApiClient, kor_node: Node, doc: str, audit: MemoryAuditSink
) -> None:
    # `reader` is cleared and on the programme: they may read it, not send it abroad
    answer = http.as_("reader").post(f"/api/v1/documents/{doc}/transmit", json={"to": "CAN"})
    assert_problem(answer, 403)
    assert refusals(audit, "transmit") == [("role-required:custodian|nsa-officer",)]
    assert rows(kor_node) == (0, 0)


@SQLITE_ONLY
def test_listing_transmissions_without_the_role_is_refused_and_audited(
    http: ApiClient, kor_node: Node, doc: str, audit: MemoryAuditSink
) -> None:
    sent = http.as_("officer").post(f"/api/v1/documents/{doc}/transmit", json={"to": "CAN"})
    assert sent.status_code == 202, sent.text
    assert_problem(http.as_("reader").get("/api/v1/transmissions"), 403)
    assert_problem(http.get(f"/api/v1/transmissions/{sent.json()['id']}"), 403)
    assert refusals(audit, "list") == [(LISTERS,)]
    assert refusals(audit, "show") == [(LISTERS,)]


@SQLITE_ONLY
def test_an_originator_sees_only_the_transmissions_they_requested(
    http: ApiClient, doc: str
) -> None:
    sent = http.as_("officer").post(f"/api/v1/documents/{doc}/transmit", json={"to": "CAN"})
    assert sent.status_code == 202, sent.text
    assert http.as_("author").get("/api/v1/transmissions").json() == {"items": []}
    assert_problem(http.get(f"/api/v1/transmissions/{sent.json()['id']}"), 404)


# --- receipts a peer forges ------------------------------------------------------------


@dataclass
class Forger:
    """A transport that lets the real peer (the simulator) receive the message, then hands
    back another answer: `answer(token)` makes it from the message sent."""

    peer: PeerSimulator
    answer: Any

    def send(self, url: str, path: str, token: str, body: Path | None) -> tuple[int, bytes]:
        self.peer.send(url, path, token, body)
        return 200, self.answer(token, path).encode()


def receipt_from(signer: PeerSimulator, *, in_reply_to: str, path: str, agreement: str) -> str:
    """A signed answer carrying a receipt, as `signer` would give it."""
    return sign_message(
        signer.signing,
        sender=signer.node_id,
        audience="cix-kor",
        url=path,
        agreement=agreement,
        kind="answer",
        body={"in_reply_to": in_reply_to, "status": 200, "receipt": {"copy": 1}},
        message_id=new_message_id(),
        issued_at=signer.clock(),
    )


@SQLITE_ONLY
def test_receipt_for_a_transmission_the_receiver_was_never_sent_is_refused(
    http: ApiClient, kor_node: Node, can: PeerSimulator, doc: str, audit: MemoryAuditSink
) -> None:
    sent = http.as_("officer").post(f"/api/v1/documents/{doc}/transmit", json={"to": "CAN"})
    tid = sent.json()["id"]
    # a receipt in reply to another message id than the one delivered
    kor_node.exchange.delivery.transport = Forger(
        can,
        lambda _token, path: receipt_from(
            can, in_reply_to=new_message_id(), path=path, agreement="kor-can"
        ),
    )
    assert kor_node.exchange.delivery.run_once() == 1
    row = transmission(kor_node, tid)
    assert (row.state, row.receipt) == ("queued", None)
    # a receipt pushed unasked to the inbox, naming the transmission: no such message kind
    pushed = receipt_from(can, in_reply_to=tid, path=MESSAGES_PATH, agreement="kor-can")
    answer = http.as_(None).post(MESSAGES_PATH, content=pushed.encode())
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith(JOSE)
    assert refusals(audit, "receive") == [("unknown-kind",)]
    row = transmission(kor_node, tid)
    assert (row.state, row.receipt) == ("queued", None)


@SQLITE_ONLY
def test_receipt_signed_by_another_pinned_peer_is_refused(
    http: ApiClient, kor_node: Node, can: PeerSimulator, doc: str, clock: Clock
) -> None:
    # DEU's node is pinned at KOR too; it answers for the message that went to CAN
    deu = PeerSimulator(party="DEU", node_id="cix-deu", agreements=("kor-can",), clock=clock)
    deu.pair_with(kor_node)
    sent = http.as_("officer").post(f"/api/v1/documents/{doc}/transmit", json={"to": "CAN"})
    tid = sent.json()["id"]

    def deu_receipt(token: str, path: str) -> str:
        return receipt_from(deu, in_reply_to=tid, path=path, agreement="kor-can")

    kor_node.exchange.delivery.transport = Forger(can, deu_receipt)
    assert kor_node.exchange.delivery.run_once() == 1
    row = transmission(kor_node, tid)
    assert (row.state, row.receipt) == ("queued", None)
    with kor_node.db.read() as session:
        item = session.get(OutboxItem, tid)
        assert item is not None
        assert item.last_error is not None
        assert "unsigned answer" in item.last_error


# --- bad input -------------------------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"to": ""}, 422),
        ({"to": "kor"}, 422),
        ({"to": "KOREA"}, 422),
        ({"to": "KOR"}, 400),  # this node's own party
        ({"to": "USA"}, 403),  # not releasable to it, no node pinned
        ({"to": "CAN", "purpose": ""}, 422),
        ({"to": "CAN", "purpose": "x" * 65}, 422),
        ({"to": "CAN", "purpose": "défense-procurement"}, 422),
        ({"to": "CAN", "purpose": "Defence"}, 422),
        ({"to": "CAN", "purpose": "p" * 10_000}, 422),
        ({"to": "CAN", "consent": ""}, 422),
        ({"to": "CAN", "consent": "nope"}, 403),  # no such consent: refused, opaque
        ({"to": "CAN", "extra": 1}, 422),
        ({}, 422),
    ],
)
def test_transmit_with_bad_input_is_a_clear_4xx_and_changes_nothing(
    http: ApiClient, kor_node: Node, doc: str, body: dict[str, Any], status: int
) -> None:
    answer = http.as_("officer").post(f"/api/v1/documents/{doc}/transmit", json=body)
    assert_problem(answer, status)
    assert rows(kor_node) == (0, 0)


@SQLITE_ONLY
def test_transmit_or_show_of_ids_that_do_not_exist_is_a_clear_4xx(
    http: ApiClient, kor_node: Node
) -> None:
    officer = http.as_("officer")
    assert_problem(officer.post(f"/api/v1/documents/{'0' * 32}/transmit", json={"to": "CAN"}), 404)
    assert_problem(officer.post("/api/v1/documents/not-an-id/transmit", json={"to": "CAN"}), 422)
    assert_problem(officer.get(f"/api/v1/transmissions/{new_message_id()}"), 404)
    assert_problem(officer.get("/api/v1/transmissions/%2e%2e"), 422)
    assert_problem(officer.get("/api/v1/transmissions", params={"state": "lost"}), 422)
    assert rows(kor_node) == (0, 0)


@pytest.mark.parametrize("wait", ["-1", "nan", "inf", "1e12"])
def test_transmit_wait_outside_its_bounds_exits_2_and_sends_nothing(
    tmp_path: Path, wait: str
) -> None:
    config = tmp_path / "client.toml"
    config.write_text(f'url = "http://127.0.0.1:9"\ntoken = "{"x" * 32}"\n')
    result = CliRunner().invoke(
        cli,
        ["docs", "transmit", "0" * 32, "--to", "CAN", "--wait", wait],
        env={"CIX_CLIENT_CONFIG": str(config)},
    )
    assert result.exit_code == 2, result.output
    assert "--wait" in result.output


@SQLITE_ONLY
def test_pinning_or_unpinning_a_peer_by_a_user_not_the_operator_is_refused(
    http: ApiClient, kor_node: Node, can: PeerSimulator, audit: MemoryAuditSink
) -> None:
    officer = actor(kor_node, "officer")  # an NSA officer is not the node's operator
    with pytest.raises(PeerRefused):
        kor_node.peers.remove(officer, "cix-can")
    with pytest.raises(PeerRefused):
        kor_node.peers.add(officer, sign_identity(can.identity, can.signing), agreement="kor-can")
    assert refusals(audit, "remove") == [("role-required:administrator",)]
    assert refusals(audit, "add") == [("role-required:administrator",)]
    assert [p.node_id for p in kor_node.peers.list()] == ["cix-can"]
    # and no route of the API pins or unpins a key, whatever the caller's roles
    for method in ("POST", "PUT", "DELETE"):
        for path in ("/api/v1/peers", "/api/v1/peers/cix-can", "/federation/v1/peers"):
            answer = http.as_("officer").request(method, path, json={})
            assert answer.status_code in (404, 405), (method, path, answer.status_code)
    assert [p.node_id for p in kor_node.peers.list()] == ["cix-can"]
