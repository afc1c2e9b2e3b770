"""Destroy with confirmation and transmit, through the services the API calls."""

from __future__ import annotations

from cix.node.auditing import MemoryAuditSink
from tests.node_support import SQLITE_ONLY
from tests.web.conftest import WebClient

pytestmark = SQLITE_ONLY


def _upload(web: WebClient, level: str = "can-national:S", rel: str = "") -> str:
    response = web.upload("Plan", level=level, rel=rel) if rel else web.upload("Plan", level=level)
    location = response.headers["location"]
    return location.rsplit("/", 1)[1]


def test_destruction_needs_the_confirmation_then_leaves_the_register_entry(
    web: WebClient, audit: MemoryAuditSink
) -> None:
    web.sign_in("olivia")
    doc = _upload(web)
    web.get(f"/ui/documents/{doc}/destroy")
    unconfirmed = web.post(
        f"/ui/documents/{doc}/destroy", data={"csrf": web.csrf, "reason": "superseded"}
    )
    assert unconfirmed.status_code == 400
    assert "confirm" in unconfirmed.text
    assert web.get(f"/ui/documents/{doc}/content").status_code == 200  # still there
    done = web.post(
        f"/ui/documents/{doc}/destroy",
        data={"csrf": web.csrf, "reason": "superseded", "confirm": "yes"},
    )
    assert done.status_code == 303
    page = web.get(f"/ui/documents/{doc}")
    assert page.status_code == 200
    assert "Destroyed" in page.text
    assert "Download" not in page.text
    assert any(e.action == "destroy" and e.object == f"document:{doc}" for e in audit.events)


def test_destruction_without_a_reason_is_refused_naming_the_field(web: WebClient) -> None:
    web.sign_in("olivia")
    doc = _upload(web)
    web.get(f"/ui/documents/{doc}/destroy")
    response = web.post(
        f"/ui/documents/{doc}/destroy", data={"csrf": web.csrf, "reason": "", "confirm": "yes"}
    )
    assert response.status_code == 400
    assert "reason" in response.text


def test_destruction_without_the_csrf_token_is_refused(web: WebClient) -> None:
    web.sign_in("olivia")
    doc = _upload(web)
    response = web.post(f"/ui/documents/{doc}/destroy", data={"reason": "x", "confirm": "yes"})
    assert response.status_code == 403
    assert web.get(f"/ui/documents/{doc}/content").status_code == 200


def test_transmit_form_offers_only_the_nations_the_label_releases_to(web: WebClient) -> None:
    web.sign_in("olivia")
    national = _upload(web)
    assert (
        "releases this document to no other nation"
        in web.get(f"/ui/documents/{national}/transmit").text
    )
    shared = _upload(web, level="kor-can:S", rel="KOR")
    form = web.get(f"/ui/documents/{shared}/transmit").text
    assert '<option value="KOR">KOR</option>' in form
    bad = web.post(f"/ui/documents/{shared}/transmit", data={"csrf": web.csrf, "to": "kor"})
    assert bad.status_code == 400
    assert "to:" in bad.text


def test_transmissions_page_lists_this_nodes_transmissions(web: WebClient) -> None:
    web.sign_in("olivia")
    page = web.get("/ui/transmissions")
    assert page.status_code == 200
    assert "No transmissions" in page.text
    assert web.get("/ui/transmissions", params={"state": "bogus"}).status_code == 422
