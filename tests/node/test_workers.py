"""`cix serve --workers 2`: two processes serve one node as one.

Each test holds one keep-alive connection to each worker (which process owns a connection
is read from /proc, so nothing here depends on how the kernel happens to spread them), and
checks that a change made through one worker is enforced by the other at its very next
request: that is what makes the per-process caches sound with several processes.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cix.cli.client_docs import label_json
from cix.demo import DemoNode, prepare
from cix.demo_cast import CANADA
from cix.serving.workers import COUNTERS_FILE
from cix.store.counters import DESTRUCTIONS, WRITES, SharedCounters
from tests.live_node import LiveNode, node_environ, run_cix

# One group: the module's served node is shared by its tests on one xdist worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serve-workers")]

LABEL = "SECRET//CPSP//REL TO CAN, KOR"


class Worker:
    """One keep-alive HTTP connection that a known worker process accepted."""

    def __init__(self, pid: int, connection: http.client.HTTPConnection) -> None:
        self.pid = pid
        self.connection = connection

    def request(
        self,
        method: str,
        path: str,
        token: str,
        body: bytes | dict[str, object] | None = None,
        **params: str,
    ) -> tuple[int, bytes]:
        """Send one request on this worker's connection (a dict body as JSON); (status,
        body)."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        headers = {"Authorization": f"Bearer {token}"}
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif body is not None:
            headers["Content-Type"] = "application/octet-stream"
        self.connection.request(
            method, f"/api/v1{path}" + (f"?{query}" if query else ""), body, headers
        )
        response = self.connection.getresponse()
        return response.status, response.read()


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _owner(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """The worker holding the server side of the connection from `client_port`."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == server_port and (
            int(remote.split(":")[1], 16) == client_port
        ):
            inode = fields[9]
    if inode is None:
        return None
    for pid in pids:
        if inode in _socket_inodes(pid):
            return pid
    return None


def connect_to_each_worker(live: LiveNode, token: str) -> list[Worker]:
    """A connection to each worker, found by connecting until every worker has one."""
    pids = live.workers()
    assert len(pids) == 2, pids
    found: dict[int, Worker] = {}
    spare: list[http.client.HTTPConnection] = []
    for _ in range(400):
        connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
        worker = Worker(0, connection)
        assert worker.request("GET", "/me", token)[0] == 200  # accepted and served
        pid = _owner(live.port, connection.sock.getsockname()[1], pids)
        if pid is not None and pid not in found:
            found[pid] = Worker(pid, connection)
            if len(found) == len(pids):
                break
        else:
            spare.append(connection)  # kept open, so that the next connect is a new one
    for connection in spare:
        connection.close()
    assert len(found) == len(pids), "could not reach every worker"
    return list(found.values())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoNode:
    """A seeded demonstration node (not served)."""
    (node,) = prepare(tmp_path_factory.mktemp("workers") / "demo", nations=(CANADA,), base_port=0)
    return node


@pytest.fixture(scope="module")
def unserved(tmp_path_factory: pytest.TempPathFactory) -> DemoNode:
    """Another seeded node, for the tests that start and stop servers of their own."""
    (node,) = prepare(
        tmp_path_factory.mktemp("workers-own") / "demo", nations=(CANADA,), base_port=0
    )
    return node


@pytest.fixture(scope="module")
def live(demo: DemoNode) -> Iterator[LiveNode]:
    """The node served by two workers."""
    node = LiveNode.start(demo.data_dir, workers=2, timeout=60)
    try:
        yield node
    finally:
        node.stop()


def upload(worker: Worker, token: str, data: bytes) -> str:
    """Upload `data` through `worker`; the new document's id."""
    status, body = worker.request(
        "POST", "/documents", token, data, label=_quote(label_json(LABEL)), title="w"
    )
    assert status == 201, body
    return str(json.loads(body)["id"])


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def test_two_worker_processes_serve_the_node(live: LiveNode, demo: DemoNode) -> None:
    a, b = connect_to_each_worker(live, demo.tokens["dnd-pm"])
    assert a.pid != b.pid
    assert sorted([a.pid, b.pid]) == live.workers()


def test_revoked_api_token_is_refused_by_the_other_worker(live: LiveNode, demo: DemoNode) -> None:
    owner = demo.tokens["dnd-pm"]
    a, b = connect_to_each_worker(live, owner)
    status, body = a.request("POST", "/tokens", owner, {"name": "w"})
    assert status == 201, body
    created = json.loads(body)
    token = created["token"]
    # Both workers have now served (and cached) the token.
    assert a.request("GET", "/me", token)[0] == 200
    assert b.request("GET", "/me", token)[0] == 200
    assert a.request("DELETE", f"/tokens/{created['id']}", owner)[0] == 204
    assert b.request("GET", "/me", token)[0] == 401
    assert a.request("GET", "/me", token)[0] == 401


def test_document_destroyed_through_one_worker_cannot_be_opened_through_the_other(
    live: LiveNode, demo: DemoNode
) -> None:
    originator = demo.tokens["dnd-pm"]
    a, b = connect_to_each_worker(live, originator)
    doc = upload(a, originator, os.urandom(5000))
    # Opened through both: each worker has cached the document and its verified manifest.
    assert b.request("GET", f"/documents/{doc}/content", originator)[0] == 200
    assert a.request("GET", f"/documents/{doc}/content", originator)[0] == 200
    status, body = a.request("POST", f"/documents/{doc}/destroy", originator, {"reason": "t"})
    assert status == 200, body
    assert b.request("GET", f"/documents/{doc}/content", originator)[0] == 404
    # The register entry stays, as destroyed, with its certificate (issue 14 #9).
    status, body = b.request("GET", f"/documents/{doc}", originator)
    assert status == 200, body
    assert json.loads(body)["destroyed_at"] is not None


def test_audit_log_of_two_workers_verifies(live: LiveNode, demo: DemoNode) -> None:
    originator = demo.tokens["dnd-pm"]
    a, b = connect_to_each_worker(live, originator)
    doc = upload(b, originator, os.urandom(70_000))
    for _ in range(20):
        assert a.request("GET", f"/documents/{doc}/content", originator)[0] == 200
        assert b.request("GET", f"/documents/{doc}/content", originator)[0] == 200
    verify = run_cix("audit", "verify", "--dir", str(demo.data_dir))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() for pid in pids):
            return True
        time.sleep(0.05)
    return False


def test_killed_worker_is_replaced(live: LiveNode, demo: DemoNode) -> None:
    token = demo.tokens["dnd-pm"]
    first = live.workers()
    counters = SharedCounters(demo.data_dir / COUNTERS_FILE, create=False)
    writes, destructions = counters.get(WRITES), counters.get(DESTRUCTIONS)
    os.kill(first[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = live.workers()
        if len(now) == 2 and first[0] not in now:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the worker was not replaced: {live.workers()} {live.tail()}")
    a, b = connect_to_each_worker(live, token)
    assert {a.pid, b.pid} == set(live.workers())
    # It might have died between a commit and counting it: counted for it, so that the
    # other worker drops everything it cached.
    assert counters.get(WRITES) > writes
    assert counters.get(DESTRUCTIONS) > destructions
    counters.close()


def test_sigkilled_server_takes_its_workers_with_it(unserved: DemoNode) -> None:
    live = LiveNode.start(unserved.data_dir, workers=2, timeout=60)
    pids = live.workers()
    assert len(pids) == 2
    live.kill()
    assert _gone(pids, 5), "workers outlived their SIGKILLed server"
    # And the node can be served again at once.
    LiveNode.start(unserved.data_dir, workers=2, timeout=60).stop()


def test_sigterm_stops_every_worker(unserved: DemoNode) -> None:
    live = LiveNode.start(unserved.data_dir, workers=2, timeout=60)
    pids = live.workers()
    assert live.stop() == 0
    assert _gone(pids, 5)


def test_second_server_is_refused_while_workers_serve(live: LiveNode, demo: DemoNode) -> None:
    second = run_cix("serve", "--dir", str(demo.data_dir), "--port", "1", "--workers", "2")
    assert second.returncode == 3  # the node is busy: not bad input
    assert "another `cix serve`" in second.stderr


@pytest.mark.parametrize(("workers", "share"), [(1, 20), (2, 10), (3, 6), (20, 1)])
def test_failure_limit_is_shared_out_among_workers(
    demo: DemoNode, workers: int, share: int
) -> None:
    # A client spread over every worker gets no more attempts than one process allows
    # (auth_failure_limit defaults to 20): each allows its share, rounded down.
    from cix.api.app import create_app
    from cix.node.service import Node

    node = Node.open(demo.data_dir, environ=node_environ(), unlock=False)
    try:
        assert node.settings.auth_failure_limit == 20
        assert create_app(node, workers=workers).state.limiter.limit == share
    finally:
        node.close()


def test_port_held_by_another_program_is_refused_plainly(unserved: DemoNode) -> None:
    import socket

    # The probe without SO_REUSEPORT is what stops a second server joining the first's
    # group of sockets and sharing its connections.
    with socket.create_server(("127.0.0.1", 0), reuse_port=True) as held:
        port = held.getsockname()[1]
        refused = subprocess.run(
            [sys.executable, "-m", "cix.cli.main", "serve", "--dir", str(unserved.data_dir),
             "--port", str(port), "--workers", "2"],
            env=node_environ(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.postgres
def test_revoked_api_token_is_refused_by_the_other_worker_on_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    from datetime import UTC, datetime

    from cix.node.auditing import MemoryAuditSink
    from tests.node_support import PASSPHRASE, Clock, make_node, sqlalchemy_url

    data_dir = tmp_path / "can"
    now = datetime.now(UTC)
    node = make_node(data_dir, sqlalchemy_url(postgres_url), Clock(now), MemoryAuditSink())
    try:
        root = node.registry.actor_for("root")
        owner, _ = node.api_tokens.create(root, "owner", ttl=3600, now=now)
        token, row = node.api_tokens.create(root, "revoked", ttl=3600, now=now)
    finally:
        node.close()
    live = LiveNode.start(
        data_dir, workers=2, timeout=60, environ=node_environ(CIX_PASSPHRASE=PASSPHRASE)
    )
    try:
        a, b = connect_to_each_worker(live, owner)
        assert a.request("GET", "/me", token)[0] == 200
        assert b.request("GET", "/me", token)[0] == 200
        assert a.request("DELETE", f"/tokens/{row.id}", owner)[0] == 204
        assert b.request("GET", "/me", token)[0] == 401
    finally:
        live.stop()


def test_failed_authentications_are_logged_and_blocking_is_said(
    live: LiveNode, demo: DemoNode
) -> None:
    # With the access log off (the default) these lines are what records a token probe.
    a, b = connect_to_each_worker(live, demo.tokens["dnd-pm"])
    before = live.tail(1_000_000)
    for worker in (a, b):
        statuses = [worker.request("GET", "/me", "forged")[0] for _ in range(12)]
        # Each worker allows its share of the limit of 20 (earlier tests' failures count).
        assert 1 <= statuses.count(401) <= 10
        assert statuses.count(429) >= 2
        assert statuses == sorted(statuses)  # every 401 first, then only 429s
    log = live.tail(1_000_000)
    failed = "authentication failed from 127.0.0.1"
    assert log.count(failed) - before.count(failed) >= 2
    assert log.count("127.0.0.1 blocked for") - before.count("127.0.0.1 blocked for") == 2


def test_workers_do_not_import_from_the_current_directory(
    unserved: DemoNode, tmp_path: Path
) -> None:
    planted = tmp_path / "cwd" / "cix"
    planted.mkdir(parents=True)
    marker = tmp_path / "planted-code-ran"
    (planted / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    live = LiveNode.start(unserved.data_dir, workers=2, timeout=60, cwd=tmp_path / "cwd")
    try:
        assert len(live.workers()) == 2
    finally:
        live.stop()
    assert not marker.exists()


def test_more_workers_than_the_failure_limit_is_refused(unserved: DemoNode) -> None:
    refused = run_cix("serve", "--dir", str(unserved.data_dir), "--workers", "21")
    assert refused.returncode == 2
    assert "workers (21) is above auth_failure_limit (20)" in refused.stderr
