"""Two real node processes, KOR and CAN, each killed with SIGKILL at random moments, again
and again, while KOR transmits hundreds of documents to CAN: at the end every transmission
is delivered exactly once (one registered copy per transmission at CAN), KOR holds exactly
one stored receipt for each, every copy at CAN opens to the bytes sent (no half-registered
copy), no object is left on disk that no row names, and both audit logs verify.

Each node has a chaos thread of its own: it waits for some acknowledged progress (receipts
stored at KOR since the node last started), then a random delay, kills the node, and starts
it again on the same port; the two threads are independent, so either node dies while the
other is sending, receiving, retrying or restarting. A client thread keeps a bounded
number of transmissions outstanding through KOR's API, whichever node is up. The seed is
printed on failure (`CIX_CRASH_SEED` replays it; `CIX_CRASH_TRANSMISSIONS` and
`CIX_CRASH_KILLS` scale the run).
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from cix.node.auditing import append_many
from cix.node.service import Node
from cix.store.models import Document, OutboxItem, ReceivedCopy, Transmission
from tests.federation.cast import actor
from tests.federation.two_nodes import DATA, ENV, Pair, make_pair
from tests.live_node import LiveNode, run_cix

TRANSMISSIONS = int(os.environ.get("CIX_CRASH_TRANSMISSIONS", "200"))
KILLS = int(os.environ.get("CIX_CRASH_KILLS", "100"))
#: Transmissions queued at KOR and not yet receipted, at most (keeps kills spread out).
OUTSTANDING = 12

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _receipted(data_dir: Path) -> int:
    """Receipts stored at the node in `data_dir`, read straight from its SQLite file (the
    node may be serving, or dead)."""
    with closing(sqlite3.connect(data_dir / "cix.db", timeout=30)) as db:
        row = db.execute("SELECT count(*) FROM transmissions WHERE state = 'receipted'")
        return int(row.fetchone()[0])


class Chaos:
    """Serves both nodes and kills them; counts the kills."""

    def __init__(self, pair: Pair, seed: int) -> None:
        self.pair = pair
        self.seed = seed
        self.kills = 0
        self.errors: list[str] = []
        self.done = threading.Event()
        self._lock = threading.Lock()
        self.nodes: dict[str, LiveNode] = {}

    def serve(self, name: str) -> LiveNode:
        data_dir, port = (
            (self.pair.kor_dir, self.pair.kor_port)
            if name == "kor"
            else (self.pair.can_dir, self.pair.can_port)
        )
        node = LiveNode.start(
            data_dir,
            port=port,
            timeout=60,
            environ=self.pair.environ(
                CIX_FEDERATION_RETRY_SECONDS="1",
                CIX_FEDERATION_RETRY_MAX_SECONDS="1",
                # A send cut by the kill of the sender is claimed again this soon.
                CIX_FEDERATION_LEASE_SECONDS="2",
                CIX_WITNESS_INTERVAL_SECONDS="0",
            ),
        )
        self.nodes[name] = node
        return node

    def run(self, name: str, rng: random.Random) -> None:
        """Kill and restart one node until the run is done (see the module docstring)."""
        try:
            while not self.done.is_set():
                start = _receipted(self.pair.kor_dir)
                wanted = rng.choice((0, 0, 1, 1, 2))
                deadline = time.monotonic() + 10
                while (
                    _receipted(self.pair.kor_dir) - start < wanted
                    and time.monotonic() < deadline
                    and not self.done.is_set()
                ):
                    time.sleep(0.02)
                if self.done.is_set():
                    return
                time.sleep(rng.uniform(0, 0.3))
                with self._lock:
                    if self.kills >= KILLS:
                        return
                    self.kills += 1
                self.nodes[name].kill()
                self.serve(name)
        except Exception as exc:  # reported by the test, with the seed
            self.errors.append(f"{name}: {exc!r}")
            self.done.set()


def _transmit(chaos: Chaos, sent: list[str]) -> None:
    """Keep up to OUTSTANDING transmissions queued at KOR, until TRANSMISSIONS were
    acknowledged (202) by its API."""
    pair = chaos.pair
    headers = {"Authorization": f"Bearer {pair.kor_officer}"}
    url = f"http://127.0.0.1:{pair.kor_port}/api/v1/documents/{pair.document}/transmit"
    while len(sent) < TRANSMISSIONS and not chaos.done.is_set():
        if len(sent) - _receipted(pair.kor_dir) >= OUTSTANDING:
            time.sleep(0.02)
            continue
        try:
            answer = httpx.post(url, json={"to": "CAN"}, headers=headers, timeout=10)
        except httpx.HTTPError:
            time.sleep(0.05)  # KOR is down: a transmission it did commit is found at the end
            continue
        if answer.status_code == 202:
            sent.append(answer.json()["id"])
        elif answer.status_code < 500:
            chaos.errors.append(f"transmit refused: {answer.status_code} {answer.text}")
            chaos.done.set()


@contextmanager
def _opened(data_dir: Path) -> Iterator[Node]:
    node = Node.open(data_dir, environ=ENV)
    try:
        yield node
    finally:
        node.close()


class _Digest:
    def __init__(self) -> None:
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return len(data)


def _check_kor(pair: Pair, sent: list[str]) -> set[str]:
    with _opened(pair.kor_dir) as kor, kor.db.read() as session:
        rows = list(session.scalars(select(Transmission)))
        queued = list(session.scalars(select(OutboxItem).where(OutboxItem.state != "delivered")))
        blobs = set(kor.blobs.hashes())
        documents = set(session.scalars(select(Document.blob_hash)))
    ids = {row.id for row in rows}
    assert set(sent) <= ids, "a transmission acknowledged by the API was lost"
    assert [r.id for r in rows if r.state != "receipted" or r.receipt is None] == []
    assert queued == [], "a message is still queued or was refused"
    assert blobs <= documents, "a delivered object was left on disk at KOR"
    return ids


def _check_can(pair: Pair, transmissions: set[str]) -> None:
    digest = hashlib.sha256(DATA).hexdigest()
    with _opened(pair.can_dir) as can:
        with can.db.read() as session:
            copies = list(session.scalars(select(ReceivedCopy)))
            documents = list(session.scalars(select(Document)))
        received = [c.message_id for c in copies]
        assert len(received) == len(set(received)), "a transmission was registered twice"
        assert set(received) == transmissions, "a transmission was not delivered"
        assert {d.id for d in documents} == {c.document_id for c in copies}
        assert {d.blob_hash for d in documents} == set(can.blobs.hashes())
        reader = actor(can, "reader")
        for document in documents:
            admission = can.opening.admit(reader, document.id)
            append_many(can.audit, admission.events)
            admission.recorded()
            sink = _Digest()
            admission.write_to(sink)  # type: ignore[arg-type]
            assert sink.hash.hexdigest() == digest, f"copy {document.id} does not open whole"


def test_both_nodes_killed_at_random_lose_or_double_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("CIX_CRASH_SEED", str(random.SystemRandom().randrange(1 << 32))))
    print(f"crash loop seed {seed} (CIX_CRASH_SEED={seed} replays it)")
    pair = make_pair(tmp_path)
    chaos = Chaos(pair, seed)
    rng = random.Random(seed)
    sent: list[str] = []
    started = time.monotonic()
    chaos.serve("kor")
    chaos.serve("can")
    threads = [
        threading.Thread(target=chaos.run, args=(name, random.Random(rng.random())))
        for name in ("kor", "can")
    ]
    client = threading.Thread(target=_transmit, args=(chaos, sent))
    try:
        for thread in (*threads, client):
            thread.start()
        client.join()
        # Keep killing until the kills are counted, then let everything arrive.
        while chaos.kills < KILLS and not chaos.errors and time.monotonic() - started < 600:
            time.sleep(0.1)
        chaos.done.set()
        for thread in threads:
            thread.join()
        assert not chaos.errors, f"seed {seed}: {chaos.errors}"
        deadline = time.monotonic() + 120
        while _receipted(pair.kor_dir) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        chaos.done.set()
        for node in chaos.nodes.values():
            node.stop()
    elapsed = time.monotonic() - started
    print(f"{len(sent)} transmissions, {chaos.kills} kills in {elapsed:.0f} s")
    assert chaos.kills >= KILLS, f"seed {seed}: only {chaos.kills} kills"
    assert len(sent) >= TRANSMISSIONS, f"seed {seed}: only {len(sent)} transmissions"
    try:
        # One more start of each recovers what a kill left (partial uploads, orphans).
        for name in ("kor", "can"):
            chaos.serve(name).stop()
        transmissions = _check_kor(pair, sent)
        _check_can(pair, transmissions)
        for data_dir in (pair.kor_dir, pair.can_dir):
            verified = run_cix("audit", "verify", "--dir", str(data_dir))
            assert verified.returncode == 0, verified.stdout + verified.stderr
    except AssertionError as exc:
        raise AssertionError(f"seed {seed}: {exc}") from exc
