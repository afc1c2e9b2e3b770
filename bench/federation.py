"""Federation between two national nodes on this machine: 64 KiB documents transmitted from
KOR to CAN with their receipts stored, and one 100 MiB document, against a plain upload.

Run: `.venv/bin/python -m bench federation` (defaults below), or e.g.
`.venv/bin/python -m bench.federation --duration 10 --clients 1,16,64 --set
federation_delivery_concurrency=16` (each `--set NAME=VALUE` is a node setting, given to
both nodes as `CIX_NAME`).

What runs, all on this machine, each server its own process on a loopback port:

1. baseline: a bare FastAPI endpoint that reads an uploaded body to the end, served by
   uvicorn as `cix serve` serves a node (one process, same log level); the same bytes are
   POSTed to it by the same client as below: 64 KiB at 1, 16 and 64 concurrent clients,
   then one 100 MiB body streamed from a file;
2. cix: KOR and CAN, two real `cix serve` processes, paired (each pins the other's
   identity, tests/federation/two_nodes.py), SQLite. Each client transmits one of 64
   documents of 64 KiB (`POST /api/v1/documents/{id}/transmit`: authentication, decision,
   key rewrap, the audited write of the transmission and its outbox message) and waits
   until KOR has stored CAN's signed receipt (delivery: message signed, sent with the
   sealed object, verified at CAN, the object verified whole, the copy registered with its
   alternative label, audited, the receipt signed, verified and stored at KOR, audited),
   then transmits the next one; latency is from the POST to the receipt seen stored (read
   from KOR's database every 2 ms). Then one 100 MiB document: from the transmit to the
   stored receipt, and each node's peak resident memory during it (`VmHWM`, reset first).

Every measured run follows an unmeasured `--warmup` run at the same load. Targets (issue
12): >= 1,000 documents/s of 64 KiB with receipts stored, p99 < 250 ms at that load; the
100 MiB document at >= 50% of the baseline's speed, peak RSS < 150 MiB per node.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import Request

from bench.node import machine, stop, wait_http

PAYLOAD = 64 * 1024
BIG = 100 * 1024 * 1024
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Run:
    """One load run: documents per second and latency percentiles (ms)."""

    clients: int
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int

    def row(self, unit: str = "docs/s") -> str:
        """A printable line."""
        return (
            f"{self.clients:>4} clients  {self.rate:>9,.1f} {unit}  p50 {self.p50_ms:8.1f} ms  "
            f"p99 {self.p99_ms:8.1f} ms  errors {self.errors}"
        )


def percentile(values: list[float], p: float) -> float:
    """The `p`-th percentile (nearest rank) of `values`, 0 if empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def drive(clients: int, seconds: float, one: Any) -> Run:
    """Run `one(client_index, n)` (returning True on success) in `clients` threads for
    `seconds`; the rate and latency of the calls that finished in that time."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def loop(index: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            ok = one(index, n)
            took = time.perf_counter() - start
            n += 1
            with lock:
                if ok:
                    latencies.append(took)
                else:
                    errors[0] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return Run(
        clients=clients,
        rate=len(latencies) / elapsed,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        errors=errors[0],
    )


# -- baseline: a bare upload endpoint ------------------------------------------------------


def baseline_app() -> Any:
    """A FastAPI app whose one route reads an uploaded body to the end (uvicorn factory)."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:  # Request: module-level, for FastAPI
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    return app


def file_chunks(path: Path) -> Iterator[bytes]:
    """The file at `path` in 1 MiB chunks (a streamed body)."""
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def peak_rss_mib(pid: int) -> float:
    """The peak resident memory (VmHWM) of process `pid`, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def reset_peak_rss(pid: int) -> None:
    """Reset the peak resident memory of process `pid` (ours) to its current size."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# -- the two nodes -------------------------------------------------------------------------


@dataclass
class Nodes:
    """The paired nodes, served, with the documents to transmit."""

    kor: Any
    can: Any
    token: str
    documents: list[str]
    big: str
    cpu_ms: tuple[float, float] = (0.0, 0.0)
    """CPU milliseconds per document of KOR and CAN in the last load run."""

    def transmissions_db(self) -> sqlite3.Connection:
        """A read connection to KOR's database (its receipts)."""
        return sqlite3.connect(self.kor.data_dir / "cix.db", timeout=30, check_same_thread=False)


def prepare(root: Path, big_file: Path, documents: int) -> tuple[Any, list[str], str]:
    """The pair on disk (not served), `documents` 64 KiB documents and the 100 MiB one at
    KOR; (pair, document ids, the big document's id)."""
    from datetime import UTC, datetime

    from tests.federation.cast import actor, kor_label
    from tests.federation.two_nodes import ENV, make_pair

    from cix.node.service import Node

    pair = make_pair(root)
    kor = Node.open(pair.kor_dir, environ=ENV)
    try:
        label = kor_label(datetime.now(UTC))
        author = actor(kor, "author")

        def upload(source: Any, title: str) -> str:
            return kor.documents.upload(
                author, label=label, title=title, media_type="application/octet-stream",
                source=source,
            ).id  # fmt: skip

        ids = [upload(_Bytes(os.urandom(PAYLOAD)), f"bench {i}") for i in range(documents)]
        with big_file.open("rb") as source:
            big = upload(source, "bench 100 MiB")
    finally:
        kor.close()
    return pair, ids, big


class _Bytes:
    """A readable of `data` (a minimal file-like object)."""

    def __init__(self, data: bytes) -> None:
        import io

        self._io = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._io.read(size)


class Receipts:
    """Watches KOR's database for the receipts of transmissions in flight."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._pending: dict[str, threading.Event] = {}
        self._state: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def wait(self, transmission: str, timeout: float = 120) -> str:
        """Block until `transmission` is no longer queued; its state."""
        event = threading.Event()
        with self._lock:
            self._pending[transmission] = event
        event.wait(timeout)
        with self._lock:
            self._pending.pop(transmission, None)
            return self._state.pop(transmission, "timeout")

    def _watch(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                ids = list(self._pending)
            if ids:
                marks = ",".join("?" * len(ids))
                rows = self._db.execute(
                    f"SELECT id, state FROM transmissions WHERE id IN ({marks}) "
                    "AND state NOT IN ('queued', 'sent')",
                    ids,
                ).fetchall()
                with self._lock:
                    for transmission, state in rows:
                        self._state[transmission] = state
                        event = self._pending.pop(transmission, None)
                        if event is not None:
                            event.set()
            time.sleep(0.002)

    def close(self) -> None:
        """Stop watching."""
        self._stop.set()
        self._thread.join()


def transmit_once(client: httpx.Client, receipts: Receipts, document: str) -> bool:
    """Transmit `document` to CAN and wait for its stored receipt; whether it came."""
    try:
        answer = client.post(f"/documents/{document}/transmit", json={"to": "CAN"})
    except httpx.HTTPError:
        return False
    if answer.status_code != 202:
        return False
    return receipts.wait(answer.json()["id"]) == "receipted"


def run_federation(
    nodes: Nodes, receipts: Receipts, clients: int, seconds: float, warmup: float
) -> Run:
    """`clients` concurrent transmit-and-wait loops for `seconds` (after `warmup`)."""
    sessions = [
        httpx.Client(
            base_url=f"{nodes.kor.url}/api/v1",
            headers={"Authorization": f"Bearer {nodes.token}"},
            timeout=120,
        )
        for _ in range(clients)
    ]
    try:

        def one(index: int, n: int) -> bool:
            document = nodes.documents[(index * 7919 + n) % len(nodes.documents)]
            return transmit_once(sessions[index], receipts, document)

        if warmup:
            drive(clients, warmup, one)
        cpu = [cpu_seconds(n.process.pid) for n in (nodes.kor, nodes.can)]
        run = drive(clients, seconds, one)
        done = max(run.rate * seconds, 1)
        pids = (nodes.kor.process.pid, nodes.can.process.pid)
        used = [cpu_seconds(pid) - c for pid, c in zip(pids, cpu, strict=True)]
        nodes.cpu_ms = (used[0] / done * 1000, used[1] / done * 1000)
        return run
    finally:
        for session in sessions:
            session.close()


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_baseline(url: str, body: bytes, clients: int, seconds: float, warmup: float) -> Run:
    """`clients` concurrent uploads of `body` to the bare endpoint for `seconds`."""
    sessions = [httpx.Client(timeout=60) for _ in range(clients)]
    try:

        def one(index: int, n: int) -> bool:
            try:
                return sessions[index].post(url, content=body).status_code == 200
            except httpx.HTTPError:
                return False

        if warmup:
            drive(clients, warmup, one)
        return drive(clients, seconds, one)
    finally:
        for session in sessions:
            session.close()


def serve_baseline(port: int) -> subprocess.Popen[bytes]:
    """uvicorn serving `baseline_app` on `port`."""
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "bench.federation:baseline_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def big_transmission(nodes: Nodes, receipts: Receipts) -> tuple[float, float, float]:
    """Transmit the 100 MiB document; (seconds to the stored receipt, KOR's and CAN's
    peak RSS in MiB meanwhile)."""
    for node in (nodes.kor, nodes.can):
        reset_peak_rss(node.process.pid)
    with httpx.Client(
        base_url=f"{nodes.kor.url}/api/v1",
        headers={"Authorization": f"Bearer {nodes.token}"},
        timeout=600,
    ) as client:
        start = time.perf_counter()
        if not transmit_once(client, receipts, nodes.big):
            raise RuntimeError("the 100 MiB transmission did not come back receipted")
        seconds = time.perf_counter() - start
    return seconds, peak_rss_mib(nodes.kor.process.pid), peak_rss_mib(nodes.can.process.pid)


def settings_environ(pairs: list[str]) -> dict[str, str]:
    """`NAME=VALUE` settings as the environment variables both nodes read."""
    environ = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--set {pair!r}: expected NAME=VALUE")
        environ[f"CIX_{name.strip().upper()}"] = value
    return environ


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, for the record beside the numbers."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def main(argv: list[str] | None = None) -> None:
    """Run the federation benchmark and print the numbers and ratios."""
    from tests.live_node import LiveNode, free_port

    parser = argparse.ArgumentParser(prog="bench.federation", description=__doc__)
    parser.add_argument("--duration", type=float, default=10, help="Seconds per load run.")
    parser.add_argument("--warmup", type=float, default=3, help="Unmeasured seconds first.")
    parser.add_argument("--clients", default="1,16,64", help="Concurrent transmissions per run.")
    parser.add_argument("--documents", type=int, default=64, help="64 KiB documents at KOR.")
    parser.add_argument("--no-big", action="store_true", help="Skip the 100 MiB document.")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="A node setting."
    )
    args = parser.parse_args(argv if argv is not None else [])
    levels = [int(c) for c in args.clients.split(",")]
    extra = settings_environ(args.set)
    print(f"machine: {machine()}; {os.uname().sysname} {os.uname().release}")
    print(f"command: python -m bench.federation --duration {args.duration:g} "
          f"--warmup {args.warmup:g} --clients {args.clients} --documents {args.documents}"
          f"{' --no-big' if args.no_big else ''}"
          f"{''.join(f' --set {s}' for s in args.set)}")  # fmt: skip
    print(f"at start: {load_average()}")

    with tempfile.TemporaryDirectory(prefix="cix-bench-federation-") as tmp:
        root = Path(tmp)
        big_file = root / "big.bin"
        with big_file.open("wb") as handle:
            for _ in range(BIG // _CHUNK):
                handle.write(os.urandom(_CHUNK))
        body = os.urandom(PAYLOAD)

        bare: dict[int, Run] = {}
        port = free_port()
        process = serve_baseline(port)
        url = f"http://127.0.0.1:{port}/upload"
        try:
            wait_http(f"http://127.0.0.1:{port}/docs", process)
            print("\nbaseline: 64 KiB POSTed to a bare FastAPI endpoint (uvicorn, one process)")
            for c in levels:
                bare[c] = run_baseline(url, body, c, args.duration, args.warmup)
                print("  " + bare[c].row("uploads/s") + f"  ({load_average()})")
            bare_big = 0.0
            if not args.no_big:
                reset_peak_rss(process.pid)
                start = time.perf_counter()
                answer = httpx.post(url, content=file_chunks(big_file), timeout=600)
                bare_big = time.perf_counter() - start
                assert answer.json()["size"] == BIG
                print(f"  100 MiB: {100 / bare_big:,.1f} MiB/s ({bare_big:.2f} s), "
                      f"peak RSS {peak_rss_mib(process.pid):.0f} MiB")  # fmt: skip
        finally:
            stop(process)

        pair, ids, big = prepare(root / "nodes", big_file, args.documents)
        environ = pair.environ(**extra)
        kor = LiveNode.start(pair.kor_dir, port=pair.kor_port, environ=environ, timeout=120)
        try:
            can = LiveNode.start(pair.can_dir, port=pair.can_port, environ=environ, timeout=120)
            try:
                nodes = Nodes(kor, can, pair.kor_officer, ids, big)
                with closing(nodes.transmissions_db()) as db:
                    receipts = Receipts(db)
                    try:
                        _measure(nodes, receipts, levels, bare, bare_big, args)
                    finally:
                        receipts.close()
            finally:
                can.stop()
        finally:
            kor.stop()


def current_rss_mib(pid: int) -> float:
    """The resident memory (VmRSS) of process `pid` now, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _measure(
    nodes: Nodes,
    receipts: Receipts,
    levels: list[int],
    bare: dict[int, Run],
    bare_big: float,
    args: argparse.Namespace,
) -> None:
    # The 100 MiB document first, on nodes that have served one transmission (the peak
    # then says what the document costs a node, not what 64 concurrent clients left).
    with httpx.Client(
        base_url=f"{nodes.kor.url}/api/v1",
        headers={"Authorization": f"Bearer {nodes.token}"},
        timeout=120,
    ) as client:
        if not transmit_once(client, receipts, nodes.documents[0]):
            raise RuntimeError("the first transmission did not come back receipted")
    if not args.no_big:
        before = [current_rss_mib(n.process.pid) for n in (nodes.kor, nodes.can)]
        seconds, kor_rss, can_rss = big_transmission(nodes, receipts)
        rate = 100 / seconds
        ratio = rate / (100 / bare_big)
        print(f"\ncix: one 100 MiB document KOR -> CAN, to the stored receipt: "
              f"{rate:,.1f} MiB/s ({seconds:.2f} s) = {ratio:.0%} of bare; peak RSS KOR "
              f"{kor_rss:.0f} MiB, CAN {can_rss:.0f} MiB (before: {before[0]:.0f} and "
              f"{before[1]:.0f} MiB)  ({load_average()})")  # fmt: skip
        met = ratio >= 0.5 and max(kor_rss, can_rss) < 150
        print(f"  target >= 50% of bare, peak RSS < 150 MiB per node: "
              f"{'met' if met else 'MISSED'}")  # fmt: skip

    print("\ncix: 64 KiB documents transmitted KOR -> CAN, to the stored receipt")
    runs = {}
    for c in levels:
        runs[c] = run = run_federation(nodes, receipts, c, args.duration, args.warmup)
        print(f"  {run.row()}  = {run.rate / bare[c].rate:.3f}x bare; cpu ms/doc KOR "
              f"{nodes.cpu_ms[0]:.1f} CAN {nodes.cpu_ms[1]:.1f}  ({load_average()})")  # fmt: skip
    best = max(runs.values(), key=lambda r: r.rate)
    met = best.rate >= 1000 and best.p99_ms < 250
    print(f"  target >= 1,000 docs/s with p99 < 250 ms: {'met' if met else 'MISSED'} "
          f"(best {best.rate:,.1f} docs/s at {best.clients} clients, "
          f"p99 {best.p99_ms:,.0f} ms)")  # fmt: skip
    after = [current_rss_mib(n.process.pid) for n in (nodes.kor, nodes.can)]
    print(f"  resident memory after the load runs: KOR {after[0]:.0f} MiB, "
          f"CAN {after[1]:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
