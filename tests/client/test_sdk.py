"""Issue 14 #13: the Python SDK against a real `cix serve` on a loopback port — the seeded
Canadian node of the demonstration, its people's API tokens."""

from __future__ import annotations

import asyncio
import io
import os
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cix.client import (
    AsyncClient,
    Client,
    Document,
    IdNotResolved,
    NodeFailed,
    NodeRefused,
    NodeRejected,
)
from cix.demo import DemoNode, prepare
from cix.demo_cast import CANADA
from cix.errors import AccessDenied, InputError, PeerError
from tests.live_node import LiveNode, free_port

LABEL = "SECRET//CPSP//REL TO CAN, KOR"


@pytest.fixture(scope="module")
def can(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoNode, LiveNode]]:
    """The seeded Canadian node, served."""
    (demo,) = prepare(tmp_path_factory.mktemp("sdk") / "demo", nations=(CANADA,), base_port=0)
    live = LiveNode.start(demo.data_dir)
    try:
        yield demo, live
    finally:
        live.stop()


@pytest.fixture
def pm(can: tuple[DemoNode, LiveNode]) -> Iterator[Client]:
    demo, live = can
    with Client(live.url, demo.tokens["dnd-pm"]) as client:
        yield client


def test_upload_from_every_kind_of_source_and_read_back(pm: Client, tmp_path: Path) -> None:
    content = os.urandom(700_000)  # several chunks
    path = tmp_path / "hull.bin"
    path.write_bytes(content)
    sent: list[int] = []
    uploaded = [
        pm.documents.upload(path, label=LABEL, progress=sent.append),
        pm.documents.upload(content, label=LABEL, title="from bytes"),
        pm.documents.upload(io.BytesIO(content), label=LABEL, title="from a file object"),
        pm.documents.upload(iter([content[:10], content[10:]]), label=LABEL, title="chunks"),
    ]
    assert sum(sent) == len(content)
    for doc in uploaded:
        assert isinstance(doc, Document)
        assert doc.banner == LABEL
        assert doc.plaintext_size == len(content)
        assert pm.documents.read(doc.id) == content
    assert uploaded[0].title == "hull.bin"
    assert uploaded[0].media_type == "application/octet-stream"
    assert uploaded[0].raw["id"] == uploaded[0].id  # the node's whole answer kept


def test_list_iterates_across_pages(pm: Client) -> None:
    made = [pm.documents.upload(b"x", label=LABEL, title=f"paging probe {n}") for n in range(3)]
    listed = [d.id for d in pm.documents.list(query="paging probe", page_size=1)]
    assert listed == [d.id for d in reversed(made)]
    first, cursor = pm.documents.page("paging probe", limit=2)
    assert len(first) == 2
    assert cursor is not None


def test_download_is_0600_and_complete_and_keeps_an_existing_file(
    pm: Client, tmp_path: Path
) -> None:
    doc = pm.documents.upload(b"design notes\n" * 1000, label=LABEL, title="notes")
    target = tmp_path / "notes.txt"
    opened = pm.documents.download(doc.id, target)
    assert target.read_bytes() == b"design notes\n" * 1000
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert opened.obligations["cix-marking"] == LABEL
    assert opened.obligations["cix-reader"] == "dnd-pm"
    with pytest.raises(FileExistsError):
        pm.documents.download(doc.id, target)
    pm.documents.download(doc.id, target, overwrite=True)


def test_refused_download_leaves_no_file(
    can: tuple[DemoNode, LiveNode], pm: Client, tmp_path: Path
) -> None:
    demo, live = can
    doc = pm.documents.upload(b"secret", label=LABEL, title="not for contractors")
    with Client(live.url, demo.tokens["northfab-eng"]) as outsider:
        with pytest.raises(NodeRefused) as refused:
            outsider.documents.download(doc.id, tmp_path / "leak.txt")
        assert isinstance(refused.value, AccessDenied)
        assert refused.value.status == 403
        # Not even listed, and a prefix of it resolves to nothing.
        assert doc.id not in [d.id for d in outsider.documents.list(query="not for contractors")]
        with pytest.raises(IdNotResolved):
            outsider.documents.resolve(doc.id[:24])
    assert list(tmp_path.iterdir()) == []


def test_errors_come_in_the_servers_families(can: tuple[DemoNode, LiveNode], pm: Client) -> None:
    with pytest.raises(NodeRejected) as rejected:
        pm.documents.upload(b"x", label="SECRET//REL TO ATLANTIS", title="bad label")
    assert isinstance(rejected.value, InputError)
    assert 400 <= (rejected.value.status or 0) < 500
    _, live = can
    with Client(live.url, "cix_not-a-real-token") as stranger, pytest.raises(NodeRefused):
        stranger.me()
    with Client(f"http://127.0.0.1:{free_port()}", "cix_abcdefgh") as nowhere:
        with pytest.raises(NodeFailed) as failed:
            nowhere.registry.programmes()
        assert isinstance(failed.value, PeerError)
        assert failed.value.status is None


def test_resolve_takes_a_unique_prefix_and_refuses_an_ambiguous_one(pm: Client) -> None:
    a = pm.documents.upload(b"a", label=LABEL, title="prefix a")
    b = pm.documents.upload(b"b", label=LABEL, title="prefix b")
    common = next(i for i, (x, y) in enumerate(zip(a.id, b.id, strict=True)) if x != y)
    assert pm.documents.resolve(b.id[: max(common + 1, 4)].upper()) == b.id
    assert pm.documents.resolve(a.id) == a.id
    with pytest.raises(IdNotResolved, match="several"):
        pm.documents.resolve(a.id[:common])


def test_registry_and_me(pm: Client) -> None:
    assert pm.me().id == "dnd-pm"
    assert [p.id for p in pm.registry.programmes()] == ["CPSP"]
    assert "dnd" in [o.id for o in pm.registry.organisations()]
    assert "dnd-pm" in [p.id for p in pm.registry.people()]
    assert "cix_" not in repr(pm)


def test_async_client_does_the_same(can: tuple[DemoNode, LiveNode], tmp_path: Path) -> None:
    demo, live = can
    content = os.urandom(300_000)
    path = tmp_path / "async.bin"
    path.write_bytes(content)

    async def chunks() -> AsyncIterator[bytes]:
        yield content[:1000]
        yield content[1000:]

    async def scenario() -> None:
        async with AsyncClient(live.url, demo.tokens["dnd-pm"]) as node:
            from_path = await node.documents.upload(path, label=LABEL, title="async probe 1")
            streamed = await node.documents.upload(chunks(), label=LABEL, title="async probe 2")
            assert await node.documents.read(streamed.id) == content
            listed = [d.id async for d in node.documents.list("async probe", page_size=1)]
            assert listed == [streamed.id, from_path.id]
            assert await node.documents.resolve(from_path.id[:30]) == from_path.id
            target = tmp_path / "out.bin"
            await node.documents.download(from_path.id, target)
            assert target.read_bytes() == content
            assert (await node.me()).id == "dnd-pm"
            with pytest.raises(NodeRejected):
                await node.documents.get("not-an-id")

    asyncio.run(scenario())


def test_a_dot_id_cannot_reach_another_route(pm: Client) -> None:
    """`..` as an id would be normalised into the parent route: it stays one segment."""
    from cix.client._calls import segment

    assert segment("..") == "%2E%2E"
    assert segment("a/b") == "a%2Fb"
    with pytest.raises(NodeRejected):
        pm.documents.get("..")
