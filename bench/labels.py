"""Label primitives against the plain-Python or library baseline doing the least same work.

Run: `.venv/bin/python -m bench labels`. Each line prints cix's rate, the baseline's rate in
the same run, and their ratio. Baselines: a dominance check as bare integer and frozenset
comparisons (what a precompiled policy would do), `json.loads` of the same bytes, and
defusedxml parsing of the same XML (no validation).
"""

from __future__ import annotations

import json
import timeit
from collections.abc import Callable
from datetime import UTC, datetime

import defusedxml.ElementTree as SafeET

from cix.agreements import bundled, bundled_registry, registry_of
from cix.labels import (
    banner,
    canonical_json,
    dominates,
    from_4774_xml,
    label_from_json_text,
    make_label,
    parse_marking,
    to_4774_xml,
)


def _rate(fn: Callable[[], object], number: int) -> float:
    return number / min(timeit.repeat(fn, number=number, repeat=5))


def _line(name: str, ours: float, base: float, base_name: str) -> None:
    print(
        f"{name:28s} {ours:14,.0f}/s   {base_name:28s} {base:14,.0f}/s   ratio {ours / base:6.2f}"
    )


def main() -> None:
    """Measure and print rates and ratios."""
    agreement = bundled("kor-can")
    now = datetime(2026, 3, 1, tzinfo=UTC)
    a = make_label(
        agreement,
        originator="KOR",
        classification="II",
        releasable_to={"KOR", "CAN"},
        programmes={"CPSP"},
        created=now,
        registry=bundled_registry(),
    )
    b = make_label(
        agreement,
        originator="CAN",
        classification="C",
        releasable_to={"KOR", "CAN"},
        created=now,
        registry=bundled_registry(),
    )
    ranks = {("KOR", "II"): 2, ("CAN", "C"): 1}

    def raw_dominates() -> bool:
        return (
            ranks[(a.originator, a.classification)] >= ranks[(b.originator, b.classification)]
            and a.programmes >= b.programmes
            and a.caveats >= b.caveats
            and a.releasable_to <= b.releasable_to
        )

    n = 200_000
    _line(
        "dominates()",
        _rate(lambda: dominates(a, b, agreement), n),
        _rate(raw_dominates, n),
        "raw rank+set compare",
    )
    _line(
        "Agreement.level_dominates()",
        _rate(lambda: agreement.level_dominates("KOR", "II", "CAN", "C"), n),
        _rate(lambda: ranks[("KOR", "II")] >= ranks[("CAN", "C")], n),
        "raw dict rank compare",
    )
    data = canonical_json(a)
    m = 5_000
    _line(
        "label_from_json_text()",
        _rate(lambda: label_from_json_text(data, registry=bundled_registry()), m),
        _rate(lambda: json.loads(data), m),
        "json.loads",
    )
    _line(
        "canonical_json()",
        _rate(lambda: canonical_json(a), m),
        _rate(lambda: json.dumps(json.loads(data), sort_keys=True), m),
        "json.dumps(sort_keys)",
    )
    xml = to_4774_xml(a, registry=bundled_registry())
    _line(
        "from_4774_xml()",
        _rate(lambda: from_4774_xml(xml, registry=bundled_registry()), m),
        _rate(lambda: SafeET.fromstring(xml, forbid_dtd=True), m),
        "defusedxml fromstring",
    )
    _line(
        "to_4774_xml()",
        _rate(lambda: to_4774_xml(a, registry=bundled_registry()), m),
        _rate(lambda: from_4774_xml(xml, registry=bundled_registry()), m),
        "from_4774_xml (read)",
    )
    text = banner(a, agreement)
    _line(
        "parse_marking() (banner)",
        _rate(
            lambda: parse_marking(
                text, created=now, agreement=agreement, registry=registry_of(agreement)
            ),
            m,
        ),
        _rate(lambda: label_from_json_text(data, registry=bundled_registry()), m),
        "label_from_json_text",
    )
