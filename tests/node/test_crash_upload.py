"""A real `cix serve` killed with SIGKILL during uploads, many times.

Each round starts the node, checks what the previous crash left, starts a few concurrent
uploads (bodies trickled so the kill lands at every stage: mid-body, while sealing, while
committing) and SIGKILLs the server at a random moment. After every restart:

- every upload the server acknowledged (201) is listed and opens to exactly its bytes
  (nothing committed is lost);
- every listed document opens to the bytes whose SHA-256 its title names (nothing
  half-written is visible);
- rows and blobs agree: every live row's blob exists with the recorded size, and no blob is
  left that no row references;

and at the end the audit log verifies (`cix audit verify --dir`).
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from cix.cli.client_docs import label_json
from cix.demo import PASSPHRASE, prepare
from cix.demo_cast import CANADA
from cix.node.service import Node
from cix.store.models import Document
from tests.live_node import LiveNode, run_cix

pytestmark = pytest.mark.slow

ROUNDS = 36
TIME_BUDGET = 80.0  # seconds of rounds; the loop stops early (after MIN_ROUNDS) past it
MIN_ROUNDS = 30
UPLOADS_PER_ROUND = 3
LABEL = "SECRET//CPSP//REL TO CAN, KOR"
TITLE_PREFIX = "crash-"

PASS_ENV = {"CIX_PASSPHRASE": PASSPHRASE}


def payload(rng: random.Random) -> bytes:
    """Random bytes of a random size between 1 byte and 1 MiB."""
    return rng.randbytes(rng.choice((1, 1000, 64 * 1024, 300 * 1024, 1 << 20)))


def trickle(data: bytes, pause: float) -> Iterator[bytes]:
    """`data` in 64 KiB chunks with a pause between them (so a kill can land mid-body)."""
    for start in range(0, len(data), 64 * 1024):
        yield data[start : start + 64 * 1024]
        time.sleep(pause)


def upload(
    url: str, token: str, data: bytes, pause: float, acked: dict[str, str], odd: list[str]
) -> None:
    """Upload `data`; record its id and hash in `acked` if the node answered 201, any other
    answer in `odd` (a killed server answers nothing at all)."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        response = httpx.post(
            f"{url}/api/v1/documents",
            params={"label": label_json(LABEL), "title": TITLE_PREFIX + digest},
            content=trickle(data, pause),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/octet-stream",
                "Content-Length": str(len(data)),
            },
            timeout=30,
        )
    except httpx.HTTPError:
        return  # killed mid-request: the upload may or may not have committed
    if response.status_code == 201:
        acked[str(response.json()["id"])] = digest
    else:
        odd.append(f"{response.status_code} {response.text[:200]}")


def listed(client: httpx.Client) -> dict[str, str]:
    """Every document the caller may see: id -> title."""
    found: dict[str, str] = {}
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        response = client.get("/api/v1/documents", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        for item in page["items"]:
            found[str(item["id"])] = str(item["title"])
        cursor = page.get("next")
        if not cursor:
            return found


def opened_digest(client: httpx.Client, doc_id: str) -> str:
    """SHA-256 of the plaintext the node streams for `doc_id`."""
    digest = hashlib.sha256()
    with client.stream("GET", f"/api/v1/documents/{doc_id}/content") as response:
        assert response.status_code == 200, response.read()
        for chunk in response.iter_bytes():
            digest.update(chunk)
    return digest.hexdigest()


def rows_and_blobs_agree(data_dir: Path) -> int:
    """Assert every live row's blob exists at its size and no blob is unreferenced."""
    node = Node.open(data_dir, environ=PASS_ENV)
    try:
        with node.db.read() as session:
            rows = session.scalars(select(Document)).all()
        live = {r.blob_hash: r.sealed_size for r in rows if r.destroyed_at is None}
        for blob_hash, size in live.items():
            assert blob_hash is not None
            assert node.blobs.exists(blob_hash), f"row without its blob {blob_hash}"
            assert node.blobs.path(blob_hash).stat().st_size == size
        referenced = {r.blob_hash for r in rows if r.blob_hash}
        orphans = set(node.blobs.hashes()) - referenced
        assert not orphans, f"{len(orphans)} blobs no row references"
        return len(rows)
    finally:
        node.close()


@pytest.mark.parametrize(
    ("workers", "min_rounds", "budget"), [(1, MIN_ROUNDS, TIME_BUDGET), (2, 10, 40.0)]
)
def test_sigkill_during_uploads_loses_nothing_committed_and_shows_nothing_partial(
    tmp_path: Path, workers: int, min_rounds: int, budget: float
) -> None:
    # With workers, the SIGKILL goes to the supervisor; its workers die with it
    # (PR_SET_PDEATHSIG) wherever each is in its own uploads.
    (demo,) = prepare(tmp_path / "demo", nations=(CANADA,), base_port=0)
    token = demo.tokens["dnd-pm"]
    rng = random.Random(20260227)
    acked: dict[str, str] = {}
    odd: list[str] = []
    verified: set[str] = set()
    began = time.monotonic()
    rounds = 0
    while rounds < ROUNDS and (rounds < min_rounds or time.monotonic() - began < budget):
        live = LiveNode.start(demo.data_dir, workers=workers)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=live.url, headers=headers, timeout=30) as client:
            visible = listed(client)
            assert set(acked) <= set(visible), "an acknowledged upload was lost"
            for doc_id, title in visible.items():
                if doc_id in verified:
                    continue
                assert title.startswith(TITLE_PREFIX)
                assert opened_digest(client, doc_id) == title.removeprefix(TITLE_PREFIX)
                if doc_id in acked:
                    assert acked[doc_id] == title.removeprefix(TITLE_PREFIX)
                verified.add(doc_id)
        rows_and_blobs_agree(demo.data_dir)
        threads = [
            threading.Thread(
                target=upload,
                args=(live.url, token, payload(rng), rng.choice((0, 0.002, 0.01)), acked, odd),
            )
            for _ in range(UPLOADS_PER_ROUND)
        ]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(0.0, 0.4))
        live.kill()
        for thread in threads:
            thread.join(timeout=60)
        rounds += 1

    final = LiveNode.start(demo.data_dir, workers=workers)
    try:
        with httpx.Client(base_url=final.url, headers={"Authorization": f"Bearer {token}"}) as c:
            visible = listed(c)
            assert set(acked) <= set(visible)
            for doc_id in set(visible) - verified:
                assert opened_digest(c, doc_id) == visible[doc_id].removeprefix(TITLE_PREFIX)
    finally:
        final.stop()
    rows = rows_and_blobs_agree(demo.data_dir)
    assert rounds >= min_rounds
    assert not odd, odd
    # The rounds did upload: the test would be vacuous if no upload ever committed.
    assert acked, "no upload was ever acknowledged"
    assert rows >= len(acked)
    verify = run_cix("audit", "verify", "--dir", str(demo.data_dir))
    assert verify.returncode == 0, verify.stdout + verify.stderr
