"""Each SDK operation as data: the request to make and how to read its answer.

The synchronous and asynchronous clients differ only in how they wait for the network; what
they ask and what they make of the answer is written once, here, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote, unquote

from cix.client.models import Consent, Document, Organisation, Person, Programme, Transmission

T = TypeVar("T")

API_PREFIX = "/api/v1"
DOCUMENTS = "/documents"
#: Response headers that carry an open's obligations (the reader's marking and identity).
OBLIGATION_PREFIX = "cix-"
CHUNK = 256 * 1024


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and the reading of its JSON answer."""

    method: str
    path: str
    read: Callable[[Any], T]
    params: Sequence[tuple[str, str | int]] = ()
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


def segment(value: str) -> str:
    """`value` as one path segment (an id can never reach another route: `.` and `..`,
    which URL normalisation would resolve, are percent-encoded too)."""
    quoted = quote(value, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def obligations_of(headers: Mapping[str, str]) -> dict[str, str]:
    """The `cix-` headers of an open, decoded (the node percent-encodes non-ASCII)."""
    return {
        k.lower(): unquote(v) for k, v in headers.items() if k.lower().startswith(OBLIGATION_PREFIX)
    }


def media_type_of(path: Path | None, given: str | None) -> str:
    """The media type to declare: `given`, else guessed from the file name, else bytes."""
    if given:
        return given
    if path is not None:
        import mimetypes

        guessed, _ = mimetypes.guess_type(path.name)
        if guessed:
            return guessed
    return "application/octet-stream"


def upload_params(
    label: str, title: str, sources: Sequence[str] = ()
) -> list[tuple[str, str | int]]:
    """The query of an upload: the label (a banner or the label's JSON), title, sources."""
    params: list[tuple[str, str | int]] = [("label", label), ("title", title)]
    params += [("source", s) for s in sources]
    return params


def _items(model: Any) -> Callable[[Any], list[Any]]:
    return lambda body: [model.of(item) for item in body["items"]]


@dataclass(frozen=True)
class Filters:
    """What a document listing is narrowed by (each given must hold; see the API's
    `GET /documents`): title words, a level (its equivalents too), a programme, the
    originating party, creation dates (ISO dates, a bare date meaning the whole UTC day, or
    times with a zone), the node or party a copy came from."""

    classification: str | None = None
    programme: str | None = None
    originator: str | None = None
    since: str | None = None
    until: str | None = None
    received_from: str | None = None

    def params(self) -> list[tuple[str, str | int]]:
        """The filters given, as query parameters."""
        return [(k, v) for k, v in vars(self).items() if v is not None]


def document_page(
    *,
    query: str | None,
    cursor: str | None,
    limit: int,
    id_prefix: str | None = None,
    filters: Filters | None = None,
) -> Call[tuple[list[Document], str | None]]:
    """One page of the documents the caller may read, and the cursor of the next."""
    params: list[tuple[str, str | int]] = [("limit", limit)]
    if query:
        params.append(("q", query))
    if filters is not None:
        params += filters.params()
    if cursor:
        params.append(("cursor", cursor))
    if id_prefix:
        params.append(("id_prefix", id_prefix))

    def read(body: Any) -> tuple[list[Document], str | None]:
        return [Document.of(d) for d in body["items"]], body.get("next_cursor")

    return Call("GET", DOCUMENTS, read, params=params)


def document(doc_id: str) -> Call[Document]:
    """A document's register entry."""
    return Call("GET", f"{DOCUMENTS}/{segment(doc_id)}", Document.of)


def destroy(doc_id: str, reason: str) -> Call[dict[str, Any]]:
    """Destroy a document; the answer is its signed destruction certificate."""
    return Call("POST", f"{DOCUMENTS}/{segment(doc_id)}/destroy", dict, json={"reason": reason})


def certificate(doc_id: str) -> Call[dict[str, Any]]:
    """A destroyed document's signed destruction certificate."""
    return Call("GET", f"{DOCUMENTS}/{segment(doc_id)}/certificate", dict)


def reclassify(doc_id: str, label: str, reason: str) -> Call[dict[str, Any]]:
    """Change the classification of a document this node originated."""
    body = {"label": label, "reason": reason}
    return Call("POST", f"{DOCUMENTS}/{segment(doc_id)}/reclassify", dict, json=body)


def label_history(doc_id: str) -> Call[list[dict[str, Any]]]:
    """A document's classification changes, oldest first."""
    return Call("GET", f"{DOCUMENTS}/{segment(doc_id)}/label-history", list)


def transmit(doc_id: str, to: str, purpose: str | None, consent: str | None) -> Call[Transmission]:
    """Transmit a document to party `to`'s node (decided and audited by this node)."""
    body: dict[str, Any] = {"to": to}
    if purpose is not None:
        body["purpose"] = purpose
    if consent is not None:
        body["consent"] = consent
    return Call("POST", f"{DOCUMENTS}/{segment(doc_id)}/transmit", Transmission.of, json=body)


def transmission(transmission_id: str) -> Call[Transmission]:
    """One transmission, with its state."""
    return Call("GET", f"/transmissions/{segment(transmission_id)}", Transmission.of)


def transmissions(state: str | None) -> Call[list[Transmission]]:
    """This node's transmissions, newest first."""
    params: list[tuple[str, str | int]] = [("state", state)] if state else []
    return Call("GET", "/transmissions", _items(Transmission), params=params)


def consents(state: str | None) -> Call[list[Consent]]:
    """The consents this node asked for or was asked, newest first."""
    params: list[tuple[str, str | int]] = [("state", state)] if state else []
    return Call("GET", "/consents", _items(Consent), params=params)


def me() -> Call[Person]:
    """The caller's own registry entry."""
    return Call("GET", "/me", Person.of)


def people(organisation: str | None) -> Call[list[Person]]:
    """The people the caller may see."""
    params: list[tuple[str, str | int]] = [("organisation", organisation)] if organisation else []
    return Call("GET", "/people", _items(Person), params=params)


def organisations() -> Call[list[Organisation]]:
    """Every organisation."""
    return Call("GET", "/organisations", _items(Organisation))


def programmes() -> Call[list[Programme]]:
    """Every programme."""
    return Call("GET", "/programmes", _items(Programme))


def person(person_id: str) -> Call[Person]:
    """One person's registry entry."""
    return Call("GET", f"/people/{segment(person_id)}", Person.of)


def update_person(person_id: str, changes: dict[str, Any]) -> Call[Person]:
    """Change a person's entry: only the fields in `changes` (None clears a clearance)."""
    return Call("PATCH", f"/people/{segment(person_id)}", Person.of, json=changes)


def organisation(org_id: str) -> Call[Organisation]:
    """One organisation's registry entry."""
    return Call("GET", f"/organisations/{segment(org_id)}", Organisation.of)


def update_organisation(org_id: str, changes: dict[str, Any]) -> Call[Organisation]:
    """Change an organisation's entry: only the fields in `changes`."""
    return Call("PATCH", f"/organisations/{segment(org_id)}", Organisation.of, json=changes)


def programme(programme_id: str) -> Call[Programme]:
    """One programme."""
    return Call("GET", f"/programmes/{segment(programme_id)}", Programme.of)


def revoke_membership(membership_id: int, reason: str) -> Call[dict[str, Any]]:
    """Revoke a programme membership now (the reason goes to the audit record)."""
    params: list[tuple[str, str | int]] = [("reason", reason)]
    return Call("DELETE", f"/memberships/{membership_id}", dict, params=params)


def reproduce(doc_id: str, holder: str, reason: str) -> Call[dict[str, Any]]:
    """Account for a numbered copy of a document held by `holder`."""
    body = {"holder": holder, "reason": reason}
    return Call("POST", f"{DOCUMENTS}/{segment(doc_id)}/reproductions", dict, json=body)
