"""Export a label to an Accumulo-style visibility expression.

Accumulo has no hierarchy: holding a higher level does not satisfy a lower one unless the
expression says so. The level term therefore lists every (party, level) whose clearance
dominates the label's level through the agreement's order, so that a subject's
authorisations are just their own clearance, nationalities, programmes and caveats:

    level:PARTY:CODE    a clearance at that level of that party's scheme
    nationality:PARTY   a nationality
    programme:NAME      membership of a need-to-know programme
    caveat:NAME         eligible for a caveat (`caveat:GOVONLY`: government personnel)

Terms are joined with `&`; alternatives with `|` inside parentheses (Accumulo requires
parentheses to mix the two). The output is deterministic (sorted).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cix.labels.label import Label

if TYPE_CHECKING:
    from cix.labels.policies import LabelPolicy


def _any_of(tokens: list[str]) -> str:
    return tokens[0] if len(tokens) == 1 else "(" + "|".join(tokens) + ")"


def visibility_expression(label: Label, agreement: LabelPolicy) -> str:
    """The Accumulo visibility expression granting exactly what `label` requires."""
    agreement.check_label(label)
    levels = sorted(
        f"level:{party}:{level.code}"
        for party in agreement.parties
        for level in agreement.scheme(party).levels
        if agreement.level_dominates(party, level.code, label.originator, label.classification)
    )
    terms = [_any_of(levels)]
    terms += [f"programme:{name}" for name in sorted(label.programmes)]
    terms += [f"caveat:{name}" for name in sorted(label.caveats)]
    terms.append(_any_of([f"nationality:{party}" for party in sorted(label.releasable_to)]))
    return "&".join(terms)
