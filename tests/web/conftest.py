"""Fixtures of the web interface's tests: a node with a cast, and a browser-like client.

`web` talks to the node's whole application (`node_app`: the API with the web interface
mounted) in-process through httpx's ASGI transport, keeping cookies like a browser.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import anyio.from_thread
import httpx
import pytest

from cix.node.roles import SYSTEM, Role
from cix.node.schemas import PersonIn, RegistryClearance
from cix.node.service import Node
from cix.web.app import node_app
from tests.node_support import T0, audit, clock, database_url, node, seed_people

__all__ = ["audit", "clock", "database_url", "node", "web"]

YEAR = T0 + timedelta(days=365)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def seed_web_cast(node: Node) -> None:
    """The registry tests' cast and `olivia`, an originator cleared SECRET and briefed."""
    seed_people(node)
    node.registry.create_person(
        SYSTEM,
        PersonIn(
            id="olivia",
            name="Olivia Originator",
            organisation="dnd",
            nationalities=["CAN"],
            clearance=RegistryClearance(level="S", party="CAN", expires=YEAR),
            briefed_until=YEAR,
            roles=[Role.ORIGINATOR, Role.READER],
        ),
    )


class WebClient:
    """A blocking, cookie-keeping client of the node's whole app, in-process."""

    def __init__(self, node: Node, portal: Any) -> None:
        self.node = node
        self.app = node_app(node)
        self._portal = portal
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=("203.0.113.9", 4712)),
            base_url="http://node.test",
        )
        self.csrf = ""

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send one request (cookies kept); remember the page's CSRF token if it has one."""
        response: httpx.Response = self._portal.call(
            lambda: self._client.request(method, url, **kwargs)
        )
        found = (
            _CSRF.search(response.text)
            if "html" in response.headers.get("content-type", "")
            else None
        )
        if found:
            self.csrf = found.group(1)
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """GET."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """POST."""
        return self.request("POST", url, **kwargs)

    def token_for(self, person_id: str, ttl: int = 3600) -> str:
        """A bearer token for `person_id` from the node's built-in issuer."""
        assert self.node.issuer is not None
        return self.node.issuer.issue(person_id, ttl=ttl, now=self.node.clock())

    def sign_in(self, person_id: str, ttl: int = 3600) -> httpx.Response:
        """Sign in as `person_id` through the sign-in form; the response to the form."""
        self.get("/ui/sign-in")
        response = self.post(
            "/ui/sign-in", data={"token": self.token_for(person_id, ttl), "csrf": self.csrf}
        )
        assert response.status_code == 303, response.text
        self.get("/ui/documents")  # the session's CSRF token
        return response

    def upload(
        self, title: str, level: str = "can-national:S", data: bytes = b"hello", **fields: Any
    ) -> httpx.Response:
        """Upload through the form."""
        form = {"csrf": self.csrf, "title": title, "level": level, **fields}
        return self.post("/ui/documents", data=form, files={"file": ("a.txt", data, "text/plain")})

    def close(self) -> None:
        """Close the client."""
        self._portal.call(self._client.aclose)


@pytest.fixture
def web(node: Node) -> Iterator[WebClient]:
    """A browser-like client of `node`, with the cast seeded."""
    seed_web_cast(node)
    portal_cm: AbstractContextManager[Any] = anyio.from_thread.start_blocking_portal()
    with portal_cm as portal:
        client = WebClient(node, portal)
        try:
            yield client
        finally:
            client.close()
