"""End to end with two real node processes on loopback ports: KOR's NSA officer drafts and
sends a request for visit while CAN is down; when CAN comes back it arrives exactly once;
CAN's NSA officer approves it with conditions and later revokes it; KOR holds each signed
answer; both audit logs show every step."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cix.agreements import bundled
from cix.agreements.calendar import earliest_first_day
from cix.node.service import Node
from cix.store.models import InboxMessage
from tests.federation.cast import actor
from tests.federation.two_nodes import ENV, Pair, audit_actions, make_pair
from tests.live_node import LiveNode

pytestmark = pytest.mark.timeout(300)


def _api(port: int, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{port}/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def _serve(pair: Pair, data_dir: Path, port: int) -> LiveNode:
    return LiveNode.start(
        data_dir,
        port=port,
        environ=pair.environ(
            CIX_FEDERATION_RETRY_SECONDS="1", CIX_FEDERATION_RETRY_MAX_SECONDS="2"
        ),
    )


def _officer_token(data_dir: Path) -> str:
    node = Node.open(data_dir, environ=ENV)
    try:
        token, _ = node.api_tokens.create(
            actor(node, "officer"), "test", ttl=3600, now=node.clock()
        )
        return token
    finally:
        node.close()


def _until(check: Callable[[], Any], seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.1)


def _state(client: httpx.Client, visit: str) -> str | None:
    shown = client.get(f"/visits/{visit}")
    return shown.json()["state"] if shown.status_code == 200 else None


def _visit_requests(data_dir: Path) -> int:
    node = Node.open(data_dir, environ=ENV, unlock=False)
    try:
        with node.db.read() as session:
            query = select(func.count()).select_from(InboxMessage)
            return int(session.scalar(query.where(InboxMessage.kind == "visit-request")) or 0)
    finally:
        node.close()


def test_visit_requested_through_an_outage_approved_and_revoked_between_live_nodes(
    tmp_path: Path,
) -> None:
    pair = make_pair(tmp_path)
    can_officer = _officer_token(pair.can_dir)
    # a day after the earliest first day CAN's calendar allows from now (margin for midnight)
    first = earliest_first_day(
        bundled("kor-can").calendar("CAN"), datetime.now(UTC) + timedelta(hours=1), 20
    ) + timedelta(days=1)
    draft = {
        "agreement": "kor-can",
        "kind": "one-time",
        "host_party": "CAN",
        "visitor": {
            "name": "Kim Min-jun",
            "date_of_birth": "1985-04-12",
            "place_of_birth": "Geoje",
            "nationality": "KOR",
            "passport_number": "M12345678",
            "job_title": "Hull structures engineer",
            "organisation": "Hanwha Ocean",
            "clearance_level": "II",
            "clearance_valid_until": (first + timedelta(days=365)).isoformat(),
        },
        "contract": "CPSP",
        "first_day": first.isoformat(),
        "last_day": (first + timedelta(days=4)).isoformat(),
        "purpose": "Hull section design review",
        "host_contact": "J. Tremblay",
        "facility": "Halifax Shipyard",
        "highest_level": "S",
    }
    kor = _serve(pair, pair.kor_dir, pair.kor_port)
    try:
        with _api(pair.kor_port, pair.kor_officer) as kor_api:
            made = kor_api.post("/visits", json=draft)
            assert made.status_code == 201, made.text
            visit = made.json()["id"]
            sent = kor_api.post(f"/visits/{visit}/send")
            assert sent.status_code == 200, sent.text
            time.sleep(2)  # CAN is down: the request waits in KOR's outbox
            can = _serve(pair, pair.can_dir, pair.can_port)
            try:
                with _api(pair.can_port, can_officer) as can_api:
                    assert _until(lambda: _state(can_api, visit), 60) == "sent"
                    approved = can_api.post(
                        f"/visits/{visit}/approve", json={"text": "escorted at all times"}
                    )
                    assert approved.status_code == 200, approved.text
                    _until(lambda: _state(kor_api, visit) == "approved", 60)
                    shown = kor_api.get(f"/visits/{visit}").json()
                    assert shown["conditions"] == "escorted at all times"
                    assert shown["answer"].count(".") == 2  # the host's compact JWS
                    revoked = can_api.post(f"/visits/{visit}/revoke", json={"text": "closed"})
                    assert revoked.status_code == 200, revoked.text
                    _until(lambda: _state(kor_api, visit) == "revoked", 60)
                    time.sleep(2)  # nothing more arrives
            finally:
                can.stop()
    finally:
        kor.stop()
    assert _visit_requests(pair.can_dir) == 1
    failed = [a for a in audit_actions(pair.kor_dir) if a[:3] == ("federation", "deliver", "deny")]
    assert failed, "the attempts while CAN was down are audited"
    kor_log = [a[:3] for a in audit_actions(pair.kor_dir) if a[0] == "visit"]
    can_log = [a[:3] for a in audit_actions(pair.can_dir) if a[0] == "visit"]
    assert kor_log == [
        ("visit", "draft", "permit"),
        ("visit", "send", "permit"),
        ("visit", "receive-approved", "permit"),
        ("visit", "receive-revoked", "permit"),
    ]
    assert can_log == [
        ("visit", "receive-request", "permit"),
        ("visit", "approve", "permit"),
        ("visit", "revoke", "permit"),
    ]
