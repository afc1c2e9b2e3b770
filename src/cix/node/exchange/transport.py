"""How a node's messages reach a peer: the `Transport` protocol the courier implements
(`cix.courier`, over HTTPS), and the in-process simulator of the tests.

A transport only moves bytes: it neither signs nor verifies. The delivery worker signs
each attempt and verifies the answer, so a transport that lies can delay a message, never
make it count as delivered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from cix.errors import PeerError

MESSAGES_PATH = "/federation/v1/messages"
"""The route of a message without a document (body: the compact JWS)."""
DOCUMENTS_PATH = "/federation/v1/documents"
"""The route of a message with a document (header `Cix-Message`, body: the sealed object)."""
ADD_CHECKPOINT_PATH = "/federation/v1/add-checkpoint"
"""The route of a "checkpoint" message: a tlog-witness `add-checkpoint` request, signed."""
MESSAGE_HEADER = "Cix-Message"
"""The header carrying the JWS of a message whose body is a document."""
JOSE = "application/jose"
"""The media type of a compact JWS (RFC 7515 §9.2.1): every message and every answer."""


class PeerUnreachable(PeerError):
    """The peer could not be reached, or did not answer in time (the attempt is retried)."""


class Transport(Protocol):
    """Sends one message to a peer and returns its HTTP answer."""

    def send(self, url: str, path: str, token: str, body: Path | None) -> tuple[int, bytes]:
        """POST `token` (and the file `body`, streamed, if given) to `path` under the
        peer's base `url`; return the status and the answer's bytes. Raises
        `PeerUnreachable` (a `PeerError`) when no answer came back."""
        ...
