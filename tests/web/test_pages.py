"""The web interface in-process: headers on every page, sessions, CSRF, banners, documents."""

from __future__ import annotations

import re

import httpx
import pytest

from cix.node.auditing import MemoryAuditSink
from tests.node_support import SQLITE_ONLY, Clock, events
from tests.web.conftest import WebClient

pytestmark = SQLITE_ONLY


def _document_id(response_location: str) -> str:
    found = re.fullmatch(r"/ui/documents/([0-9a-f]{32})", response_location)
    assert found, response_location
    return found.group(1)


def _banners(html: str) -> list[tuple[str, str]]:
    return re.findall(
        r'id="banner-(?:top|bottom)" class="banner banner-([a-z-]+)"[^>]*>([^<]*)<', html
    )


def test_every_page_carries_csp_no_store_and_nosniff(web: WebClient) -> None:
    pages = ["/ui/sign-in", "/ui/static/cix.css", "/ui/static/htmx.min.js", "/ui/nowhere"]
    for url in pages:
        _assert_guarded(web.get(url), url)
    web.sign_in("olivia")
    doc = _document_id(web.upload("Plan").headers["location"])
    for url in [
        "/ui/documents",
        "/ui/documents?q=Pl",
        "/ui/documents/new",
        f"/ui/documents/{doc}",
        f"/ui/documents/{doc}/content",
        f"/ui/documents/{doc}/view",
        f"/ui/documents/{'0' * 32}",
        "/ui/people",
        "/ui/people/olivia",
        "/ui/organisations",
        "/ui/programmes",
        "/ui/people/new",
        "/ui/organisations/new",
        "/ui/programmes/new",
        "/ui/memberships/new",
        "/ui/transmissions",
        "/ui/consents",
        f"/ui/documents/{doc}/transmit",
        f"/ui/documents/{doc}/destroy",
        "/ui/audit",  # refused to an originator: the refusal page is guarded too
    ]:
        _assert_guarded(web.get(url), url)
    _assert_guarded(web.post("/ui/sign-out"), "/ui/sign-out without a token")


def _assert_guarded(response: httpx.Response, url: str) -> None:
    headers = response.headers
    csp = headers.get("content-security-policy", "")
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'"):
        assert directive in csp, url
    for loophole in ("'unsafe-inline'", "'unsafe-eval'", "data:", "*"):
        assert loophole not in csp, url
    assert "frame-ancestors 'none'" in csp, url
    assert headers.get("cache-control") == "no-store", url
    assert headers.get("x-content-type-options") == "nosniff", url


def test_the_root_leads_to_the_web_interface_and_the_api_is_untouched(web: WebClient) -> None:
    assert web.get("/").headers["location"] == "/ui/"
    assert web.get("/ui").headers["location"] == "/ui/"
    assert web.get("/ui/").headers["location"] == "/ui/sign-in"
    assert web.get("/api/v1/health").status_code == 200
    assert web.get("/api/v1/documents").status_code == 401


def test_session_cookie_is_httponly_strict_and_scoped(web: WebClient) -> None:
    cookie = web.sign_in("olivia").headers["set-cookie"]
    assert "cix_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/ui" in cookie


def test_page_without_a_session_goes_to_sign_in(web: WebClient) -> None:
    response = web.get("/ui/documents")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/sign-in"
    htmx = web.get("/ui/documents", headers={"HX-Request": "true"})
    assert htmx.headers["hx-redirect"] == "/ui/sign-in"


def test_bad_credential_is_refused_and_begins_no_session(web: WebClient) -> None:
    web.get("/ui/sign-in")
    response = web.post("/ui/sign-in", data={"token": "not-a-token", "csrf": web.csrf})
    assert response.status_code == 401
    assert "was not accepted" in response.text
    assert web.get("/ui/documents").status_code == 303


def test_sign_in_forged_by_another_site_without_the_presession_token_is_refused(
    web: WebClient,
) -> None:
    # Login CSRF: another site posts its own credential to sign the victim in as someone else.
    response = web.post("/ui/sign-in", data={"token": web.token_for("olivia")})
    assert response.status_code == 403
    assert "cix_session" not in response.headers.get("set-cookie", "")


def test_state_change_without_the_csrf_token_is_refused(web: WebClient) -> None:
    web.sign_in("olivia")
    good = web.csrf
    assert web.post("/ui/sign-out").status_code == 403
    assert web.post("/ui/sign-out", data={"csrf": "wrong"}).status_code == 403
    web.csrf = ""
    assert web.upload("Smuggled").status_code == 403
    web.csrf = good
    page = web.get("/ui/documents")
    assert page.status_code == 200
    assert "Smuggled" not in page.text
    # htmx sends the token in a header; that is accepted.
    out = web.post("/ui/sign-out", headers={"X-CSRF-Token": good})
    assert out.status_code == 303
    assert out.headers["location"] == "/ui/sign-in"


def test_request_from_another_site_with_the_token_is_refused(web: WebClient) -> None:
    web.sign_in("olivia")
    response = web.post(
        "/ui/sign-out", data={"csrf": web.csrf}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403
    assert web.get("/ui/documents").status_code == 200


def _replay(web: WebClient, secret: str | None) -> int:
    """GET the documents with only this session cookie (the jar emptied first)."""
    web._client.cookies.clear()
    return web.get("/ui/documents", headers={"Cookie": f"cix_session={secret}"}).status_code


def test_sign_out_ends_the_session_on_the_server(web: WebClient) -> None:
    web.sign_in("olivia")
    secret = web._client.cookies.get("cix_session")
    csrf = web.csrf
    assert _replay(web, secret) == 200  # the replay works while the session lives
    web.post("/ui/sign-out", data={"csrf": csrf}, headers={"Cookie": f"cix_session={secret}"})
    assert _replay(web, secret) == 303


def test_session_ends_after_its_idle_timeout(web: WebClient, clock: Clock) -> None:
    web.sign_in("olivia")
    idle = web.node.settings.web_session_idle_seconds
    clock.advance(seconds=idle - 90)
    assert web.get("/ui/documents").status_code == 200  # a request restarts the idle time
    clock.advance(seconds=idle - 90)
    assert web.get("/ui/documents").status_code == 200
    clock.advance(seconds=idle + 1)
    assert web.get("/ui/documents").status_code == 303
    clock.advance(seconds=-(idle + 1))  # even back in time, the session is gone
    assert web.get("/ui/documents").status_code == 303


def test_session_ends_after_its_absolute_timeout_however_busy(web: WebClient, clock: Clock) -> None:
    web.sign_in("olivia", ttl=web.node.settings.token_max_ttl_seconds)
    absolute = web.node.settings.web_session_absolute_seconds
    busy = 0
    while busy + 600 < absolute:
        clock.advance(seconds=600)
        busy += 600
        assert web.get("/ui/people").status_code == 200
    clock.advance(seconds=absolute - busy)
    assert web.get("/ui/people").status_code == 303


def test_session_ends_with_the_credential_it_began_with(web: WebClient, clock: Clock) -> None:
    web.sign_in("olivia", ttl=120)
    clock.advance(seconds=121)
    assert web.get("/ui/documents").status_code == 303


def test_upload_lists_the_document_under_its_banner(web: WebClient, audit: MemoryAuditSink) -> None:
    web.sign_in("olivia")
    response = web.upload("Hull design", rel="KOR", level="kor-can:S")
    assert response.status_code == 303, response.text
    doc = _document_id(response.headers["location"])
    listing = web.get("/ui/documents")
    assert _banners(listing.text) == [("secret", "SECRET"), ("secret", "SECRET")]
    assert '(S//REL TO CAN, KOR)</span> <a href="/ui/documents/' + doc in listing.text
    page = web.get(f"/ui/documents/{doc}")
    assert _banners(page.text) == [("secret", "SECRET"), ("secret", "SECRET")]
    assert "MILITARY SECRET CLASS II" in page.text or "군사Ⅱ급비밀" in page.text
    # The node's own upload, audited as the API's: the create decision, then the register.
    created = [e for e in events(audit, "document") if e.object == f"document:{doc}"]
    actions = [(e.action, e.decision) for e in created]
    assert actions[:2] == [("create", "permit"), ("register", "permit")]


def test_htmx_search_swaps_the_banners_out_of_band(web: WebClient) -> None:
    web.sign_in("olivia")
    web.upload("Secret plan", level="can-national:S")
    web.upload("Confidential note", level="can-national:C")
    hit = web.get("/ui/documents?q=note", headers={"HX-Request": "true"})
    assert "<html" not in hit.text
    assert 'id="doc-table"' in hit.text
    assert 'id="banner-top" class="banner banner-confidential" role="note"' in hit.text
    assert 'hx-swap-oob="true"' in hit.text
    miss = web.get("/ui/documents?q=nothing", headers={"HX-Request": "true"})
    assert "banner-unclassified" in miss.text
    assert "UNCLASSIFIED" in miss.text


def test_french_markings_by_the_users_choice(web: WebClient) -> None:
    web.sign_in("olivia")
    web.upload("Plan")
    web.post("/ui/language", data={"csrf": web.csrf, "language": "fr"})
    page = web.get("/ui/documents")
    assert "COMMUNICABLE À CAN" in page.text
    assert 'lang="fr"' in page.text


def test_label_picker_offers_only_labels_the_user_may_create(web: WebClient) -> None:
    web.sign_in("olivia")  # cleared SECRET
    form = web.get("/ui/documents/new").text
    offered = set(re.findall(r'<option value="([a-z-]+:[A-Z]+)"', form))
    assert {"can-national:S", "can-national:C", "kor-can:S", "kor-can:C"} <= offered
    assert not any(value.endswith(":TS") for value in offered)
    refused = web.upload("Above me", level="can-national:TS")
    assert refused.status_code == 400
    assert "choose one of the levels offered" in refused.text
    # the form echoes the title, which may be as classified as the document (review)
    assert 'class="banner banner-top-secret"' in refused.text
    assert "Above me" not in web.get("/ui/documents").text


def test_reader_without_the_originator_role_is_offered_no_label(web: WebClient) -> None:
    web.sign_in("alice")
    assert "There is no label you may create" in web.get("/ui/documents/new").text


def test_download_is_an_audited_attachment(web: WebClient, audit: MemoryAuditSink) -> None:
    web.sign_in("olivia")
    doc = _document_id(web.upload("Plan", data=b"<html><script>x</script>").headers["location"])
    response = web.get(f"/ui/documents/{doc}/content")
    assert response.status_code == 200
    assert response.content == b"<html><script>x</script>"
    assert response.headers["content-disposition"] == "attachment"
    assert any(e.action == "read" and e.object == f"document:{doc}" for e in audit.events)


def test_refused_document_is_one_opaque_page(web: WebClient) -> None:
    web.sign_in("olivia")
    doc = _document_id(web.upload("Plan").headers["location"])
    web.post("/ui/sign-out", data={"csrf": web.csrf})
    web.sign_in("bob")  # no clearance
    page = web.get(f"/ui/documents/{doc}")
    assert page.status_code == 403
    assert "Plan" not in page.text
    assert "clearance" not in page.text.lower()
    assert web.get(f"/ui/documents/{doc}/content").status_code == 403


def test_web_upload_over_its_limit_is_refused(web: WebClient) -> None:
    web.sign_in("olivia")
    limit = web.node.settings.web_max_upload_bytes
    response = web.upload("Huge", data=b"x" * (limit + 1))
    assert response.status_code in (400, 413)
    assert "Huge" not in web.get("/ui/documents").text


@pytest.mark.parametrize(
    "path", ["/ui/people", "/ui/organisations", "/ui/programmes", "/ui/people/olivia"]
)
def test_registry_pages_show_the_registry(web: WebClient, path: str) -> None:
    web.sign_in("admin2")
    page = web.get(path)
    assert page.status_code == 200
    assert "<table" in page.text or "<dl>" in page.text


def test_signing_in_again_ends_the_previous_session(web: WebClient) -> None:
    web.sign_in("olivia")
    first = web._client.cookies.get("cix_session")
    web.sign_in("alice")
    second = web._client.cookies.get("cix_session")
    assert second != first
    assert _replay(web, second) == 200
    assert _replay(web, first) == 303


def test_list_filters_are_the_apis(web: WebClient) -> None:
    web.sign_in("olivia")
    web.upload("Hull trials", level="can-national:S")
    web.upload("Mess menu", level="can-national:C")
    confidential = web.get("/ui/documents", params={"classification": "CONFIDENTIAL"}).text
    assert "Mess menu" in confidential
    assert "Hull trials" not in confidential
    assert _banners(confidential)[0] == ("confidential", "CONFIDENTIAL")
    words = web.get("/ui/documents", params={"q": "TRIALS hull"}).text  # any order, any case
    assert "Hull trials" in words
    assert "Mess menu" not in words
    none = web.get("/ui/documents", params={"originator": "KOR"}).text
    assert "No documents match" in none
    assert web.get("/ui/documents", params={"since": "yesterday"}).status_code == 400
