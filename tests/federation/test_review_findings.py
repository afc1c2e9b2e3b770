"""Review findings (issue 12): attacks on the federation, one test each."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from cix.federation import Message
from cix.node.exchange.inbox import _same_content


def _token(claims: dict[str, object]) -> str:
    raw = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"e30.{raw}.sig"


def test_message_id_replayed_at_another_route_is_refused_as_reused() -> None:
    claims = {"iss": "a", "aud": "b", "url": "/federation/v1/messages", "iat": 1,
              "jti": "m1", "agreement": "ag", "kind": "transmission", "body": {"x": 1}}  # fmt: skip
    resent = Message(sender="a", audience="b", url="/federation/v1/documents",
                     issued_at=datetime.now(UTC), message_id="m1", agreement="ag",
                     kind="transmission", body={"x": 1}, token="")  # fmt: skip
    assert not _same_content(_token(claims), resent)
