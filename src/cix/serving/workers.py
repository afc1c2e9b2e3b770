"""`cix serve --workers N`: N worker processes serving one node on one port.

One Python process answers requests on one core: the node's open path is CPU-bound (HPKE
unwrap, decryption, HTTP), so a machine with more cores serves more with more processes.
The supervisor (`supervise`, the `cix serve` process itself) holds the node's claim
(`ServeClaim`), runs start-up recovery once, binds one listening socket per worker on the
node's port (`SO_REUSEPORT`, so the kernel spreads connections evenly), and starts N
workers, each a fresh interpreter (`python -m cix.serving.workers`, never a `fork` of a process
holding threads and database connections) that opens the node, unlocks its keys with the
same unattended passphrase, and serves its inherited socket with uvicorn.

What makes N processes one node:

- every worker counts its database writes in one shared file (`cix.store.counters`), so each
  worker's caches drop what another worker's write changed, at its very next request;
- a destruction is counted there too, and every worker then drops its cached wrapped keys;
- the audit log takes each group in a database transaction that reads the tree's size and
  frontier inside it, so appends from several workers serialise in the database;
- the workers inherit the claim's locked files: a second server cannot start until the
  last worker has ended, and workers die with the supervisor (`PR_SET_PDEATHSIG`), so a
  SIGKILLed server leaves none behind;
- the authentication failure limit is divided among the workers (`create_app`, rounded
  down), so a client gets no more attempts than with one process;
- a worker that dies may have committed a change it had not yet counted: the supervisor
  counts a write and a destruction for it, and its replacement deletes any sealed object
  of a destroyed document left on disk.

A worker that dies is restarted (after a short pause); SIGTERM or SIGINT to the supervisor
stops every worker gracefully (uvicorn finishes requests in flight), then it exits.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from cix.errors import InputError, ServiceError
from cix.settings import Settings

COUNTERS_FILE = "serve.counters"
"""The shared write counters in the data directory (recreated at each start)."""
_READY_TIMEOUT = 60.0
_STOP_TIMEOUT = 15.0
_RESTART_PAUSE = 1.0
_DESTRUCTION_POLL_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1


class WorkerFailed(ServiceError):
    """A worker could not start (its own message is in the server's log)."""


@dataclass
class _Worker:
    index: int
    process: subprocess.Popen[bytes]


def supervise(
    settings: Settings,
    *,
    overrides: Mapping[str, object],
    workers: int,
    inherit: tuple[int, ...],
    echo: Callable[[str], None],
) -> int:
    """Serve the node with `workers` processes until SIGTERM or SIGINT; the exit status.

    `inherit` are descriptors every worker keeps open (the claim's locked files). Raises
    `WorkerFailed` if a worker ends before it serves.
    """
    from cix.store.counters import DESTRUCTIONS, WRITES, SharedCounters

    counters_path = settings.data_dir / COUNTERS_FILE
    counters = SharedCounters(counters_path, create=True)
    # One listening socket per worker, all on the one port (SO_REUSEPORT): the kernel
    # spreads new connections evenly over the workers. With one shared socket, whichever
    # worker wakes first accepts a whole burst of connections, and its clients wait on it
    # while the other worker idles.
    address = (settings.host, settings.port)
    # First without SO_REUSEPORT: fails if anything holds the port, even another server's
    # group of reusing sockets, which the node's own would otherwise join and share
    # connections with.
    listeners: list[socket.socket] = []
    try:
        family = socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM)[0][0]
        socket.create_server(address, family=family).close()
        listeners.extend(
            socket.create_server(address, family=family, backlog=2048, reuse_port=True)
            for _ in range(workers)
        )
    except OSError as exc:
        counters.close()
        for listener in listeners:
            listener.close()
        raise InputError(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"
        ) from None
    for listener in listeners:
        listener.set_inheritable(True)
    ready_read, ready_write = os.pipe()
    config = {
        "data_dir": str(settings.data_dir),
        "overrides": {k: v for k, v in overrides.items() if v is not None},
        "workers": workers,
        "parent": os.getpid(),
        "ready": ready_write,
        "counters": str(counters_path),
    }
    stopping: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    running: list[_Worker] = []
    try:

        def spawn(index: int) -> _Worker:
            listener = listeners[index].fileno()
            fds = (listener, ready_write, *inherit)
            return _spawn(index, {**config, "socket": listener}, fds)

        # Appended one by one: if a spawn fails, the ones started are stopped below.
        running.extend(spawn(index) for index in range(workers))
        if not _await_ready(running, ready_read, workers, stopping):
            return 0  # stopped while starting: the workers are stopped below
        echo(
            f"cix node {settings.node_id} serving on "
            f"{'https' if settings.federation_mtls else 'http'}://{settings.host}:{settings.port} "
            f"({workers} worker processes)"
        )
        os.set_blocking(ready_read, False)
        while not stopping:
            time.sleep(0.2)
            _drain(ready_read)  # the ready bytes of restarted workers
            for worker in running:
                code = worker.process.poll()
                if code is not None and not stopping:
                    # It may have died between a commit and counting it: count a write and
                    # a destruction for it, so that every other worker drops what it cached
                    # (its replacement deletes a destroyed document's blob left behind).
                    counters.bump(WRITES)
                    counters.bump(DESTRUCTIONS)
                    echo(f"worker {worker.index} exited with status {code}: restarting it")
                    time.sleep(_RESTART_PAUSE)
                    # The replacement takes over the same socket, and with it the
                    # connections that arrived for it meanwhile.
                    worker.process = spawn(worker.index).process
        return 0
    finally:
        _stop_all(running)
        counters.close()
        for listener in listeners:
            listener.close()
        os.close(ready_read)
        os.close(ready_write)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _spawn(index: int, config: Mapping[str, Any], fds: tuple[int, ...]) -> _Worker:
    process = subprocess.Popen(
        # -P: `-m` would otherwise put the current directory first on sys.path, and a `cix`
        # package planted there would run in the worker, beside the unlocked keys.
        [sys.executable, "-P", "-m", "cix.serving.workers"],
        stdin=subprocess.PIPE,
        pass_fds=fds,
    )
    assert process.stdin is not None
    # Through a pipe, not argv or the environment: nothing of it shows in `ps`.
    process.stdin.write(json.dumps({**config, "index": index}).encode() + b"\n")
    process.stdin.close()
    return _Worker(index, process)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _await_ready(
    running: list[_Worker], ready_read: int, workers: int, stopping: list[int]
) -> bool:
    """True once every worker serves; False if told to stop first."""
    import select

    deadline = time.monotonic() + _READY_TIMEOUT
    ready = 0
    while ready < workers:
        if stopping:
            return False
        for worker in running:
            if worker.process.poll() is not None:
                raise WorkerFailed(
                    f"worker {worker.index} exited with status {worker.process.returncode} "
                    "before serving (its message is above)"
                )
        if time.monotonic() > deadline:
            raise WorkerFailed(f"workers not serving after {_READY_TIMEOUT:.0f} s")
        readable, _, _ = select.select([ready_read], [], [], 0.2)
        if readable:
            ready += len(os.read(ready_read, 64))  # one byte per worker that serves
    return True


def _stop_all(running: list[_Worker]) -> None:
    for worker in running:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + _STOP_TIMEOUT
    for worker in running:
        try:
            worker.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()


# -- the worker -------------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """Be killed the moment the supervisor ends, however it ends (Linux prctl)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent check below still stands
        pass
    if os.getppid() != parent:  # the supervisor ended before the prctl took effect
        os._exit(1)


def _forget_destroyed_while_idle(node: Any) -> None:
    """Check for destructions by other workers every second, not only at this worker's
    next open: an idle worker keeps no wrapped key of a destroyed document for long."""

    def watch() -> None:
        while True:
            time.sleep(_DESTRUCTION_POLL_SECONDS)
            node.opening.forget_destroyed()

    threading.Thread(target=watch, name="cix-forget-destroyed", daemon=True).start()


def _worker_main() -> None:
    config = json.loads(sys.stdin.readline())
    _die_with_parent(config["parent"])
    import uvicorn

    from cix.node.service import Node
    from cix.serving.process import configure_logging, start_delivery, tune_collector
    from cix.serving.tls import uvicorn_tls_options
    from cix.settings import load_settings
    from cix.store.counters import SharedCounters
    from cix.store.db import share_counters
    from cix.web.app import node_app

    data_dir = Path(config["data_dir"])
    overrides = config["overrides"]
    settings = load_settings(data_dir, overrides=overrides)
    configure_logging(settings.log_level)
    share_counters(
        settings.database_url.reveal(), SharedCounters(Path(config["counters"]), create=False)
    )
    node = Node.open(data_dir, overrides=overrides, unlock=True)
    swept = node.destruction.sweep_destroyed()
    if swept:
        logging.getLogger("cix.serve").warning(
            "deleted %d sealed objects of destroyed documents left by a killed worker", swept
        )
    _forget_destroyed_while_idle(node)
    # One worker delivers the outbox (claims are leased, so another would only contend).
    halt = start_delivery(node) if config["index"] == 0 else (lambda: None)
    listener = socket.socket(fileno=config["socket"])
    ready = config["ready"]

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                os.write(ready, b"1")

    try:
        server = Server(
            uvicorn.Config(
                node_app(node, workers=config["workers"]),
                log_level=settings.log_level,
                access_log=settings.access_log,
                server_header=False,
                proxy_headers=False,
                **uvicorn_tls_options(node, write_bundle=False),
            )
        )
        tune_collector()
        server.run(sockets=[listener])
    finally:
        halt()
        node.close()


if __name__ == "__main__":
    _worker_main()
