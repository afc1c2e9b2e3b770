"""A database commit that fails after the action's audit group was appended: the log must
not be left claiming the effect (an upload registered, a document destroyed) unanswered."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.session import SessionTransaction

from cix.node.auditing import AuditRecord, MemoryAuditSink
from tests.api.test_documents_api import _cast
from tests.node_support import SQLITE_ONLY, ApiClient

_REAL_COMMIT = SessionTransaction.commit


def _fail_commits_once(
    monkeypatch: pytest.MonkeyPatch, audit: MemoryAuditSink, action: str
) -> None:
    """Make the commit fail while the audit holds a permit of `action` (a full disk)."""

    def commit(self: SessionTransaction, _to_root: bool = False) -> Any:
        if any(e.action == action and e.decision == "permit" for e in audit.events):
            monkeypatch.setattr(SessionTransaction, "commit", _REAL_COMMIT)
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"))
        return _REAL_COMMIT(self, _to_root)

    monkeypatch.setattr(SessionTransaction, "commit", commit)


def _compensated(events: list[AuditRecord], action: str) -> None:
    permits = [e for e in events if e.action == action and e.decision == "permit"]
    assert permits
    for permit in permits:
        later = events[events.index(permit) + 1 :]
        assert any(
            (e.object, e.action, e.decision, e.reasons)
            == (permit.object, action, "deny", ("not-committed",))
            for e in later
        ), f"{action} permit on {permit.object} left unanswered"


@SQLITE_ONLY
def test_failed_commit_of_an_upload_leaves_no_unanswered_register_permit(
    api: ApiClient, audit: MemoryAuditSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cast(api.node)
    _fail_commits_once(monkeypatch, audit, "register")
    answer = api.as_("olivia").post(
        "/api/v1/documents",
        params={"label": "SECRET//REL TO CAN", "title": "t"},
        content=b"x",
        headers={"content-type": "text/plain"},
    )
    assert answer.status_code == 503, answer.text
    assert api.as_("olivia").get("/api/v1/documents").json()["items"] == []
    _compensated(audit.events, "register")
    assert not list(api.node.blobs.hashes())  # and the sealed object is gone


@SQLITE_ONLY
def test_failed_commit_of_a_destruction_leaves_no_unanswered_destroy_permit(
    api: ApiClient, audit: MemoryAuditSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cast(api.node)
    created = api.as_("olivia").post(
        "/api/v1/documents",
        params={"label": "SECRET//REL TO CAN", "title": "t"},
        content=b"x",
        headers={"content-type": "text/plain"},
    )
    assert created.status_code == 201, created.text
    doc = created.json()["id"]
    _fail_commits_once(monkeypatch, audit, "destroyed")
    answer = api.as_("olivia").post(f"/api/v1/documents/{doc}/destroy", json={"reason": "end"})
    assert answer.status_code == 503, answer.text
    assert api.as_("olivia").get(f"/api/v1/documents/{doc}/content").status_code == 200
    _compensated(audit.events, "destroyed")
    _compensated(audit.events, "destroy")
