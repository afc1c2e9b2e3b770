"""The people and documents of the federation tests: a KOR node and a CAN node of the
submarine acquisition, in-process (the real services, a memory audit sink, a test clock)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path

from cix.agreements import bundled_registry
from cix.labels import Label, make_label
from cix.node.auditing import MemoryAuditSink
from cix.node.roles import SYSTEM, Actor, Role
from cix.node.schemas import MembershipIn, OrganisationIn, PersonIn, ProgrammeIn, RegistryClearance
from cix.node.service import Node, init_node
from tests.node_support import ENVIRON, Clock

#: The top level each party's officials are cleared to under kor-can.
CLEARED = {"KOR": "II", "CAN": "S"}


def make_party_node(
    data_dir: Path,
    party: str,
    clock: Clock,
    audit: MemoryAuditSink,
    *,
    agreements: tuple[str, ...] = ("kor-can",),
    database_url: str | None = None,
) -> Node:
    """A new node of `party` holding `agreements`, opened with its keys."""
    init_node(
        data_dir,
        party=party,
        agreements=agreements,
        database_url=database_url,
        admin="root",
        environ=ENVIRON,
        audit=audit,
        clock=clock,
    )
    return Node.open(data_dir, environ=ENVIRON, audit=audit, clock=clock)


def seed_cast(node: Node, now: datetime) -> None:
    """One government organisation and its people: `officer` (NSA officer, cleared, on
    CPSP), `author` (originator, cleared, on CPSP), `reader` (cleared, on CPSP),
    `outsider` (cleared, not on CPSP)."""
    party = node.settings.party
    reg = node.registry
    expires = now + timedelta(days=365)
    reg.create_organisation(
        SYSTEM, OrganisationIn(id="gov", name=f"{party} ministry", kind="government", party=party)
    )
    reg.create_programme(SYSTEM, ProgrammeIn(id="CPSP", title="Submarine project", party="CAN"))
    cast = {
        "officer": [Role.NSA_OFFICER, Role.READER],
        "author": [Role.ORIGINATOR, Role.READER],
        "reader": [Role.READER],
        "outsider": [Role.READER],
    }
    for person, roles in cast.items():
        reg.create_person(
            SYSTEM,
            PersonIn(
                id=person,
                name=person.title(),
                organisation="gov",
                nationalities=[party],
                clearance=RegistryClearance(level=CLEARED[party], party=party, expires=expires),
                briefed_at=now - timedelta(days=1),
                briefed_until=expires,
                roles=roles,
            ),
        )
        if person != "outsider":
            reg.grant_membership(
                SYSTEM,
                MembershipIn(
                    person=person,
                    programme="CPSP",
                    valid_until=expires,
                    justification="works on the submarine project",
                ),
            )


def actor(node: Node, person: str) -> Actor:
    """The registry's actor for `person`."""
    return node.registry.actor_for(person)


def kor_label(
    now: datetime,
    *,
    level: str = "II",
    releasable_to: tuple[str, ...] = ("KOR", "CAN"),
    purpose: str | None = None,
) -> Label:
    """A KOR label under kor-can on the CPSP programme."""
    return make_label(
        bundled_registry().get("kor-can"),
        originator="KOR",
        classification=level,
        releasable_to=releasable_to,
        created=now,
        programmes=("CPSP",),
        purpose=purpose,
        registry=bundled_registry(),
    )


def upload(node: Node, label: Label, data: bytes, title: str = "Design study") -> str:
    """Upload `data` under `label` as `author`; the document id."""
    info = node.documents.upload(
        actor(node, "author"),
        label=label,
        title=title,
        media_type="text/plain",
        source=io.BytesIO(data),
    )
    return info.id
