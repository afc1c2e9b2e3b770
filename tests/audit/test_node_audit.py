"""The node's decisions on its real audit log: every decision is recorded whatever its size,
and the log's size is kept outside the log so that cutting its tail is caught."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio.from_thread
import pytest

from cix.audit import merkle, open_log
from cix.audit.entry import MAX_REASON_DETAIL
from cix.cli.main import run
from cix.node.roles import SYSTEM, Role
from cix.node.schemas import MembershipIn, PersonIn, PersonPatch, ProgrammeIn, RegistryClearance
from cix.node.service import Node, init_node
from cix.settings import load_settings
from tests.audit.conftest import sql
from tests.node_support import ENVIRON, T0, ApiClient, Clock, assert_problem, seed_people

YEAR = T0 + timedelta(days=365)


@pytest.fixture
def logged(tmp_path: Path) -> Iterator[ApiClient]:
    """An API client of a node that audits to its real tamper-evident log (SQLite)."""
    clock = Clock()
    data_dir = tmp_path / "node"
    init_node(
        data_dir, party="CAN", agreements=("kor-can",), admin="root", environ=ENVIRON, clock=clock
    )
    node = Node.open(data_dir, environ=ENVIRON, clock=clock)
    seed_people(node)
    secret = RegistryClearance(level="S", party="CAN", expires=YEAR)
    node.registry.create_person(
        SYSTEM,
        PersonIn(
            id="olivia",
            name="Olivia",
            organisation="dnd",
            nationalities=["CAN"],
            clearance=secret,
            briefed_until=YEAR,
            roles=[Role.ORIGINATOR],
        ),
    )
    node.registry.update_person(SYSTEM, "alice", PersonPatch(clearance=secret, briefed_until=YEAR))
    portal_cm: AbstractContextManager[Any] = anyio.from_thread.start_blocking_portal()
    try:
        with portal_cm as portal:
            client = ApiClient(node, portal)
            try:
                yield client
            finally:
                client.close()
    finally:
        node.close()  # idempotent: a test may close it first


def _programmes(node: Node, count: int, member: str) -> list[str]:
    ids = [f"P{i:02d}" + "X" * 27 for i in range(count)]  # 30 characters each
    for pid in ids:
        node.registry.create_programme(SYSTEM, ProgrammeIn(id=pid, title=pid, party="CAN"))
        membership = MembershipIn(
            person=member, programme=pid, valid_until=YEAR, justification="lead"
        )
        node.registry.grant_membership(SYSTEM, membership)
    return ids


def _label(programmes: list[str]) -> str:
    return json.dumps(
        {
            "policy": "can-national",
            "originator": "CAN",
            "classification": "S",
            "releasable_to": ["CAN"],
            "programmes": programmes,
            "caveats": [],
        }
    )


def _audit_entries(node: Node) -> list[dict[str, Any]]:
    log = node.audit.log  # type: ignore[attr-defined]
    return [e.to_json() for e in log.entries(0, log.size())]


def test_denial_with_long_reasons_is_audited(logged: ApiClient) -> None:
    node = logged.node
    programmes = _programmes(node, 8, "olivia")
    created = logged.as_("olivia").post(
        "/api/v1/documents",
        params={"label": _label(programmes), "title": "eight programmes"},
        content=b"payload",
        headers={"content-type": "text/plain"},
    )
    assert created.status_code == 201, created.text
    doc = created.json()["id"]
    before = len(_audit_entries(node))
    for path in (f"/api/v1/documents/{doc}", f"/api/v1/documents/{doc}/content"):
        assert_problem(logged.as_("alice").get(path), 403)
    denials = [e for e in _audit_entries(node)[before:] if e["decision"] == "deny"]
    assert len(denials) == 2
    for denial in denials:
        assert denial["actor"] == "alice"
        assert "programme-missing" in denial["reasons"]
        assert all(len(r) <= 64 for r in denial["reasons"])
        detail = denial["details"]["reason_details"]["programme-missing"]
        assert programmes[0] in detail


def test_create_with_the_most_programmes_is_refused_and_audited(logged: ApiClient) -> None:
    # The most programmes a label may carry (32, at parse time; 70 is a 400 naming the
    # field, see tests/labels/test_label_api.py), each 30 characters: ~1,000 characters of
    # reasons, four times the old 256-character field.
    node = logged.node
    # Someone else holds the programmes: the originator's refusal names all of them.
    programmes = _programmes(node, 32, "alice")
    before = len(_audit_entries(node))
    response = logged.as_("olivia").post(
        "/api/v1/documents",
        params={"label": _label(programmes), "title": "seventy"},
        content=b"payload",
        headers={"content-type": "text/plain"},
    )
    assert_problem(response, 403)
    denials = [e for e in _audit_entries(node)[before:] if e["decision"] == "deny"]
    assert [d["actor"] for d in denials] == ["olivia"]
    assert "programme-missing" in denials[0]["reasons"]
    detail = denials[0]["details"]["reason_details"]["programme-missing"]
    assert len(detail) <= MAX_REASON_DETAIL
    assert detail.startswith(programmes[0])


def _verify_dir(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["cix", "audit", "verify", "--dir", str(data_dir)])
    code = 0
    try:
        run()
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_tail_truncation_is_detected(
    logged: ApiClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    node = logged.node
    clock = node.clock
    assert isinstance(clock, Clock)
    for minute in range(3):  # a checkpoint a minute (the default interval): several signed
        clock.advance(seconds=61)
        node.registry.create_programme(
            SYSTEM, ProgrammeIn(id=f"LATE{minute}", title="late", party="CAN")
        )
    log = node.audit.log  # type: ignore[attr-defined]
    size = log.size()
    signed = log.latest_checkpoint()
    assert signed is not None
    assert signed.checkpoint.size == size
    data_dir = node.settings.data_dir
    node.close()
    assert _verify_dir(data_dir, monkeypatch, capsys)[0] == 0

    # The attack of issue 10 #6, on a copy of the data directory.
    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy)
    address = load_settings(copy).audit_log.reveal()
    cut = size - 2
    sql(address, "DELETE FROM audit_entries WHERE seq >= ?", [cut])
    sql(address, "DELETE FROM audit_checkpoints WHERE size > ?", [cut])
    sql(address, "DELETE FROM audit_nodes WHERE id >= ?", [merkle.storage_id(0, cut)])
    sql(address, "UPDATE audit_meta SET value = ? WHERE key = 'size'", [str(cut)])
    with open_log(address, create=False) as cut_log:
        cut_log.verify()  # self-consistent: the log alone cannot tell

    code, out = _verify_dir(copy, monkeypatch, capsys)
    assert code != 0
    assert (
        f"truncated: log has {cut} entries, node database recorded checkpoint of size {size}" in out
    )


def _cut_log(copy: Path, size: int, cut: int) -> None:
    address = load_settings(copy).audit_log.reveal()
    sql(address, "DELETE FROM audit_entries WHERE seq >= ?", [cut])
    sql(address, "DELETE FROM audit_checkpoints WHERE size > ?", [cut])
    sql(address, "DELETE FROM audit_nodes WHERE id >= ?", [merkle.storage_id(0, cut)])
    sql(address, "UPDATE audit_meta SET value = ? WHERE key = 'size'", [str(cut)])
    with open_log(address, create=False) as cut_log:
        cut_log.verify()


@pytest.mark.parametrize("evidence_attack", ["delete", "rewrite"])
def test_tail_truncation_with_the_evidence_row_removed_or_rewritten_is_detected(
    logged: ApiClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    evidence_attack: str,
) -> None:
    node = logged.node
    clock = node.clock
    assert isinstance(clock, Clock)
    for minute in range(3):
        clock.advance(seconds=61)
        node.registry.create_programme(
            SYSTEM, ProgrammeIn(id=f"LATE{minute}", title="late", party="CAN")
        )
    log = node.audit.log  # type: ignore[attr-defined]
    size = log.size()
    data_dir = node.settings.data_dir
    node.close()
    copy = tmp_path / "copy"
    shutil.copytree(data_dir, copy)
    cut = size - 2
    _cut_log(copy, size, cut)
    db_url = load_settings(copy).database_url.reveal()
    db_path = db_url.split("///", 1)[1]
    if evidence_attack == "delete":
        sql(db_path, "DELETE FROM log_evidence")
    else:
        with open_log(load_settings(copy).audit_log.reveal(), create=False) as cut_log:
            root = cut_log.root(cut).hex()
        sql(db_path, "UPDATE log_evidence SET size = ?, root = ?", [cut, root])
    code, out = _verify_dir(copy, monkeypatch, capsys)
    assert code == 1, f"cut log ({cut} of {size}) passes verify --dir: {out}"
