"""The decision function, one request at a time (rules 1–4 and 11 of docs/design.md).

Every rule is evaluated, whatever the others say, and each failing rule sets its bit of
`Code`; the decision is a permit exactly when no bit is set. The rules:

- every action needs access to the information (rule 1): a valid clearance recognised by
  the label's policy whose level dominates the classification through the equivalence
  table; a nationality the label releases to, and, for information held under an agreement
  of several parties, no nationality of a third party; every programme on the label, each
  membership current; a current briefing; for a contractor, a valid facility clearance that
  dominates the label and no government-only caveat. Roles are never read;
- a stated purpose must be the label's purpose (rule 4);
- create: the new label dominates every source (`cix.labels.dominates`: same policy, level
  through equivalence, programmes and caveats included, releasability no wider, the
  source's purpose kept) — no write down (rule 11); sources of different purposes cannot
  be combined;
- transmit to a party: it is a party of the label's own policy, whatever other agreement
  the holder has with it (rule 2), released to, and the level has an equivalent there;
- release: as transmit, except that a third party may receive the information with the
  originator's consent reference (rule 2);
- downgrade: needs the originator's consent reference (rule 3);
- destroy: access only; the destruction must be certified (an obligation).
"""

from __future__ import annotations

from collections.abc import Sequence

from cix.labels import dominates as label_dominates
from cix.policy.compiled import (
    NOT_RECOGNISED,
    OUT_OF_SCOPE,
    CompiledLabel,
    CompiledSubject,
    Policies,
    PolicyError,
)
from cix.policy.decision import REASON_TEXT, Action, Code, Decision, Obligation, Reason

# Plain ints: IntFlag arithmetic costs a microsecond an operation, which the one-by-one
# path cannot afford.
CLEARANCE_MISSING = int(Code.CLEARANCE_MISSING)
CLEARANCE_EXPIRED = int(Code.CLEARANCE_EXPIRED)
CLEARANCE_NOT_RECOGNISED = int(Code.CLEARANCE_NOT_RECOGNISED)
CLEARANCE_INSUFFICIENT = int(Code.CLEARANCE_INSUFFICIENT)
LEVEL_OUT_OF_SCOPE = int(Code.LEVEL_OUT_OF_SCOPE)
NATIONALITY_NOT_RELEASED = int(Code.NATIONALITY_NOT_RELEASED)
THIRD_PARTY_NATIONAL = int(Code.THIRD_PARTY_NATIONAL)
PROGRAMME_MISSING = int(Code.PROGRAMME_MISSING)
PROGRAMME_EXPIRED = int(Code.PROGRAMME_EXPIRED)
BRIEFING_STALE = int(Code.BRIEFING_STALE)
FACILITY_CLEARANCE_MISSING = int(Code.FACILITY_CLEARANCE_MISSING)
FACILITY_CLEARANCE_EXPIRED = int(Code.FACILITY_CLEARANCE_EXPIRED)
FACILITY_CLEARANCE_INSUFFICIENT = int(Code.FACILITY_CLEARANCE_INSUFFICIENT)
GOVERNMENT_ONLY = int(Code.GOVERNMENT_ONLY)
PURPOSE_MISMATCH = int(Code.PURPOSE_MISMATCH)
WRITE_DOWN = int(Code.WRITE_DOWN)
RECIPIENT_THIRD_PARTY = int(Code.RECIPIENT_THIRD_PARTY)
RECIPIENT_NOT_RELEASED = int(Code.RECIPIENT_NOT_RELEASED)
RECIPIENT_LEVEL_OUT_OF_SCOPE = int(Code.RECIPIENT_LEVEL_OUT_OF_SCOPE)
THIRD_PARTY_CONSENT_MISSING = int(Code.THIRD_PARTY_CONSENT_MISSING)
DOWNGRADE_CONSENT_MISSING = int(Code.DOWNGRADE_CONSENT_MISSING)

# the reason bit of a clearance short of the `need` value (a rank or one of the sentinels)
_SHORT = tuple(
    CLEARANCE_NOT_RECOGNISED
    if need == NOT_RECOGNISED
    else LEVEL_OUT_OF_SCOPE
    if need == OUT_OF_SCOPE
    else CLEARANCE_INSUFFICIENT
    for need in range(NOT_RECOGNISED + 1)
)

_CREATE = Action.CREATE
_TRANSMIT = Action.TRANSMIT
_RELEASE = Action.RELEASE
_DOWNGRADE = Action.DOWNGRADE
_READ = Action.READ


def access_bits(s: CompiledSubject, lab: CompiledLabel, now: float, purpose: str | None) -> int:
    """The failing access rules (rules 1 and 4) of subject `s` on label `lab` at `now`."""
    bits = 0
    col = s.cl_col
    if col < 0:
        bits = CLEARANCE_MISSING
    else:
        if s.cl_exp <= now:
            bits = CLEARANCE_EXPIRED
        need = lab.need[col]
        if need > s.cl_rank:
            bits |= _SHORT[need]
    nat = s.nat
    if not nat & lab.rel:
        bits |= NATIONALITY_NOT_RELEASED
    if nat & lab.outside:
        bits |= THIRD_PARTY_NATIONAL
    if lab.prog_names:
        progs = s.progs
        for name in lab.prog_names:
            expiry = progs.get(name)
            if expiry is None:
                bits |= PROGRAMME_MISSING
            elif expiry <= now:
                bits |= PROGRAMME_EXPIRED
    if s.brief <= now:
        bits |= BRIEFING_STALE
    if s.contractor:
        if s.fcl_missing:
            bits |= FACILITY_CLEARANCE_MISSING
        else:
            if s.fcl_exp <= now:
                bits |= FACILITY_CLEARANCE_EXPIRED
            if lab.need[s.fcl_col] > s.fcl_rank:
                bits |= FACILITY_CLEARANCE_INSUFFICIENT
        if lab.govonly:
            bits |= GOVERNMENT_ONLY
    if purpose is not None and lab.purpose is not None and purpose != lab.purpose:
        bits |= PURPOSE_MISMATCH
    return bits


def dominates(new: CompiledLabel, source: CompiledLabel) -> bool:
    """True if `new` keeps every restriction of `source`: `cix.labels.dominates`, the one truth.

    Same policy, level through the equivalence, programmes, caveats, releasability no wider
    and the same purpose when the source has one.
    """
    return label_dominates(new.label, source.label, source.agreement)


def recipient_bits(
    pol: Policies, lab: CompiledLabel, action: Action, to: str, consent: bool
) -> int:
    """The failing transmission rules (rule 2) for sending `lab` to party `to`."""
    bit = pol.party_index.get(to)
    if bit is None:
        bit = pol.party_bit(to)
    bits = 0
    if lab.out_of_scope >> bit & 1:
        bits |= RECIPIENT_LEVEL_OUT_OF_SCOPE
    if not lab.parties_mask >> bit & 1:
        if action is _TRANSMIT:
            bits |= RECIPIENT_THIRD_PARTY
        elif not consent:
            bits |= THIRD_PARTY_CONSENT_MISSING
    elif not lab.rel >> bit & 1:
        bits |= RECIPIENT_NOT_RELEASED
    return bits


def request_bits(
    pol: Policies,
    s: CompiledSubject,
    lab: CompiledLabel,
    action: Action,
    now: float,
    to: str | None = None,
    consent: str | None = None,
    purpose: str | None = None,
    sources: Sequence[CompiledLabel] = (),
) -> int:
    """Every failing rule of one request, as `Code` bits (0 means permit).

    The one-by-one engine's inner call: compiled subject and label, `now` in POSIX seconds,
    arguments positional so that a caller deciding many requests pays no keyword cost.
    """
    bits = access_bits(s, lab, now, purpose)
    if action is _READ:
        return bits
    if action is _CREATE:
        for source in sources:
            if not dominates(lab, source):
                bits |= WRITE_DOWN
    elif action is _TRANSMIT or action is _RELEASE:
        if to is None:
            raise PolicyError(f"action {action.value}: a recipient party (to) is required")
        bits |= recipient_bits(pol, lab, action, to, bool(consent))
    elif action is _DOWNGRADE and not consent:
        bits |= DOWNGRADE_CONSENT_MISSING
    return bits


_BY_BIT: dict[int, Reason] = {int(code): Reason(code.code, REASON_TEXT[code]) for code in Code}
_RECIPIENT = (
    RECIPIENT_THIRD_PARTY
    | RECIPIENT_NOT_RELEASED
    | RECIPIENT_LEVEL_OUT_OF_SCOPE
    | THIRD_PARTY_CONSENT_MISSING
)
_PROGRAMMES = PROGRAMME_MISSING | PROGRAMME_EXPIRED
_LEVELS = CLEARANCE_INSUFFICIENT | LEVEL_OUT_OF_SCOPE
_VALID, _EXPIRED, _MISSING = 0, 1, 2
_ExplainKey = tuple[int, str | None, str, str, tuple[str, ...], tuple[int, ...]]
_EXPLAINED: dict[_ExplainKey, tuple[Reason, ...]] = {}
_EXPLAINED_MAX = 1 << 16
_DETAILED = (
    _RECIPIENT
    | PROGRAMME_MISSING
    | PROGRAMME_EXPIRED
    | WRITE_DOWN
    | CLEARANCE_INSUFFICIENT
    | LEVEL_OUT_OF_SCOPE
)


def explain(
    s: CompiledSubject,
    lab: CompiledLabel,
    bits: int,
    *,
    to: str | None,
    now: float,
    sources: Sequence[CompiledLabel] = (),
) -> tuple[Reason, ...]:
    """The reasons for `bits`, in code order, with details where a rule has them."""
    if bits & WRITE_DOWN:
        return _explain(s, lab, bits, to=to, now=now, sources=sources)
    # Otherwise the reasons depend only on these (names, not indices: the cache is shared by
    # every Policies) and on the state of the label's programmes, and they recur: reuse them.
    # only what the details read goes into the key, so that keys recur
    names: tuple[str, ...] = ()
    states: tuple[int, ...] = ()
    if bits & _PROGRAMMES:
        progs = s.progs
        names = lab.prog_names
        states = tuple(
            _MISSING if (e := progs.get(n)) is None else _EXPIRED if e <= now else _VALID
            for n in names
        )
    levels = bits & _LEVELS
    key = (
        bits,
        to if bits & _RECIPIENT else None,
        s.level_key if levels else "",
        lab.level_key if levels else "",
        names,
        states,
    )
    cached = _EXPLAINED.get(key)
    if cached is None:
        if len(_EXPLAINED) >= _EXPLAINED_MAX:
            _EXPLAINED.clear()
        cached = _EXPLAINED[key] = _explain(s, lab, bits, to=to, now=now, sources=sources)
    return cached


def _explain(
    s: CompiledSubject,
    lab: CompiledLabel,
    bits: int,
    *,
    to: str | None,
    now: float,
    sources: Sequence[CompiledLabel],
) -> tuple[Reason, ...]:
    reasons: list[Reason] = []
    rest = bits
    while rest:
        bit = rest & -rest  # lowest set bit first: the codes' order
        rest ^= bit
        static = _BY_BIT[bit]
        if not bit & _DETAILED:
            reasons.append(static)
            continue
        detail = ""
        if bit == PROGRAMME_MISSING:
            detail = ", ".join(n for n in lab.prog_names if n not in s.progs)
        elif bit == PROGRAMME_EXPIRED:
            detail = ", ".join(n for n in lab.prog_names if n in s.progs and s.progs[n] <= now)
        elif bit & _RECIPIENT:
            detail = f"recipient {to}"
        elif bit == WRITE_DOWN:
            detail = "sources " + ", ".join(
                str(i) for i, src in enumerate(sources) if not dominates(lab, src)
            )
        else:
            clearance = s.subject.clearance
            if clearance is not None:
                detail = (
                    f"clearance {clearance.party} {clearance.level}, label "
                    f"{lab.label.originator} {lab.label.classification}"
                )
        reasons.append(Reason(static.code, static.message, detail) if detail else static)
    return tuple(reasons)


def obligations(
    s: CompiledSubject, lab: CompiledLabel, action: Action, to: str | None, consent: str | None
) -> tuple[Obligation, ...]:
    """What the caller must do when acting on a permit (rules 3, 4, 5, 6 and 7)."""
    if action is _READ:
        clearance = s.subject.clearance
        party = clearance.party if clearance is not None else ""
        return (*_label_obligations(lab, action, party), s.stamp)
    base = _label_obligations(lab, action, to or "")
    if consent is not None and action in (_RELEASE, _DOWNGRADE):
        return (*base, Obligation("record-consent", (("consent", consent),)))
    return base


def _label_obligations(lab: CompiledLabel, action: Action, party: str) -> tuple[Obligation, ...]:
    key = (action, party)
    cached = lab.obligations.get(key)
    if cached is not None:
        return cached
    label = lab.label
    out: list[Obligation] = []
    if action in (_READ, _TRANSMIT, _RELEASE):
        level = lab.equivalents.get(party)
        params: tuple[tuple[str, str], ...]
        if level is not None:
            # rule 5: the receiver's equivalent marking, plus the originator's name
            params = (("party", party), ("level", level), ("originator", label.originator))
            out.append(Obligation("mark", params))
        else:
            params = (("level", label.classification), ("originator", label.originator))
            out.append(Obligation("mark-originator", params))
    if action in (_TRANSMIT, _RELEASE) and lab.receipt:
        out.append(Obligation("receipt-required", (("from", party),)))
    if action is _DOWNGRADE:
        out.append(Obligation("notify-receivers"))
    if action is Action.DESTROY:
        out.append(Obligation("certify-destruction"))
    if label.purpose is not None:
        out.append(Obligation("use-only-for-purpose", (("purpose", label.purpose),)))
    result = tuple(out)
    lab.obligations[key] = result
    return result


def decide_compiled(
    pol: Policies,
    s: CompiledSubject,
    lab: CompiledLabel,
    action: Action,
    now: float,
    to: str | None = None,
    consent: str | None = None,
    purpose: str | None = None,
    sources: Sequence[CompiledLabel] = (),
) -> Decision:
    """Decide one request on compiled inputs (`now` as POSIX seconds): the fast path."""
    bits = request_bits(pol, s, lab, action, now, to, consent, purpose, sources)
    if not bits:
        return Decision(True, (), obligations(s, lab, action, to, consent))
    return Decision(False, explain(s, lab, bits, to=to, now=now, sources=sources), ())
