"""A peer node simulated in-process, implementing the real federation interface.

As python-tuf's repository simulator stands in for a repository, `PeerSimulator` stands
in for the other nation's node: it has its own keys (signing, KEM, audit), a signed
identity the node under test pins, and it speaks the wire format exactly: it signs
messages (`message`, `send_to`: straight into the node's inbox, as the route would), and
as a `Transport` it receives the node's messages, verifies them as a real inbox does
(its pin of the node, audience, route, agreement, skew), keeps an inbox of its own and
answers signed. As a witness (`witness` set), it answers "checkpoint" messages as a real
node does (`cix.node.exchange.checkpoints`); as a log, `checkpoint_message` presents the
node a checkpoint of its own audit key (`audit_signer`), honest or forked. It misbehaves
on demand: `down` (unreachable), `answer_unsigned`, and whatever a test does to the
messages it builds (another key, another audience, an old issue time, a tampered object).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cix.agreements import bundled_registry
from cix.audit import Signer, generate_signer
from cix.audit.errors import InconsistentCheckpoint, SplitView, WitnessConflict
from cix.audit.witness import Witness
from cix.audit.witness_protocol import build_add_checkpoint, parse_add_checkpoint
from cix.envelope import open as envelope_open
from cix.envelope import seal
from cix.errors import PeerError
from cix.federation import (
    Message,
    MessageRefused,
    NodeIdentity,
    PinnedPeer,
    new_message_id,
    sign_identity,
    sign_message,
    verify_message,
)
from cix.keys import KemAlgorithm, KemPrivateKey, SigningKey, generate_kem, generate_signing
from cix.labels import Label, to_4774_xml
from cix.node.exchange.transport import ADD_CHECKPOINT_PATH, DOCUMENTS_PATH, PeerUnreachable
from cix.node.keyaccess import policy_uuid_for
from cix.node.register import new_id
from cix.node.service import Node
from cix.store.models import PeerRow

NOW_SKEW = timedelta(seconds=300)
_AUDIT = generate_signer("sim/audit")
"""The simulated peer's audit-log key (one per test run: checkpoints need only be signed)."""


def node_identity(node: Node, *, url: str = "http://node.test") -> NodeIdentity:
    """The public identity of a real node under test (what `cix node identity` prints)."""
    keys = node.keys
    assert keys is not None
    return NodeIdentity(
        party=node.settings.party,
        node_id=node.settings.node_id,
        url=url,
        agreements=tuple(sorted(node.settings.agreements)),
        signing_key=keys.verify_key,
        kem_key=keys.kem_public,
        audit_key=keys.audit_signer.verifier,
        tls_fingerprint=None,
    )


def pin(node: Node, identity: NodeIdentity, signer: SigningKey, agreements: list[str]) -> None:
    """Pin `identity` (signed by `signer`) at `node` under `agreements`, as `cix peer add`
    would (a `peers` row)."""
    with node.db.write() as session:
        session.merge(
            PeerRow(
                node_id=identity.node_id,
                party=identity.party,
                url=identity.url,
                identity=sign_identity(identity, signer),
                agreements=agreements,
                added_by="system",
                added_at=node.clock(),
            )
        )


@dataclass
class Received:
    """A message the simulator accepted, and the file that came with it (copied)."""

    message: Message
    body: bytes | None


@dataclass
class PeerSimulator:
    """The other nation's node (see the module docstring)."""

    party: str
    node_id: str
    agreements: tuple[str, ...]
    clock: Callable[[], datetime]
    url: str = "http://peer.test"
    signing: SigningKey = field(default_factory=generate_signing)
    kem: KemPrivateKey = field(default_factory=lambda: generate_kem(KemAlgorithm.X25519))
    down: bool = False
    answer_unsigned: bool = False
    refuse_with: str | None = None
    inbox: dict[str, tuple[int, str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    pinned_node: PinnedPeer | None = None
    sends: int = 0
    audit_signer: Signer = field(default_factory=lambda: _AUDIT)
    witness: Witness | None = None

    @property
    def identity(self) -> NodeIdentity:
        """The simulator's public identity."""
        return NodeIdentity(
            party=self.party,
            node_id=self.node_id,
            url=self.url,
            agreements=self.agreements,
            signing_key=self.signing.public,
            kem_key=self.kem.public,
            audit_key=self.audit_signer.verifier,
            tls_fingerprint=None,
        )

    def pair_with(self, node: Node, agreements: list[str] | None = None) -> None:
        """Pin each other: the node pins the simulator, the simulator pins the node."""
        pin(node, self.identity, self.signing, agreements or list(self.agreements))
        self.pinned_node = PinnedPeer(node_identity(node), frozenset(agreements or self.agreements))
        self._node = node

    # -- the simulator as a sender -----------------------------------------------------

    def message(
        self,
        *,
        kind: str,
        body: dict[str, Any],
        audience: str,
        url: str,
        agreement: str | None = None,
        issued_at: datetime | None = None,
        message_id: str | None = None,
        signer: SigningKey | None = None,
        sender: str | None = None,
    ) -> str:
        """A message signed by the simulator (or by `signer`, to forge one)."""
        return sign_message(
            signer or self.signing,
            sender=sender or self.node_id,
            audience=audience,
            url=url,
            agreement=agreement or self.agreements[0],
            kind=kind,
            body=body,
            message_id=message_id or new_message_id(),
            issued_at=issued_at or self.clock(),
        )

    def checkpoint_message(
        self,
        node: Node,
        note: str,
        *,
        old_size: int = 0,
        proof: tuple[bytes, ...] = (),
        **message: Any,
    ) -> str:
        """A "checkpoint" message asking `node` to cosign the signed checkpoint `note`,
        extending `old_size` by `proof` (tlog-witness `add-checkpoint`)."""
        args: dict[str, Any] = {
            "kind": "checkpoint",
            "body": {"add_checkpoint": build_add_checkpoint(old_size, proof, note)},
            "audience": node.settings.node_id,
            "url": ADD_CHECKPOINT_PATH,
        }
        args.update(message)
        return self.message(**args)

    def transmission(
        self,
        node: Node,
        label: Label,
        data: bytes,
        directory: Path,
        *,
        doc_id: str | None = None,
        copy: int = 1,
        label_signer: SigningKey | None = None,
        body_label: dict[str, Any] | None = None,
        **message: Any,
    ) -> tuple[str, Path]:
        """A document sealed by the simulator (its label signed by `label_signer`, by
        default its own key) for `node`, and the signed "transmission" message for it
        (`body_label` puts another label JSON in the message than the object's)."""
        doc_id = doc_id or new_id(self.clock())
        path = directory / f"{doc_id}-{copy}.tdf"
        assert node.keys is not None
        with path.open("wb") as out:
            seal(
                io.BytesIO(data),
                out,
                label_xml=to_4774_xml(label, bundled_registry()),
                label_json=label.to_json(),
                recipients=[node.keys.kem_public],
                signer=label_signer or self.signing,
                mime_type="text/plain",
                policy_uuid=policy_uuid_for(doc_id),
            )
        blob = path.read_bytes()
        body = {
            "document": doc_id,
            "copy": copy,
            "label": body_label if body_label is not None else dict(label.to_json()),
            "title": "Hull design",
            "media_type": "text/plain",
            "purpose": None,
            "consent": None,
            "originator_party": label.originator,
            "releasing_party": self.party,
            "object_sha256": hashlib.sha256(blob).hexdigest(),
            "object_size": len(blob),
        }
        args: dict[str, Any] = {
            "kind": "transmission",
            "body": body,
            "audience": node.settings.node_id,
            "url": DOCUMENTS_PATH,
        }
        args.update(message)
        return self.message(**args), path

    def check_own(self, token: str, *, audience: str, url: str) -> Message:
        """Verify a message the simulator signed (a receipt a node stored), as its pinned
        peers would."""
        me = PinnedPeer(self.identity, frozenset(self.agreements))
        return verify_message(
            token,
            peer=lambda s: me if s == self.node_id else None,
            audience=audience,
            url=url,
            held_agreements=self.agreements,
            now=self.clock(),
            max_skew=timedelta(days=36500),
        )

    def read_answer(self, token: str, *, url: str, peer: PinnedPeer) -> Message:
        """Verify a node's answer to one of the simulator's messages."""
        return verify_message(
            token,
            peer=lambda s: peer if s == peer.identity.node_id else None,
            audience=self.node_id,
            url=url,
            held_agreements=self.agreements,
            now=self.clock(),
            max_skew=NOW_SKEW,
        )

    # -- the simulator as a receiver (a Transport) -------------------------------------

    def send(self, url: str, path: str, token: str, body: Path | None) -> tuple[int, bytes]:
        """Receive one message from the node as a real peer's route would."""
        self.sends += 1
        if self.down:
            raise PeerUnreachable(f"{self.node_id} is down")
        assert self.pinned_node is not None, "pair_with the node first"
        try:
            message = verify_message(
                token,
                peer=lambda s: self.pinned_node if s == self.pinned_node.identity.node_id else None,  # type: ignore[union-attr]
                audience=self.node_id,
                url=path,
                held_agreements=self.agreements,
                now=self.clock(),
                max_skew=NOW_SKEW,
            )
        except MessageRefused as refused:
            return 401, f"refused: {refused.reason}".encode()
        if self.answer_unsigned:
            return 200, b'{"receipt": "trust me"}'
        seen = self.inbox.get(message.message_id)
        if seen is not None:
            return seen[0], seen[1].encode()
        data = body.read_bytes() if body is not None else None
        status, answer_body = self._answer(message, data)
        answer = sign_message(
            self.signing,
            sender=self.node_id,
            audience=message.sender,
            url=path,
            agreement=message.agreement,
            kind="answer",
            body={**answer_body, "in_reply_to": message.message_id, "status": status},
            message_id=new_message_id(),
            issued_at=self.clock(),
        )
        if status < 400:
            self.inbox[message.message_id] = (status, answer)
            self.received.append(Received(message, data))
        return status, answer.encode()

    def _answer(self, message: Message, data: bytes | None) -> tuple[int, dict[str, Any]]:
        if self.refuse_with is not None:
            return 422, {"refused": self.refuse_with}
        if message.kind == "checkpoint" and self.witness is not None:
            return self._witness_answer(message)
        if message.kind != "transmission" or data is None:
            return 200, {}
        if hashlib.sha256(data).hexdigest() != message.body.get("object_sha256"):
            return 422, {"refused": "object-digest-mismatch"}
        node = self._node
        assert node.keys is not None

        class _Null:
            def write(self, chunk: bytes) -> int:
                return len(chunk)

        opened = envelope_open(
            data,
            _Null(),  # type: ignore[arg-type]
            private_key=self.kem,
            trusted_signers={node.settings.party: [node.keys.verify_key]},
        )
        return 200, {
            "receipt": {
                "document": message.body["document"],
                "copy": message.body["copy"],
                "party": self.party,
                "size": opened.plaintext_size,
            }
        }

    def _witness_answer(self, message: Message) -> tuple[int, dict[str, Any]]:
        assert self.witness is not None
        assert self.pinned_node is not None
        request = parse_add_checkpoint(message.body["add_checkpoint"])
        log_key = self.pinned_node.identity.audit_key
        try:
            lines = self.witness.add_checkpoint(
                request, log_key, timestamp=int(self.clock().timestamp())
            )
        except WitnessConflict as exc:
            return 409, {"refused": "witness-conflict", "known_size": exc.known_size}
        except InconsistentCheckpoint:
            return 422, {"refused": "inconsistent-proof"}
        except SplitView:
            return 409, {"refused": "split-view"}
        return 200, {"cosignatures": lines}

    def unreachable(self) -> PeerError:
        """The error a down peer's transport raises."""
        return PeerUnreachable(f"{self.node_id} is down")
