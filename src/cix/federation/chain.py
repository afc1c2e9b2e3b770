"""The consented-release chain (rule 2): how a third party trusts an originator it never met.

CAN releases a KOR-originated document to DEU with KOR's consent. DEU has no peering with
KOR, so CAN forwards, in the transmission's body (`chain_for_transmission`):

- KOR's signed identity document, as CAN pinned it, countersigned by CAN (a voucher:
  "I have pinned this identity");
- KOR's signed consent statement for exactly this release.

DEU checks (`check_third_party_chain`) that the identity's self-signature verifies, that
its pinned peer CAN (the node the transmission came from) vouched for it, and that the
statement, under KOR's key so vouched for, approves releasing that document to DEU for that
purpose, to CAN, now. The result (`ChainEvidence`) gives the key under which DEU must then
verify the document's label (`originator_key`) and the JSON it records on the copy.

Pure: no database, no clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cix.federation.consent import (
    ConsentAct,
    ConsentRefusal,
    ConsentRefused,
    ConsentStatement,
    check_consent,
)
from cix.federation.errors import IdentityInvalid
from cix.federation.identity import NodeIdentity, add_voucher, check_voucher, read_identity
from cix.federation.message import PinnedPeer
from cix.keys import SigningKey, VerifyKey

CHAIN_TYPE = "cix-consent-chain/v1"
#: The key of the transmission body under which the chain travels.
CHAIN_FIELD = "consent_chain"
_FIELDS = frozenset({"type", "originator_identity", "consent"})


def chain_for_transmission(
    *, consent: str, originator_identity: str, releasing_node: str, signer: SigningKey
) -> dict[str, Any]:
    """The chain the releasing node adds to the transmission body under `CHAIN_FIELD`.

    `consent` is the originator's signed statement (compact JWS), `originator_identity` the
    originator's identity document as this node pinned it, `releasing_node` this node's id
    and `signer` its signing key (the voucher). Raises `IdentityInvalid` for an identity
    document that does not verify.
    """
    vouched = add_voucher(read_identity(originator_identity), releasing_node, signer)
    return {"type": CHAIN_TYPE, "originator_identity": vouched.document, "consent": consent}


@dataclass(frozen=True)
class ChainEvidence:
    """A verified chain: the originator as vouched for, and the consent that permits the
    release. Recorded on the received copy (`to_json`, `consent_id`)."""

    originator: NodeIdentity
    statement: ConsentStatement
    releasing_node: str
    identity_document: str
    consent: str

    @property
    def consent_id(self) -> str:
        """The consent's id (one copy per consent: the receiver keeps it unique)."""
        return self.statement.consent_id

    def originator_key(self, label_originator: str) -> VerifyKey:
        """The key the document's label must be signed by; raises `ConsentRefused` when the
        label names an originator other than the one the chain vouches for."""
        if label_originator != self.originator.party:
            raise ConsentRefused(
                ConsentRefusal.ORIGINATOR_MISMATCH,
                f"the label's originator {label_originator} is not {self.originator.party}",
            )
        return self.originator.signing_key

    def to_json(self) -> dict[str, Any]:
        """What the receiver records on the copy: who consented, through whom, the evidence."""
        return {
            "type": CHAIN_TYPE,
            "consent_id": self.consent_id,
            "originator_party": self.originator.party,
            "originator_node": self.originator.node_id,
            "originator_fingerprint": self.originator.fingerprint,
            "releasing_node": self.releasing_node,
            "conditions": self.statement.conditions,
            "expires_at": self.statement.to_json()["expires_at"],
            "originator_identity": self.identity_document,
            "consent": self.consent,
        }


def check_third_party_chain(
    chain: Any,
    *,
    releasing_peer: PinnedPeer,
    document_id: str,
    to_party: str,
    purpose: str | None,
    now: datetime,
) -> ChainEvidence:
    """Verify the chain that came with a copy of another party's document from
    `releasing_peer` (see the module docstring); raise `ConsentRefused` unless it holds.

    `document_id` is the originator's document id the transmission names, `to_party` this
    node's party, `purpose` the transmission's purpose. A missing chain (`None`) is refused.
    """
    if chain is None:
        raise ConsentRefused(ConsentRefusal.CHAIN_MISSING, "no originator consent came with it")
    if not isinstance(chain, dict) or set(chain) != _FIELDS or chain["type"] != CHAIN_TYPE:
        raise ConsentRefused(ConsentRefusal.CHAIN_MALFORMED, f"expected {sorted(_FIELDS)}")
    if not isinstance(chain["originator_identity"], str) or not isinstance(chain["consent"], str):
        raise ConsentRefused(ConsentRefusal.CHAIN_MALFORMED, "fields must be strings")
    releasing = releasing_peer.identity
    try:
        signed = read_identity(chain["originator_identity"])
    except IdentityInvalid as exc:
        raise ConsentRefused(ConsentRefusal.IDENTITY_INVALID, str(exc)) from None
    originator = signed.identity
    if originator.node_id == releasing.node_id or originator.party == releasing.party:
        raise ConsentRefused(
            ConsentRefusal.ORIGINATOR_MISMATCH, "the releasing node is not a third party's"
        )
    try:
        check_voucher(signed, releasing.node_id, releasing.signing_key)
    except IdentityInvalid as exc:
        raise ConsentRefused(ConsentRefusal.VOUCHER_INVALID, str(exc)) from None
    statement = check_consent(
        chain["consent"],
        originator_key=originator.signing_key,
        document_id=document_id,
        act=ConsentAct.RELEASE,
        to_party=to_party,
        purpose=purpose,
        now=now,
        requester_node=releasing.node_id,
    )
    if (statement.originator_node, statement.originator_party) != (
        originator.node_id,
        originator.party,
    ):
        raise ConsentRefused(
            ConsentRefusal.ORIGINATOR_MISMATCH, "the statement names another originator"
        )
    return ChainEvidence(
        originator=originator,
        statement=statement,
        releasing_node=releasing.node_id,
        identity_document=signed.document,
        consent=chain["consent"],
    )


def recorded_originator(recorded: str | None) -> NodeIdentity:
    """The originator's identity, as vouched for, from the chain a third party recorded on
    its copy (`ChainEvidence.to_json()`, as JSON text): whose key the copy's label, and every
    classification change of it, must be signed by. Raises `IdentityInvalid` when there is
    no such record or it names no identity that verifies."""
    try:
        chain = json.loads(recorded or "")
        return read_identity(chain["originator_identity"]).identity
    except (ValueError, TypeError, KeyError):
        raise IdentityInvalid("the copy records no consent chain") from None
