"""`cix init`, `cix serve`, `cix token issue` as a person runs them (subprocesses)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cix.store import migrate
from tests.node_support import PASSPHRASE

CIX = [sys.executable, "-m", "cix.cli.main"]


def cix(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CIX, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "CIX_PASSPHRASE": PASSPHRASE, **(env or {})},
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_init_creates_a_node_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "can"
    result = cix("init", "--party", "CAN", "--dir", str(data_dir), "--agreement", "kor-can")
    assert result.returncode == 0, result.stderr
    assert "created node cix-can (CAN)" in result.stdout
    config = (data_dir / "cix.toml").read_text(encoding="utf-8")
    assert 'party = "CAN"' in config
    assert "kor-can" in config
    assert migrate.current(f"sqlite:///{data_dir / 'cix.db'}") == migrate.head()
    issuer_key = data_dir / "keys" / "token-issuer.key"
    assert issuer_key.stat().st_mode & 0o077 == 0
    assert "ENCRYPTED PRIVATE KEY" in issuer_key.read_text(encoding="utf-8")
    assert (data_dir / "blobs").is_dir()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--party", "Canada"], "party: 'Canada' does not match"),
        (["--party", "CAN", "--agreement", "Bad Id"], "agreements: 'Bad Id' does not match"),
        ([], "--party is required"),
    ],
)
def test_init_with_bad_input_exits_2_and_creates_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    data_dir = tmp_path / "node"
    result = cix("init", "--dir", str(data_dir), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not data_dir.exists()


def test_init_refuses_a_non_empty_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me", encoding="utf-8")
    result = cix("init", "--party", "CAN", "--dir", str(tmp_path))
    assert result.returncode == 2
    assert "not empty" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.txt"]


def test_init_upgrades_an_older_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "can"
    assert cix("init", "--party", "CAN", "--dir", str(data_dir)).returncode == 0
    # Make it an older node: its database at the first revision, with a registry row.
    url = f"sqlite:///{data_dir / 'cix.db'}"
    (data_dir / "cix.db").unlink()
    migrate.upgrade(url, "0001")
    import sqlite3

    with sqlite3.connect(data_dir / "cix.db") as conn:
        conn.execute(
            "INSERT INTO organisations VALUES "
            "('dnd', 'DND', 'government', 'CAN', NULL, NULL, NULL, "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        )
    stale = cix("token", "issue", "--dir", str(data_dir), "--user", "root")
    assert stale.returncode == 2
    assert "schema is at revision 0001" in stale.stderr
    upgraded = cix("init", "--dir", str(data_dir))
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from revision 0001 to 0003" in upgraded.stdout
    assert migrate.current(url) == "0003"
    with sqlite3.connect(data_dir / "cix.db") as conn:
        assert conn.execute("SELECT name FROM organisations").fetchall() == [("DND",)]
    again = cix("init", "--dir", str(data_dir), "--party", "KOR")
    assert again.returncode == 2
    assert "serves CAN, not KOR" in again.stderr


def test_token_issue_needs_the_passphrase(tmp_path: Path) -> None:
    # Whoever can mint a token can act as anyone: reading the data directory is not enough.
    data_dir = tmp_path / "can"
    assert cix("init", "--party", "CAN", "--dir", str(data_dir), "--admin", "root").returncode == 0
    result = cix(
        "token", "issue", "--dir", str(data_dir), "--user", "root", env={"CIX_PASSPHRASE": ""}
    )
    assert result.returncode == 2
    assert "CIX_PASSPHRASE" in result.stderr
    assert "eyJ" not in result.stdout


def test_token_issue_refuses_unknown_person(tmp_path: Path) -> None:
    data_dir = tmp_path / "can"
    assert cix("init", "--party", "CAN", "--dir", str(data_dir)).returncode == 0
    result = cix("token", "issue", "--dir", str(data_dir), "--user", "nobody")
    assert result.returncode == 2
    assert "no active person 'nobody'" in result.stderr


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[tuple[str, Path]]:
    """A real `cix serve` on a free loopback port, on the parametrised database."""
    data_dir = tmp_path / "can"
    init = ["init", "--party", "CAN", "--dir", str(data_dir), "--admin", "root"]
    if not database_url.startswith("sqlite"):
        init += ["--database-url", database_url]
    result = cix(*init)
    assert result.returncode == 0, result.stderr
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [*CIX, "serve", "--dir", str(data_dir), "--port", str(port), "--log-level", "warning"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "CIX_PASSPHRASE": PASSPHRASE},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "cix serve did not come up"
            time.sleep(0.2)
        yield base, data_dir
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_real_server_on_loopback(served: tuple[str, Path]) -> None:
    base, data_dir = served
    assert httpx.get(f"{base}/api/v1/organisations").status_code == 401
    issued = cix("token", "issue", "--dir", str(data_dir), "--user", "root", "--ttl", "300")
    assert issued.returncode == 0, issued.stderr
    headers = {"Authorization": f"Bearer {issued.stdout.strip()}"}
    org = {
        "id": "dnd",
        "name": "Department of National Defence",
        "kind": "government",
        "party": "CAN",
    }
    created = httpx.post(f"{base}/api/v1/organisations", json=org, headers=headers)
    assert created.status_code == 201, created.text
    listed = httpx.get(f"{base}/api/v1/organisations", headers=headers).json()["items"]
    assert {"can-node", "dnd"} == {o["id"] for o in listed}
    bad = httpx.post(f"{base}/api/v1/organisations", json={**org, "party": "xx"}, headers=headers)
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    from cix.audit import open_log
    from cix.settings import load_settings

    address = load_settings(data_dir, environ={}).audit_log.reveal()
    with open_log(address, create=False) as log:
        entries = log.tail(5)
    last = entries[-1].event
    assert (last.actor, last.object, last.decision) == ("root", "organisation:dnd", "permit")
    assert "credential.bearer-token" in [e.event.type for e in entries]
    verified = cix("audit", "verify", "--dir", str(data_dir))
    assert verified.returncode == 0, verified.stderr
    assert "intact" in verified.stdout


def test_second_server_on_the_same_node_is_refused(served: tuple[str, Path]) -> None:
    # The node's caches and its start-up recovery assume one serving process per node.
    base, data_dir = served
    second = cix("serve", "--dir", str(data_dir), "--port", str(free_port()))
    assert second.returncode == 2, second.stderr
    assert "another `cix serve`" in second.stderr
    assert httpx.get(f"{base}/api/v1/health", timeout=5).status_code == 200
