"""The witness side of checkpoint exchange at a real node (CAN), with KOR simulated: KOR's
"checkpoint" messages go through the inbox as at `POST /federation/v1/add-checkpoint`,
and each attack on the witness is refused with its code, the witness state unchanged."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cix.audit import Log, generate_signer, open_checkpoint, open_log
from cix.audit.checkpoint import Checkpoint, sign_checkpoint
from cix.audit.cosignature import cosigner_of, verify_cosigned
from cix.federation import Message, PinnedPeer
from cix.keys import generate_signing
from cix.node.auditing import MemoryAuditSink
from cix.node.exchange.inbox import Reply
from cix.node.exchange.transport import ADD_CHECKPOINT_PATH
from cix.node.service import Node
from cix.store.models import InboxMessage, Incident
from tests.audit.conftest import event
from tests.federation.simulator import PeerSimulator, node_identity
from tests.node_support import ApiClient, Clock

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def kor_log(tmp_path: Path, kor: PeerSimulator) -> Iterator[Log]:
    """KOR's audit log (the simulator's audit key signs its checkpoints), 4 entries."""
    with open_log(tmp_path / "kor-audit.db", signer=kor.audit_signer) as log:
        log.append_batch([event(i) for i in range(4)])
        yield log


def _present(node: Node, token: str) -> Reply:
    return node.exchange.inbox.receive(token, url=ADD_CHECKPOINT_PATH)


def _answer(node: Node, kor: PeerSimulator, reply: Reply) -> Message:
    assert reply.token is not None, reply.detail
    me = PinnedPeer(node_identity(node), frozenset({"kor-can"}))
    answer = kor.read_answer(reply.token, url=ADD_CHECKPOINT_PATH, peer=me)
    assert answer.body["status"] == reply.status
    return answer


def _known(node: Node, kor: PeerSimulator) -> int:
    assert node.witnessing is not None
    return node.witnessing.witness.known_size(kor.audit_signer.verifier)


def _incidents(node: Node) -> list[str]:
    with node.db.read() as session:
        return list(session.scalars(select(Incident.description)))


def _cosign(node: Node, kor: PeerSimulator, log: Log, old_size: int = 0) -> Message:
    """KOR presents its log's current head, with the proof from `old_size`."""
    note = log.checkpoint(kor.audit_signer).note
    proof = log.prove_consistency(old_size).path if old_size else ()
    reply = _present(node, kor.checkpoint_message(node, note, old_size=old_size, proof=proof))
    assert reply.status == 200, reply
    return _answer(node, kor, reply)


def _denials(audit: MemoryAuditSink, event_type: str) -> list[tuple[str, ...]]:
    return [e.reasons for e in audit.events if e.type == event_type and e.decision == "deny"]


def test_a_pinned_peers_checkpoint_is_cosigned_with_the_nodes_audit_key(
    node: Node, kor: PeerSimulator, kor_log: Log
) -> None:
    first = _cosign(node, kor, kor_log)
    assert node.keys is not None
    witness = cosigner_of(node.keys.audit_signer.verifier)
    note = kor_log.latest_checkpoint()
    assert note is not None
    assert verify_cosigned(note.note + first.body["cosignatures"], witness) > 0
    kor_log.append_batch([event(i) for i in range(10, 13)])
    _cosign(node, kor, kor_log, old_size=4)  # an append-only extension, with its proof
    assert _known(node, kor) == 7


def test_peer_showing_two_roots_for_one_size_is_refused_as_a_split_view(
    node: Node, kor: PeerSimulator, kor_log: Log, audit: MemoryAuditSink
) -> None:
    _cosign(node, kor, kor_log)
    fork = sign_checkpoint(
        Checkpoint(kor.audit_signer.name, 4, hashlib.sha256(b"fork").digest()), kor.audit_signer
    )
    token = kor.checkpoint_message(node, fork.note, old_size=4)
    reply = _present(node, token)
    assert reply.status == 409
    assert _answer(node, kor, reply).body["refused"] == "split-view"
    assert _known(node, kor) == 4  # the state kept the checkpoint first cosigned
    assert node.witnessing is not None
    assert len(node.witnessing.witness.evidence()) == 1
    [incident] = _incidents(node)
    assert "split view" in incident
    assert "sim/audit" in incident
    # The signed message holding the forked checkpoint is kept with the refusal: evidence.
    with node.db.read() as session:
        kept = session.scalars(
            select(InboxMessage.answer_status).where(InboxMessage.kind == "checkpoint")
        )
        assert sorted(kept) == [200, 409]
    assert ("split-view",) in _denials(audit, "witness.cosign")
    # Shown again (a new message), refused again, still one open incident.
    assert _present(node, kor.checkpoint_message(node, fork.note, old_size=4)).status == 409
    assert len(_incidents(node)) == 1


def test_checkpoint_signed_by_unpinned_key_is_refused(
    node: Node, kor: PeerSimulator, kor_log: Log, audit: MemoryAuditSink
) -> None:
    stranger = generate_signer(kor.audit_signer.name)  # the same name, another key
    head = open_checkpoint(kor_log.checkpoint(kor.audit_signer).note, kor.audit_signer.verifier)
    forged = sign_checkpoint(head.checkpoint, stranger)
    reply = _present(node, kor.checkpoint_message(node, forged.note))
    assert reply.status == 403
    assert _answer(node, kor, reply).body["refused"] == "not-signed-by-peer"
    assert _known(node, kor) == 0
    assert ("not-signed-by-peer",) in _denials(audit, "witness.cosign")
    assert ("not-signed-by-peer",) in _denials(audit, "federation")
    assert _incidents(node) == []


def test_rollback_checkpoint_is_refused(
    node: Node, kor: PeerSimulator, kor_log: Log, audit: MemoryAuditSink
) -> None:
    _cosign(node, kor, kor_log)
    old = kor_log.latest_checkpoint()
    assert old is not None
    kor_log.append_batch([event(i) for i in range(20, 26)])
    _cosign(node, kor, kor_log, old_size=4)
    # The older checkpoint replayed, claiming the witness knows only its size.
    reply = _present(node, kor.checkpoint_message(node, old.note, old_size=4))
    assert reply.status == 409
    body = _answer(node, kor, reply).body
    assert (body["refused"], body["known_size"]) == ("witness-conflict", 10)
    assert _known(node, kor) == 10
    assert ("witness-conflict",) in _denials(audit, "witness.cosign")
    assert _incidents(node) == []  # a stale checkpoint is no fork


def test_add_checkpoint_from_unknown_sender_or_unsigned_is_refused(
    node: Node, kor: PeerSimulator, kor_log: Log, http: ApiClient
) -> None:
    note = kor_log.checkpoint(kor.audit_signer).note
    # Signed by a key nobody pinned, in KOR's name: no signed answer, nothing cosigned.
    forged = kor.checkpoint_message(node, note, signer=generate_signing())
    assert _present(node, forged).status == 401
    # From a node nobody pinned.
    unknown = kor.checkpoint_message(node, note, sender="cix-xyz")
    reply = _present(node, unknown)
    assert (reply.status, reply.token) == (401, None)
    # Over HTTP: a body that is no JWS, and KOR's genuine message sent to another route.
    assert http.post(ADD_CHECKPOINT_PATH, content=b"old 0\n\n" + note.encode()).status_code == 400
    elsewhere = kor.checkpoint_message(node, note, url="/federation/v1/messages")
    assert http.post(ADD_CHECKPOINT_PATH, content=elsewhere.encode()).status_code == 403
    assert _known(node, kor) == 0
    # And the genuine message at the route is cosigned over HTTP, answered signed.
    answered = http.post(ADD_CHECKPOINT_PATH, content=kor.checkpoint_message(node, note).encode())
    assert answered.status_code == 200, answered.text
    assert answered.headers["content-type"].startswith("application/jose")
    assert _known(node, kor) == 4


def test_malformed_add_checkpoint_body_is_refused(node: Node, kor: PeerSimulator) -> None:
    bad: list[dict[str, Any]] = [
        {"add_checkpoint": "old 01\n\nnot a note\n"},
        {"add_checkpoint": 7},
        {"add_checkpoint": "old 0\n\nx\n\n", "extra": 1},
    ]
    for body in bad:
        token = kor.message(
            kind="checkpoint", body=body, audience=node.settings.node_id, url=ADD_CHECKPOINT_PATH
        )
        reply = _present(node, token)
        assert reply.status == 400
        assert _answer(node, kor, reply).body["refused"] == "malformed-body"
    assert _known(node, kor) == 0


@pytest.fixture
def http(node: Node, kor: PeerSimulator, clock: Clock) -> Iterator[ApiClient]:
    import anyio.from_thread

    with anyio.from_thread.start_blocking_portal() as portal:
        client = ApiClient(node, portal)
        try:
            yield client
        finally:
            client.close()
