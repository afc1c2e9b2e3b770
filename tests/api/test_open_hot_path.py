"""The open hot path: its caches take every change into account on the very next request,
and its audit is one durable pair (decision, key access) before any content leaves.

One test per attack on a cache (a credential or a right withdrawn, a document destroyed, a
blob tampered with after its manifest was cached), named after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from cix.errors import StorageError
from cix.node.auditing import AuditRecord, MemoryAuditSink
from cix.node.roles import SYSTEM
from cix.node.schemas import MembershipIn, OrganisationPatch, PersonPatch
from cix.node.service import Node
from tests.api.test_documents_api import YEAR, _cast, _label, _upload
from tests.node_support import SQLITE_ONLY, T0, ApiClient, Clock, assert_problem, events


@pytest.fixture
def docs(api: ApiClient) -> ApiClient:
    _cast(api.node)
    return api


def _content(api: ApiClient, doc_id: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return api.get(f"/api/v1/documents/{doc_id}/content", headers=headers)


def _opens(api: ApiClient, doc_id: str, token: str | None = None, times: int = 2) -> None:
    """Open `times` times (the caches are warm after the first)."""
    for _ in range(times):
        response = _content(api, doc_id, token)
        assert response.status_code == 200, response.text


def _api_token(api: ApiClient, person: str) -> tuple[str, str]:
    # Minted by the node itself: one minted through the API lives no longer than the
    # test's short bearer token, and these tests outlast it.
    node = api.as_(person).node
    actor = node.registry.actor_for(person)
    token, row = node.api_tokens.create(actor, "cli", ttl=30 * 86400, now=node.clock())
    return token, row.id


def test_revoked_api_token_is_refused_on_next_request(docs: ApiClient) -> None:
    doc = _upload(docs, _label("S"), "plan")
    token, token_id = _api_token(docs, "alice")
    _opens(docs, doc["id"], token)
    revoked = docs.delete(
        f"/api/v1/tokens/{token_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert revoked.status_code == 204
    assert_problem(_content(docs, doc["id"], token), 401)


def test_expired_api_token_is_refused_without_any_write(
    docs: ApiClient, node: Node, clock: Clock
) -> None:
    doc = _upload(docs, _label("S"), "plan")
    token, _ = _api_token(docs, "alice")
    _opens(docs, doc["id"], token)
    generation = node.db.generation
    clock.advance(days=400)  # past the token's lifetime (and the clearance's)
    assert_problem(_content(docs, doc["id"], token), 401)
    assert node.db.generation == generation


def test_verified_jwt_past_its_expiry_is_refused(docs: ApiClient, clock: Clock) -> None:
    doc = _upload(docs, _label("S"), "plan")
    token = docs.token_for("alice", ttl=60)
    _opens(docs, doc["id"], token)
    clock.advance(seconds=120)
    assert_problem(_content(docs, doc["id"], token), 401)


def test_deactivated_person_is_refused_on_next_request(docs: ApiClient, node: Node) -> None:
    doc = _upload(docs, _label("S"), "plan")
    token, _ = _api_token(docs, "alice")
    _opens(docs, doc["id"], token)
    node.registry.update_person(SYSTEM, "alice", PersonPatch(active=False))
    assert_problem(_content(docs, doc["id"], token), 401)


def test_clearance_withdrawn_takes_effect_on_next_open(docs: ApiClient, node: Node) -> None:
    doc = _upload(docs, _label("S"), "plan")
    token, _ = _api_token(docs, "alice")
    _opens(docs, doc["id"], token)
    node.registry.update_person(SYSTEM, "alice", PersonPatch(clearance=None))
    assert_problem(_content(docs, doc["id"], token), 403)


def test_facility_clearance_withdrawn_takes_effect_on_next_open(
    docs: ApiClient, node: Node
) -> None:
    doc = _upload(docs, _label("S"), "plan")
    token, _ = _api_token(docs, "bob")  # a contractor's employee
    _opens(docs, doc["id"], token)
    node.registry.update_organisation(SYSTEM, "acme", OrganisationPatch(facility_clearance=None))
    assert_problem(_content(docs, doc["id"], token), 403)


def test_membership_revoked_takes_effect_on_next_open(docs: ApiClient, node: Node) -> None:
    doc = _upload(docs, _label("S", programmes=("CPSP",)), "hull")
    grant = node.registry.grant_membership(
        SYSTEM,
        MembershipIn(person="alice", programme="CPSP", valid_until=YEAR, justification="work"),
    )
    token, _ = _api_token(docs, "alice")
    _opens(docs, doc["id"], token)
    node.registry.revoke_membership(SYSTEM, grant.id)
    assert_problem(_content(docs, doc["id"], token), 403)


def test_membership_expiry_takes_effect_without_registry_write(
    docs: ApiClient, node: Node, clock: Clock
) -> None:
    doc = _upload(docs, _label("S", programmes=("CPSP",)), "hull")
    node.registry.grant_membership(
        SYSTEM,
        MembershipIn(
            person="alice",
            programme="CPSP",
            valid_until=T0 + timedelta(days=1),
            justification="a day's work",
        ),
    )
    token, _ = _api_token(docs, "alice")
    _opens(docs, doc["id"], token)
    generation = node.db.generation
    clock.advance(days=2)  # the membership ends; nothing is written
    assert_problem(_content(docs, doc["id"], token), 403)
    assert node.db.generation == generation


def test_membership_start_takes_effect_without_registry_write(
    docs: ApiClient, node: Node, clock: Clock
) -> None:
    doc = _upload(docs, _label("S", programmes=("CPSP",)), "hull")
    node.registry.grant_membership(
        SYSTEM,
        MembershipIn(
            person="alice",
            programme="CPSP",
            valid_from=T0 + timedelta(days=1),
            valid_until=YEAR,
            justification="starts tomorrow",
        ),
    )
    token, _ = _api_token(docs, "alice")
    assert_problem(_content(docs, doc["id"], token), 403)
    assert_problem(_content(docs, doc["id"], token), 403)
    clock.advance(days=2)
    _opens(docs, doc["id"], token)


def test_destroyed_document_cannot_be_opened_from_cache(docs: ApiClient) -> None:
    doc = _upload(docs, _label("S"), "plan")
    token, _ = _api_token(docs, "alice")
    _opens(docs, doc["id"], token)
    destroyed = docs.as_("olivia").post(
        f"/api/v1/documents/{doc['id']}/destroy", json={"reason": "superseded"}
    )
    assert destroyed.status_code == 200, destroyed.text
    assert_problem(_content(docs, doc["id"], token), 404)
    # Crypto-erase: the wrapped data key does not survive in the verified-manifest cache.
    assert len(docs.node.opening._manifests) == 0


def test_destruction_by_another_worker_empties_this_workers_manifest_cache(
    docs: ApiClient,
) -> None:
    first = _upload(docs, _label("S"), "plan")
    second = _upload(docs, _label("S"), "hull")
    token, _ = _api_token(docs, "alice")
    _opens(docs, first["id"], token)
    _opens(docs, second["id"], token)
    assert len(docs.node.opening._manifests) == 2
    # What another worker of `cix serve --workers N` does when it destroys a document:
    # count it in the counters every worker shares.
    docs.node.db.count_destruction()
    _opens(docs, first["id"], token, times=1)
    assert len(docs.node.opening._manifests) == 1  # the other entry went with the rest


def test_blob_left_by_a_worker_killed_mid_destruction_is_swept(
    docs: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _upload(docs, _label("S"), "plan")
    kept = _upload(docs, _label("S"), "hull")
    node = docs.node
    # Killed after the commit, before the blob's deletion: the deletion never happens.
    with monkeypatch.context() as patch:
        patch.setattr(node.blobs, "delete", lambda blob: None)
        destroyed = docs.as_("olivia").post(
            f"/api/v1/documents/{doc['id']}/destroy", json={"reason": "superseded"}
        )
    assert destroyed.status_code == 200, destroyed.text
    left = destroyed.json()["sealed_sha256"]
    assert node.blobs.exists(left)
    assert node.destruction.sweep_destroyed() == 1
    assert not node.blobs.exists(left)
    assert node.destruction.sweep_destroyed() == 0
    token, _ = _api_token(docs, "alice")
    _opens(docs, kept["id"], token)  # a live document's blob is never swept


@SQLITE_ONLY
def test_tampered_blob_is_refused_even_when_manifest_cached(
    docs: ApiClient, node: Node, audit: MemoryAuditSink
) -> None:
    secret = b"the reactor is a MARK-7 design" * 100
    doc = _upload(docs, _label("S"), "plan", secret)
    token, _ = _api_token(docs, "alice")
    _opens(docs, doc["id"], token)  # its manifest is now cached
    path = node.blobs.path(next(node.blobs.hashes()))
    data = bytearray(path.read_bytes())
    data[len(data) // 4] ^= 1  # inside the payload, not the manifest
    path.write_bytes(bytes(data))
    refused = _content(docs, doc["id"], token)
    assert_problem(refused, 403)
    assert b"MARK-7" not in refused.content
    last = audit.events[-1]
    assert (last.type, last.decision) == ("key-access", "deny")
    assert last.reasons
    assert last.reasons != ("refused",)


@SQLITE_ONLY
def test_tampered_manifest_is_refused_even_when_an_earlier_one_is_cached(
    docs: ApiClient, node: Node, audit: MemoryAuditSink
) -> None:
    doc = _upload(docs, _label("S"), "plan", b"x" * 5000)
    token, _ = _api_token(docs, "alice")
    _opens(docs, doc["id"], token)
    path = node.blobs.path(next(node.blobs.hashes()))
    data = bytearray(path.read_bytes())
    at = data.index(b'"segments"')  # in the manifest
    data[at + 1] ^= 0x20
    path.write_bytes(bytes(data))
    assert_problem(_content(docs, doc["id"], token), 403)
    assert events(audit, "key-access")[-1].decision == "deny"


class _Groups:
    """An audit sink that records which events were appended together, and can fail."""

    def __init__(self, fail: bool = False) -> None:
        self.groups: list[tuple[AuditRecord, ...]] = []
        self.fail = fail

    def append(self, event: AuditRecord) -> None:
        self.append_many((event,))

    def append_many(self, events: Sequence[AuditRecord]) -> None:
        if self.fail:
            raise StorageError("audit append failed: disk full")
        self.groups.append(tuple(events))


@SQLITE_ONLY
def test_decision_and_key_access_are_one_durable_group_before_content(
    docs: ApiClient, node: Node
) -> None:
    doc = _upload(docs, _label("S"), "plan", b"registered content")
    sink = _Groups()
    node.opening.reg.audit = sink
    opened = docs.as_("alice").get(f"/api/v1/documents/{doc['id']}/content")
    assert opened.content == b"registered content"
    (group,) = sink.groups
    assert [(e.type, e.actor, e.action, e.decision) for e in group] == [
        ("document", "alice", "read", "permit"),
        ("key-access", "alice", "unwrap", "permit"),
    ]


@SQLITE_ONLY
def test_failed_audit_append_sends_no_content(docs: ApiClient, node: Node) -> None:
    doc = _upload(docs, _label("S"), "plan", b"the reactor is a MARK-7 design")
    token, _ = _api_token(docs, "alice")
    _opens(docs, doc["id"], token)  # every cache warm
    node.opening.reg.audit = _Groups(fail=True)
    failed = _content(docs, doc["id"], token)
    assert_problem(failed, 503)
    assert b"MARK-7" not in failed.content


@SQLITE_ONLY
def test_refused_open_is_audited_alone_and_sends_nothing(docs: ApiClient, node: Node) -> None:
    doc = _upload(docs, _label("S", programmes=("CPSP",)), "hull", b"MARK-7")
    sink = _Groups()
    node.opening.reg.audit = sink
    refused = docs.as_("alice").get(f"/api/v1/documents/{doc['id']}/content")
    assert_problem(refused, 403)
    assert b"MARK-7" not in refused.content
    (group,) = sink.groups
    assert [(e.type, e.decision) for e in group] == [("document", "deny")]


@SQLITE_ONLY
def test_document_larger_than_the_in_memory_limit_streams(docs: ApiClient) -> None:
    body = bytes(range(256)) * 4096 + b"tail"  # just over 1 MiB
    doc = _upload(docs, _label("S"), "big", body)
    opened = docs.as_("alice").get(f"/api/v1/documents/{doc['id']}/content")
    assert opened.status_code == 200
    assert opened.content == body
    assert opened.headers["content-length"] == str(len(body))


def test_a_write_moves_the_generation_even_when_it_fails(node: Node) -> None:
    before = node.db.generation
    with pytest.raises(RuntimeError), node.db.write():
        raise RuntimeError("rolled back")
    assert node.db.generation == before + 1
    with node.db.write():
        pass
    assert node.db.generation == before + 2


def test_caches_are_bounded() -> None:
    from cix.node.cache import GenerationCache, LruCache

    generational: GenerationCache[int, int] = GenerationCache(3)
    lru: LruCache[int, int] = LruCache(3)
    for i in range(10):
        generational.put(i, 0, i)
        lru.put(i, i)
    assert len(generational) == 3
    assert len(lru) == 3
    assert generational.get(9, 0) == 9
    assert generational.get(9, 1) is None  # another generation: stale, and dropped
    assert generational.get(9, 0) is None
    assert lru.get(0) is None
    assert lru.get(9) == 9
