"""Check a log's blocks in worker processes as well as this one (see `cix.audit.verify`).

Each worker is a fresh interpreter (`sys.executable -c …`, never a fork: the parent may hold
database connections and threads) that reopens the storage from its `address` with its own
read connection and checks the blocks it is sent. This process takes blocks from the front
of the log, one thread per worker hands that worker blocks from the back, one at a time, so
the two meet wherever the speeds put them. Results come back in log order, so the first
finding is the same as in one process. Parent and workers exchange pickles over the
workers' stdin/stdout pipes (both ends are this program).
"""

from __future__ import annotations

import contextlib
import pickle
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Final

from cix.audit.verify import BlockReader, BlockResult, BlockTask, run_here, verify_block

_BOOT: Final = (
    "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
    "from cix.audit.storage.verify_worker import serve; serve()"
)
_IN_FLIGHT: Final = 2  # blocks handed to a worker ahead of its results
_LOST: Final = object()  # a worker died before answering: the parent checks that block itself


def run_in_processes(
    storage: BlockReader, tasks: Sequence[BlockTask], deep: bool, extra: int
) -> Iterator[BlockResult]:
    """Block results in log order, computed here and in `extra` worker processes."""
    extra = min(extra, len(tasks) - 1)
    if extra < 1:
        yield from run_here(storage, tasks, deep)
        return
    todo = deque(range(len(tasks)))
    results: dict[int, object] = {}
    cond = threading.Condition()
    procs = [
        subprocess.Popen(  # noqa: S603 (this interpreter, a fixed program)
            [sys.executable, "-c", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        for _ in range(extra)
    ]
    hello = (list(sys.path), storage.address, deep)
    feeders = [
        threading.Thread(target=_feed, args=(p, hello, tasks, todo, results, cond), daemon=True)
        for p in procs
    ]
    for t in feeders:
        t.start()
    try:
        for j, (start, end, heads) in enumerate(tasks):
            with cond:
                mine = bool(todo) and todo[0] == j
                if mine:
                    todo.popleft()
                else:
                    while j not in results:
                        cond.wait()
            got = _LOST if mine else results.pop(j)
            if got is _LOST:
                yield verify_block(storage, start, end, heads, deep=deep)
            elif isinstance(got, BaseException):
                raise got
            else:
                assert isinstance(got, BlockResult)
                yield got
    finally:
        with cond:
            todo.clear()
        for p in procs:
            if p.poll() is None:
                p.kill()  # read-only work: stopping mid-block loses nothing
            p.wait()
        for t in feeders:
            t.join()


def _feed(
    proc: subprocess.Popen[bytes],
    hello: tuple[list[str], str, bool],
    tasks: Sequence[BlockTask],
    todo: deque[int],
    results: dict[int, object],
    cond: threading.Condition,
) -> None:
    """Hand `proc` blocks from the back of `todo` until none are left, keeping two in its
    pipe so that it never waits for this thread between blocks."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    sent: deque[int] = deque()
    try:
        pickle.dump(hello[0], proc.stdin)
        pickle.dump(hello[1:], proc.stdin)
        while True:
            while len(sent) < _IN_FLIGHT:
                with cond:
                    if not todo:
                        break
                    sent.append(todo.pop())
                pickle.dump(tasks[sent[-1]], proc.stdin)
            proc.stdin.flush()
            if not sent:
                break
            got = pickle.load(proc.stdout)  # noqa: S301 (our own worker, over a private pipe)
            with cond:
                results[sent.popleft()] = got
                cond.notify_all()
    except (OSError, EOFError, pickle.UnpicklingError):
        with cond:
            for j in sent:
                results[j] = _LOST
            cond.notify_all()
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
