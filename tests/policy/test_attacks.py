"""One test per attack or edge case of the access rules, each asserting its reason codes.

Every assertion is on the exact set of reason codes, so a test also fails when a rule fires
that should not; `test_every_failing_rule_is_reported_together` shows that the reasons are
not cut short at the first failing rule.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from cix.agreements import bundled
from cix.labels import GOVONLY, Label, OutOfScope
from cix.policy import Action, Code, Decision, Policies, Subject, decide
from tests.policy.helpers import NOW, label

SubjectFactory = Callable[..., Subject]

KOREAN_OFFICER: dict[str, Any] = {
    "id": "kor-officer-1",
    "nationalities": ["KOR"],
    "clearance": {"party": "KOR", "level": "I", "expires": "2027-12-31"},
    "briefed_until": "2026-12-31",
    "programmes": {"CPSP": "2027-03-31"},
    "roles": ["nsa-officer"],
    "organisation": {"id": "dapa", "kind": "government", "party": "KOR"},
}


def denied(decision: Decision, *codes: str) -> None:
    """The decision is a deny whose reasons are exactly `codes`, with no obligations."""
    assert not decision.permit
    assert decision.codes == frozenset(codes), decision.to_json()
    assert decision.obligations == ()


def test_the_baseline_subject_may_read_the_baseline_label(
    policies: Policies, subject: SubjectFactory
) -> None:
    decision = decide(subject(), label(), "read", agreements=policies, now=NOW)
    assert decision.permit
    assert decision.reasons == ()


def test_expired_clearance_is_denied(policies: Policies, subject: SubjectFactory) -> None:
    expired = subject(clearance={"party": "CAN", "level": "S", "expires": "2026-05-31"})
    denied(decide(expired, label(), "read", agreements=policies, now=NOW), "clearance-expired")


def test_clearance_expiring_today_is_valid_until_midnight(
    policies: Policies, subject: SubjectFactory
) -> None:
    today = subject(clearance={"party": "CAN", "level": "S", "expires": "2026-06-01"})
    last_second = datetime(2026, 6, 1, 23, 59, 59, tzinfo=UTC)
    midnight = datetime(2026, 6, 2, tzinfo=UTC)
    assert decide(today, label(), "read", agreements=policies, now=last_second).permit
    denied(decide(today, label(), "read", agreements=policies, now=midnight), "clearance-expired")


def test_expired_programme_membership_is_denied(
    policies: Policies, subject: SubjectFactory
) -> None:
    lapsed = subject(programmes={"CPSP": "2026-01-31"})
    decision = decide(lapsed, label(), "read", agreements=policies, now=NOW)
    denied(decision, "programme-expired")
    assert decision.reasons[0].detail == "CPSP"


def test_stale_briefing_is_denied(policies: Policies, subject: SubjectFactory) -> None:
    stale = subject(briefed_until="2026-05-01")
    denied(decide(stale, label(), "read", agreements=policies, now=NOW), "briefing-stale")
    never = subject(briefed_until=None)
    denied(decide(never, label(), "read", agreements=policies, now=NOW), "briefing-stale")


def test_wrong_nationality_is_denied(policies: Policies, subject: SubjectFactory) -> None:
    korean_eyes_only = label(releasable_to=frozenset({"KOR"}))
    decision = decide(subject(), korean_eyes_only, "read", agreements=policies, now=NOW)
    denied(decision, "nationality-not-released")


def test_national_of_a_third_party_is_denied(policies: Policies, subject: SubjectFactory) -> None:
    american = subject(nationalities=["USA"])
    decision = decide(american, label(), "read", agreements=policies, now=NOW)
    denied(decision, "nationality-not-released", "third-party-national")


def test_dual_national_of_a_third_party_is_denied(
    policies: Policies, subject: SubjectFactory
) -> None:
    # a Canadian who is also German is a person of a third party to kor-can (rule 2)
    dual = subject(nationalities=["CAN", "DEU"])
    denied(decide(dual, label(), "read", agreements=policies, now=NOW), "third-party-national")
    # ... but may read Canada–Germany information released to both
    can_deu = label(
        "S", policy="can-deu", originator="CAN", releasable_to=frozenset({"CAN", "DEU"})
    )
    assert decide(dual, can_deu, "read", agreements=policies, now=NOW).permit


def test_dual_national_of_both_parties_needs_only_one_released_nationality(
    policies: Policies, subject: SubjectFactory
) -> None:
    dual = subject(nationalities=["KOR", "CAN"])
    korean_eyes_only = label(releasable_to=frozenset({"KOR"}))
    assert decide(dual, korean_eyes_only, "read", agreements=policies, now=NOW).permit


def test_contractor_without_facility_clearance_is_denied(
    policies: Policies, subject: SubjectFactory
) -> None:
    contractor = subject(organisation={"id": "irving", "kind": "contractor", "party": "CAN"})
    decision = decide(contractor, label(), "read", agreements=policies, now=NOW)
    denied(decision, "facility-clearance-missing")


def test_contractor_with_expired_or_low_facility_clearance_is_denied(
    policies: Policies, subject: SubjectFactory
) -> None:
    def contractor(level: str, expires: str) -> Subject:
        fcl = {"party": "CAN", "level": level, "expires": expires}
        org = {"id": "irving", "kind": "contractor", "party": "CAN", "facility_clearance": fcl}
        return subject(organisation=org)

    ok = decide(contractor("S", "2027-01-01"), label(), "read", agreements=policies, now=NOW)
    assert ok.permit
    expired = decide(contractor("S", "2026-01-01"), label(), "read", agreements=policies, now=NOW)
    denied(expired, "facility-clearance-expired")
    low = decide(contractor("C", "2027-01-01"), label(), "read", agreements=policies, now=NOW)
    denied(low, "facility-clearance-insufficient")


def test_contractor_on_a_government_only_label_is_denied(
    policies: Policies, subject: SubjectFactory
) -> None:
    fcl = {"party": "CAN", "level": "TS", "expires": "2027-01-01"}
    org = {"id": "irving", "kind": "contractor", "party": "CAN", "facility_clearance": fcl}
    contractor = subject(organisation=org)
    govonly = label(caveats=frozenset({GOVONLY}))
    denied(decide(contractor, govonly, "read", agreements=policies, now=NOW), "government-only")
    # the same label is readable by a government employee with the same clearance
    assert decide(subject(), govonly, "read", agreements=policies, now=NOW).permit


def test_missing_programme_is_denied(policies: Policies, subject: SubjectFactory) -> None:
    two = label(programmes=frozenset({"CPSP", "KSS"}))
    decision = decide(subject(), two, "read", agreements=policies, now=NOW)
    denied(decision, "programme-missing")
    assert decision.reasons[0].detail == "KSS"


def test_insufficient_clearance_through_equivalence_is_denied(
    policies: Policies, subject: SubjectFactory
) -> None:
    # CONFIDENTIAL is equivalent to 군사Ⅲ급비밀, below 군사Ⅱ급비밀
    low = subject(clearance={"party": "CAN", "level": "C", "expires": "2027-12-31"})
    denied(decide(low, label(), "read", agreements=policies, now=NOW), "clearance-insufficient")
    assert decide(low, label("III"), "read", agreements=policies, now=NOW).permit
    # TOP SECRET is out of scope of kor-can, but still dominates SECRET = 군사Ⅱ급비밀
    top = subject(clearance={"party": "CAN", "level": "TS", "expires": "2027-12-31"})
    assert decide(top, label(), "read", agreements=policies, now=NOW).permit


def test_clearance_of_a_party_outside_the_agreement_is_not_recognised(
    policies: Policies, subject: SubjectFactory
) -> None:
    german_cleared = subject(clearance={"party": "DEU", "level": "SG", "expires": "2027-12-31"})
    decision = decide(german_cleared, label(), "read", agreements=policies, now=NOW)
    denied(decision, "clearance-not-recognised")


def test_military_secret_class_i_toward_canada(policies: Policies, subject: SubjectFactory) -> None:
    officer = subject(**KOREAN_OFFICER)
    national = label(
        "I", policy="kor-national", releasable_to=frozenset({"KOR"}), programmes=frozenset()
    )
    assert decide(officer, national, "read", agreements=policies, now=NOW).permit
    # out of scope of every agreement linking Korea and Canada, and Canada is a third party
    send = decide(officer, national, "transmit", agreements=policies, now=NOW, to="CAN")
    denied(send, "recipient-third-party", "recipient-level-out-of-scope")
    # not even the originator's consent makes 군사Ⅰ급비밀 releasable to Canada
    release = decide(
        officer, national, "release", agreements=policies, now=NOW, to="CAN", consent="K-1"
    )
    denied(release, "recipient-level-out-of-scope")
    # a kor-can label at 군사Ⅰ급비밀 cannot be formed at all
    with pytest.raises(OutOfScope):
        decide(officer, label("I"), "read", agreements=policies, now=NOW)
    # and a Canadian, even cleared TOP SECRET, cannot read the Korean national information
    top = subject(clearance={"party": "CAN", "level": "TS", "expires": "2027-12-31"})
    decision = decide(top, national, "read", agreements=policies, now=NOW)
    denied(decision, "clearance-not-recognised", "nationality-not-released")


def test_role_without_clearance_is_denied(policies: Policies, subject: SubjectFactory) -> None:
    admiral = subject(clearance=None, roles=["admiral", "nsa-officer", "fso"])
    denied(decide(admiral, label(), "read", agreements=policies, now=NOW), "clearance-missing")


def test_write_down_on_create_is_denied(policies: Policies, subject: SubjectFactory) -> None:
    source = label("II")
    top = subject(clearance={"party": "CAN", "level": "TS", "expires": "2027-12-31"})

    def create(new: Any) -> Decision:
        return decide(top, new, "create", agreements=policies, now=NOW, sources=[source])

    denied(create(label("III")), "write-down")
    denied(create(label("II", programmes=frozenset())), "write-down")
    orcon_source = label("II", caveats=frozenset({"ORCON"}))
    no_caveat = decide(
        top, label("II"), "create", agreements=policies, now=NOW, sources=[orcon_source]
    )
    denied(no_caveat, "write-down")
    # dropping a programme, widening releasability or leaving the agreement is a write-down
    narrow = label("II", releasable_to=frozenset({"KOR"}))
    wide_from_narrow = decide(
        top, label("II"), "create", agreements=policies, now=NOW, sources=[narrow]
    )
    denied(wide_from_narrow, "write-down")
    laundered = label(
        "S", policy="can-national", originator="CAN", releasable_to=frozenset({"CAN"})
    )
    denied(create(laundered), "write-down")
    # at or above the source, in either scheme through the equivalence table: permitted
    assert create(label("II")).permit
    assert create(label("S", originator="CAN")).permit
    denied(create(label("C", originator="CAN")), "write-down")
    # every offending source is named
    both = decide(
        top, label("III"), "create", agreements=policies, now=NOW, sources=[label("III"), source]
    )
    denied(both, "write-down")
    assert both.reasons[0].detail == "sources 1"


def test_derive_cannot_drop_purpose(policies: Policies, subject: SubjectFactory) -> None:
    top = subject(clearance={"party": "CAN", "level": "TS", "expires": "2027-12-31"})
    research = label("II", purpose="research")

    def create(new: Any, *sources: Any) -> Decision:
        return decide(top, new, "create", agreements=policies, now=NOW, sources=list(sources))

    denied(create(label("II"), research), "write-down")
    denied(create(label("II", purpose="operational-coordination"), research), "write-down")
    assert create(label("II", purpose="research"), research).permit
    # two sources of different purposes: no label keeps both restrictions
    other = label("II", purpose="defence-procurement")
    for purpose in (None, "research", "defence-procurement"):
        denied(create(label("II", purpose=purpose), research, other), "write-down")


def test_downgrade_without_consent_is_denied(policies: Policies, subject: SubjectFactory) -> None:
    officer = subject(**KOREAN_OFFICER)
    denied(
        decide(officer, label(), "downgrade", agreements=policies, now=NOW),
        "downgrade-consent-missing",
    )
    allowed = decide(officer, label(), "downgrade", agreements=policies, now=NOW, consent="K-7")
    assert allowed.permit
    codes = [o.code for o in allowed.obligations]
    assert "notify-receivers" in codes
    assert "record-consent" in codes


def test_third_party_release_without_consent_to_germany_is_denied(
    policies: Policies, subject: SubjectFactory
) -> None:
    decision = decide(subject(), label(), "release", agreements=policies, now=NOW, to="DEU")
    denied(decision, "third-party-consent-missing")
    assert decision.reasons[0].detail == "recipient DEU"
    consented = decide(
        subject(), label(), "release", agreements=policies, now=NOW, to="DEU", consent="KOR-2026-7"
    )
    assert consented.permit
    assert {"code": "record-consent", "consent": "KOR-2026-7"} in [
        o.to_json() for o in consented.obligations
    ]


def test_transmit_of_kor_can_information_to_germany_is_denied(
    policies: Policies, subject: SubjectFactory
) -> None:
    # Canada holds can-deu too, but the information was received under kor-can (rule 2)
    assert "can-deu" in policies.policy_ids
    for consent in (None, "KOR-2026-7"):
        decision = decide(
            subject(), label(), "transmit", agreements=policies, now=NOW, to="DEU", consent=consent
        )
        denied(decision, "recipient-third-party")
    # Canada's own information under can-deu goes to Germany
    can_deu = label(
        "S", policy="can-deu", originator="CAN", releasable_to=frozenset({"CAN", "DEU"})
    )
    sent = decide(subject(), can_deu, "transmit", agreements=policies, now=NOW, to="DEU")
    assert sent.permit


def test_transmit_to_a_party_the_label_does_not_release_to_is_denied(
    policies: Policies, subject: SubjectFactory
) -> None:
    officer = subject(**KOREAN_OFFICER)
    korean_eyes_only = label(releasable_to=frozenset({"KOR"}))
    decision = decide(officer, korean_eyes_only, "transmit", agreements=policies, now=NOW, to="CAN")
    denied(decision, "recipient-not-released")


def test_use_for_another_purpose_is_denied(policies: Policies, subject: SubjectFactory) -> None:
    procurement = label(purpose="defence-procurement")
    denied(
        decide(subject(), procurement, "read", agreements=policies, now=NOW, purpose="research"),
        "purpose-mismatch",
    )
    stated = decide(
        subject(), procurement, "read", agreements=policies, now=NOW, purpose="defence-procurement"
    )
    assert stated.permit
    assert {"code": "use-only-for-purpose", "purpose": "defence-procurement"} in [
        o.to_json() for o in stated.obligations
    ]


def test_every_failing_rule_is_reported_together(
    policies: Policies, subject: SubjectFactory
) -> None:
    worst = subject(
        nationalities=["USA", "CAN"],
        clearance={"party": "CAN", "level": "C", "expires": "2026-01-01"},
        briefed_until="2026-01-01",
        programmes={"CPSP": "2026-01-01"},
        organisation={"id": "x", "kind": "contractor", "party": "USA"},
    )
    secret = label(programmes=frozenset({"CPSP", "KSS"}), caveats=frozenset({GOVONLY}))
    decision = decide(
        worst, secret, "release", agreements=policies, now=NOW, to="DEU", purpose="x-purpose"
    )
    denied(
        decision,
        "clearance-expired",
        "clearance-insufficient",
        "third-party-national",
        "programme-missing",
        "programme-expired",
        "briefing-stale",
        "facility-clearance-missing",
        "government-only",
        "third-party-consent-missing",
    )
    # in the stable order of the codes, one reason per failing rule
    order = [c.code for c in Code]
    assert [r.code for r in decision.reasons] == sorted(decision.codes, key=order.index)


def test_read_obligations_mark_with_the_readers_equivalent_and_originator(
    policies: Policies, subject: SubjectFactory
) -> None:
    decision = decide(subject(), label(), "read", agreements=policies, now=NOW)
    assert [o.to_json() for o in decision.obligations] == [
        {"code": "mark", "party": "CAN", "level": "S", "originator": "KOR"},
        {"code": "stamp-identity", "subject": "cdn-analyst-1"},
    ]


def test_transmit_obligations_ask_a_receipt_at_or_above_the_receipt_level(
    policies: Policies, subject: SubjectFactory
) -> None:
    officer = subject(**KOREAN_OFFICER)
    secret = decide(officer, label("II"), "transmit", agreements=policies, now=NOW, to="CAN")
    assert [o.to_json() for o in secret.obligations] == [
        {"code": "mark", "party": "CAN", "level": "S", "originator": "KOR"},
        {"code": "receipt-required", "from": "CAN"},
    ]
    confidential = decide(officer, label("III"), "transmit", agreements=policies, now=NOW, to="CAN")
    assert [o.code for o in confidential.obligations] == ["mark"]


def test_destroy_needs_access_and_certification(
    policies: Policies, subject: SubjectFactory
) -> None:
    done = decide(subject(), label(), Action.DESTROY, agreements=policies, now=NOW)
    assert [o.code for o in done.obligations] == ["certify-destruction"]
    denied(
        decide(subject(clearance=None), label(), "destroy", agreements=policies, now=NOW),
        "clearance-missing",
    )


def test_reason_details_never_come_from_another_policies_view(subject: SubjectFactory) -> None:
    # party indices differ between these two views; the explanation cache is keyed by names
    korea_first = Policies([bundled(i) for i in ("kor-can", "kor-national", "can-national")])
    canada_first = Policies([bundled(i) for i in ("can-deu", "kor-can", "deu-national")])
    canadian = subject(clearance={"party": "CAN", "level": "C", "expires": "2027-12-31"})
    first = decide(canadian, label("II"), "read", agreements=korea_first, now=NOW)
    denied(first, "clearance-insufficient")
    assert first.reasons[0].detail == "clearance CAN C, label KOR II"
    german = subject(
        nationalities=["DEU"],
        clearance={"party": "DEU", "level": "NFD", "expires": "2027-12-31"},
        programmes={},
    )
    top_secret = label(
        "TS",
        policy="can-deu",
        originator="CAN",
        releasable_to=frozenset({"CAN", "DEU"}),
        programmes=frozenset(),
    )
    second = decide(german, top_secret, "read", agreements=canada_first, now=NOW)
    denied(second, "clearance-insufficient")
    assert second.reasons[0].detail == "clearance DEU NFD, label CAN TS"


STALE = {"briefed_until": "2026-01-01"}
NO_PROGRAMMES: dict[str, Any] = {"programmes": {}}
CONTRACTOR = {"organisation": {"id": "irving", "kind": "contractor", "party": "CAN"}}

# (attack, subject changes, label, action, decide() keywords, its codes, extra changes, extra code)
ATTACKS: list[tuple[str, dict[str, Any], Label, str, dict[str, Any], set[str], dict[str, Any], str]]
ATTACKS = [
    ("expired clearance", {"clearance": {"party": "CAN", "level": "S", "expires": "2026-05-31"}},
     label(), "read", {}, {"clearance-expired"}, STALE, "briefing-stale"),
    ("expired programme", {"programmes": {"CPSP": "2026-01-31"}},
     label(), "read", {}, {"programme-expired"}, STALE, "briefing-stale"),
    ("stale briefing", STALE, label(), "read", {}, {"briefing-stale"},
     NO_PROGRAMMES, "programme-missing"),
    ("wrong nationality", {}, label(releasable_to=frozenset({"KOR"})), "read", {},
     {"nationality-not-released"}, STALE, "briefing-stale"),
    ("dual national", {"nationalities": ["CAN", "DEU"]}, label(), "read", {},
     {"third-party-national"}, STALE, "briefing-stale"),
    ("contractor without facility clearance", CONTRACTOR, label(), "read", {},
     {"facility-clearance-missing"}, STALE, "briefing-stale"),
    ("contractor on government-only", CONTRACTOR, label(caveats=frozenset({GOVONLY})), "read",
     {}, {"facility-clearance-missing", "government-only"}, STALE, "briefing-stale"),
    ("missing programme", {}, label(programmes=frozenset({"CPSP", "KSS"})), "read", {},
     {"programme-missing"}, STALE, "briefing-stale"),
    ("military secret class I toward Canada", KOREAN_OFFICER,
     label("I", policy="kor-national", releasable_to=frozenset({"KOR"}), programmes=frozenset()),
     "transmit", {"to": "CAN"}, {"recipient-third-party", "recipient-level-out-of-scope"},
     STALE, "briefing-stale"),
    ("role without clearance", {"clearance": None, "roles": ["admiral"]}, label(), "read", {},
     {"clearance-missing"}, STALE, "briefing-stale"),
    ("write-down on create", {}, label("III"), "create", {"sources": [label("II")]},
     {"write-down"}, STALE, "briefing-stale"),
    ("downgrade without consent", {}, label(), "downgrade", {}, {"downgrade-consent-missing"},
     STALE, "briefing-stale"),
    ("third-party release to Germany", {}, label(), "release", {"to": "DEU"},
     {"third-party-consent-missing"}, STALE, "briefing-stale"),
    ("transmit of kor-can to Germany", {}, label(), "transmit", {"to": "DEU"},
     {"recipient-third-party"}, NO_PROGRAMMES, "programme-missing"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "lab", "action", "kw", "codes", "extra", "extra_code"),
    [pytest.param(*row[1:], id=row[0]) for row in ATTACKS],
)
def test_each_attack_is_reported_together_with_every_other_failing_rule(
    policies: Policies,
    subject: SubjectFactory,
    changes: dict[str, Any],
    lab: Label,
    action: str,
    kw: dict[str, Any],
    codes: set[str],
    extra: dict[str, Any],
    extra_code: str,
) -> None:
    alone = decide(subject(**changes), lab, action, agreements=policies, now=NOW, **kw)
    denied(alone, *codes)
    also = decide(subject(**{**changes, **extra}), lab, action, agreements=policies, now=NOW, **kw)
    denied(also, *codes, extra_code)


def test_programme_details_follow_each_subjects_own_memberships(
    policies: Policies, subject: SubjectFactory
) -> None:
    two = label(programmes=frozenset({"CPSP", "KSS"}))
    lacks_kss = decide(subject(), two, "read", agreements=policies, now=NOW)
    lacks_cpsp = decide(
        subject(programmes={"KSS": "2027-01-01"}), two, "read", agreements=policies, now=NOW
    )
    lapsed = decide(
        subject(programmes={"KSS": "2026-01-01", "CPSP": "2026-01-01"}),
        two,
        "read",
        agreements=policies,
        now=NOW,
    )
    assert [r.detail for r in lacks_kss.reasons] == ["KSS"]
    assert [r.detail for r in lacks_cpsp.reasons] == ["CPSP"]
    assert [(r.code, r.detail) for r in lapsed.reasons] == [("programme-expired", "CPSP, KSS")]
