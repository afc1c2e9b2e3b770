"""End to end with two real node processes on loopback ports: KOR transmits a document to
CAN over HTTP, CAN registers the copy and answers the signed receipt, KOR stores it, and a
cleared CPSP member at CAN opens the copy; with CAN down at first, the document is
delivered exactly once when it comes back."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cix.node.service import Node
from cix.store.models import InboxMessage, ReceivedCopy
from tests.federation.two_nodes import (
    DATA,
    ENV,
    Pair,
    audit_actions,
    make_pair,
    transmission_state,
    transmit_now,
)
from tests.live_node import LiveNode, node_environ

pytestmark = pytest.mark.timeout(300)


def _api(port: int, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{port}/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def _wait_for_state(client: httpx.Client, transmission: str, want: str, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        shown = client.get(f"/transmissions/{transmission}")
        assert shown.status_code == 200, shown.text
        if shown.json()["state"] == want:
            return shown.json()
        if time.monotonic() > deadline:
            raise AssertionError(f"still {shown.json()['state']} after {seconds} s")
        time.sleep(0.1)


def _copies(data_dir: Path) -> tuple[int, int]:
    node = Node.open(data_dir, environ=ENV, unlock=False)
    try:
        with node.db.read() as session:
            copies = session.scalar(select(func.count()).select_from(ReceivedCopy)) or 0
            # The transmissions received (checkpoint exchanges are messages of their own).
            messages = (
                session.scalar(
                    select(func.count())
                    .select_from(InboxMessage)
                    .where(InboxMessage.kind == "transmission")
                )
                or 0
            )
            return int(copies), int(messages)
    finally:
        node.close()


def _serve(pair: Pair, data_dir: Path, port: int) -> LiveNode:
    return LiveNode.start(
        data_dir,
        port=port,
        environ=pair.environ(
            CIX_FEDERATION_RETRY_SECONDS="1", CIX_FEDERATION_RETRY_MAX_SECONDS="2"
        ),
    )


def test_a_document_crosses_from_kor_to_can_with_its_receipt(tmp_path: Path) -> None:
    pair = make_pair(tmp_path)
    kor = _serve(pair, pair.kor_dir, pair.kor_port)
    try:
        can = _serve(pair, pair.can_dir, pair.can_port)
        try:
            with _api(pair.kor_port, pair.kor_officer) as officer:
                sent = officer.post(f"/documents/{pair.document}/transmit", json={"to": "CAN"})
                assert sent.status_code == 202, sent.text
                transmission = sent.json()["id"]
                receipted = _wait_for_state(officer, transmission, "receipted", 60)
                assert receipted["receipted_at"] is not None
                listed = officer.get("/transmissions", params={"state": "receipted"}).json()
                assert [t["id"] for t in listed["items"]] == [transmission]
            with _api(pair.can_port, pair.can_reader) as reader:
                page = reader.get("/documents").json()
                assert len(page["items"]) == 1
                copy = page["items"][0]
                assert copy["label"]["originator"] == "KOR"
                opened = reader.get(f"/documents/{copy['id']}/content")
                assert opened.status_code == 200, opened.text
                assert opened.content == DATA
            with _api(pair.can_port, pair.can_outsider) as outsider:
                assert outsider.get(f"/documents/{copy['id']}/content").status_code == 403
        finally:
            can.stop()
    finally:
        kor.stop()
    assert _copies(pair.can_dir) == (1, 1)
    kor_log = audit_actions(pair.kor_dir)
    can_log = audit_actions(pair.can_dir)
    assert ("document", "transmit", "permit", ()) in kor_log
    assert ("federation", "deliver", "permit", ()) in kor_log
    assert ("document", "receipt", "permit", ()) in kor_log
    assert ("federation", "receive", "permit", ()) in can_log
    assert ("document", "receive", "permit", ()) in can_log
    assert ("document", "read", "permit", ()) in can_log


def _cix(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cix.cli.main", *args],
        env=node_environ(CIX_CLIENT_CONFIG=str(config), COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_peer_down_during_transmission_is_delivered_exactly_once_when_it_returns(
    tmp_path: Path,
) -> None:
    pair = make_pair(tmp_path)
    config = tmp_path / "client.toml"
    kor = _serve(pair, pair.kor_dir, pair.kor_port)
    try:
        url = f"http://127.0.0.1:{pair.kor_port}"
        login = _cix(config, "login", "--url", url, "--token", pair.kor_officer)
        assert login.returncode == 0, login.stderr
        # CAN is down: no receipt within the wait (exit 3), the transmission stays queued
        sent = _cix(config, "docs", "transmit", pair.document, "--to", "CAN", "--wait", "2")
        assert sent.returncode == 3, sent.stdout + sent.stderr
        assert "no receipt within 2 s" in sent.stderr
        queued = _cix(config, "transmissions", "list", "--json", "--state", "queued")
        assert queued.returncode == 0, queued.stderr
        items = json.loads(queued.stdout)["items"]
        assert len(items) == 1
        transmission = items[0]["id"]
        can = _serve(pair, pair.can_dir, pair.can_port)
        try:
            with _api(pair.kor_port, pair.kor_officer) as officer:
                _wait_for_state(officer, transmission, "receipted", 60)
            time.sleep(3)  # nothing more is sent
            listed = _cix(config, "transmissions", "list", "--json", "--state", "receipted")
            assert [t["id"] for t in json.loads(listed.stdout)["items"]] == [transmission]
            table = _cix(config, "transmissions", "list")
            assert "receipted" in table.stdout
        finally:
            can.stop()
    finally:
        kor.stop()
    assert _copies(pair.can_dir) == (1, 1)
    kor_log = audit_actions(pair.kor_dir)
    failed = [a for a in kor_log if a[:3] == ("federation", "deliver", "deny")]
    delivered = [a for a in kor_log if a[:3] == ("federation", "deliver", "permit")]
    assert failed, "the attempts while CAN was down are audited"
    assert len(delivered) == 1


def _serve_mtls(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    log = data_dir.parent / f"serve-{data_dir.name}.log"
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "cix.cli.main", "serve", "--dir", str(data_dir),
             "--port", str(port), "--log-level", "warning"],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=node_environ(CIX_FEDERATION_MTLS="true", CIX_FEDERATION_RETRY_MAX_SECONDS="2"),
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while "serving on https://" not in log.read_text(errors="replace"):
        assert process.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, "cix serve did not come up"
        time.sleep(0.1)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_a_document_crosses_over_mutual_tls_with_the_pinned_certificates(
    tmp_path: Path,
) -> None:
    pair = make_pair(tmp_path, tls=True)
    transmission = transmit_now(pair.kor_dir, pair.document)
    can = _serve_mtls(pair.can_dir, pair.can_port)
    try:
        kor = _serve_mtls(pair.kor_dir, pair.kor_port)
        try:
            deadline = time.monotonic() + 60
            while transmission_state(pair.kor_dir, transmission) != "receipted":
                assert time.monotonic() < deadline, "no receipt over mutual TLS"
                time.sleep(0.2)
        finally:
            _stop(kor)
    finally:
        _stop(can)
    assert _copies(pair.can_dir) == (1, 1)
