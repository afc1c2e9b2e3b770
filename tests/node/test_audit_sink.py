"""The node's audit sink over the real log: groups are atomic, concurrent groups share
commits, and a failed commit fails every request that waited on it (fail closed)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from cix.audit import open_log
from cix.errors import StorageError
from cix.node.auditing import AuditRecord, LogAuditSink, MemoryAuditSink, record
from tests.node_support import T0


def _event(n: int, event_type: str = "document") -> AuditRecord:
    return AuditRecord(
        type=event_type,
        actor=f"reader{n}",
        object=f"document:{n:032x}",
        action="read",
        decision="permit",
        time=T0,
    )


@pytest.fixture
def sink(tmp_path: Path) -> Any:
    opened = LogAuditSink(open_log(tmp_path / "audit.db", create=True), "can-node")
    yield opened
    opened.close()


def test_a_group_lands_as_consecutive_entries(sink: LogAuditSink) -> None:
    sink.append(_event(0))
    sink.append_many([_event(1), _event(1, "key-access")])
    entries = sink.log.entries(0, sink.log.size())
    assert [(e.event.actor, e.event.type) for e in entries] == [
        ("reader0", "document"),
        ("reader1", "document"),
        ("reader1", "key-access"),
    ]


def test_concurrent_groups_all_land_and_the_log_verifies(sink: LogAuditSink) -> None:
    def worker(n: int) -> None:
        for i in range(20):
            sink.append_many([_event(n * 100 + i), _event(n * 100 + i, "key-access")])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sink.log.size() == 8 * 20 * 2
    entries = sink.log.entries(0, sink.log.size())
    # Each pair stays together: a key access right after its decision.
    for first, second in zip(entries[::2], entries[1::2], strict=True):
        assert (first.event.type, second.event.type) == ("document", "key-access")
        assert first.event.actor == second.event.actor
    sink.log.verify()


def test_failed_commit_fails_every_waiter_and_appends_nothing(
    sink: LogAuditSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sink.log, "append_batch", broken)
    futures = [sink.submit([_event(n), _event(n, "key-access")]) for n in range(5)]
    for future in futures:
        with pytest.raises(StorageError):
            future.result(timeout=10)
    with pytest.raises(StorageError):
        sink.append_many([_event(9)])
    monkeypatch.undo()
    assert sink.log.size() == 0


def test_a_closed_sink_refuses(tmp_path: Path) -> None:
    closed = LogAuditSink(open_log(tmp_path / "audit.db", create=True), "can-node")
    closed.append(_event(0))
    closed.close()
    with pytest.raises(StorageError):
        closed.append(_event(1))


def test_cancelled_waiter_does_not_kill_the_writer(sink: LogAuditSink) -> None:
    # A request cancelled while waiting (asyncio.wrap_future cancels the concurrent future):
    # the writer must neither die on completing it nor drop its events from the record.
    sink.append(_event(0))
    gate = threading.Event()
    real = sink.log.append_batch

    def held(entries: Any, *args: Any, **kwargs: Any) -> Any:
        gate.wait(5)
        return real(entries, *args, **kwargs)

    sink.log.append_batch = held  # type: ignore[method-assign,assignment]
    first = sink.submit([_event(1)])  # the writer takes it and waits at the gate
    while first.running() is False:
        threading.Event().wait(0.01)
    second = sink.submit([_event(2), _event(2, "key-access")])  # queued behind it
    assert second.cancel()
    gate.set()
    first.result(timeout=5)
    sink.log.append_batch = real  # type: ignore[method-assign]
    sink.submit([_event(3)]).result(timeout=5)
    assert [e.event.actor for e in sink.log.entries(0, sink.log.size())] == [
        "reader0",
        "reader1",
        "reader2",
        "reader2",
        "reader3",
    ]


def _held(sink: LogAuditSink) -> threading.Event:
    """Make the writer wait at a gate before each commit; set the gate to let it commit."""
    gate = threading.Event()
    real = sink.log.append_batch

    def held(entries: Any, *args: Any, **kwargs: Any) -> Any:
        gate.wait(5)
        return real(entries, *args, **kwargs)

    sink.log.append_batch = held  # type: ignore[method-assign,assignment]
    return gate


def test_event_loop_waiters_share_one_wake_up_per_commit(sink: LogAuditSink) -> None:
    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        wake_ups = 0
        real = loop.call_soon_threadsafe

        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal wake_ups
            wake_ups += 1
            return real(*args, **kwargs)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign,assignment]
        gate = _held(sink)
        first = asyncio.ensure_future(record(sink, [_event(0)]))  # the writer holds it
        while not sink._thread or sink._queue:
            await asyncio.sleep(0.01)
        rest = [record(sink, [_event(n), _event(n, "key-access")]) for n in range(1, 21)]
        waiting = asyncio.gather(first, *rest)
        await asyncio.sleep(0.05)  # all queued behind the first commit
        gate.set()
        await waiting
        return wake_ups

    assert asyncio.run(scenario()) == 2  # the first commit, then one for the twenty groups
    assert sink.log.size() == 41
    sink.log.verify()


def test_cancelled_event_loop_waiter_still_has_its_events_recorded(sink: LogAuditSink) -> None:
    async def scenario() -> None:
        gate = _held(sink)
        first = asyncio.ensure_future(record(sink, [_event(0)]))
        while not sink._thread or sink._queue:
            await asyncio.sleep(0.01)
        cancelled = asyncio.ensure_future(record(sink, [_event(1), _event(1, "key-access")]))
        other = asyncio.ensure_future(record(sink, [_event(2)]))
        await asyncio.sleep(0.05)
        cancelled.cancel()
        gate.set()
        await asyncio.gather(first, other)
        assert cancelled.cancelled()

    asyncio.run(scenario())
    assert [e.event.actor for e in sink.log.entries(0, sink.log.size())] == [
        "reader0",
        "reader1",
        "reader1",
        "reader2",
    ]


def test_failed_commit_fails_every_event_loop_waiter(
    sink: LogAuditSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sink.log, "append_batch", broken)

    async def scenario() -> list[BaseException | None]:
        results = await asyncio.gather(
            *(record(sink, [_event(n)]) for n in range(5)), return_exceptions=True
        )
        return [r if isinstance(r, BaseException) else None for r in results]

    assert all(isinstance(r, StorageError) for r in asyncio.run(scenario()))
    monkeypatch.undo()
    assert sink.log.size() == 0


def test_record_waits_for_a_sink_without_submit() -> None:
    memory = MemoryAuditSink()
    asyncio.run(record(memory, [_event(0), _event(0, "key-access")]))
    assert [e.type for e in memory.events] == ["document", "key-access"]
