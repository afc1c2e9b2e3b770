"""What the node answers, as typed values: documents, transmissions, consents, the registry.

Each model holds the fields a script relies on, typed, and keeps the node's whole answer in
`raw`, so a field added by a newer node is still at hand and nothing is lost by a round trip.
The models are read-only: a change goes through the client's methods, which the node decides
on and audits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    raw: dict[str, Any] = Field(default_factory=dict, repr=False, exclude=True)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Self:
        """The model of one JSON object from the node (its whole answer kept in `raw`)."""
        return cls.model_validate({**data, "raw": data})


class Document(_Answer):
    """A document's register entry, as the caller may see it."""

    id: str
    title: str
    banner: str
    """The marking, whole (e.g. `SECRET//CPSP//REL TO CAN, KOR`)."""
    label: dict[str, Any]
    media_type: str
    plaintext_size: int
    created_by: str
    created_at: datetime
    custodian: str
    sources: tuple[str, ...] = ()
    destroyed_at: datetime | None = None
    certificate: str | None = None


class Transmission(_Answer):
    """A transmission of a document to another party's node, with its state."""

    id: str
    document: str
    to_party: str
    state: str
    """queued, sent, receipted or refused."""
    purpose: str | None = None
    refusal_code: str | None = None
    requested_at: datetime
    receipted_at: datetime | None = None
    overdue: bool = False


class Consent(_Answer):
    """A request for the originator's consent and its answer."""

    id: str
    side: str
    state: str
    act: str
    document_id: str | None = None
    to_party: str | None = None
    purpose: str | None = None
    expires_at: datetime | None = None


class Person(_Answer):
    """A person registered with the node."""

    id: str
    name: str
    organisation: str
    nationalities: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    clearance: dict[str, Any] | None = None


class Organisation(_Answer):
    """A government body or a contractor facility."""

    id: str
    name: str
    kind: str
    party: str
    facility_clearance: dict[str, Any] | None = None


class Programme(_Answer):
    """A need-to-know programme."""

    id: str
    title: str
    party: str


class Opened(BaseModel):
    """What the node attached to an open: the reader's marking and identity it obliges the
    reader to apply (the `cix-` response headers, decoded)."""

    model_config = ConfigDict(frozen=True)

    obligations: dict[str, str]
    size: int | None
