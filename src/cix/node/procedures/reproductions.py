"""Numbered reproductions: a copy is accounted for only if its maker and its holder may both
read the document.

A reader who cannot see the registry must not learn from this route who exists: an unknown
holder and a holder not entitled get the same refusal (audited with the precise reason).
"""

from __future__ import annotations

from cix.errors import AccessDenied, InputError
from cix.node.auditing import AuditRecord, audited_write
from cix.node.errors import DocumentRefused
from cix.node.register import Register, event
from cix.node.roles import Actor
from cix.policy import Action
from cix.store.models import Reproduction


class Reproductions:
    """Accounts for numbered copies (see the module docstring)."""

    def __init__(self, register: Register) -> None:
        self.reg = register

    def reproduce(self, actor: Actor, doc_id: str, *, holder: str, reason: str) -> int:
        """Account for a numbered copy held by `holder`; returns its number. The actor and
        the holder must both be able to read the document; `DocumentRefused` otherwise,
        and for a holder that does not exist."""
        if not reason.strip():
            raise InputError("reason: a reproduction needs a reason")
        reg = self.reg
        now = reg.clock()
        obj = f"document:{doc_id}"
        subject = reg.registry.subject_for(actor.id, now)
        permits: list[AuditRecord] = []
        with audited_write(reg.db, reg.audit) as (session, group):
            row = reg.live(session, doc_id)
            label = reg.label_of(row)
            reg.decide(
                actor,
                subject,
                label,
                Action.READ,
                obj,
                now,
                details={"what": "copy"},
                pending=permits,
            )
            try:
                holder_subject = reg.registry.subject_for(holder, now)
            except (AccessDenied, InputError):
                reg.audit.append(
                    event(
                        actor,
                        "read",
                        obj,
                        denied_reason="holder-unknown",
                        now=now,
                        details={"holder": holder},
                    )
                )
                raise DocumentRefused("holder-unknown") from None
            reg.decide(
                actor,
                holder_subject,
                label,
                Action.READ,
                obj,
                now,
                details={"holder": holder},
                pending=permits,
            )
            row.copies_made += 1
            number = row.copies_made
            session.add(
                Reproduction(
                    document_id=doc_id,
                    copy_number=number,
                    made_by=actor.id,
                    made_at=now,
                    holder=holder,
                    reason=reason,
                )
            )
            session.flush()
            made = event(
                actor, "reproduce", obj, now=now, details={"copy": number, "holder": holder}
            )
            group.append([*permits, made])
        return number
