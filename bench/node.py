"""A national node under load: opens of 64 KiB documents and the first page of a big listing.

Run: `.venv/bin/python -m bench node` (defaults below), or e.g.
`.venv/bin/python -m bench.node --duration 10 --listing-docs 1000000 --clients 1,16,64`.

What runs, all on this machine, each server its own process on a loopback port:

1. baseline: a bare FastAPI endpoint returning 64 KiB from memory, served by uvicorn exactly as
   `cix serve` serves the node (one process, same log level);
2. baseline: raw `cix.envelope` open of the same 64 KiB sealed object in-process, one core
   (no HTTP, no decision, no database: the cryptographic floor of an open);
3. cix: a real `cix serve` of a seeded node, with each `--workers` count in turn (`cix serve
   --workers N`: N processes on one socket); the reader's opens of random 64 KiB documents
   (`GET /api/v1/documents/{id}/content`: authentication, decision, audit, key unwrap,
   streamed decryption) at 1, 16 and 64 concurrent clients;
4. listing: `--listing-docs` document rows bulk-inserted directly through the store (copies
   of the uploaded rows' labels, most of them not readable by the caller), then the time of
   the first page (`GET /api/v1/documents?limit=50`), median of several, for the reader, for
   the worst profiles (`worst_profiles`) and the auditor, and for a title query.
   `--listing-only` skips parts 1 to 3.

The load generator is `wrk` (Debian package `wrk`) in its own process, one thread, keep-alive
connections; every measured run (the bare baseline's too) follows an unmeasured `--warmup`
run at the same load (default 3 s: the first open of each document in a worker process
hashes and parses its whole blob, and new connections are accepted), so the numbers are the
steady state; where `wrk` is absent the part that needs it is skipped with the reason printed.
Targets (docs/design.md): >= 1,000 opens/s with p99 < 50 ms at 64 clients on 2 cores; first page
< 200 ms among 1,000,000 documents.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PAYLOAD = 64 * 1024
WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, '
    .. '"p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Load:
    """One load run: requests per second and latency percentiles (ms)."""

    clients: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int

    def row(self) -> str:
        """A printable line."""
        return (
            f"{self.clients:>4} clients  {self.rps:>9,.0f} req/s  p50 {self.p50_ms:7.2f} ms  "
            f"p99 {self.p99_ms:7.2f} ms  errors {self.errors}"
        )


def machine() -> str:
    """nproc and the CPU model, for the record."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs, {model}, Python {platform.python_version()}"


def wrk(url: str, *, clients: int, duration: float, lua: str, warmup: float = 0) -> Load:
    """Drive `url` with wrk: `clients` keep-alive connections, one thread, for `duration`
    (after an unmeasured run of `warmup` seconds at the same load, if given)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua + WRK_DONE)
    try:
        if warmup:
            subprocess.run(
                ["wrk", "-t1", f"-c{clients}", f"-d{warmup:.0f}s", "-s", script.name, url],
                capture_output=True, timeout=warmup + 60, check=True,
            )  # fmt: skip
        done = subprocess.run(
            ["wrk", "-t1", f"-c{clients}", f"-d{duration:.0f}s", "--timeout", "10s",
             "-s", script.name, url],
            capture_output=True, text=True, timeout=duration + 60, check=True,
        )  # fmt: skip
    finally:
        os.unlink(script.name)
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    seconds = result["duration_us"] / 1e6
    return Load(
        clients=clients,
        rps=(result["requests"] - result["non2xx"]) / seconds,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        errors=result["errors"] + result["non2xx"],
    )


# -- baseline 1: a bare endpoint returning 64 KiB ------------------------------------------

BASELINE_BODY = os.urandom(PAYLOAD)


def baseline_app() -> Any:
    """A FastAPI app whose one route returns 64 KiB from memory (uvicorn factory)."""
    from fastapi import FastAPI, Response

    app = FastAPI()

    @app.get("/blob/{blob_id}")
    def blob(blob_id: str) -> Response:
        return Response(BASELINE_BODY, media_type="application/octet-stream")

    return app


def serve_baseline(port: int) -> subprocess.Popen[bytes]:
    """uvicorn serving `baseline_app` on `port` (one process, like `cix serve`)."""
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "bench.node:baseline_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Wait until `url` answers (any status)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server we started (SIGTERM, then SIGKILL)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- baseline 2: raw envelope open -------------------------------------------------------------


def envelope_opens_per_second(seconds: float = 3.0) -> float:
    """Opens per second of a sealed 64 KiB object, in-process, one core."""
    from cix import envelope
    from cix.keys import generate_kem, generate_signing

    kem, signer = generate_kem(), generate_signing()
    sealed = io.BytesIO()
    envelope.seal(
        io.BytesIO(os.urandom(PAYLOAD)),
        sealed,
        label_xml=b"<label/>",
        label_json={"classification": "S", "originator": "CAN"},
        recipients=[kem.public],
        signer=signer,
    )
    data = sealed.getvalue()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        envelope.open(
            io.BytesIO(data),
            io.BytesIO(),
            private_key=kem,
            trusted_signers={"CAN": [signer.public]},
        )
        count += 1
    return count / elapsed


# -- cix -----------------------------------------------------------------------------------------


def seed_node(root: Path, documents: int) -> tuple[Any, subprocess.Popen[bytes], list[str]]:
    """A served demonstration CAN node with `documents` 64 KiB documents the reader may open."""
    from cix.cli.client_docs import label_json
    from cix.cli.client_http import ClientConfig, ClientSession
    from cix.demo import prepare, start
    from cix.demo_cast import CANADA

    (node,) = prepare(root / "demo", nations=(CANADA,))
    (process,) = start([node])
    ids = []
    label = label_json("SECRET//CPSP//REL TO CAN, KOR")
    config = ClientConfig(url=node.url, token=node.tokens["dnd-pm"])
    try:
        with ClientSession(config) as session:
            for i in range(documents):
                response = session.request(
                    "POST",
                    "/documents",
                    params={"label": label, "title": f"bench {i}"},
                    content=os.urandom(PAYLOAD),
                    headers={"Content-Type": "application/octet-stream"},
                )
                ids.append(str(response.json()["id"]))
            # A label with no programme: the SQL prefilter passes it for everyone of the
            # right nationality, so a subject the decision function then refuses (a
            # contractor without a facility clearance, an expired briefing, a dual
            # national) costs a decision per row: the listing's worst profiles.
            response = session.request(
                "POST",
                "/documents",
                params={"label": label_json("SECRET//REL TO CAN, KOR"), "title": "bench open"},
                content=os.urandom(PAYLOAD),
                headers={"Content-Type": "application/octet-stream"},
            )
            response.raise_for_status()
    except BaseException:
        stop(process)
        raise
    return node, process, ids


def open_lua(ids: list[str], token: str) -> str:
    """A wrk script opening a random one of `ids` with `token`."""
    quoted = ",".join(f'"{i}"' for i in ids)
    return f"""
local ids = {{{quoted}}}
local headers = {{["Authorization"] = "Bearer {token}"}}
request = function()
  return wrk.format("GET", "/api/v1/documents/" .. ids[math.random(#ids)] .. "/content", headers)
end
"""


def bulk_insert(data_dir: Path, count: int) -> float:
    """Insert `count` document rows cloned from the node's own rows; seconds taken."""
    from sqlalchemy import insert, select

    from cix.demo import demo_environ
    from cix.node.service import Node
    from cix.store.models import Document

    node = Node.open(data_dir, environ=demo_environ())
    start = time.perf_counter()
    try:
        with node.db.read() as session:
            templates = [
                {c.name: getattr(row, c.name) for c in Document.__table__.columns}
                # every uploaded row (a few dozen): the one without a programme too
                for row in session.scalars(select(Document))
            ]
        if not templates:
            raise RuntimeError("no document to clone")
        # Most of the bulk is a label the reader may not read (a programme they are not in):
        # the listing must skip it in SQL, not in Python.
        programme = [t for t in templates if t["programme_mask"]]
        open_label = [t for t in templates if not t["programme_mask"]]
        hidden = dict(programme[0])
        hidden["programme_mask"] = (1 << 62) | int(hidden["programme_mask"])
        width = len(str(templates[0]["id"]))
        batch: list[dict[str, Any]] = []
        for i in range(count):
            # 10% the reader may read, 10% that only the worst profiles' decisions refuse,
            # the rest excluded in SQL for everyone but a member of a programme nobody is in.
            if i % 10 == 0:
                row = dict(programme[i % len(programme)])
            elif i % 10 == 5 and open_label:
                row = dict(open_label[0])
            else:
                row = dict(hidden)
            # Older than every real row (ids sort by creation time): "0" prefix, same width.
            row["id"] = ("0" + format(i, "x")).rjust(width, "0")[:width]
            row["blob_hash"] = None
            batch.append(row)
            if len(batch) == 20000:
                with node.db.write() as session:
                    session.execute(insert(Document), batch)
                batch = []
        if batch:
            with node.db.write() as session:
                session.execute(insert(Document), batch)
    finally:
        node.close()
    return time.perf_counter() - start


def worst_profiles(data_dir: Path) -> dict[str, str]:
    """The listing's hardest subjects, each with an API token: a contractor without a facility
    clearance, an expired briefing, no clearance, a dual national, a CONFIDENTIAL clearance
    among SECRET rows (nothing readable: the SQL prefilter excludes every row, so the index
    scan is the cost) and the demonstration's auditor, added by the caller. Profile name ->
    token."""
    from datetime import timedelta

    from cix.demo import demo_environ
    from cix.node.roles import SYSTEM, Role
    from cix.node.schemas import PersonIn, RegistryClearance
    from cix.node.service import Node

    node = Node.open(data_dir, environ=demo_environ())
    now = node.clock()
    secret = RegistryClearance(level="S", party="CAN", expires=now + timedelta(days=365))
    confidential = RegistryClearance(level="C", party="CAN", expires=now + timedelta(days=365))
    briefed = {"briefed_at": now - timedelta(days=30), "briefed_until": now + timedelta(days=300)}
    people = {
        "contractor, no facility clearance": ("bench-nofcl", "northfab", secret, ["CAN"], briefed),
        "expired briefing": ("bench-expired", "dnd", secret, ["CAN"],
                             {"briefed_at": now - timedelta(days=400),
                              "briefed_until": now - timedelta(days=1)}),
        "no valid clearance": ("bench-uncleared", "dnd", None, ["CAN"], briefed),
        "dual national": ("bench-dual", "dnd", secret, ["CAN", "DEU"], briefed),
        "CONFIDENTIAL clearance (reads nothing)": ("bench-conf", "dnd", confidential, ["CAN"],
                                                   briefed),
    }  # fmt: skip
    tokens = {}
    try:
        for profile, (person, org, clearance, nationalities, briefing) in people.items():
            node.registry.create_person(
                SYSTEM,
                PersonIn(
                    id=person,
                    name=profile,
                    organisation=org,
                    nationalities=nationalities,
                    clearance=clearance,
                    roles=[Role.READER],
                    **briefing,
                ),
            )
            actor = node.registry.actor_for(person)
            tokens[profile], _ = node.api_tokens.create(actor, "bench", ttl=3600, now=now)
    finally:
        node.close()
    return tokens


def first_page_ms(
    url: str,
    token: str,
    repeats: int = 7,
    *,
    query: str | None = None,
    filters: dict[str, str] | None = None,
) -> tuple[float, str]:
    """Median time of the first page (ms) and how many documents it held (and whether it had
    a cursor); `query` searches titles, `filters` narrow (classification, programme, …)."""
    times, count, more = [], 0, False
    params: dict[str, Any] = {"limit": 50} if query is None else {"limit": 50, "q": query}
    params.update(filters or {})
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for _ in range(repeats):
            start = time.perf_counter()
            response = client.get(f"{url}/api/v1/documents", params=params)
            times.append((time.perf_counter() - start) * 1000)
            response.raise_for_status()
            count = len(response.json()["items"])
            # a short page with a cursor: the listing's budget was spent (docs/node.md)
            more = response.json()["next_cursor"] is not None
    return statistics.median(times), f"{count} documents{', next_cursor' if more else ''}"


def serve_without(node: Any, spec: str) -> subprocess.Popen[bytes]:
    """`cix serve` of `node` (one process) with the fast-path pieces `spec` names turned off
    (`bench.fast_path_off`); returns once it answers health."""
    from cix.demo import demo_environ

    log = (node.data_dir / "serve.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.fast_path_off", spec, "serve", "--dir", str(node.data_dir),
         "--port", str(node.port), "--workers", "1"],
        env=demo_environ(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    log.close()
    try:
        wait_http(f"{node.url}/api/v1/health", process)
    except BaseException:
        stop(process)
        raise
    return process


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process `pid` so far (its threads included), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compare_pieces(node: Any, ids: list[str], token: str, args: argparse.Namespace) -> None:
    """Opens/s at the largest client count with each `--without` configuration, and the
    server's CPU time per open (less moved by the machine's other load than the rate), the
    configurations interleaved `--rounds` times (a shared machine drifts: read the spread)."""
    clients = max(int(c) for c in args.clients.split(","))
    specs = args.without.split(",")
    runs: dict[str, list[tuple[Load, float]]] = {spec: [] for spec in specs}
    lua = open_lua(ids, token)
    print(f"\nfast-path pieces off, one at a time: {clients} clients, cix serve --workers 1")
    for round_ in range(args.rounds):
        for spec in specs:
            process = serve_without(node, spec)
            try:
                if args.warmup:
                    wrk(node.url + "/", clients=clients, duration=args.warmup, lua=lua)
                before = cpu_seconds(process.pid)
                load = wrk(node.url + "/", clients=clients, duration=args.duration, lua=lua)
                cpu_ms = (cpu_seconds(process.pid) - before) * 1000
            finally:
                stop(process)
            per_open = cpu_ms / max(load.rps * args.duration, 1)
            runs[spec].append((load, per_open))
            print(f"  round {round_ + 1}  without {spec:<16} {load.row()}  "
                  f"cpu {per_open:.3f} ms/open")  # fmt: skip
    print("\nsummary (each round; ratio of the means to the first configuration):")
    base_rps = statistics.mean(x.rps for x, _ in runs[specs[0]])
    base_cpu = statistics.mean(c for _, c in runs[specs[0]])
    for spec in specs:
        rates = [x.rps for x, _ in runs[spec]]
        cpus = [c for _, c in runs[spec]]
        print(f"  without {spec:<16} "
              f"{' / '.join(f'{r:,.0f}' for r in rates)} opens/s "
              f"({statistics.mean(rates) / base_rps:.2f}x)   "
              f"{' / '.join(f'{c:.3f}' for c in cpus)} ms cpu/open "
              f"({statistics.mean(cpus) / base_cpu:.2f}x)")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    """Run the node benchmark and print the numbers and ratios."""
    parser = argparse.ArgumentParser(prog="bench.node", description=__doc__)
    parser.add_argument("--duration", type=float, default=10, help="Seconds per load run.")
    parser.add_argument("--clients", default="1,16,64", help="Concurrent clients per run.")
    parser.add_argument("--documents", type=int, default=64, help="Documents to open from.")
    parser.add_argument("--listing-docs", type=int, default=1_000_000, help="Rows for listing.")
    parser.add_argument("--workers", default="1,2", help="`cix serve --workers` counts to run.")
    parser.add_argument(
        "--warmup", type=float, default=3, help="Unmeasured seconds before each load run."
    )
    parser.add_argument(
        "--listing-only", action="store_true", help="Skip the opens: run the listing part only."
    )
    parser.add_argument(
        "--without",
        default="",
        help="Compare fast-path pieces instead: comma-separated configurations, each 'none' "
        "or '+'-joined pieces to turn off (bench/fast_path_off.py), e.g. "
        "none,open-route,verified-blobs; opens at the largest --clients, one process.",
    )
    parser.add_argument("--rounds", type=int, default=2, help="Rounds of --without (interleaved).")
    args = parser.parse_args(argv if argv is not None else [])
    if args.without:
        print(f"machine: {machine()}")
        print(f"command: python -m bench.node --without {args.without} --rounds {args.rounds} "
              f"--clients {args.clients} --duration {args.duration:g} --warmup {args.warmup:g} "
              f"--documents {args.documents}")  # fmt: skip
        if shutil.which("wrk") is None:
            raise SystemExit("wrk not installed (Debian package `wrk`)")
        with tempfile.TemporaryDirectory(prefix="cix-bench-node-") as tmp:
            node, process, ids = seed_node(Path(tmp), args.documents)
            stop(process)
            compare_pieces(node, ids, node.tokens["tide-eng"], args)
        return
    levels = [int(c) for c in args.clients.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    print(f"machine: {machine()}")
    print(f"command: python -m bench.node --duration {args.duration:g} --clients {args.clients} "
          f"--documents {args.documents} --listing-docs {args.listing_docs} "
          f"--workers {args.workers} --warmup {args.warmup:g}"
          f"{' --listing-only' if args.listing_only else ''}")  # fmt: skip

    raw = 0.0 if args.listing_only else envelope_opens_per_second()
    if raw:
        print(f"\nraw cix.envelope open of 64 KiB, in-process, one core: {raw:,.0f} opens/s")

    have_wrk = not args.listing_only and shutil.which("wrk") is not None
    if not have_wrk and not args.listing_only:
        print("wrk not installed (Debian package `wrk`): skipping the HTTP load runs")
    from cix.demo import free_port, start

    bare: dict[int, Load] = {}
    if have_wrk:
        port = free_port(0)
        process = serve_baseline(port)
        try:
            wait_http(f"http://127.0.0.1:{port}/blob/x", process)
            print("\nbaseline: bare FastAPI endpoint returning 64 KiB (uvicorn, one process)")
            for c in levels:
                bare[c] = wrk(
                    f"http://127.0.0.1:{port}/blob/x",
                    clients=c,
                    duration=args.duration,
                    lua="",
                    warmup=args.warmup,
                )
                print("  " + bare[c].row())
        finally:
            stop(process)

    with tempfile.TemporaryDirectory(prefix="cix-bench-node-") as tmp:
        node, process, ids = seed_node(Path(tmp), args.documents)
        stop(process)
        token = node.tokens["tide-eng"]
        for workers in worker_counts if have_wrk else []:
            (process,) = start([node], workers=workers)
            try:
                print(f"\ncix serve --workers {workers}: opens of random 64 KiB documents "
                      f"(of {len(ids)}) by a reader")  # fmt: skip
                for c in levels:
                    load = wrk(node.url + "/", clients=c, duration=args.duration,
                               lua=open_lua(ids, token), warmup=args.warmup)  # fmt: skip
                    ratio = f"  = {load.rps / bare[c].rps:.2f}x bare" if c in bare else ""
                    print("  " + load.row() + ratio)
                    if c == max(levels):
                        met = load.rps >= 1000 and load.p99_ms < 50
                        print(f"  target >= 1,000 opens/s, p99 < 50 ms at {c}: "
                              f"{'met' if met else 'MISSED'}; "
                              f"{load.rps / raw:.2f}x raw envelope opens")  # fmt: skip
            finally:
                stop(process)
        if args.listing_docs:
            seconds = bulk_insert(node.data_dir, args.listing_docs)
            print(f"\nlisting: {args.listing_docs:,} rows bulk-inserted in {seconds:.1f} s")
            profiles = {"reader": token, **worst_profiles(node.data_dir)}
            profiles["auditor"] = node.tokens["dnd-auditor"]
            (process,) = start([node])
            try:
                worst = 0.0
                for profile, profile_token in profiles.items():
                    ms, count = first_page_ms(node.url, profile_token)
                    worst = max(worst, ms) if profile != "reader" else worst
                    print(f"  first page ({count}) for {profile}: {ms:.1f} ms")
                ms, count = first_page_ms(node.url, token, query="bench")
                print(f"  first page ({count}) of a title query matching every "
                      f"row, for a reader: {ms:.1f} ms")  # fmt: skip
                worst = max(worst, ms)
                # Words found nowhere: the listing walks its whole row budget for nothing.
                for shown, query, filters in (
                    ("two words matching no row", "hull minutes", None),
                    ("a word and filters", "bench",
                     {"classification": "SECRET", "programme": "CPSP", "since": "2020-01-01"}),
                ):  # fmt: skip
                    ms, count = first_page_ms(node.url, token, query=query, filters=filters)
                    print(f"  first page ({count}) of {shown}, for a reader: {ms:.1f} ms")
                    worst = max(worst, ms)
                verdict = "met" if worst < 200 else "MISSED"
                print(f"  worst profile or query: {worst:.1f} ms (target < 200 ms: {verdict})")
            finally:
                stop(process)


if __name__ == "__main__":
    main(sys.argv[1:])
