"""What the registry's parts share: the database, the audit, the clock, and their checks.

`PersonnelRegistry` (`cix.node.registry`) is one object made of three parts of one idea each
(`organisations`, `people`, `programmes`); each part reads and writes through what this base
holds and records every change and refusal through `cix.node.refusals.Refusals`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cix.errors import InputError
from cix.node.auditing import AuditSink
from cix.node.errors import Conflict, NotFound
from cix.node.refusals import Refusals
from cix.node.roles import SYSTEM, Actor
from cix.node.schemas import RegistryClearance
from cix.store.db import Database

Clock = Callable[[], datetime]
Row = TypeVar("Row")
_SETUP_REASON = "node set-up"


def utc_now() -> datetime:
    """The current time in UTC: the node's default clock."""
    return datetime.now(UTC)


def existing(session: Session, model: type[Row], key: Any, what: str) -> Row:
    """The row of `model` whose primary key is `key`; `NotFound` naming `what` otherwise."""
    row = session.get(model, key)
    if row is None:
        raise NotFound(f"no {what} {key!r}")
    return row


def resolve_clearance(clearance: RegistryClearance | None, where: str) -> RegistryClearance | None:
    """The clearance with its level as a code of the issuing party's scheme.

    The level may be given as a code (`S`) or a national name (`SECRET`, `군사Ⅱ급비밀`); an
    unknown party or level is an InputError naming it.
    """
    if clearance is None:
        return None
    from cix.agreements import bundled_registry
    from cix.labels import LabelError

    try:
        level = bundled_registry().scheme(clearance.party).resolve(clearance.level)
    except LabelError as exc:
        raise InputError(f"{where}: {exc}") from None
    return RegistryClearance(level=level.code, party=clearance.party, expires=clearance.expires)


class RegistryPart:
    """The state every part of the registry works with (set by `PersonnelRegistry`)."""

    db: Database
    audit: AuditSink
    clock: Clock

    @property
    def refusals(self) -> Refusals:
        """Records this part's changes and refusals in `audit` (whichever sink it holds now)."""
        return Refusals(self.audit, self.clock)

    @staticmethod
    def _reason(actor: Actor, reason: str | None, what: str) -> str:
        """The reason recorded for a change of `what`: required of every actor but the node
        itself (at `cix init` and when seeding a demonstration)."""
        if reason:
            return reason
        if actor is SYSTEM:
            return _SETUP_REASON
        raise InputError(f"reason: required when changing {what}")

    @staticmethod
    def _flush(session: Session, what: str) -> None:
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(f"{what} conflicts with an existing record") from None
