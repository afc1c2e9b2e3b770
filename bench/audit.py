"""Audit log speed: durable appends, proofs at 1M and 10M entries, full verification.

Run: `.venv/bin/python -m bench audit`. Sizes are configurable through the environment:

- `CIX_BENCH_AUDIT_APPENDS` (default 200000): entries appended in batches (SQLite);
- `CIX_BENCH_AUDIT_SINGLE` (default 2000): entries appended one by one, one commit each;
- `CIX_BENCH_AUDIT_PROOF_SIZES` (default "1000000,10000000"): tree sizes for proof timing;
- `CIX_BENCH_AUDIT_VERIFY` (default 300000): entries in the log that is fully verified;
- `CIX_BENCH_POSTGRES_URL` (default the test server's admin URL): where a scratch database
  for the PostgreSQL append numbers is created (skipped when none answers).

Baselines measured in the same run: Trillian Tessera's published 1,758 writes/s (POSIX) for
appends; for verification, raw `hashlib.sha256` on one core doing exactly the RFC 9162 hash
work over the same entries in memory (n leaf hashes + n - 1 node hashes), and SHA-256 over
one contiguous buffer of the same bytes (bulk throughput). Verification is timed with one
process (`workers=1`) and with one per CPU; the deep check (parsing every entry) only up to
300,000 entries.
"""

from __future__ import annotations

import hashlib
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cix.audit import Event, merkle, open_log
from cix.audit.checkpoint import signer_from_seed
from cix.audit.log import Log

TESSERA_POSIX = 1758.0
T0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _events(n: int) -> list[Event]:
    return [
        Event(
            time=T0,
            node="kor",
            type="document.open",
            actor=f"user-{i % 5000}@mnd.go.kr",
            object=f"doc:{i}",
            action="read",
            decision="permit" if i % 7 else "deny",
            reasons=() if i % 7 else ("clearance-expired",),
            details={"bytes": 65536, "agreement": "kor-can", "copy": i % 100},
        )
        for i in range(n)
    ]


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_appends(address: str, label: str, total: int, single: int) -> None:
    """Durable appends one by one and in batches, each batch with its signed checkpoint."""
    signer = signer_from_seed("bench.cix/audit", bytes(32))
    events = _events(total)
    with open_log(address, signer=signer) as log:
        dt = _time(lambda: [log.append(e) for e in events[:single]])
        one = single / dt
        print(
            f"{label}: one by one, {single} commits: {one:,.0f} appends/s "
            f"({one / TESSERA_POSIX:.2f}x Tessera POSIX {TESSERA_POSIX:,.0f}/s)"
        )
        for batch in (1000, 10_000):
            n = min(total, batch * max(1, total // batch // 2))
            chunks = [events[i : i + batch] for i in range(0, n, batch)]
            dt = _time(lambda chunks=chunks: [log.append_batch(c) for c in chunks])  # type: ignore[misc]
            rate = n / dt
            print(
                f"{label}: batches of {batch}: {rate:,.0f} appends/s "
                f"({rate / TESSERA_POSIX:.0f}x Tessera)"
            )
        n = min(total, 100_000)
        dt = _time(lambda: [log.append_batch(_events(10_000)) for _ in range(n // 10_000)])
        print(
            f"{label}: batches of 10000 including building and validating each Event: "
            f"{n / dt:,.0f} appends/s"
        )


def build_synthetic(path: Path, n: int) -> Log:
    """A log of n tiny entries (body = 8-byte seq) written through the storage interface.

    Proof cost depends only on the stored hashes, so the entries need not be real; bulk
    building skips Event construction to make 10M entries take about a minute.
    """
    log = open_log(path)
    frontier = merkle.Frontier(0, [])
    sha = hashlib.sha256
    chunk = 500_000
    for start in range(0, n, chunk):
        rows: list[tuple[int, bytes, bytes]] = []
        nodes: list[tuple[int, bytes]] = []
        for seq in range(start, min(start + chunk, n)):
            body = seq.to_bytes(8, "big")
            leaf = sha(b"\x00" + body).digest()
            rows.append((seq, leaf, body))
            nodes.extend((merkle.storage_id(lv, ix), h) for lv, ix, h in frontier.push(leaf))
        with log.storage.write() as tx:
            tx.add(rows, nodes, start + len(rows))
    return log


def _stats(samples: list[float]) -> str:
    samples.sort()
    p99 = samples[int(len(samples) * 0.99) - 1]
    return f"median {statistics.median(samples) * 1e6:,.0f} us, p99 {p99 * 1e6:,.0f} us"


def bench_proofs(directory: Path, n: int) -> None:
    """Inclusion and consistency proofs (generation from storage, and client verification)."""
    path = directory / f"proofs-{n}.db"
    dt = _time(lambda: build_synthetic(path, n).close())
    print(f"tree of {n:,} entries built in {dt:.0f} s ({path.stat().st_size / 2**20:,.0f} MiB)")
    rng = random.Random(n)
    with open_log(path, create=False) as log:
        root = log.root()
        incl, cons, check = [], [], []
        for _ in range(2000):
            i = rng.randrange(n)
            start = time.perf_counter()
            proof = log.prove_inclusion(i, n)
            incl.append(time.perf_counter() - start)
            start = time.perf_counter()
            merkle.verify_inclusion(merkle.leaf_hash(i.to_bytes(8, "big")), i, n, proof.path, root)
            check.append(time.perf_counter() - start)
            m = rng.randrange(1, n)
            start = time.perf_counter()
            cproof = log.prove_consistency(m, n)
            cons.append(time.perf_counter() - start)
        merkle.verify_consistency(m, n, log.root(m), root, cproof.path)
    print(f"  inclusion proof at {n:,}: {_stats(incl)} ({len(proof.path)} hashes)")
    print(f"  consistency proof at {n:,}: {_stats(cons)} ({len(cproof.path)} hashes)")
    print(f"  client check of an inclusion proof: {_stats(check)}")
    path.unlink()


def _wall_cpu(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (this process and its finished children) of fn()."""
    before, start = os.times(), time.perf_counter()
    fn()
    wall, after = time.perf_counter() - start, os.times()
    cpu = sum(after[:4]) - sum(before[:4])
    return wall, cpu


def _raw_hash_times(path: Path, n: int) -> tuple[float, float, int]:
    """Seconds for the RFC 9162 hash work and for bulk SHA-256 over the log's n bodies held
    in memory (one core each), and their total size; the bodies are freed on return."""
    with open_log(path, create=False) as log:
        bodies = [body for _, body in log.storage.read_entries(0, n)]

    def raw_tree() -> bytes:
        sha = hashlib.sha256
        stack: list[bytes] = []
        for i, body in enumerate(bodies):
            h = sha(b"\x00" + body).digest()
            while i & 1:
                h = sha(b"\x01" + stack.pop() + h).digest()
                i >>= 1
            stack.append(h)
        return merkle.fold_right(stack)

    blob = b"".join(bodies)
    raw = min(_time(raw_tree) for _ in range(3))
    bulk = min(_time(lambda: hashlib.sha256(blob).digest()) for _ in range(3))
    return raw, bulk, len(blob)


def bench_verify(directory: Path, n: int) -> None:
    """Full verification against raw SHA-256 over the same entries."""
    path = directory / "verify.db"
    signer = signer_from_seed("bench.cix/audit", bytes(32))
    with open_log(path, signer=signer) as log:
        events = _events(10_000)
        for _ in range(n // 10_000):
            log.append_batch(events)
    raw, bulk, total = _raw_hash_times(path, n)
    cpus = os.cpu_count() or 1
    with open_log(path, create=False) as log:
        one, one_cpu = min(_wall_cpu(lambda: log.verify(deep=False, workers=1)) for _ in range(3))
        many, many_cpu = min(
            _wall_cpu(lambda: log.verify(deep=False, workers=cpus)) for _ in range(3)
        )
        deep = _time(lambda: log.verify(workers=cpus)) if n <= 300_000 else None
    mb = total / 2**20
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"verification of {n:,} entries ({mb:,.0f} MiB, mean entry {total // n} bytes):")
    print(f"  {cpus} CPUs; load average after the run {load}")
    print(
        f"  raw SHA-256 on one core, RFC 9162 hash work in memory: {n / raw:,.0f} entries/s "
        f"({mb / raw:,.0f} MiB/s)"
    )
    print(f"  raw SHA-256 on one core, one contiguous buffer: {mb / bulk:,.0f} MiB/s")
    print(
        f"  Log.verify(deep=False, workers=1) from SQLite: {n / one:,.0f} entries/s = "
        f"{raw / one:.0%} of the one-core raw hash work, {bulk / one:.0%} of bulk SHA-256 "
        f"({one:.2f} s wall, {one_cpu:.2f} s CPU)"
    )
    print(
        f"  Log.verify(deep=False, workers={cpus}) from SQLite: {n / many:,.0f} entries/s = "
        f"{raw / many:.0%} of the one-core raw hash work (target >= 50%), "
        f"{bulk / many:.0%} of bulk SHA-256 ({many:.2f} s wall, {many_cpu:.2f} s CPU in all "
        f"processes; raw hash work {raw:.2f} s)"
    )
    if deep is not None:
        print(
            f"  Log.verify(workers={cpus}) (also parses every entry): {n / deep:,.0f} "
            f"entries/s = {raw / deep:.0%} of the raw hash work"
        )
    path.unlink()


def _postgres_database() -> tuple[str, Callable[[], None]] | None:
    import psycopg

    admin_url = os.environ.get(
        "CIX_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.Error:
        return None
    name = f"cix_bench_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return admin_url.rsplit("/", 1)[0] + "/" + name, drop


def main() -> None:
    """Run every audit benchmark and print each result with its baseline ratio."""
    appends = _env_int("CIX_BENCH_AUDIT_APPENDS", 200_000)
    single = _env_int("CIX_BENCH_AUDIT_SINGLE", 2000)
    sizes = [
        int(s) for s in os.environ.get("CIX_BENCH_AUDIT_PROOF_SIZES", "1000000,10000000").split(",")
    ]
    verify_n = _env_int("CIX_BENCH_AUDIT_VERIFY", 300_000)
    with tempfile.TemporaryDirectory(prefix="cix-bench-audit-", dir=os.environ.get("TMPDIR")) as d:
        directory = Path(d)
        bench_appends(
            str(directory / "appends.db"), "SQLite (WAL, synchronous=FULL)", appends, single
        )
        pg = _postgres_database()
        if pg is None:
            print("PostgreSQL: no server answers; skipped")
        else:
            url, drop = pg
            try:
                bench_appends(url, "PostgreSQL", min(appends, 100_000), min(single, 500))
            finally:
                drop()
        for n in sizes:
            bench_proofs(directory, n)
        bench_verify(directory, verify_n)


if __name__ == "__main__":
    main()
