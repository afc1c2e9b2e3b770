"""The public decision calls: `decide` for one request, `decide_many` for a batch.

Both take the policies a node holds (compiled once: pass a `Policies` to reuse it) and the
clock as a parameter. `decide_many` runs the vectorised engine over the whole batch, then
builds each `Decision` with the one-by-one engine's explanation code, so that both forms
give the same reasons and obligations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from cix.agreements import Agreement
from cix.labels import Label
from cix.policy.batch import BatchTables
from cix.policy.compiled import CompiledLabel, CompiledSubject, Policies, PolicyError
from cix.policy.decision import ACTION_INDEX, Action, Code, Decision
from cix.policy.engine import decide_compiled, dominates, explain, obligations
from cix.policy.subject import Subject

PolicyInput = Policies | Agreement | Iterable[Agreement]


def policies_of(agreements: PolicyInput) -> Policies:
    """A `Policies` from one agreement, several, or an already compiled `Policies`."""
    if isinstance(agreements, Policies):
        return agreements
    if isinstance(agreements, Agreement):
        return Policies([agreements])
    return Policies(agreements)


def action_of(action: Action | str) -> Action:
    """The `Action` named `action`; PolicyError listing the actions if there is none."""
    if isinstance(action, Action):
        return action
    try:
        return Action(action)
    except ValueError:
        names = ", ".join(a.value for a in Action)
        raise PolicyError(f"action {action!r} is not one of {names}") from None


def _instant(now: datetime) -> float:
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise PolicyError("now: an aware datetime (with a time zone) is required")
    return now.timestamp()


def decide(
    subject: Subject,
    label: Label,
    action: Action | str,
    *,
    agreements: PolicyInput,
    now: datetime,
    to: str | None = None,
    consent: str | None = None,
    purpose: str | None = None,
    sources: Sequence[Label] = (),
) -> Decision:
    """Decide whether `subject` may do `action` on information labelled `label` at `now`.

    `to` is the recipient party of a transmit or release; `consent` the reference of the
    originator's consent (release to a third party, downgrade); `purpose` the purpose the
    subject states; `sources` the labels of what a created object was derived from. Every
    failing rule is a reason; a permit carries the obligations the caller must fulfil.
    Raises PolicyError (an InputError) for a request naming what the policies do not know.
    """
    pol = policies_of(agreements)
    act = action_of(action)
    return decide_compiled(
        pol,
        pol.subject(subject),
        pol.label(label),
        act,
        _instant(now),
        to=to,
        consent=consent,
        purpose=purpose,
        sources=[pol.label(src) for src in sources],
    )


@dataclass(frozen=True)
class Request:
    """One request of a batch (the arguments of `decide`)."""

    subject: Subject
    label: Label
    action: Action
    now: datetime
    to: str | None = None
    consent: str | None = None
    purpose: str | None = None
    sources: tuple[Label, ...] = field(default=())


def decide_many(requests: Sequence[Request], *, agreements: PolicyInput) -> list[Decision]:
    """Decide many requests at once with the vectorised engine; one Decision per request."""
    pol = policies_of(agreements)
    if not requests:
        return []
    subj_row: dict[Subject, int] = {}
    label_row: dict[Label, int] = {}
    csubjects: list[CompiledSubject] = []
    clabels: list[CompiledLabel] = []

    def row_of_label(label: Label) -> int:
        row = label_row.get(label)
        if row is None:
            row = label_row[label] = len(clabels)
            clabels.append(pol.label(label))
        return row

    n = len(requests)
    s_idx = np.empty(n, dtype=np.intp)
    l_idx = np.empty(n, dtype=np.intp)
    acts = np.empty(n, dtype=np.int8)
    to_bit = np.zeros(n, dtype=np.intp)
    consent = np.zeros(n, dtype=bool)
    purpose = np.full(n, -1, dtype=np.intp)
    times = np.empty(n, dtype=np.float64)
    for i, req in enumerate(requests):
        row = subj_row.get(req.subject)
        if row is None:
            row = subj_row[req.subject] = len(csubjects)
            csubjects.append(pol.subject(req.subject))
        s_idx[i] = row
        l_idx[i] = row_of_label(req.label)
        for src in req.sources:
            row_of_label(src)
        acts[i] = ACTION_INDEX[req.action]
        if req.action in (Action.TRANSMIT, Action.RELEASE):
            if req.to is None:
                raise PolicyError(f"request {i}: action {req.action.value} needs a recipient")
            to_bit[i] = pol.party_bit(req.to)
        consent[i] = bool(req.consent)
        if req.purpose is not None:
            purpose[i] = pol.purpose_index.get(req.purpose, len(pol.purpose_index))
        times[i] = _instant(req.now)

    now: float | np.ndarray = float(times[0]) if (times == times[0]).all() else times
    tables = BatchTables.build(pol, csubjects, clabels)
    bits = tables.decide(
        s_idx,
        l_idx,
        acts,
        now,
        to=to_bit,
        consent=consent,
        purpose=purpose,
    )
    out: list[Decision] = []
    for i, req in enumerate(requests):
        s = csubjects[s_idx[i]]
        lab = clabels[l_idx[i]]
        code = int(bits[i])
        srcs = [clabels[label_row[src]] for src in req.sources]
        if req.action is Action.CREATE and any(not dominates(lab, src) for src in srcs):
            code |= Code.WRITE_DOWN
        if code:
            reasons = explain(s, lab, code, to=req.to, now=float(times[i]), sources=srcs)
            out.append(Decision(False, reasons, ()))
        else:
            out.append(Decision(True, (), obligations(s, lab, req.action, req.to, req.consent)))
    return out
