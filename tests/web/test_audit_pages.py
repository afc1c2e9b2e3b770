"""The audit explorer and a document's audit trail: read by auditors and NSA officers only."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from cix.node.audit_reading import TrailFilter
from cix.node.auditing import LogAuditSink
from cix.node.roles import SYSTEM, Role
from cix.node.schemas import OrganisationIn, PersonIn, RegistryClearance
from cix.node.service import Node, init_node
from tests.node_support import ENVIRON, SQLITE_ONLY, T0
from tests.web.conftest import WebClient

pytestmark = SQLITE_ONLY


def _cleared_auditor(web: WebClient) -> None:
    web.node.registry.create_person(
        SYSTEM,
        PersonIn(
            id="ada",
            name="Ada Auditor",
            organisation="dnd",
            nationalities=["CAN"],
            clearance=RegistryClearance(level="S", party="CAN", expires=T0 + timedelta(days=90)),
            briefed_until=T0 + timedelta(days=90),
            roles=[Role.AUDITOR],
        ),
    )


def test_auditor_browses_and_filters_the_log_under_the_top_banner(web: WebClient) -> None:
    _cleared_auditor(web)
    web.sign_in("olivia")
    web.upload("<script>alert('t')</script>")
    web.sign_in("alice")
    assert web.get("/ui/audit").status_code == 403  # a refusal, to filter for
    web.sign_in("ada")  # an auditor cleared for the document
    page = web.get("/ui/audit")
    assert page.status_code == 200
    assert 'class="banner banner-top-secret"' in page.text  # entries carry no label: top
    assert "<script>alert" not in page.text
    assert "\\u003cscript\\u003e" in page.text  # the title, in the details, as text
    web.sign_in("auditor")  # the role without a clearance: the entry, not its details
    uncleared = web.get("/ui/audit").text
    assert "\\u003cscript\\u003e" not in uncleared
    assert "about a document you may not read" in uncleared
    denied = web.get("/ui/audit", params={"decision": "deny"}).text
    rows = re.findall(r'<td class="decision-([a-z]+)">', denied)
    assert rows
    assert set(rows) == {"deny"}
    olivia = web.get("/ui/audit", params={"actor": "olivia", "type": "document"}).text
    assert "register" in olivia
    assert "sign-in" not in olivia


def test_reader_is_refused_the_audit_log_and_the_refusal_is_audited(web: WebClient) -> None:
    web.sign_in("alice")
    page = web.get("/ui/audit")
    assert page.status_code == 403
    assert "role required" in page.text
    refused = [e for e in web.node.audit.events if e.object == "audit-log"]  # type: ignore[attr-defined]
    assert [(e.actor, e.decision) for e in refused] == [("alice", "deny")]


def test_every_read_of_the_log_is_itself_audited(web: WebClient) -> None:
    web.sign_in("auditor")
    web.get("/ui/audit", params={"actor": "olivia"})
    reads = [e for e in web.node.audit.events if e.object == "audit-log"]  # type: ignore[attr-defined]
    assert len(reads) == 1
    assert reads[0].details["actor"] == "olivia"


def test_document_page_shows_its_audit_trail_to_a_cleared_auditor_only(web: WebClient) -> None:
    _cleared_auditor(web)
    web.sign_in("olivia")
    location = web.upload("Plan").headers["location"]
    doc = location.rsplit("/", 1)[1]
    own = web.get(location).text
    assert "Audit trail" not in own  # an originator is not an audit reader
    web.sign_in("ada")
    page = web.get(location).text
    assert "Audit trail" in page
    trail = page.split("Audit trail", 1)[1]
    assert f"document:{doc}" in trail
    assert "register" in trail


def test_control_characters_in_a_filter_are_refused(web: WebClient) -> None:
    web.sign_in("auditor")
    assert web.get("/ui/audit", params={"actor": "a\x1bb"}).status_code == 422


def test_audit_trail_reads_a_nodes_real_log(tmp_path: Path, database_url: str) -> None:

    data_dir = tmp_path / "node"
    init_node(data_dir, party="CAN", agreements=("kor-can",), admin="root",
              database_url=database_url, environ=ENVIRON)  # fmt: skip
    node = Node.open(data_dir, environ=ENVIRON)
    try:
        assert isinstance(node.audit, LogAuditSink)
        node.registry.create_organisation(
            SYSTEM, OrganisationIn(id="dnd", name="DND", kind="government", party="CAN")
        )
        node.audit.submit([]).result(timeout=10)  # what was queued is committed
        found = node.audit_trail.recent(SYSTEM, TrailFilter(object_contains="dnd"))
        assert found
        assert found[0].seq is not None
        assert all("dnd" in (e.object or "") for e in found)
        seqs = [e.seq or 0 for e in found]
        assert seqs == sorted(seqs, reverse=True)  # newest first
    finally:
        node.close()
