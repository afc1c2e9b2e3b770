"""Keys and identities of three test nodes (KOR, CAN, DEU) for the consent tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cix.audit.checkpoint import generate_signer
from cix.federation import NodeIdentity, PinnedPeer, sign_identity
from cix.federation.consent import ConsentAct, ConsentRequest, answer_request, sign_statement
from cix.keys import KemAlgorithm, SigningKey, generate_kem, generate_signing

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class NodeFixture:
    """One node's signing key and signed identity document."""

    signer: SigningKey
    identity: NodeIdentity
    document: str

    def pinned(self, *agreements: str) -> PinnedPeer:
        """This node as another pins it."""
        return PinnedPeer(self.identity, frozenset(agreements))


def make_test_node(party: str, agreements: tuple[str, ...]) -> NodeFixture:
    """A fresh node of `party` holding `agreements`."""
    signer = generate_signing()
    node_id = f"cix-{party.lower()}"
    identity = NodeIdentity(
        party=party,
        node_id=node_id,
        url=f"https://{node_id}.example",
        agreements=agreements,
        signing_key=signer.public,
        kem_key=generate_kem(KemAlgorithm.X25519).public,
        audit_key=generate_signer(f"{node_id}/audit").verifier,
        tls_fingerprint=None,
    )
    return NodeFixture(signer, identity, sign_identity(identity, signer))


def release_request(
    document_id: str = "d0c", *, to_party: str = "DEU", purpose: str | None = "defence-procurement"
) -> ConsentRequest:
    """CAN's request to release KOR's document to DEU."""
    return ConsentRequest(
        consent_id="c-1",
        requester_node="cix-can",
        requester_party="CAN",
        originator_party="KOR",
        document_id=document_id,
        act=ConsentAct.RELEASE,
        to_party=to_party,
        purpose=purpose,
        new_label=None,
        requested_by="nsa",
        reason="TKMS needs the hull design",
    ).checked()


def signed_consent(
    signer: SigningKey,
    request: ConsentRequest | None = None,
    *,
    approved: bool = True,
    days: int = 30,
    now: datetime = T0,
    originator_node: str = "cix-kor",
) -> str:
    """The originator's signed answer to `request` (by default an approval for 30 days)."""
    statement = answer_request(
        request or release_request(),
        approved=approved,
        originator_node=originator_node,
        conditions="no further release",
        expires_at=now + timedelta(days=days),
        now=now,
    )
    return sign_statement(statement, signer)
