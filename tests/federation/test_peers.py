"""Pinned peers: what the operator may pin, every refusal (named after the attack it stops),
and the identity parser fuzzed (nothing but `IdentityInvalid` ever comes out of it)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cix.agreements import bundled_registry
from cix.audit.checkpoint import signer_from_seed
from cix.errors import InputError
from cix.federation import IdentityInvalid, NodeIdentity, read_identity, sign_identity
from cix.keys import KemAlgorithm, SigningKey, generate_kem, generate_signing
from cix.node.auditing import MemoryAuditSink
from cix.node.errors import NotFound
from cix.node.exchange.peers import PeerRefused, local_operator
from cix.node.roles import Actor, Role
from cix.node.service import Node
from tests.node_support import audit, clock, database_url, node

__all__ = ["audit", "clock", "database_url", "node"]

OPERATOR = local_operator("alice")


class Peer:
    """A peer node's identity and signing key, made without a node (the CAN node pins it)."""

    def __init__(
        self,
        node_id: str = "cix-kor",
        party: str = "KOR",
        agreements: tuple[str, ...] = ("kor-can",),
        tls_fingerprint: str | None = None,
    ) -> None:
        self.key: SigningKey = generate_signing()
        self.identity = NodeIdentity(
            party=party,
            node_id=node_id,
            url=f"http://{node_id}.example:8740",
            agreements=agreements,
            signing_key=self.key.public,
            kem_key=generate_kem(KemAlgorithm.X25519).public,
            audit_key=signer_from_seed(f"{node_id}/audit", self.key.public.public_bytes).verifier,
            tls_fingerprint=tls_fingerprint,
        )

    def document(self, **changes: Any) -> str:
        """The signed identity document, with `changes` to the identity before signing."""
        return sign_identity(replace(self.identity, **changes), self.key)


def _refusal(node: Node, audit: MemoryAuditSink, text: str, reason: str, **kw: Any) -> str:
    before = node.peers.list()
    with pytest.raises(PeerRefused) as info:
        node.peers.add(OPERATOR, text, agreement=kw.pop("agreement", "kor-can"), **kw)
    assert info.value.reason == reason
    assert node.peers.list() == before  # nothing changed
    last = audit.events[-1]
    assert (last.type, last.action, last.decision, last.reasons) == (
        "federation.peer",
        "add",
        "deny",
        (reason,),
    )
    assert last.actor == OPERATOR.id
    return str(info.value)


# -- pinning -------------------------------------------------------------------------------


def test_pinned_peer_is_trusted_for_its_keys_under_the_agreement(
    node: Node, audit: MemoryAuditSink
) -> None:
    kor = Peer()
    info = node.peers.add(OPERATOR, kor.document(), agreement="kor-can")
    assert (info.node_id, info.party, info.agreements) == ("cix-kor", "KOR", ("kor-can",))
    assert info.fingerprint == kor.identity.fingerprint
    assert info.added_by == "operator:alice"
    pinned = node.peers.pinned("cix-kor")
    assert pinned is not None
    assert pinned.agreements == frozenset({"kor-can"})
    assert pinned.identity.signing_key.public_bytes == kor.key.public.public_bytes
    assert node.peers.for_party("KOR", "kor-can") == pinned
    assert node.peers.for_party("KOR", "can-deu") is None
    assert node.peers.for_party("DEU", "kor-can") is None
    assert node.peers.url_of("cix-kor") == "http://cix-kor.example:8740"
    assert [p.node_id for p in node.peers.list()] == ["cix-kor"]
    last = audit.events[-1]
    assert (last.type, last.object, last.action, last.decision) == (
        "federation.peer",
        "peer:cix-kor",
        "add",
        "permit",
    )
    assert last.details["fingerprint"] == kor.identity.fingerprint
    assert last.actor == "operator:alice"


def test_url_given_by_the_operator_overrides_the_identity(node: Node) -> None:
    kor = Peer()
    node.peers.add(OPERATOR, kor.document(), agreement="kor-can", url="https://10.0.0.7:9443/")
    assert node.peers.url_of("cix-kor") == "https://10.0.0.7:9443"


def test_unknown_peer_is_not_pinned(node: Node) -> None:
    assert node.peers.pinned("cix-kor") is None
    with pytest.raises(NotFound):
        node.peers.url_of("cix-kor")


def test_readding_the_same_identity_under_another_agreement_extends_it(
    node: Node, audit: MemoryAuditSink
) -> None:
    # The bundled agreements give no pair of nations two agreements; this node is given a
    # second KOR-CAN agreement (the same terms under another id) to hold.
    second = dataclasses.replace(bundled_registry().get("kor-can"), id="kor-can-annex")
    node.peers._agreements["kor-can-annex"] = second
    kor = Peer(agreements=("kor-can", "kor-can-annex"))
    node.peers.add(OPERATOR, kor.document(), agreement="kor-can")
    info = node.peers.add(OPERATOR, kor.document(), agreement="kor-can-annex")
    assert info.agreements == ("kor-can", "kor-can-annex")
    pinned = node.peers.pinned("cix-kor")
    assert pinned is not None
    assert pinned.agreements == {"kor-can", "kor-can-annex"}
    assert node.peers.for_party("KOR", "kor-can-annex") == pinned
    last = audit.events[-1]
    assert (last.action, last.decision, last.details["agreements"]) == (
        "extend",
        "permit",
        ["kor-can", "kor-can-annex"],
    )


def test_removed_peer_is_no_longer_trusted(node: Node, audit: MemoryAuditSink) -> None:
    kor = Peer()
    node.peers.add(OPERATOR, kor.document(), agreement="kor-can")
    node.peers.remove(OPERATOR, "cix-kor")
    assert node.peers.pinned("cix-kor") is None
    assert node.peers.list() == []
    last = audit.events[-1]
    assert (last.action, last.decision, last.details["fingerprint"]) == (
        "remove",
        "permit",
        kor.identity.fingerprint,
    )


def test_removing_a_peer_never_pinned_is_refused(node: Node, audit: MemoryAuditSink) -> None:
    with pytest.raises(PeerRefused) as info:
        node.peers.remove(OPERATOR, "cix-kor")
    assert info.value.reason == "not-pinned"
    assert audit.events[-1].decision == "deny"


# -- refusals, named after the attack ------------------------------------------------------


def test_identity_with_swapped_kem_key_is_refused(node: Node, audit: MemoryAuditSink) -> None:
    # A man in the middle swaps the KEM key (documents would be rewrapped to him) but cannot
    # re-sign the identity with the peer's key.
    kor = Peer()
    doc = json.loads(kor.document())
    other = generate_kem(KemAlgorithm.X25519).public
    from cix.federation.canonical import b64url

    doc["identity"]["kem_key"] = {
        "alg": other.algorithm.value,
        "kid": other.kid,
        "public": b64url(other.public_bytes),
    }
    message = _refusal(node, audit, json.dumps(doc), "identity-invalid")
    assert "signature" in message


def test_identity_signed_by_another_key_is_refused(node: Node, audit: MemoryAuditSink) -> None:
    kor, mallory = Peer(), Peer()
    doc = json.loads(kor.document())
    doc["signature"] = json.loads(mallory.document())["signature"]
    _refusal(node, audit, json.dumps(doc), "identity-invalid")


def test_identity_with_all_keys_replaced_and_resigned_is_refused_at_repinning(
    node: Node, audit: MemoryAuditSink
) -> None:
    # Self-consistent but another key pair: only the fingerprint compared by phone would
    # tell; a node id already pinned is never silently re-keyed.
    node.peers.add(OPERATOR, Peer().document(), agreement="kor-can")
    message = _refusal(node, audit, Peer().document(), "pinned-with-other-keys")
    assert "remove it first" in message


def test_repinning_node_with_other_keys_is_refused(node: Node, audit: MemoryAuditSink) -> None:
    kor = Peer()
    node.peers.add(OPERATOR, kor.document(), agreement="kor-can")
    before = node.peers.pinned("cix-kor")
    impostor = Peer()
    _refusal(node, audit, impostor.document(), "pinned-with-other-keys")
    assert node.peers.pinned("cix-kor") == before


def test_repinning_the_same_identity_changes_nothing_but_the_document(node: Node) -> None:
    kor = Peer()
    first = node.peers.add(OPERATOR, kor.document(), agreement="kor-can")
    again = node.peers.add(
        OPERATOR, kor.document(url="http://new.example:8740"), agreement="kor-can"
    )
    assert again.agreements == first.agreements
    assert again.url == "http://new.example:8740"  # the peer moved, same keys


def test_pinning_peer_under_agreement_not_held_is_refused(
    node: Node, audit: MemoryAuditSink
) -> None:
    deu = Peer("cix-deu", "DEU", ("can-deu",))
    message = _refusal(node, audit, deu.document(), "agreement-not-held", agreement="can-deu")
    assert "can-deu" in message


def test_pinning_peer_under_agreement_it_does_not_list_is_refused(
    node: Node, audit: MemoryAuditSink
) -> None:
    kor = Peer(agreements=())
    _refusal(node, audit, kor.document(), "agreement-not-in-identity")


def test_pinning_a_party_outside_the_agreement_is_refused(
    node: Node, audit: MemoryAuditSink
) -> None:
    # A DEU node claiming kor-can: DEU is no party of it, whatever its identity says.
    deu = Peer("cix-deu", "DEU", ("kor-can",))
    _refusal(node, audit, deu.document(), "party-not-in-agreement")


def test_pinning_a_node_of_our_own_party_is_refused(node: Node, audit: MemoryAuditSink) -> None:
    twin = Peer("cix-can-2", "CAN", ("kor-can",))
    _refusal(node, audit, twin.document(), "own-party")


def test_pinning_our_own_node_id_is_refused(node: Node, audit: MemoryAuditSink) -> None:
    # An identity naming this node (so messages "from" it would verify against another key).
    spoof = Peer("cix-can", "KOR", ("kor-can",))
    _refusal(node, audit, spoof.document(), "own-node-id")


def test_pinning_a_second_node_for_the_same_party_is_refused(
    node: Node, audit: MemoryAuditSink
) -> None:
    node.peers.add(OPERATOR, Peer().document(), agreement="kor-can")
    message = _refusal(node, audit, Peer("cix-kor-b").document(), "party-already-pinned")
    assert "cix peer remove cix-kor" in message


def test_pinning_with_a_malformed_url_is_refused(node: Node, audit: MemoryAuditSink) -> None:
    _refusal(node, audit, Peer().document(), "url-invalid", url="ftp://kor")


def test_pinning_by_someone_not_the_operator_is_refused(node: Node, audit: MemoryAuditSink) -> None:
    reader = Actor("alice", frozenset({Role.READER}), "dnd", "government", "CAN")
    with pytest.raises(PeerRefused):
        node.peers.add(reader, Peer().document(), agreement="kor-can")
    assert audit.events[-1].decision == "deny"
    assert node.peers.list() == []


def test_garbage_instead_of_an_identity_is_refused(node: Node, audit: MemoryAuditSink) -> None:
    _refusal(node, audit, "not json at all", "identity-invalid")


# -- this node's own identity --------------------------------------------------------------


def test_own_identity_document_is_signed_and_names_this_node(node: Node) -> None:
    signed = read_identity(node.peers.own_identity_document())
    identity = signed.identity
    assert (identity.party, identity.node_id, identity.agreements) == (
        "CAN",
        "cix-can",
        ("kor-can",),
    )
    assert identity.url == f"http://{node.settings.host}:{node.settings.port}"
    assert node.keys is not None
    assert identity.signing_key.public_bytes == node.keys.verify_key.public_bytes
    assert identity.kem_key.public_bytes == node.keys.kem_public.public_bytes
    assert identity.audit_key.vkey() == node.keys.audit_signer.verifier.vkey()
    assert identity.tls_fingerprint is None


def test_own_identity_without_unlocked_keys_reads_the_public_files(node: Node) -> None:
    from cix.node.exchange.peers import Peers

    locked = Peers(node.db, node.audit, settings=node.settings, keys=None, clock=node.clock)
    assert locked.own_identity().fingerprint == node.peers.own_identity().fingerprint


# -- the parser, fuzzed --------------------------------------------------------------------

_KOR = Peer()
_DOC = json.loads(_KOR.document())


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


_PATHS = [p for p in _paths(_DOC) if p]
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(_PATHS), value=_JSON, delete=st.booleans())
def test_mutated_identity_documents_raise_only_identity_invalid(
    path: tuple[Any, ...], value: Any, delete: bool
) -> None:
    doc = json.loads(json.dumps(_DOC))
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    text = json.dumps(doc)
    try:
        signed = read_identity(text)
    except IdentityInvalid:
        return
    # What survives a mutation verifies: it must be the same identity, signed.
    assert signed.identity.to_json() == _KOR.identity.to_json()


@settings(max_examples=200)
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_arbitrary_bytes_raise_only_identity_invalid(data: bytes | str) -> None:
    with pytest.raises(IdentityInvalid):
        read_identity(data)


# -- cix serve over mutual TLS: what it needs ----------------------------------------------


class _Serving:
    """The two attributes of a node `uvicorn_tls_options` reads."""

    def __init__(self, node: Node, **settings: Any) -> None:
        from cix.node.exchange.peers import Peers

        self.settings = replace(node.settings, **settings)
        self.peers = Peers(node.db, node.audit, settings=self.settings, keys=None, clock=node.clock)


def test_serving_without_mtls_adds_no_tls_options(node: Node) -> None:
    from cix.serving.tls import uvicorn_tls_options

    assert uvicorn_tls_options(_Serving(node)) == {}  # type: ignore[arg-type]


def test_serving_mtls_without_own_certificate_is_refused(node: Node) -> None:
    from cix.errors import InputError
    from cix.serving.tls import uvicorn_tls_options

    with pytest.raises(InputError, match="tls_cert"):
        uvicorn_tls_options(_Serving(node, federation_mtls=True))  # type: ignore[arg-type]


def test_serving_mtls_trusts_exactly_the_pinned_certificates(node: Node) -> None:
    import ssl

    from cix.keys import TlsFiles, certificate_fingerprint, generate_tls_certificate
    from cix.node.exchange.peers import create_tls_files
    from cix.serving.tls import uvicorn_tls_options

    serving = _Serving(node, federation_mtls=True)
    assert create_tls_files(serving.settings, now=node.clock())
    assert not create_tls_files(serving.settings, now=node.clock())  # kept, not replaced
    with pytest.raises(InputError, match="no peer has a pinned TLS certificate"):
        uvicorn_tls_options(serving)  # type: ignore[arg-type]
    tmp = node.settings.data_dir / "kor-tls"
    files = generate_tls_certificate(
        TlsFiles(key=tmp / "tls.key", cert=tmp / "tls.crt"), node_id="cix-kor", now=node.clock()
    )
    pem = files.cert.read_text()
    kor = Peer(tls_fingerprint=certificate_fingerprint(pem))
    node.peers.add(OPERATOR, kor.document(), agreement="kor-can", tls_cert=pem)
    options = uvicorn_tls_options(serving)  # type: ignore[arg-type]
    assert options["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    bundle = options["ssl_ca_certs"]
    assert certificate_fingerprint(Path(bundle).read_text()) == kor.identity.tls_fingerprint
    assert node.peers.tls_cert_of("cix-kor") == pem
    node.peers.remove(OPERATOR, "cix-kor")
    with pytest.raises(InputError, match="no peer has a pinned TLS certificate"):
        uvicorn_tls_options(serving)  # type: ignore[arg-type]
