"""The entities and requests of `agreement_policy.cedar`, built from the agreement files.

This is the independent side of the differential test: it reads the agreements' national
schemes, equivalence rows and out-of-scope levels directly (not `cix.policy`'s compiled
tables) and turns them into a Cedar entity hierarchy, so that dominance through the
equivalence table is Cedar's own `in` over that hierarchy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cix.agreements import Agreement
from cix.labels import Label
from cix.policy import Action, OrganisationKind, Subject

POLICY_FILE = Path(__file__).with_name("agreement_policy.cedar")
PROGRAMMES = ("CPSP", "KSS", "HANWHA-OCEAN")
"""The programme universe the Cedar policy spells out."""

Json = dict[str, Any]


def _ref(kind: str, ident: str) -> Json:
    return {"__entity": {"type": kind, "id": ident}}


def _uid(kind: str, ident: str) -> Json:
    return {"type": kind, "id": ident}


def _secs(moment: datetime) -> int:
    return int(moment.timestamp())


def _chain(agreement: Agreement, party: str) -> list[str]:
    return [lv.code for lv in sorted(agreement.schemes[party].levels, key=lambda lv: lv.rank)]


def _equivalents(agreement: Agreement) -> dict[tuple[str, str], dict[str, str]]:
    """(party, code) -> {party: code} from the equivalence rows (and itself)."""
    table: dict[tuple[str, str], dict[str, str]] = {}
    for party in agreement.parties:
        for code in _chain(agreement, party):
            table[(party, code)] = {party: code}
    for row in agreement.equivalence:
        mapping = dict(row)
        for party, code in row:
            table[(party, code)].update(mapping)
    return table


def level_entities(agreements: Sequence[Agreement]) -> list[Json]:
    """ClearLevel chains per national scheme and ClassLevel per (policy, party, level)."""
    out: list[Json] = []
    chains: dict[str, list[str]] = {}
    for agreement in agreements:
        for party in agreement.parties:
            chains.setdefault(party, _chain(agreement, party))
    for party, chain in chains.items():
        for i, code in enumerate(chain):
            parents = [] if i + 1 == len(chain) else [_uid("ClearLevel", f"{party}/{chain[i + 1]}")]
            out.append(
                {"uid": _uid("ClearLevel", f"{party}/{code}"), "attrs": {}, "parents": parents}
            )
    multi = [a for a in agreements if len(a.parties) > 1]
    for agreement in agreements:
        table = _equivalents(agreement)
        for (party, code), equivalent in table.items():
            linked: set[str] = set()
            shared: set[str] = set()
            for other in chains:
                if other == party:
                    continue
                if other in agreement.parties:
                    governing = [agreement]
                else:
                    governing = [a for a in multi if {party, other} <= set(a.parties)]
                if not governing:
                    continue
                linked.add(other)
                if any(other in _equivalents(a)[(party, code)] for a in governing):
                    shared.add(other)
            out.append(
                {
                    "uid": _uid("ClassLevel", f"{agreement.id}/{party}/{code}"),
                    "attrs": {"linked": sorted(linked), "shared_with": sorted(shared)},
                    "parents": [_uid("ClearLevel", f"{p}/{c}") for p, c in equivalent.items()],
                }
            )
        out.append(
            {
                "uid": _uid("Policy", agreement.id),
                "attrs": {
                    "parties": sorted(agreement.parties),
                    "national": len(agreement.parties) == 1,
                },
                "parents": [],
            }
        )
    return out


def subject_entity(subject: Subject) -> Json:
    """A Subject entity; roles are carried but no policy reads them."""
    attrs: Json = {
        "nationalities": sorted(subject.nationalities),
        "roles": sorted(subject.roles),
        "programmes": {name: _secs(expiry) for name, expiry in subject.programmes.items()},
        "contractor": subject.organisation.kind is OrganisationKind.CONTRACTOR,
    }
    if subject.clearance is not None:
        c = subject.clearance
        attrs["clearance_level"] = _ref("ClearLevel", f"{c.party}/{c.level}")
        attrs["clearance_expires"] = _secs(c.expires)
    if subject.briefed_until is not None:
        attrs["briefed_until"] = _secs(subject.briefed_until)
    fcl = subject.organisation.facility_clearance
    if fcl is not None:
        attrs["fcl_level"] = _ref("ClearLevel", f"{fcl.party}/{fcl.level}")
        attrs["fcl_expires"] = _secs(fcl.expires)
    return {"uid": _uid("Subject", subject.id), "attrs": attrs, "parents": []}


def label_entity(ident: str, label: Label) -> Json:
    """A Label entity named `ident`."""
    attrs: Json = {
        "policy": _ref("Policy", label.policy),
        "originator": label.originator,
        "level": _ref("ClassLevel", f"{label.policy}/{label.originator}/{label.classification}"),
        "as_clearance": _ref("ClearLevel", f"{label.originator}/{label.classification}"),
        "releasable_to": sorted(label.releasable_to),
        "programmes": sorted(label.programmes),
        "caveats": sorted(label.caveats),
    }
    if label.purpose is not None:
        attrs["purpose"] = label.purpose
    return {"uid": _uid("Label", ident), "attrs": attrs, "parents": []}


def entities(
    agreements: Sequence[Agreement], subjects: Iterable[Subject], labels: Sequence[Label]
) -> list[Json]:
    """Every entity of a run: levels, policies, subjects, and label `L<i>` for labels[i]."""
    return [
        *level_entities(agreements),
        *(subject_entity(s) for s in subjects),
        *(label_entity(f"L{i}", lab) for i, lab in enumerate(labels)),
    ]


def request(
    subject: Subject,
    label_row: int,
    action: Action,
    now: datetime,
    *,
    to: str | None = None,
    consent: bool = False,
    purpose: str | None = None,
    source_row: int | None = None,
) -> Json:
    """One Cedar request for the policy file."""
    context: Json = {"now": _secs(now), "has_consent": consent, "to": to or ""}
    if purpose is not None:
        context["purpose"] = purpose
    if source_row is not None:
        context["source"] = _ref("Label", f"L{source_row}")
    return {
        "principal": f'Subject::"{subject.id}"',
        "action": f'Action::"{action.value}"',
        "resource": f'Label::"L{label_row}"',
        "context": context,
    }
