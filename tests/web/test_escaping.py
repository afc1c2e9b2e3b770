"""Injection through the pages: whatever a title, name or search holds is shown as text, and
no template carries inline script, inline style or an event handler."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape
from sqlalchemy import update

from cix.node.roles import SYSTEM, Role
from cix.node.schemas import OrganisationIn, PersonIn
from cix.store.models import Document
from cix.web.render import TEMPLATES, environment, printable
from tests.node_support import SQLITE_ONLY
from tests.web.conftest import WebClient

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(document.cookie)",
    "</title><style>body{display:none}</style>",
    "{{ 7*7 }} {% raw %}",
]


@SQLITE_ONLY
@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_title_is_shown_as_text(web: WebClient, hostile: str) -> None:
    web.sign_in("olivia")
    response = web.upload(hostile)
    assert response.status_code == 303, response.text
    shown = str(escape(hostile))
    for url in ("/ui/documents", response.headers["location"]):
        page = web.get(url).text
        assert shown in page  # the title, as text
        if shown != hostile:
            assert hostile not in page
        assert "<script>alert" not in page
        assert "<img" not in page
        assert "<style>" not in page
        assert 'href="javascript:' not in page
        assert "{{ 7*7 }}" in page or "{{" not in hostile  # never evaluated


@SQLITE_ONLY
def test_hostile_person_and_organisation_names_are_shown_as_text(web: WebClient) -> None:
    web.node.registry.create_organisation(
        SYSTEM,
        OrganisationIn(
            id="evil", name="<b onmouseover=x()>Evil</b>", kind="contractor", party="CAN"
        ),
    )
    web.node.registry.create_person(
        SYSTEM,
        PersonIn(
            id="mallory",
            name='<script>alert("m")</script> javascript:void(0)',
            organisation="evil",
            nationalities=["CAN"],
            roles=[Role.READER],
        ),
    )
    web.sign_in("admin2")
    for url in ("/ui/people", "/ui/people/mallory", "/ui/organisations"):
        page = web.get(url).text
        assert "<script>alert" not in page
        assert "<b onmouseover" not in page
        assert (
            "&lt;script&gt;alert(&#34;m&#34;)&lt;/script&gt;" in page or url == "/ui/organisations"
        )


@SQLITE_ONLY
def test_title_with_control_characters_is_refused_naming_the_field(web: WebClient) -> None:
    web.sign_in("olivia")
    response = web.upload("bell\x07 and escape\x1b[31m")
    assert response.status_code == 400
    assert "title: must not contain control characters" in response.text
    assert "\x1b" not in response.text


@SQLITE_ONLY
def test_stored_control_and_bidi_characters_are_shown_as_visible_escapes(web: WebClient) -> None:
    # A row written before titles were checked (or by another version): still only text.
    web.sign_in("olivia")
    location = web.upload("Plan").headers["location"]
    with web.node.db.write() as session:
        session.execute(update(Document).values(title="evil\x1b[2J\u202etxt.exe\x00"))
    page = web.get(location).text
    assert "\x1b" not in page
    assert "\u202e" not in page
    assert "\x00" not in page
    assert "evil\\u001b[2J\\u202etxt.exe\\u0000" in page


@SQLITE_ONLY
def test_search_with_control_characters_is_refused(web: WebClient) -> None:
    web.sign_in("olivia")
    response = web.get("/ui/documents", params={"q": "a\x1bb"})
    assert response.status_code == 422
    assert "not valid: q" in response.text
    assert "\x1b" not in response.text


def test_printable_escapes_what_a_reader_cannot_see() -> None:
    assert printable("a\tb\nc\x7f\u2028\u202e\u2066") == (
        "a\\u0009b\\u000ac\\u007f\\u2028\\u202e\\u2066"
    )
    assert printable("군사Ⅱ급비밀 TRÈS SECRET") == "군사Ⅱ급비밀 TRÈS SECRET"


def test_every_template_escapes_by_default() -> None:
    env = environment()
    assert env.autoescape is True
    rendered = env.from_string("{{ x }}").render(x="<script>")
    assert rendered == "&lt;script&gt;"


class _InlineFinder(HTMLParser):
    """Collects every inline script, inline style, event handler and script URL."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name.lower(): value or "" for name, value in attrs}
        if tag == "style":
            self.found.append("<style> element")
        if tag == "script":
            self._in_script = True
            if "src" not in names:
                self.found.append("<script> without src")
        for name, value in names.items():
            if name.startswith("on"):
                self.found.append(f"event handler {name}")
            if name == "style":
                self.found.append("style attribute")
            if name.startswith(("hx-on", "data-hx-on")):
                self.found.append(f"htmx inline handler {name}")
            if value.strip().lower().startswith(("javascript:", "data:", "js:")):
                self.found.append(f"script URL in {name}")
        if (
            tag == "link"
            and names.get("rel") == "stylesheet"
            and "{{ prefix }}" not in names.get("href", "")
        ):
            self.found.append("stylesheet from elsewhere")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append("inline script body")


TEMPLATE_FILES = sorted(TEMPLATES.glob("*.html"))


def test_there_are_templates_to_check() -> None:
    assert len(TEMPLATE_FILES) >= 10


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.name)
def test_template_has_no_inline_script_style_or_handler(path: Path) -> None:
    environment().get_template(path.name)  # it parses as a template
    finder = _InlineFinder()
    finder.feed(path.read_text(encoding="utf-8"))
    assert finder.found == [], f"{path.name}: {finder.found}"


def test_inline_finder_finds_what_it_looks_for() -> None:
    finder = _InlineFinder()
    finder.feed(
        '<script>x()</script><style>a{}</style><a href="javascript:x" onclick="y" style="z">'
        '<div hx-on:click="x">'
    )
    assert len(finder.found) == 7
