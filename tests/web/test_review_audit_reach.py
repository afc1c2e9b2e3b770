"""Security review: the audit explorer shows an auditor what the documents' own pages
refuse them.

A document's audit trail is on its page only for an audit reader who may read the document
(`test_document_page_shows_its_audit_trail_to_a_cleared_auditor_only`). The explorer
(`/ui/audit`) asks only for the auditor role: an auditor with no clearance at all filters
the log by `document:<id>` and reads the SECRET document's title (and who registered,
opened, transmitted it) — the page is marked at the top level, but nobody checks that its
reader is cleared to read it."""

from __future__ import annotations

from tests.node_support import SQLITE_ONLY
from tests.web.conftest import WebClient

pytestmark = SQLITE_ONLY


def test_audit_explorer_reveals_secret_titles_to_an_uncleared_auditor(web: WebClient) -> None:
    web.sign_in("olivia")
    location = web.upload("Operation Nightfall hull survey", level="can-national:S")
    doc = location.headers["location"].rsplit("/", 1)[1]
    web.sign_in("auditor")  # the auditor role, no clearance, no briefing
    assert web.get(f"/ui/documents/{doc}").status_code == 403  # the document: refused
    page = web.get("/ui/audit", params={"object": f"document:{doc}"})
    assert "Operation Nightfall" not in page.text
