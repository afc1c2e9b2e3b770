"""A sealed object swapped in the blob store is refused before any plaintext leaves.

Someone with write access to the blob store (or to a document row's `blob_hash`) puts
another document's sealed object where a document's blob should be. The node decides on
the row's label, so the object must be the row's: its verified label must be the row's
(`label-mismatch`), its policy uuid the document's id (`policy-uuid-mismatch`), and a blob
read whole must hash to its name (`blob-hash-mismatch`; once hashed, later reads must have
its size and its bytes outside the payload, and the payload authenticates segment by
segment). One test per attack, for a small
document (read whole) and a large one (streamed), each a 403 with no plaintext and a
denied key access audited with its precise reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cix.node.auditing import MemoryAuditSink
from cix.node.service import Node
from cix.store.models import Document
from tests.api.test_documents_api import _cast, _label, _upload
from tests.node_support import ApiClient, assert_problem, events

SMALL = 5000
LARGE = (1 << 20) + 4096  # past the route's in-memory limit: streamed


@pytest.fixture
def docs(api: ApiClient) -> ApiClient:
    _cast(api.node)
    return api


def _body(marker: bytes, size: int) -> bytes:
    return (marker * (size // len(marker) + 1))[:size]


def _blob(node: Node, doc_id: str) -> str:
    with node.db.read() as session:
        blob = session.scalar(select(Document.blob_hash).where(Document.id == doc_id))
    assert blob is not None
    return blob


def _copy_blob_file(node: Node, source: dict[str, Any], target: dict[str, Any]) -> None:
    """The attack on the blob store: `source`'s sealed file copied over `target`'s."""
    path = node.blobs.path(_blob(node, target["id"]))
    path.write_bytes(node.blobs.path(_blob(node, source["id"])).read_bytes())


def _point_row_at(node: Node, source: dict[str, Any], target: dict[str, Any]) -> None:
    """The attack on the row: `target`'s row names `source`'s (intact) blob."""
    blob = _blob(node, source["id"])
    with node.db.write() as session:
        row = session.get(Document, target["id"])
        assert row is not None
        row.blob_hash = blob


def _refused(
    api: ApiClient, audit: MemoryAuditSink, reader: str, doc: dict[str, Any], reason: str
) -> None:
    got = api.as_(reader).get(f"/api/v1/documents/{doc['id']}/content")
    assert_problem(got, 403)
    assert b"MARK-7" not in got.content
    last = events(audit, "key-access")[-1]
    assert (last.actor, last.object, last.decision, last.reasons) == (
        reader,
        f"document:{doc['id']}",
        "deny",
        (reason,),
    )


@pytest.mark.parametrize(
    ("size", "reason"),
    [(SMALL, "blob-hash-mismatch"), (LARGE, "label-mismatch")],
    ids=["small", "large"],
)
def test_blob_swapped_with_a_higher_labelled_document_is_refused(
    docs: ApiClient, node: Node, audit: MemoryAuditSink, size: int, reason: str
) -> None:
    low = _upload(docs, _label("C"), "canteen menu", _body(b"soup of the day ", size))
    high = _upload(docs, _label("S"), "reactor", _body(b"the reactor is a MARK-7 ", size))
    assert docs.as_("carl").get(f"/api/v1/documents/{high['id']}/content").status_code == 403
    _copy_blob_file(node, high, low)
    _refused(docs, audit, "carl", low, reason)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
def test_row_pointed_at_a_higher_labelled_document_blob_is_refused(
    docs: ApiClient, node: Node, audit: MemoryAuditSink, size: int
) -> None:
    low = _upload(docs, _label("C"), "canteen menu", _body(b"soup of the day ", size))
    high = _upload(docs, _label("S"), "reactor", _body(b"the reactor is a MARK-7 ", size))
    _point_row_at(node, high, low)
    _refused(docs, audit, "carl", low, "label-mismatch")


@pytest.mark.parametrize(
    ("size", "reason"),
    [(SMALL, "blob-hash-mismatch"), (LARGE, "policy-uuid-mismatch")],
    ids=["small", "large"],
)
def test_blob_swapped_with_a_same_label_document_is_refused(
    docs: ApiClient, node: Node, audit: MemoryAuditSink, size: int, reason: str
) -> None:
    mine = _upload(docs, _label("S"), "plan", _body(b"the plan ", size))
    other = _upload(docs, _label("S"), "reactor", _body(b"the reactor is a MARK-7 ", size))
    _copy_blob_file(node, other, mine)
    _refused(docs, audit, "alice", mine, reason)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
def test_row_pointed_at_a_same_label_document_blob_is_refused(
    docs: ApiClient, node: Node, audit: MemoryAuditSink, size: int
) -> None:
    mine = _upload(docs, _label("S"), "plan", _body(b"the plan ", size))
    other = _upload(docs, _label("S"), "reactor", _body(b"the reactor is a MARK-7 ", size))
    _point_row_at(node, other, mine)
    _refused(docs, audit, "alice", mine, "policy-uuid-mismatch")


def _open_once(api: ApiClient, node: Node, doc: dict[str, Any]) -> None:
    """Open `doc` (a small one): its blob is hashed to its name once and remembered."""
    assert api.as_("alice").get(f"/api/v1/documents/{doc['id']}/content").status_code == 200
    assert node.opening._verified_blobs.get(_blob(node, doc["id"])) is not None


def test_blob_swapped_after_it_was_verified_is_refused(
    docs: ApiClient, node: Node, audit: MemoryAuditSink
) -> None:
    # Later opens check the remembered digest of the bytes outside the payload instead of
    # hashing the whole blob: a swap is still refused, with the same reason.
    mine = _upload(docs, _label("S"), "plan", _body(b"the plan ", SMALL))
    other = _upload(docs, _label("S"), "reactor", _body(b"the reactor is a MARK-7 ", SMALL))
    _open_once(docs, node, mine)
    original = node.blobs.path(_blob(node, mine["id"])).read_bytes()
    _copy_blob_file(node, other, mine)
    _refused(docs, audit, "alice", mine, "blob-hash-mismatch")
    node.blobs.path(_blob(node, mine["id"])).write_bytes(original)  # put back: opens again
    assert docs.as_("alice").get(f"/api/v1/documents/{mine['id']}/content").status_code == 200


def test_payload_changed_after_the_blob_was_verified_is_refused(
    docs: ApiClient, node: Node, audit: MemoryAuditSink
) -> None:
    # The manifest is intact; the changed ciphertext fails its segment's authentication.
    mine = _upload(docs, _label("S"), "plan", _body(b"the plan ", SMALL))
    _open_once(docs, node, mine)
    path = node.blobs.path(_blob(node, mine["id"]))
    damaged = bytearray(path.read_bytes())
    damaged[200] ^= 1  # inside the payload member's first segment
    path.write_bytes(bytes(damaged))
    _refused(docs, audit, "alice", mine, "segment-decrypt-failed")


def _change_byte(at: Callable[[bytes], int]) -> Callable[[bytes], bytes]:
    def change(blob: bytes) -> bytes:
        changed = bytearray(blob)
        changed[at(blob)] ^= 0x01
        return bytes(changed)

    return change


#: Changes outside the manifest and the payload data, each one a fresh open (the blob's
#: hash) refuses; several leave the object readable to a ZIP reader (tests/envelope/
#: test_tamper.py's HARMLESS), so only the known bytes' digest can tell.
OUTSIDE_CHANGES: dict[str, Callable[[bytes], bytes]] = {
    "local-header-version": _change_byte(lambda b: 4),
    "data-descriptor": _change_byte(lambda b: b.index(b"PK\x07\x08") + 6),
    "central-directory-time": _change_byte(lambda b: b.index(b"PK\x01\x02") + 12),
    "end-record-disk": _change_byte(lambda b: b.rindex(b"PK\x05\x06") + 4),
    "a-byte-appended": lambda b: b + b"\0",
    "last-byte-cut": lambda b: b[:-1],
}


@pytest.mark.parametrize("attack", list(OUTSIDE_CHANGES))
def test_zip_bytes_changed_after_the_blob_was_verified_are_refused(
    docs: ApiClient, node: Node, audit: MemoryAuditSink, attack: str
) -> None:
    # Later opens skip the whole-blob hash and the ZIP parse, but not the object's size and
    # the digest of every byte outside the payload data: refused as the hash would.
    mine = _upload(docs, _label("S"), "plan", _body(b"the reactor is a MARK-7 ", SMALL))
    _open_once(docs, node, mine)
    path = node.blobs.path(_blob(node, mine["id"]))
    original = path.read_bytes()
    path.write_bytes(OUTSIDE_CHANGES[attack](original))
    _refused(docs, audit, "alice", mine, "blob-hash-mismatch")
    path.write_bytes(original)  # put back: opens again, from the same remembered facts
    assert docs.as_("alice").get(f"/api/v1/documents/{mine['id']}/content").status_code == 200


def test_unswapped_documents_still_open(docs: ApiClient) -> None:
    for size in (SMALL, LARGE):
        body = _body(b"the plan ", size)
        doc = _upload(docs, _label("S"), "plan", body)
        opened = docs.as_("alice").get(f"/api/v1/documents/{doc['id']}/content")
        assert opened.status_code == 200, opened.text
        assert opened.content == body


def test_large_file_swapped_under_a_small_document_is_refused_unread(
    docs: ApiClient, node: Node, audit: MemoryAuditSink
) -> None:
    # A small document is read whole: a big file under its blob's name must not be pulled
    # into memory (nor decrypted on the event loop) before it is refused.
    small = _upload(docs, _label("S"), "plan", _body(b"the plan ", SMALL))
    path = node.blobs.path(_blob(node, small["id"]))
    path.write_bytes(b"\0" * (8 << 20))
    _refused(docs, audit, "alice", small, "blob-size-mismatch")


def test_refusal_of_a_damaged_small_document_does_not_hold_the_event_loop(
    docs: ApiClient, node: Node
) -> None:
    # The denial is recorded before the 403, through the audit sink's asynchronous submit;
    # a blocking append on the event loop would stall every other request for the commit.
    import asyncio
    import time
    from concurrent.futures import Future

    from cix.api.app import create_app

    doc = _upload(docs, _label("S"), "plan", _body(b"the plan ", SMALL))
    path = node.blobs.path(_blob(node, doc["id"]))
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 4] ^= 1
    path.write_bytes(bytes(damaged))
    recorded: list[Any] = []

    class SlowCommitSink:
        """A log whose commit takes a second, answering `submit` from another thread."""

        def append(self, event: Any) -> None:
            time.sleep(1.0)
            recorded.append(event)

        def submit(self, events: Any) -> Future[None]:
            done: Future[None] = Future()

            def commit() -> None:
                time.sleep(1.0)
                recorded.extend(events)
                done.set_result(None)

            threading.Thread(target=commit, daemon=True).start()
            return done

    node.opening.reg.audit = SlowCommitSink()
    token = docs.token_for("alice")
    app = create_app(node)

    async def scenario() -> tuple[int, float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node.test") as client:
            headers = {"Authorization": f"Bearer {token}"}
            opening = asyncio.create_task(
                client.get(f"/api/v1/documents/{doc['id']}/content", headers=headers)
            )
            lag, last = 0.0, time.perf_counter()
            while not opening.done():  # the longest gap between two turns of this loop
                await client.get("/api/v1/health")
                await asyncio.sleep(0.01)
                now = time.perf_counter()
                lag, last = max(lag, now - last), now
            return (await opening).status_code, lag

    status, lag = asyncio.run(scenario())
    assert status == 403
    assert lag < 0.5, f"the event loop was held {lag:.2f} s by the denial's audit commit"
    denials = [e for e in recorded if e.type == "key-access" and e.decision == "deny"]
    assert len(denials) == 1
