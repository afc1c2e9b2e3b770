"""Bits of the document label bitmasks: one per party, programme and caveat a node has seen.

A bit, once allocated, never changes or is reused, so a process may cache it. Allocation
happens in the write transaction that stores the first document naming the value; on
PostgreSQL the table is locked for that moment so two writers cannot take the same bit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from cix.node.errors import TooManyLabelValues
from cix.store.models import MASK_BITS, LabelBit

PARTY = "party"
PROGRAMME = "programme"
CAVEAT = "caveat"


class LabelBits:
    """Maps label values to bits; `mask` reads, `allocate` reads or assigns."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def _load(self, session: Session) -> None:
        rows = session.execute(select(LabelBit.kind, LabelBit.name, LabelBit.bit)).all()
        with self._lock:
            for kind, name, bit in rows:
                self._cache[(kind, name)] = bit

    def mask(self, session: Session, kind: str, names: Iterable[str]) -> int:
        """The mask of `names`; values never stored in any label contribute no bit."""
        wanted = list(names)
        if any((kind, n) not in self._cache for n in wanted):
            self._load(session)
        result = 0
        for name in wanted:
            bit = self._cache.get((kind, name))
            if bit is not None:
                result |= 1 << bit
        return result

    def allocate(self, session: Session, kind: str, names: Iterable[str]) -> int:
        """The mask of `names`, allocating bits for new values (inside a write transaction)."""
        wanted = sorted(set(names))
        if all((kind, n) in self._cache for n in wanted):
            return self.mask(session, kind, wanted)
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("LOCK TABLE label_bits IN EXCLUSIVE MODE"))
        self._load(session)
        for name in wanted:
            if (kind, name) in self._cache:
                continue
            top = session.scalar(select(func.max(LabelBit.bit)).where(LabelBit.kind == kind))
            bit = 0 if top is None else top + 1
            if bit >= MASK_BITS:
                raise TooManyLabelValues(
                    f"this node already indexes {MASK_BITS} {kind} values; {name!r} cannot be added"
                )
            session.add(LabelBit(kind=kind, name=name, bit=bit))
            session.flush()
        # Cache only after the transaction commits: a rollback must not leave phantom bits.
        rows = {
            (k, n): b
            for k, n, b in session.execute(
                select(LabelBit.kind, LabelBit.name, LabelBit.bit).where(LabelBit.kind == kind)
            ).all()
        }
        result = 0
        for name in wanted:
            result |= 1 << rows[(kind, name)]
        return result
