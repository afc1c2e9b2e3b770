"""`HttpTransport`: POSTs a message (and its document, streamed from the file) to a peer.

Timeouts bound every phase: connecting, each read and write (a stalled peer is given up
on, the delivery retried), and the whole exchange of one message is bounded by the
server's answer coming back. A document is streamed from its file in chunks (bounded
memory whatever its size), with its length declared up front. With `tls_for`, a peer
reached over HTTPS gets a client of its own whose TLS context presents this node's
certificate and trusts only the peer's pinned one (`cix.keys.peer_ssl_context`), and
every answer's handshake is checked to have presented exactly that certificate
(`check_peer_fingerprint`): mutual TLS. The message signature is required either way.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from cix.errors import PeerError
from cix.keys import PeerCertificateRefused, check_peer_fingerprint, peer_ssl_context

#: For a peer's base URL: the client TLS context pinned to its certificate and that
#: certificate's fingerprint, or None to use plain HTTP (or the system's trust) for it.
TlsFor = Callable[[str], tuple[ssl.SSLContext, str] | None]

_CHUNK = 1 << 20
#: The largest answer read back (an answer is a signed JWS: small).
MAX_ANSWER = 1 << 20
_JOSE = "application/jose"
_MESSAGE_HEADER = "Cix-Message"


class CourierError(PeerError):
    """The peer could not be reached, or its answer did not come back in time or whole."""


def pinned_tls(
    own_cert: Path, own_key: Path, lookup: Callable[[str], tuple[str, str] | None]
) -> TlsFor:
    """A `TlsFor` from `lookup(url)`: the pinned certificate (PEM) and fingerprint of the
    peer at that URL, or None; the context presents this node's certificate and key."""

    def tls_for(url: str) -> tuple[ssl.SSLContext, str] | None:
        found = lookup(url)
        if found is None:
            return None
        pem, fingerprint = found
        return peer_ssl_context(own_cert, own_key, fingerprint, peer_cert=pem), fingerprint

    return tls_for


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
        tls_for: TlsFor | None = None,
    ) -> None:
        self._timeout = httpx.Timeout(io_timeout, connect=connect_timeout)
        self._tls_for = tls_for
        self._plain = self._new_client(True)
        self._pinned: dict[str, tuple[httpx.Client, str]] = {}
        self._lock = threading.Lock()

    def _new_client(self, verify: ssl.SSLContext | bool) -> httpx.Client:
        return httpx.Client(
            timeout=self._timeout,
            follow_redirects=False,
            verify=verify,
            trust_env=False,  # no proxy from the environment between two nations' nodes
            headers={"User-Agent": "cix-courier"},
        )

    def _client_for(self, url: str) -> tuple[httpx.Client, str | None]:
        if self._tls_for is None or not url.startswith("https://"):
            return self._plain, None
        with self._lock:
            found = self._pinned.get(url)
            if found is None:
                pinned = self._tls_for(url)
                if pinned is None:
                    return self._plain, None
                found = self._pinned[url] = (self._new_client(pinned[0]), pinned[1])
            return found

    def send(self, url: str, path: str, token: str, body: Path | None) -> tuple[int, bytes]:
        """POST the message to `url` + `path`; the status and the answer's bytes."""
        target = url.rstrip("/") + path
        client, fingerprint = self._client_for(url)
        try:
            if body is None:
                request = client.build_request(
                    "POST",
                    target,
                    content=token.encode("ascii"),
                    headers={"Content-Type": _JOSE, "Accept": _JOSE},
                )
            else:
                request = client.build_request(
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
            response = client.send(request, stream=True)
            try:
                if fingerprint is not None:
                    stream = response.extensions["network_stream"]
                    check_peer_fingerprint(stream.get_extra_info("ssl_object"), fingerprint)
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > MAX_ANSWER:
                        raise CourierError(f"{target}: the answer is larger than {MAX_ANSWER}")
                return response.status_code, bytes(data)
            finally:
                response.close()
        except PeerCertificateRefused as exc:
            raise CourierError(f"{target}: {exc}") from None
        except httpx.HTTPError as exc:
            raise CourierError(f"{target}: {type(exc).__name__}: {exc}"[:300]) from None
        except OSError as exc:  # the file could not be read (its own error, retried)
            raise CourierError(f"{target}: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Close the connections."""
        self._plain.close()
        with self._lock:
            for client, _ in self._pinned.values():
                client.close()
            self._pinned.clear()
