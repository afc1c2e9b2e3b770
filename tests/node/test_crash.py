"""The server killed with SIGKILL during uploads, again and again: after each restart no
partial document is visible, every row's blob opens to exactly what was uploaded, no blob is
left without a row, and the audit log verifies."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from cix.node.auditing import append_many
from cix.node.roles import SYSTEM, Role
from cix.node.schemas import PersonIn, RegistryClearance
from cix.node.service import Node
from cix.store.models import Document
from tests.node.test_cli_node import CIX, cix, free_port
from tests.node_support import ENVIRON, PASSPHRASE

LABEL = (
    '{"policy": "can-national", "originator": "CAN", "classification": "S",'
    ' "releasable_to": ["CAN"], "programmes": [], "caveats": []}'
)


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [*CIX, "serve", "--dir", str(data_dir), "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CIX_PASSPHRASE": PASSPHRASE},
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        assert process.poll() is None, "cix serve exited"
        assert time.monotonic() < deadline, "cix serve did not come up"
        time.sleep(0.1)


def _uploads(base: str, token: str, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
        while not stop.is_set():
            body = rng.randbytes(rng.choice([1000, 100_000, 600_000]))
            try:
                client.post(
                    "/api/v1/documents",
                    params={"label": LABEL, "title": hashlib.sha256(body).hexdigest()},
                    content=body,
                    timeout=10,
                )
            except httpx.HTTPError:
                return  # the server was killed


@pytest.mark.slow
def test_sigkill_during_uploads_never_leaves_a_partial_document(tmp_path: Path) -> None:
    data_dir = tmp_path / "can"
    assert cix("init", "--party", "CAN", "--dir", str(data_dir), "--admin", "root").returncode == 0
    node = Node.open(data_dir, environ=ENVIRON)
    year = datetime.now(UTC) + timedelta(days=365)
    node.registry.create_person(
        SYSTEM,
        PersonIn(
            id="olivia",
            name="Olivia",
            organisation="can-node",
            nationalities=["CAN"],
            clearance=RegistryClearance(level="S", party="CAN", expires=year),
            briefed_until=year,
            roles=[Role.ORIGINATOR],
        ),
    )
    node.close()
    token = cix("token", "issue", "--dir", str(data_dir), "--user", "olivia", "--ttl", "3600")
    rng = random.Random(1)
    for round_ in range(6):
        port = free_port()
        process = _serve(data_dir, port)
        stop = threading.Event()
        worker = threading.Thread(
            target=_uploads, args=(f"http://127.0.0.1:{port}", token.stdout.strip(), stop, round_)
        )
        worker.start()
        time.sleep(rng.uniform(0.5, 2.0))
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        stop.set()
        worker.join()
    # One more start: the server recovers (partial uploads, orphan blobs) before serving.
    process = _serve(data_dir, free_port())
    process.terminate()
    process.wait(timeout=30)
    node = Node.open(data_dir, environ=ENVIRON)
    try:
        with node.db.read() as session:
            rows = list(session.scalars(select(Document)))
        assert rows, "no upload completed in any round: the test proved nothing"
        actor = node.registry.actor_for("olivia")
        for row in rows:
            admission = node.opening.admit(actor, row.id)
            append_many(node.audit, admission.events)
            admission.recorded()

            class Digest:
                def __init__(self) -> None:
                    self.hash = hashlib.sha256()

                def write(self, data: bytes) -> int:
                    self.hash.update(data)
                    return len(data)

            sink = Digest()
            admission.write_to(sink)  # type: ignore[arg-type]
            assert sink.hash.hexdigest() == row.title
        assert {row.blob_hash for row in rows} == set(node.blobs.hashes())
        assert list((node.blobs.root / "tmp").iterdir()) == []
    finally:
        node.close()
    verified = cix("audit", "verify", "--dir", str(data_dir))
    assert verified.returncode == 0, verified.stderr
