"""The in-page viewer: a text document shown as text under its banners, stamped, audited."""

from __future__ import annotations

from cix.node.auditing import MemoryAuditSink
from tests.node_support import SQLITE_ONLY
from tests.web.conftest import WebClient

pytestmark = SQLITE_ONLY


def test_text_document_is_shown_escaped_under_its_banner_stamped_with_the_reader(
    web: WebClient, audit: MemoryAuditSink
) -> None:
    web.sign_in("olivia")
    text = b"line one\r\n<script>alert(1)</script>\n\x1b[31mred\ttab\n"
    location = web.upload("Notes", data=text).headers["location"]
    doc = location.rsplit("/", 1)[1]
    page = web.get(f"/ui/documents/{doc}/view")
    assert page.status_code == 200, page.text
    assert 'class="banner banner-secret"' in page.text
    assert "line one\n&lt;script&gt;alert(1)&lt;/script&gt;\n\\u001b[31mred\ttab" in page.text
    assert "shown to <strong>olivia</strong>" in page.text
    assert "stamp-identity (subject olivia)" in page.text  # the obligation that asks for it
    assert page.headers["cache-control"] == "no-store"
    opened = [(e.type, e.action) for e in audit.events if e.object == f"document:{doc}"]
    assert ("key-access", "unwrap") in opened  # opened as a download is: decided, audited


def test_other_media_are_for_download(web: WebClient) -> None:
    web.sign_in("olivia")
    form = {"csrf": web.csrf, "title": "Picture", "level": "can-national:S"}
    location = web.post(
        "/ui/documents", data=form, files={"file": ("a.png", b"\x89PNG", "image/png")}
    ).headers["location"]
    page = web.get(f"{location}/view")
    assert page.status_code == 400
    assert "download this one" in page.text


def test_viewing_a_document_one_may_not_read_is_the_opaque_refusal(web: WebClient) -> None:
    web.sign_in("olivia")
    location = web.upload("Notes").headers["location"]
    web.sign_in("bob")
    page = web.get(f"{location}/view")
    assert page.status_code == 403
    assert "hello" not in page.text
