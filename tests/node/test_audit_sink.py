"""The node's audit sink over the real log: groups are atomic, concurrent groups share
commits, and a failed commit fails every request that waited on it (fail closed)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from cix.audit import open_log
from cix.errors import StorageError
from cix.node.auditing import AuditEvent, LogAuditSink
from tests.node_support import T0


def _event(n: int, event_type: str = "document") -> AuditEvent:
    return AuditEvent(
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
