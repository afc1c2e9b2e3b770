"""The node's personnel security registry: organisations, people, programmes, memberships.

`PersonnelRegistry` is one object made of three parts of one idea each, whose modules say
who may change what: `cix.node.organisations`, `cix.node.people` (and the principal a request
acts for), `cix.node.programmes` (and memberships). Every rule is checked here, on the
server, for every call; every change and every refusal is appended to the audit sink
(`cix.node.refusals`), a change before it is committed, so nothing is committed unaudited.
(Not to be confused with `cix.agreements.Registry`, the agreements a node knows of.)
"""

from __future__ import annotations

from cix.node.auditing import AuditSink
from cix.node.cache import GenerationCache
from cix.node.organisations import Organisations, organisation_out
from cix.node.people import PERSON_ACCESS_FIELDS, People, person_out
from cix.node.programmes import Programmes, membership_out, programme_out
from cix.node.registry_part import Clock, resolve_clearance, utc_now
from cix.store.db import Database

__all__ = [
    "PERSON_ACCESS_FIELDS",
    "Clock",
    "PersonnelRegistry",
    "membership_out",
    "organisation_out",
    "person_out",
    "programme_out",
    "resolve_clearance",
    "utc_now",
]


class PersonnelRegistry(Organisations, People, Programmes):
    """Organisations, people, programmes and memberships, changed only by the right roles.

    At most `cache_size` people are cached for `actor_for`/`subject_for` (`cix.node.people`).
    """

    def __init__(
        self, db: Database, audit: AuditSink, clock: Clock = utc_now, *, cache_size: int = 4096
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self._people = GenerationCache(cache_size)
