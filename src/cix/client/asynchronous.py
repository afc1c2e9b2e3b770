"""`AsyncClient`: the SDK for asyncio (or trio) programs, call for call the same as `Client`.

    async with AsyncClient(url, token) as node:
        async for doc in node.documents.list(query="hull"):
            print(doc.id, doc.banner)

The requests and the reading of the answers are `Client`'s (`cix.client._calls`); only the
waiting differs. File reads and writes run in a worker thread, so a large upload or download
never blocks the event loop.
"""

from __future__ import annotations

import builtins
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self, TypeVar

import anyio
import anyio.to_thread
import httpx

from cix.client import _calls
from cix.client.errors import problem_of, unreachable
from cix.client.models import Consent, Document, Opened, Organisation, Person, Programme
from cix.client.models import Transmission as TransmissionModel
from cix.client.resolve import the_one, to_look_up

T = TypeVar("T")
Progress = Callable[[int], None]
"""Called with the number of bytes just sent or received."""
AsyncSource = Path | str | bytes | AsyncIterable[bytes]
"""What an upload reads: a file's path, the bytes, or chunks from an async iterable."""


class AsyncClient:
    """An asynchronous session with one node under one token (see `Client`)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.url + _calls.API_PREFIX,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout, connect=10.0),
            follow_redirects=False,
            transport=transport,
        )
        self.documents = AsyncDocuments(self)
        self.transmissions = AsyncTransmissions(self)
        self.consents = AsyncConsents(self)
        self.registry = AsyncRegistry(self)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncClient({self.url!r})"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def me(self) -> Person:
        """The caller's own registry entry."""
        return await self.call(_calls.me())

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request under the API prefix; a failure raises `NodeProblem`."""
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise unreachable(self.url, exc) from None
        if response.is_error:
            raise problem_of(response)
        return response

    @asynccontextmanager
    async def stream(self, method: str, path: str, **kwargs: Any) -> AsyncIterator[httpx.Response]:
        """A streamed request; the body of a successful answer is read by the caller."""
        try:
            async with self._http.stream(method, path, **kwargs) as response:
                if response.is_error:
                    await response.aread()
                    raise problem_of(response)
                yield response
        except httpx.HTTPError as exc:
            raise unreachable(self.url, exc) from None

    async def call(self, call: _calls.Call[T]) -> T:
        """Make `call`'s request and read its answer."""
        response = await self.request(
            call.method, call.path, params=list(call.params), json=call.json, headers=call.headers
        )
        return call.read(response.json())


class AsyncDocuments:
    """The documents on the node (see `cix.client.sync.Documents`)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def upload(
        self,
        source: AsyncSource,
        *,
        label: str,
        title: str | None = None,
        media_type: str | None = None,
        sources: Sequence[str] = (),
        progress: Progress | None = None,
    ) -> Document:
        """Seal `source` under `label` and register it (derived from `sources`, if given)."""
        path = Path(source) if isinstance(source, str | Path) else None
        if title is None:
            if path is None:
                raise TypeError("upload: give a title when the source is not a file path")
            title = path.name
        headers = {"Content-Type": _calls.media_type_of(path, media_type)}
        if path is not None:
            headers["Content-Length"] = str(path.stat().st_size)
        elif isinstance(source, bytes):
            headers["Content-Length"] = str(len(source))
        response = await self._client.request(
            "POST",
            _calls.DOCUMENTS,
            params=_calls.upload_params(label, title, sources),
            content=_chunks(source, progress),
            headers=headers,
        )
        return Document.of(response.json())

    async def get(self, doc_id: str) -> Document:
        """A document's register entry."""
        return await self._client.call(_calls.document(doc_id))

    async def list(
        self, query: str | None = None, *, page_size: int = 100, **filters: str
    ) -> AsyncIterator[Document]:
        """Every document the caller may read, newest first, pages fetched as needed;
        narrowed by title words and by `filters` (see `Documents.list`)."""
        cursor: str | None = None
        while True:
            items, cursor = await self.page(query, cursor=cursor, limit=page_size, **filters)
            for item in items:
                yield item
            if cursor is None:
                return

    async def page(
        self,
        query: str | None = None,
        *,
        cursor: str | None = None,
        limit: int = 100,
        **filters: str,
    ) -> tuple[builtins.list[Document], str | None]:
        """One page of `list` and the cursor of the next (None at the end)."""
        call = _calls.document_page(
            query=query, cursor=cursor, limit=limit, filters=_calls.Filters(**filters)
        )
        return await self._client.call(call)

    async def resolve(self, typed: str) -> str:
        """The id of the one readable document whose id is or starts with `typed`."""
        sent, look_up = to_look_up(typed)
        if not look_up:
            return sent
        items, _ = await self._client.call(
            _calls.document_page(query=None, cursor=None, limit=5, id_prefix=sent)
        )
        return the_one(sent, [d.id for d in items])

    @asynccontextmanager
    async def open(self, doc_id: str) -> AsyncIterator[tuple[Opened, AsyncIterator[bytes]]]:
        """Open a document; yields its obligations and the plaintext's chunks."""
        path = f"{_calls.DOCUMENTS}/{_calls.segment(doc_id)}/content"
        async with self._client.stream("GET", path) as response:
            length = response.headers.get("content-length")
            opened = Opened(
                obligations=_calls.obligations_of(response.headers),
                size=int(length) if length else None,
            )
            yield opened, response.aiter_bytes(_calls.CHUNK)

    async def read(self, doc_id: str) -> bytes:
        """A document's whole plaintext, in memory."""
        async with self.open(doc_id) as (_, chunks):
            return b"".join([chunk async for chunk in chunks])

    async def download(
        self,
        doc_id: str,
        to: Path | str,
        *,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> Opened:
        """Write a document's plaintext to `to` (mode 0600), complete or not at all."""
        target = Path(to)
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target}: exists (pass overwrite=True to replace it)")
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
        try:
            with os.fdopen(fd, "wb") as handle:
                async with self.open(doc_id) as (opened, chunks):
                    async for chunk in chunks:
                        await anyio.to_thread.run_sync(handle.write, chunk)
                        if progress is not None:
                            progress(len(chunk))
                await anyio.to_thread.run_sync(handle.flush)
                await anyio.to_thread.run_sync(os.fsync, handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return opened

    async def reproduce(self, doc_id: str, *, holder: str, reason: str) -> dict[str, Any]:
        """Account for a numbered copy held by `holder`."""
        return await self._client.call(_calls.reproduce(doc_id, holder, reason))

    async def destroy(self, doc_id: str, *, reason: str) -> dict[str, Any]:
        """Destroy a document; returns the signed destruction certificate."""
        return await self._client.call(_calls.destroy(doc_id, reason))

    async def certificate(self, doc_id: str) -> dict[str, Any]:
        """A destroyed document's signed destruction certificate."""
        return await self._client.call(_calls.certificate(doc_id))

    async def transmit(
        self,
        doc_id: str,
        *,
        to: str,
        purpose: str | None = None,
        consent: str | None = None,
        wait: float = 0,
    ) -> TransmissionModel:
        """Transmit a document to party `to`'s node; with `wait`, wait for the receipt."""
        sent = await self._client.call(_calls.transmit(doc_id, to, purpose, consent))
        return await self._client.transmissions.wait(sent.id, wait) if wait else sent


class AsyncTransmissions:
    """Documents this node transmitted to other parties' nodes."""

    POLL = 0.2

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self, state: str | None = None) -> builtins.list[TransmissionModel]:
        """This node's transmissions, newest first."""
        return await self._client.call(_calls.transmissions(state))

    async def get(self, transmission_id: str) -> TransmissionModel:
        """One transmission, with its state."""
        return await self._client.call(_calls.transmission(transmission_id))

    async def wait(self, transmission_id: str, timeout: float) -> TransmissionModel:
        """The transmission once receipted or refused, or as it stands after `timeout` s."""
        with anyio.move_on_after(timeout):
            while (item := await self.get(transmission_id)).state in ("queued", "sent"):
                await anyio.sleep(self.POLL)
            return item
        return await self.get(transmission_id)


class AsyncConsents:
    """Requests for an originator's consent."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self, state: str | None = None) -> builtins.list[Consent]:
        """The consents visible to the caller, newest first."""
        return await self._client.call(_calls.consents(state))


class AsyncRegistry:
    """The node's registry, as the caller may see it."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def people(self, organisation: str | None = None) -> builtins.list[Person]:
        """The people the caller may see."""
        return await self._client.call(_calls.people(organisation))

    async def organisations(self) -> builtins.list[Organisation]:
        """Every organisation."""
        return await self._client.call(_calls.organisations())

    async def programmes(self) -> builtins.list[Programme]:
        """Every programme."""
        return await self._client.call(_calls.programmes())

    async def person(self, person_id: str) -> Person:
        """One person's entry."""
        return await self._client.call(_calls.person(person_id))

    async def update_person(self, person_id: str, **changes: Any) -> Person:
        """Change the fields given (see `Registry.update_person`)."""
        return await self._client.call(_calls.update_person(person_id, changes))

    async def organisation(self, org_id: str) -> Organisation:
        """One organisation's entry."""
        return await self._client.call(_calls.organisation(org_id))

    async def update_organisation(self, org_id: str, **changes: Any) -> Organisation:
        """Change the fields given (see `Registry.update_organisation`)."""
        return await self._client.call(_calls.update_organisation(org_id, changes))

    async def programme(self, programme_id: str) -> Programme:
        """One programme."""
        return await self._client.call(_calls.programme(programme_id))

    async def revoke_membership(self, membership_id: int, *, reason: str) -> dict[str, Any]:
        """Revoke a programme membership now."""
        return await self._client.call(_calls.revoke_membership(membership_id, reason))


async def _chunks(source: AsyncSource, progress: Progress | None) -> AsyncIterator[bytes]:
    def counted(chunk: bytes) -> bytes:
        if progress is not None:
            progress(len(chunk))
        return chunk

    if isinstance(source, str | Path):
        with Path(source).open("rb") as handle:
            while chunk := await anyio.to_thread.run_sync(handle.read, _calls.CHUNK):
                yield counted(chunk)
    elif isinstance(source, bytes):
        for start in range(0, len(source), _calls.CHUNK):
            yield counted(source[start : start + _calls.CHUNK])
    else:
        async for chunk in source:
            yield counted(chunk)
