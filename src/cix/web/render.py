"""Templates: one Jinja2 environment with autoescaping on, and the page renderer.

Every template extends `base.html`, which puts the page's classification banner at its top
and bottom. Autoescaping is on for every template (`select_autoescape` would leave it off
for names it does not recognise), so a title, a name or an audit detail is always text.
Control characters are shown as visible escapes (`printable`), never passed to the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse

from cix.labels import Label
from cix.web.marking import Marker, PageMarking

PREFIX = "/ui"
"""Where the web interface is mounted in the node's app."""
TEMPLATES = Path(__file__).with_name("templates")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(value: object) -> str:
    """`value` as text with control and bidirectional-override characters shown as
    `\\uXXXX` escapes: nothing a reader cannot see reaches the page."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", str(value))


_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable_text(value: object) -> str:
    """`printable` for a text of many lines: line breaks and tabs are kept."""
    text = str(value).replace("\r\n", "\n")
    return _TEXT_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def environment() -> Environment:
    """The template environment: autoescape everywhere, undefined names an error."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["printable"] = printable
    env.filters["printable_text"] = printable_text
    env.filters["when"] = _when
    env.globals["prefix"] = PREFIX
    return env


class Renderer:
    """Renders pages of one node under the banner of what they show."""

    def __init__(self, marker: Marker, node_name: str) -> None:
        self.env = environment()
        self.marker = marker
        self.node_name = node_name

    def page(
        self,
        request: Request,
        template: str,
        *,
        labels: Iterable[Label] = (),
        top: bool = False,
        status: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        """`template` rendered with `context`, under the banner of `labels`, as a full
        page, or as the fragment an htmx request asked for (`fragment` block of the
        template, with the banners swapped out of band to the fragment's level)."""
        user = getattr(request.state, "web_user", None)
        language = self.marker.language(user.session.language if user is not None else None)
        marking: PageMarking = (
            self.marker.top(language) if top else self.marker.page(labels, language)
        )
        values = {
            "user": user,
            "csrf": user.session.csrf_token if user is not None else context.pop("csrf", ""),
            "marking": marking,
            "language": language,
            "languages": self.marker.languages,
            "node_name": self.node_name,
            "mark": lambda label: self.marker.portion(label, language),
            "banner_of": lambda label: self.marker.banner(label, language),
            **context,
        }
        tmpl = self.env.get_template(template)
        if request.headers.get("hx-request") == "true" and "fragment" in tmpl.blocks:
            ctx = tmpl.new_context(values)
            body = "".join(tmpl.blocks["fragment"](ctx))
            body += self.env.get_template("_banners_oob.html").render(values)
        else:
            body = tmpl.render(values)
        return HTMLResponse(body, status_code=status)
