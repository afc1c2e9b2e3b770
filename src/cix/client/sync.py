"""`Client`: the synchronous SDK over a national node's REST API.

    from cix.client import Client

    with Client("https://can.example:8740", token) as node:
        doc = node.documents.upload("report.pdf", label="SECRET//CPSP//REL TO CAN, KOR")
        for listed in node.documents.list(query="hull"):
            print(listed.id, listed.banner, listed.title)
        node.documents.download(doc.id, "copy.pdf")

Every call is one request the node decides on and audits, exactly as the same call from the
command line (which is built on this client). A failure raises a `NodeProblem`: a
`NodeRejected` (an `InputError`) for a request the node found wrong, `NodeRefused` (an
`AccessDenied`) for a refusal, `NodeFailed` (a `PeerError`) when the node failed or could
not be reached.
"""

from __future__ import annotations

import builtins
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Self, TypeVar

import httpx

from cix.client import _calls
from cix.client.errors import problem_of, unreachable
from cix.client.models import Consent, Document, Opened, Organisation, Person, Programme
from cix.client.models import Transmission as TransmissionModel
from cix.client.resolve import the_one, to_look_up

T = TypeVar("T")
Progress = Callable[[int], None]
"""Called with the number of bytes just sent or received (for a progress bar)."""
Source = Path | str | bytes | IO[bytes] | Iterable[bytes]
"""What an upload reads: a file's path, the bytes, an open binary file, or chunks."""


class Client:
    """A session with one node under one API token (`cix_…`) or bearer token.

    Use it as a context manager, or call `close()`; it holds a connection pool.
    `transport` replaces the network (e.g. `httpx.MockTransport`, or an ASGI app's).
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url + _calls.API_PREFIX,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout, connect=10.0),
            follow_redirects=False,
            transport=transport,
        )
        self.documents = Documents(self)
        self.transmissions = Transmissions(self)
        self.consents = Consents(self)
        self.registry = Registry(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"  # never the token

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def me(self) -> Person:
        """The caller's own registry entry."""
        return self.call(_calls.me())

    # The request layer: every method above and below ends here.

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request under the API prefix; a non-2xx answer or a transport failure raises
        `NodeProblem`."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise unreachable(self.url, exc) from None
        if response.is_error:
            raise problem_of(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request whose successful answer is JSON."""
        return self.request(method, path, **kwargs).json()

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed request; the body of a successful answer is read by the caller."""
        try:
            with self._http.stream(method, path, **kwargs) as response:
                if response.is_error:
                    response.read()
                    raise problem_of(response)
                yield response
        except httpx.HTTPError as exc:
            raise unreachable(self.url, exc) from None

    def call(self, call: _calls.Call[T]) -> T:
        """Make `call`'s request and read its answer."""
        body = self.json(
            call.method, call.path, params=list(call.params), json=call.json, headers=call.headers
        )
        return call.read(body)


class Documents:
    """The documents on the node: upload, list, open, derive, destroy, transmit."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def upload(
        self,
        source: Source,
        *,
        label: str,
        title: str | None = None,
        media_type: str | None = None,
        sources: Sequence[str] = (),
        progress: Progress | None = None,
    ) -> Document:
        """Seal `source` under `label` (a banner or the label's JSON) and register it; with
        `sources`, as a document derived from them (its label must dominate theirs). The
        content streams: a file is never held in memory."""
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
        response = self._client.request(
            "POST",
            _calls.DOCUMENTS,
            params=_calls.upload_params(label, title, sources),
            content=_chunks(source, progress),
            headers=headers,
        )
        return Document.of(response.json())

    def get(self, doc_id: str) -> Document:
        """A document's register entry (a destroyed one's too, to those entitled)."""
        return self._client.call(_calls.document(doc_id))

    def list(
        self, query: str | None = None, *, page_size: int = 100, **filters: str
    ) -> Iterator[Document]:
        """Every document the caller may read, newest first, whose title holds every word of
        `query` (any order, case or accents), narrowed by `filters`: `classification` (a
        level's code or name; its equivalents match), `programme`, `originator` (a party),
        `since` and `until` (ISO dates, inclusive, or times with a zone), `received_from`
        (a node id or party). Pages are fetched as the iteration needs them."""
        cursor: str | None = None
        while True:
            items, cursor = self.page(query, cursor=cursor, limit=page_size, **filters)
            yield from items
            if cursor is None:
                return

    def page(
        self,
        query: str | None = None,
        *,
        cursor: str | None = None,
        limit: int = 100,
        **filters: str,
    ) -> tuple[builtins.list[Document], str | None]:
        """One page of `list` and the cursor of the next (None at the end). A page may be
        short, even empty, and still have a next: the node bounds the work of one call."""
        call = _calls.document_page(
            query=query, cursor=cursor, limit=limit, filters=_calls.Filters(**filters)
        )
        return self._client.call(call)

    def resolve(self, typed: str) -> str:
        """The id of the one document the caller may read whose id is or starts with `typed`
        (`NodeRejected`-like `InputError` if none or several)."""
        sent, look_up = to_look_up(typed)
        if not look_up:
            return sent
        items, _ = self._client.call(
            _calls.document_page(query=None, cursor=None, limit=5, id_prefix=sent)
        )
        return the_one(sent, [d.id for d in items])

    @contextmanager
    def open(self, doc_id: str) -> Iterator[tuple[Opened, Iterator[bytes]]]:
        """Open a document: the node decides, unwraps the key and streams the plaintext.
        Yields what the open obliges (the reader's marking and identity) and the chunks."""
        path = f"{_calls.DOCUMENTS}/{_calls.segment(doc_id)}/content"
        with self._client.stream("GET", path) as response:
            length = response.headers.get("content-length")
            opened = Opened(
                obligations=_calls.obligations_of(response.headers),
                size=int(length) if length else None,
            )
            yield opened, response.iter_bytes(_calls.CHUNK)

    def read(self, doc_id: str) -> bytes:
        """A document's whole plaintext, in memory (small documents; else `download`)."""
        with self.open(doc_id) as (_, chunks):
            return b"".join(chunks)

    def download(
        self,
        doc_id: str,
        to: Path | str,
        *,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> Opened:
        """Write a document's plaintext to `to` (mode 0600), complete or not at all: a
        refused or interrupted open leaves no file. An existing file is kept unless
        `overwrite`."""
        target = Path(to)
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target}: exists (pass overwrite=True to replace it)")
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
        try:
            with os.fdopen(fd, "wb") as handle, self.open(doc_id) as (opened, chunks):
                for chunk in chunks:
                    handle.write(chunk)
                    if progress is not None:
                        progress(len(chunk))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return opened

    def reproduce(self, doc_id: str, *, holder: str, reason: str) -> dict[str, Any]:
        """Account for a numbered copy held by `holder` (who must be entitled to it)."""
        return self._client.call(_calls.reproduce(doc_id, holder, reason))

    def destroy(self, doc_id: str, *, reason: str) -> dict[str, Any]:
        """Destroy a document (its sealed object and keys are erased); returns the signed
        destruction certificate."""
        return self._client.call(_calls.destroy(doc_id, reason))

    def certificate(self, doc_id: str) -> dict[str, Any]:
        """A destroyed document's signed destruction certificate."""
        return self._client.call(_calls.certificate(doc_id))

    def reclassify(self, doc_id: str, *, label: str, reason: str) -> dict[str, Any]:
        """Change the classification of a document this node originated; every node holding
        a copy is sent the signed notice."""
        return self._client.call(_calls.reclassify(doc_id, label, reason))

    def history(self, doc_id: str) -> builtins.list[dict[str, Any]]:
        """A document's classification changes, oldest first."""
        return self._client.call(_calls.label_history(doc_id))

    def transmit(
        self,
        doc_id: str,
        *,
        to: str,
        purpose: str | None = None,
        consent: str | None = None,
        wait: float = 0,
    ) -> TransmissionModel:
        """Transmit a document to party `to`'s node; with `wait`, up to that many seconds
        for the receipt (or the refusal). The transmission is returned in its last state."""
        sent = self._client.call(_calls.transmit(doc_id, to, purpose, consent))
        return self._client.transmissions.wait(sent.id, wait) if wait else sent


class Transmissions:
    """Documents this node transmitted to other parties' nodes."""

    POLL = 0.2

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self, state: str | None = None) -> list[TransmissionModel]:
        """This node's transmissions, newest first (only those in `state`, if given)."""
        return self._client.call(_calls.transmissions(state))

    def get(self, transmission_id: str) -> TransmissionModel:
        """One transmission, with its state."""
        return self._client.call(_calls.transmission(transmission_id))

    def wait(self, transmission_id: str, timeout: float) -> TransmissionModel:
        """The transmission once receipted or refused, or as it stands after `timeout` s."""
        deadline = time.monotonic() + timeout
        item = self.get(transmission_id)
        while item.state in ("queued", "sent") and time.monotonic() < deadline:
            time.sleep(self.POLL)
            item = self.get(transmission_id)
        return item


class Consents:
    """Requests for an originator's consent, asked by this node or of it."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self, state: str | None = None) -> list[Consent]:
        """The consents visible to the caller, newest first (only those in `state`)."""
        return self._client.call(_calls.consents(state))


class Registry:
    """The node's registry, as the caller may see it."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def people(self, organisation: str | None = None) -> list[Person]:
        """The people the caller may see (of one organisation, if given)."""
        return self._client.call(_calls.people(organisation))

    def organisations(self) -> list[Organisation]:
        """Every organisation."""
        return self._client.call(_calls.organisations())

    def programmes(self) -> list[Programme]:
        """Every programme."""
        return self._client.call(_calls.programmes())

    def person(self, person_id: str) -> Person:
        """One person's entry (if the caller may see it)."""
        return self._client.call(_calls.person(person_id))

    def update_person(self, person_id: str, **changes: Any) -> Person:
        """Change the fields given (`name`, `organisation`, `nationalities`, `clearance`,
        `briefed_at`, `briefed_until`, `roles`, `active`; `reason`, required when an access
        attribute changes). `clearance=None` withdraws the clearance."""
        return self._client.call(_calls.update_person(person_id, changes))

    def organisation(self, org_id: str) -> Organisation:
        """One organisation's entry."""
        return self._client.call(_calls.organisation(org_id))

    def update_organisation(self, org_id: str, **changes: Any) -> Organisation:
        """Change the fields given (`name`, `facility_clearance` — None withdraws it —
        and `reason`, required when the facility clearance changes)."""
        return self._client.call(_calls.update_organisation(org_id, changes))

    def programme(self, programme_id: str) -> Programme:
        """One programme."""
        return self._client.call(_calls.programme(programme_id))

    def revoke_membership(self, membership_id: int, *, reason: str) -> dict[str, Any]:
        """Revoke a programme membership now (NSA officer; never one's own)."""
        return self._client.call(_calls.revoke_membership(membership_id, reason))


def _chunks(source: Source, progress: Progress | None) -> Iterator[bytes]:
    def counted(chunk: bytes) -> bytes:
        if progress is not None:
            progress(len(chunk))
        return chunk

    if isinstance(source, str | Path):
        with Path(source).open("rb") as handle:
            while chunk := handle.read(_calls.CHUNK):
                yield counted(chunk)
    elif isinstance(source, bytes):
        for start in range(0, len(source), _calls.CHUNK):
            yield counted(source[start : start + _calls.CHUNK])
    elif (read := getattr(source, "read", None)) is not None:
        while chunk := read(_calls.CHUNK):
            yield counted(chunk)
    else:
        for chunk in source:
            yield counted(chunk)
