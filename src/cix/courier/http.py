"""`HttpTransport`: POSTs a message (and its document, streamed from the file) to a peer.

Timeouts bound every phase: connecting, each read and write (a stalled peer is given up
on, the delivery retried), and the whole exchange of one message is bounded by the
server's answer coming back. A document is streamed from its file in chunks (bounded
memory whatever its size), with its length declared up front. With `ssl_context` (the
peers helper builds one pinned to the peer's certificate), HTTPS is mutual TLS; the
message signature is required either way.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx

from cix.errors import PeerError

_CHUNK = 1 << 20
#: The largest answer read back (an answer is a signed JWS: small).
MAX_ANSWER = 1 << 20
_JOSE = "application/jose"
_MESSAGE_HEADER = "Cix-Message"


class CourierError(PeerError):
    """The peer could not be reached, or its answer did not come back in time or whole."""


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


class HttpTransport:
    """The `Transport` over HTTP(S) with httpx (see the module docstring)."""

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        io_timeout: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._client = httpx.Client(
            timeout=httpx.Timeout(io_timeout, connect=connect_timeout),
            follow_redirects=False,
            verify=ssl_context if ssl_context is not None else True,
            trust_env=False,  # no proxy from the environment between two nations' nodes
            headers={"User-Agent": "cix-courier"},
        )

    def send(self, url: str, path: str, token: str, body: Path | None) -> tuple[int, bytes]:
        """POST the message to `url` + `path`; the status and the answer's bytes."""
        target = url.rstrip("/") + path
        try:
            if body is None:
                request = self._client.build_request(
                    "POST",
                    target,
                    content=token.encode("ascii"),
                    headers={"Content-Type": _JOSE, "Accept": _JOSE},
                )
            else:
                request = self._client.build_request(
                    "POST",
                    target,
                    content=_file_chunks(body),
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Length": str(body.stat().st_size),
                        _MESSAGE_HEADER: token,
                        "Accept": _JOSE,
                    },
                )
            response = self._client.send(request, stream=True)
            try:
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > MAX_ANSWER:
                        raise CourierError(f"{target}: the answer is larger than {MAX_ANSWER}")
                return response.status_code, bytes(data)
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise CourierError(f"{target}: {type(exc).__name__}: {exc}"[:300]) from None
        except OSError as exc:  # the file could not be read (its own error, retried)
            raise CourierError(f"{target}: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Close the connections."""
        self._client.close()
