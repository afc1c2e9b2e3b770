"""The decision function vectorised over many requests at once (numpy).

The same rules as `cix.policy.engine`, written as array operations on the compiled tables:
subjects and labels are packed into columns once (`SubjectTable`, `LabelTable`), a batch
of requests is a set of index columns (which subject, which label, which action, …), and
the answer is one column of `Code` bits (0 = permit). When the whole batch is decided at one
instant (the usual case), everything that depends only on the subject and the clock is
computed once per subject, not once per request.

`tests/policy/test_batch.py` checks that every request gets exactly the bits the one-by-one
engine gives it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from cix.policy.compiled import (
    NOT_RECOGNISED,
    OUT_OF_SCOPE,
    CompiledLabel,
    CompiledSubject,
    Policies,
)
from cix.policy.decision import ACTION_INDEX, Action, Code

U64 = np.uint64
_MASK64 = (1 << 64) - 1
_BIT = {code: np.uint32(code.value) for code in Code}

Array = npt.NDArray[np.generic]
IntArray = npt.NDArray[np.integer]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _u64(values: Sequence[int]) -> npt.NDArray[np.uint64]:
    return np.array([v & _MASK64 for v in values], dtype=U64)


def _words(masks: Sequence[int], width: int) -> npt.NDArray[np.uint64]:
    out = np.zeros((len(masks), width), dtype=U64)
    for i, mask in enumerate(masks):
        for w in range(width):
            out[i, w] = (mask >> (64 * w)) & _MASK64
    return out


@dataclass(frozen=True)
class SubjectTable:
    """Compiled subjects as columns, row `i` being subject `i` of the batch."""

    cl_col: IntArray
    cl_rank: IntArray
    cl_missing: BoolArray
    cl_exp: FloatArray
    nat: npt.NDArray[np.uint64]
    brief: FloatArray
    contractor: BoolArray
    fcl_missing: BoolArray
    fcl_col: IntArray
    fcl_rank: IntArray
    fcl_exp: FloatArray
    prog_exp: FloatArray
    """Expiry of each programme membership, `-inf` where there is none (rows × programmes)."""
    prog_held: npt.NDArray[np.uint64]

    @classmethod
    def build(cls, pol: Policies, subjects: Sequence[CompiledSubject]) -> SubjectTable:
        """Pack compiled subjects (compiled by the same `pol`) into columns."""
        n_prog = len(pol.programme_index)
        width = max(1, -(-n_prog // 64))
        prog_exp = np.full((len(subjects), max(1, n_prog)), -np.inf)
        held = []
        for i, s in enumerate(subjects):
            mask = 0
            for name, expiry in s.progs.items():
                bit = pol.programme_index[name]
                prog_exp[i, bit] = expiry
                mask |= 1 << bit
            held.append(mask)
        return cls(
            cl_col=np.array([max(s.cl_col, 0) for s in subjects], dtype=np.intp),
            cl_rank=np.array([s.cl_rank for s in subjects], dtype=np.int16),
            cl_missing=np.array([s.cl_col < 0 for s in subjects], dtype=bool),
            cl_exp=np.array([s.cl_exp for s in subjects], dtype=np.float64),
            nat=_u64([s.nat for s in subjects]),
            brief=np.array([s.brief for s in subjects], dtype=np.float64),
            contractor=np.array([s.contractor for s in subjects], dtype=bool),
            fcl_missing=np.array([s.fcl_missing for s in subjects], dtype=bool),
            fcl_col=np.array([s.fcl_col for s in subjects], dtype=np.intp),
            fcl_rank=np.array([s.fcl_rank for s in subjects], dtype=np.int16),
            fcl_exp=np.array([s.fcl_exp for s in subjects], dtype=np.float64),
            prog_exp=prog_exp,
            prog_held=_words(held, width),
        )


@dataclass(frozen=True)
class LabelTable:
    """Compiled labels as columns, row `j` being label `j` of the batch."""

    need: npt.NDArray[np.int16]
    """Rank required in each party column (labels × columns), with the two sentinels."""
    need_flat: npt.NDArray[np.int16]
    columns: int
    policy: IntArray
    orig_col: IntArray
    own_rank: IntArray
    rel: npt.NDArray[np.uint64]
    parties: npt.NDArray[np.uint64]
    outside: npt.NDArray[np.uint64]
    out_of_scope: npt.NDArray[np.uint64]
    prog: npt.NDArray[np.uint64]
    caveats: npt.NDArray[np.uint64]
    govonly: BoolArray
    purpose: IntArray

    @classmethod
    def build(cls, pol: Policies, labels: Sequence[CompiledLabel]) -> LabelTable:
        """Pack compiled labels (compiled by the same `pol`) into columns."""
        n_prog = len(pol.programme_index)
        width = max(1, -(-n_prog // 64))
        need = np.array([lab.need for lab in labels], dtype=np.int16).reshape(len(labels), -1)
        return cls(
            need=need,
            need_flat=need.ravel(),
            columns=need.shape[1],
            policy=np.array([lab.policy for lab in labels], dtype=np.int16),
            orig_col=np.array([lab.orig_col for lab in labels], dtype=np.intp),
            own_rank=np.array([lab.own_rank for lab in labels], dtype=np.int16),
            rel=_u64([lab.rel for lab in labels]),
            parties=_u64([lab.parties_mask for lab in labels]),
            outside=_u64([~lab.inside for lab in labels]),
            out_of_scope=_u64([lab.out_of_scope for lab in labels]),
            prog=_words([lab.prog for lab in labels], width),
            caveats=_u64([lab.caveats for lab in labels]),
            govonly=np.array([lab.govonly for lab in labels], dtype=bool),
            purpose=np.array(
                [-1 if lab.purpose is None else pol.purpose_index[lab.purpose] for lab in labels],
                dtype=np.int32,
            ),
        )


def _set(bits: npt.NDArray[np.uint32], cond: BoolArray, code: Code) -> None:
    bits |= cond.view(np.uint8) * _BIT[code]


def _level_bits(
    bits: npt.NDArray[np.uint32], need: npt.NDArray[np.int16], rank: IntArray, active: BoolArray
) -> None:
    short = (need > rank) & active
    _set(bits, short & (need == NOT_RECOGNISED), Code.CLEARANCE_NOT_RECOGNISED)
    _set(bits, short & (need == OUT_OF_SCOPE), Code.LEVEL_OUT_OF_SCOPE)
    _set(bits, short & (need < OUT_OF_SCOPE), Code.CLEARANCE_INSUFFICIENT)


def _bit_of(column: npt.NDArray[np.uint64], index: IntArray) -> BoolArray:
    return ((column >> index.astype(U64)) & U64(1)).astype(bool)


def decide_batch(
    subjects: SubjectTable,
    labels: LabelTable,
    subject_index: IntArray,
    label_index: IntArray,
    action: IntArray | Action,
    now: float | FloatArray,
    *,
    to: IntArray | None = None,
    consent: BoolArray | None = None,
    purpose: IntArray | None = None,
    source: IntArray | None = None,
) -> npt.NDArray[np.uint32]:
    """Every failing rule of each request as `Code` bits (0 = permit).

    `action` is one `Action` for the whole batch or a column of `ACTION_INDEX` values. For
    transmit and release, `to` is the recipient's party bit (`Policies.party_bit`); `consent`
    says whether a consent
    reference was given; `purpose` is the stated purpose's index in `Policies.purpose_index`
    (-1: none stated); `source` is, for create, the row in `labels` of the one source label
    (-1: none). `now` is POSIX seconds, one for all or one per request.
    """
    s = np.asarray(subject_index, dtype=np.intp)
    lab = np.asarray(label_index, dtype=np.intp)
    n = s.shape[0]
    bits = np.zeros(n, dtype=np.uint32)

    scalar_now = np.ndim(now) == 0
    if scalar_now:
        # what depends only on the subject and the clock, once per subject
        pre = np.zeros(subjects.cl_col.shape[0], dtype=np.uint32)
        _set(pre, subjects.cl_missing, Code.CLEARANCE_MISSING)
        _set(pre, ~subjects.cl_missing & (subjects.cl_exp <= now), Code.CLEARANCE_EXPIRED)
        _set(pre, subjects.brief <= now, Code.BRIEFING_STALE)
        _set(pre, subjects.fcl_missing, Code.FACILITY_CLEARANCE_MISSING)
        _set(
            pre,
            subjects.contractor & ~subjects.fcl_missing & (subjects.fcl_exp <= now),
            Code.FACILITY_CLEARANCE_EXPIRED,
        )
        bits |= pre[s]
        valid = _valid_programmes(subjects.prog_exp > now, subjects.prog_held.shape[1])
        lacking = labels.prog[lab] & ~valid[s]
    else:
        t = np.asarray(now, dtype=np.float64)
        missing = subjects.cl_missing[s]
        _set(bits, missing, Code.CLEARANCE_MISSING)
        _set(bits, ~missing & (subjects.cl_exp[s] <= t), Code.CLEARANCE_EXPIRED)
        _set(bits, subjects.brief[s] <= t, Code.BRIEFING_STALE)
        fcl_missing = subjects.fcl_missing[s]
        _set(bits, fcl_missing, Code.FACILITY_CLEARANCE_MISSING)
        _set(
            bits,
            subjects.contractor[s] & ~fcl_missing & (subjects.fcl_exp[s] <= t),
            Code.FACILITY_CLEARANCE_EXPIRED,
        )
        valid_each = subjects.prog_exp[s] > t[:, None]
        lacking = labels.prog[lab] & ~_valid_programmes(valid_each, subjects.prog_held.shape[1])

    cols = labels.columns
    base = lab * cols
    need = labels.need_flat[base + subjects.cl_col[s]]
    _level_bits(bits, need, subjects.cl_rank[s], ~subjects.cl_missing[s])

    nat = subjects.nat[s]
    _set(bits, (nat & labels.rel[lab]) == 0, Code.NATIONALITY_NOT_RELEASED)
    _set(bits, (nat & labels.outside[lab]) != 0, Code.THIRD_PARTY_NATIONAL)

    if lacking.shape[1] == 1:
        lacking_any = lacking[:, 0] != 0
        held = subjects.prog_held[s, 0]
        _set(bits, lacking_any & ((lacking[:, 0] & ~held) != 0), Code.PROGRAMME_MISSING)
        _set(bits, lacking_any & ((lacking[:, 0] & held) != 0), Code.PROGRAMME_EXPIRED)
    else:
        held_w = subjects.prog_held[s]
        _set(bits, ((lacking & ~held_w) != 0).any(axis=1), Code.PROGRAMME_MISSING)
        _set(bits, ((lacking & held_w) != 0).any(axis=1), Code.PROGRAMME_EXPIRED)

    contractor = subjects.contractor[s]
    if contractor.any():
        fneed = labels.need_flat[base + subjects.fcl_col[s]]
        short = (fneed > subjects.fcl_rank[s]) & contractor & ~subjects.fcl_missing[s]
        _set(bits, short, Code.FACILITY_CLEARANCE_INSUFFICIENT)
        _set(bits, contractor & labels.govonly[lab], Code.GOVERNMENT_ONLY)

    if purpose is not None:
        stated = np.asarray(purpose)
        given = labels.purpose[lab]
        _set(bits, (stated >= 0) & (given >= 0) & (stated != given), Code.PURPOSE_MISMATCH)

    if isinstance(action, Action):
        _action_bits(bits, labels, lab, action, None, to, consent, source)
    else:
        acts = np.asarray(action)
        for act in Action:
            rows = acts == ACTION_INDEX[act]
            if act is Action.READ or act is Action.DESTROY or not rows.any():
                continue
            _action_bits(bits, labels, lab, act, rows, to, consent, source)
    return bits


def _valid_programmes(valid: BoolArray, width: int) -> npt.NDArray[np.uint64]:
    rows = valid.shape[0]
    out = np.zeros((rows, width), dtype=U64)
    for bit in range(valid.shape[1]):
        out[:, bit // 64] |= valid[:, bit].astype(U64) << U64(bit % 64)
    return out


def _action_bits(
    bits: npt.NDArray[np.uint32],
    labels: LabelTable,
    lab: IntArray,
    act: Action,
    rows: BoolArray | None,
    to: IntArray | None,
    consent: BoolArray | None,
    source: IntArray | None,
) -> None:
    def pick(column: Any) -> Any:
        return column if rows is None else column[rows]

    sub_lab = pick(lab)
    sub = np.zeros(sub_lab.shape[0], dtype=np.uint32)
    given = np.zeros(sub_lab.shape[0], dtype=bool) if consent is None else pick(consent)
    if act is Action.CREATE:
        if source is None:
            return
        src = pick(source)
        has = src >= 0
        src = np.where(has, src, 0)
        level_ok = (
            labels.need_flat[src * labels.columns + labels.orig_col[sub_lab]]
            <= labels.own_rank[sub_lab]
        )
        ok = (
            (labels.policy[src] == labels.policy[sub_lab])
            & level_ok
            & ((labels.prog[src] & ~labels.prog[sub_lab]) == 0).all(axis=1)
            & ((labels.caveats[src] & ~labels.caveats[sub_lab]) == 0)
            & ((labels.rel[sub_lab] & ~labels.rel[src]) == 0)
        )
        _set(sub, has & ~ok, Code.WRITE_DOWN)
    elif act is Action.TRANSMIT or act is Action.RELEASE:
        if to is None:
            raise ValueError("transmit and release need the `to` column")
        recipient = pick(to)
        third = ~_bit_of(labels.parties[sub_lab], recipient)
        if act is Action.TRANSMIT:
            _set(sub, third, Code.RECIPIENT_THIRD_PARTY)
        else:
            _set(sub, third & ~given, Code.THIRD_PARTY_CONSENT_MISSING)
        inside = ~third
        _set(sub, inside & ~_bit_of(labels.rel[sub_lab], recipient), Code.RECIPIENT_NOT_RELEASED)
        out = _bit_of(labels.out_of_scope[sub_lab], recipient)
        _set(sub, out, Code.RECIPIENT_LEVEL_OUT_OF_SCOPE)
    elif act is Action.DOWNGRADE:
        _set(sub, ~given, Code.DOWNGRADE_CONSENT_MISSING)
    if rows is None:
        bits |= sub
    else:
        bits[rows] |= sub
