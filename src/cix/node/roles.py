"""Roles on a node and the authenticated principal (`Actor`) a service acts for.

Roles say what a person may *administer*; they never grant access to information (rule 1:
rank or role alone never does). Access to documents is the decision function's alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What a person may do on this node besides reading what they are cleared for."""

    READER = "reader"
    ORIGINATOR = "originator"
    FSO = "facility-security-officer"
    NSA_OFFICER = "nsa-officer"
    AUDITOR = "auditor"
    ADMINISTRATOR = "administrator"


@dataclass(frozen=True)
class Actor:
    """The authenticated person a request acts for, as the registry knows them now."""

    id: str
    roles: frozenset[Role]
    organisation_id: str
    organisation_kind: str
    party: str

    def has(self, *roles: Role) -> bool:
        """True if the actor holds at least one of `roles`."""
        return not self.roles.isdisjoint(roles)


SYSTEM = Actor(
    id="system",
    roles=frozenset(Role),
    organisation_id="",
    organisation_kind="government",
    party="",
)
"""The node itself, acting at `cix init` and when seeding a demonstration; no credential
names it (no person may have the id `system`: ids start a registry entry, this is not one)."""
