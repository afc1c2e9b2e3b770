"""Request size limits and the bounded failed-authentication limiter."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cix.api.problems import PROBLEM_JSON


class FailureLimiter:
    """Counts authentication failures per key in fixed windows, in bounded memory.

    A key is a client address or a credential's digest (`cix.api.auth`). At most
    `max_clients` keys are tracked; the least recently seen is forgotten first, so a flood of
    addresses or made-up credentials cannot exhaust memory (it can only make the limiter
    forget).
    """

    def __init__(self, limit: int, window: float, max_clients: int) -> None:
        self.limit = limit
        self.window = window
        self.max_clients = max_clients
        self._entries: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str, now: float) -> int | None:
        """Seconds the client must wait if it is over the limit, else None."""
        with self._lock:
            entry = self._entries.get(client)
            if entry is None:
                return None
            start, count = entry
            if now - start >= self.window:
                del self._entries[client]
                return None
            if count >= self.limit:
                return max(1, int(start + self.window - now + 0.999))
            return None

    def record_failure(self, client: str, now: float) -> bool:
        """Count one failure for `client`; True if this one reached the limit (the client is
        refused from now until the window passes)."""
        with self._lock:
            start, count = self._entries.pop(client, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            self._entries[client] = (start, count + 1)
            while len(self._entries) > self.max_clients:
                self._entries.popitem(last=False)
            return count + 1 == self.limit

    def __len__(self) -> int:
        return len(self._entries)


class BodyLimit:
    """ASGI middleware refusing request bodies over a limit with 413, before and while reading.

    `limit_for(scope)` gives the limit of each request (uploads get a larger one).
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[Scope], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, counting its body bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    await _reject(send, limit)
                    return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _reject(send, limit)


class _TooLarge(HTTPException):
    # An HTTPException, so that the framework's handlers answer 413 even where a body parser
    # would turn other exceptions into 400.
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


async def _reject(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Content Too Large",
            "status": 413,
            "detail": f"the request body is larger than {limit} bytes",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
