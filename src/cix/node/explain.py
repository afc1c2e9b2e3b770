"""Why was this person refused that document? The decision, with every rule, for an officer.

A refusal tells its reader nothing (one opaque answer for any object out of reach); the
reasons go to the audit log. The node's security officer, at the node's console, asks the
question directly: `explain` decides the person's current registry entry against the
document's stored label exactly as an open would (the same decision function, the same
time), and returns the whole decision — permit or deny, every failing rule, the obligations.
The question itself is audited, as the console operator's (`explain`), so that asking about
a person is on the record too.
"""

from __future__ import annotations

from cix.errors import InputError
from cix.node.errors import NotFound, Unauthenticated
from cix.node.register import Register, event
from cix.node.roles import Actor
from cix.policy import Action, Decision, decide


def explain(
    reg: Register, operator: Actor, person_id: str, doc_id: str, action: Action
) -> Decision:
    """The decision `action` on `doc_id` by `person_id` would get now (nothing is opened);
    InputError naming a person or a document that does not exist (the operator at the
    console may know what exists)."""
    now = reg.clock()
    try:
        subject = reg.registry.subject_for(person_id, now)
    except (NotFound, Unauthenticated):
        # Deactivated people are refused everything: say so rather than decide.
        raise InputError(
            f"--person: no active person {person_id!r} in this node's registry "
            "(unknown, or deactivated: then every access is refused)"
        ) from None
    with reg.db.read() as session:
        try:
            label = reg.label_of(reg.live(session, doc_id))
        except NotFound:
            # The console's own question: what exists is no secret from the operator.
            raise InputError(f"--document: no live document {doc_id!r} on this node") from None
    decision = decide(subject, label, action, agreements=reg.policies, now=now)
    reg.audit.append(
        event(operator, "explain", f"document:{doc_id}", now=now,
              details={"person": person_id, "action": action.value,
                       "verdict": "permit" if decision.permit else "deny",
                       "reasons": [r.code for r in decision.reasons]})
    )  # fmt: skip
    return decision
