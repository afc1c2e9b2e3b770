"""The decision function vectorised over many requests at once (numpy).

The same rules as `cix.policy.engine`, written as array operations. A batch is a set of
index columns (which subject, which label, which action, which recipient, …) over the
subjects and labels packed into a `BatchTables`; the answer is one column of `Code` bits
(0 = permit).

Speed comes from the small number of distinct cases behind many requests. Whether a
clearance, a facility clearance, the nationalities and the employer pass a label depends
only on a subject's *profile* (clearance party and rank, facility clearance, employer kind,
nationalities) and on a label's *kind* (policy, originator, level, releasability,
government-only); whether a transmission passes depends only on the label's kind, the
recipient, the action and whether a consent was given. There are a few hundred of each at
most, so `BatchTables` precomputes their answers as small tables, and deciding a request is
a handful of table look-ups and ORs. Only the clock-dependent rules (expiries) and
programmes are evaluated per request, and for a batch decided at one instant the expiries
are evaluated once per subject.

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

U32 = np.uint32
_MASK64 = (1 << 64) - 1
_N_ACTIONS = len(Action)
_SENDING = frozenset({Action.TRANSMIT, Action.RELEASE, Action.DOWNGRADE})
_CHUNK = 1 << 14

Bits = npt.NDArray[np.uint32]
Index = npt.NDArray[np.intp]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


def _b(code: Code) -> int:
    return int(code)


def _set(bits: Bits, cond: Bools | np.bool_, code: Code) -> None:
    np.bitwise_or(bits, U32(code.value), out=bits, where=cond)


def _rows(values: Sequence[Any]) -> tuple[Index, list[Any]]:
    """The index of each value among the distinct values, and the distinct values."""
    seen: dict[Any, int] = {}
    keys = np.fromiter((seen.setdefault(v, len(seen)) for v in values), dtype=np.intp)
    return keys, list(seen)


@dataclass(frozen=True)
class BatchTables:
    """Subjects and labels packed for `decide`, with the precomputed case tables."""

    # per subject
    subject_key: Index
    """Row of each subject's profile in `access` (premultiplied by nothing: a column)."""
    cl_missing: Bools
    cl_exp: Floats
    brief: Floats
    fcl_missing: Bools
    fcl_exp: Floats
    prog_exp: Floats
    """Expiry of each programme membership, `-inf` where there is none (subjects x bits)."""
    # per label
    label_access: Index
    """Offset of each label's kind in `access` (kind index x number of profiles)."""
    label_send: Index
    """Offset of each label's transmission kind in `send`."""
    label_prog: Bools
    """Programmes each label requires (labels x programme bits)."""
    label_clock: Index
    """Each label's programme kind: its column in the clock table of `_clock_tables`."""
    prog_kinds: Bools
    """The distinct programme sets of the labels (kinds x programme bits)."""
    label_has_prog: Bools
    policy: Index
    orig_col: Index
    own_rank: npt.NDArray[np.int16]
    need: npt.NDArray[np.int16]
    prog_mask: list[int]
    caveats: list[int]
    rel: list[int]
    purpose: Index
    masks: tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.uint64]] | None
    """Programmes, caveats and releasability as 64-bit masks, when they fit in 64 bits."""
    # the case tables
    access: Bits
    send: Bits
    parties: int
    """Number of party bits `to` may take (0 .. parties-1)."""

    @classmethod
    def build(
        cls,
        pol: Policies,
        subjects: Sequence[CompiledSubject],
        labels: Sequence[CompiledLabel],
    ) -> BatchTables:
        """Pack compiled subjects and labels (compiled by the same `pol`)."""
        n_prog = max(1, len(pol.programme_index))
        prog_exp = np.full((len(subjects), n_prog), -np.inf)
        for i, s in enumerate(subjects):
            for name, expiry in s.progs.items():
                prog_exp[i, pol.programme_index[name]] = expiry
        label_prog = np.zeros((len(labels), n_prog), dtype=bool)
        for j, lab in enumerate(labels):
            for name in lab.prog_names:
                label_prog[j, pol.programme_index[name]] = True

        subject_key, profiles = _rows(
            [
                (s.cl_col, s.cl_rank, s.contractor, s.fcl_missing, s.fcl_col, s.fcl_rank, s.nat)
                for s in subjects
            ]
        )
        access_kind, kinds = _rows(
            [(lab.need, lab.rel, lab.outside, lab.govonly) for lab in labels]
        )
        access = _access_table(profiles, kinds)
        parties = len(pol.party_index)
        send_kind, send_kinds = _rows(
            [(lab.parties_mask, lab.rel, lab.out_of_scope) for lab in labels]
        )
        send = _send_table(send_kinds, parties)
        need = np.array([lab.need for lab in labels], dtype=np.int16).reshape(len(labels), -1)
        prog_kind, prog_sets = _rows([label_prog[j].tobytes() for j in range(len(labels))])
        prog_kinds = np.array(
            [np.frombuffer(raw, dtype=bool) for raw in prog_sets], dtype=bool
        ).reshape(len(prog_sets), n_prog)
        return cls(
            subject_key=subject_key,
            cl_missing=np.array([s.cl_col < 0 for s in subjects], dtype=bool),
            cl_exp=np.array([s.cl_exp for s in subjects], dtype=np.float64),
            brief=np.array([s.brief for s in subjects], dtype=np.float64),
            fcl_missing=np.array([s.fcl_missing for s in subjects], dtype=bool),
            fcl_exp=np.array(
                [s.fcl_exp if s.contractor else np.inf for s in subjects], dtype=np.float64
            ),
            prog_exp=prog_exp,
            label_access=access_kind * len(profiles),
            label_send=send_kind * (parties * _N_ACTIONS * 2),
            label_prog=label_prog,
            label_has_prog=np.asarray(label_prog.any(axis=1), dtype=bool),
            label_clock=prog_kind,
            prog_kinds=prog_kinds,
            policy=np.array([lab.policy for lab in labels], dtype=np.intp),
            orig_col=np.array([lab.orig_col for lab in labels], dtype=np.intp),
            own_rank=np.array([lab.own_rank for lab in labels], dtype=np.int16),
            need=need,
            prog_mask=[lab.prog for lab in labels],
            caveats=[lab.caveats for lab in labels],
            rel=[lab.rel for lab in labels],
            purpose=np.array(
                [-1 if lab.purpose is None else pol.purpose_index[lab.purpose] for lab in labels],
                dtype=np.intp,
            ),
            masks=_masks(labels),
            access=access.ravel(),
            send=send.ravel(),
            parties=parties,
        )

    def decide(
        self,
        subject_index: Index,
        label_index: Index,
        action: npt.NDArray[np.integer] | Action,
        now: float | Floats,
        *,
        to: Index | None = None,
        consent: Bools | None = None,
        purpose: Index | None = None,
        source: Index | None = None,
    ) -> Bits:
        """Every failing rule of each request as `Code` bits (0 = permit).

        `action` is one `Action` for the whole batch or a column of `ACTION_INDEX` values.
        `to` is the recipient's party bit (`Policies.party_bit`; any value for actions
        without a recipient); `consent` whether a consent reference was given; `purpose`
        the stated purpose's index in `Policies.purpose_index` (-1: none, any other value
        not among the labels' purposes: a purpose no label has); `source`, for create, the
        row of the one source label (-1: none). `now` is POSIX seconds, one for all
        requests or one each.
        """
        s = np.asarray(subject_index, dtype=np.intp)
        lab = np.asarray(label_index, dtype=np.intp)
        n = s.shape[0]
        if lab.shape != (n,):
            raise ValueError("subject_index and label_index differ in length")
        acts: Any = (
            ACTION_INDEX[action] if isinstance(action, Action) else np.asarray(action, np.intp)
        )
        # the send table only matters for transmit, release and downgrade
        sends = not isinstance(action, Action) or action in _SENDING
        if sends:
            to_col: Any = 0 if to is None else np.asarray(to, dtype=np.intp)
            if to is not None and to_col.size and int(to_col.max()) >= self.parties:
                raise ValueError("a recipient party bit is beyond the parties of these tables")
            given: Any = 0 if consent is None else np.asarray(consent, dtype=np.intp)
            column = (to_col * _N_ACTIONS + acts) * 2 + given
            send_column = np.broadcast_to(np.asarray(column, dtype=np.intp), (n,))
        bits = np.empty(n, dtype=U32)
        if np.ndim(now) == 0:
            clock_key, clock_table = self._clock_tables(float(now))
            # chunks that stay in cache; every step writes into the same small buffers
            idx = np.empty(_CHUNK, dtype=np.intp)
            tmp = np.empty(_CHUNK, dtype=np.intp)
            got = np.empty(_CHUNK, dtype=U32)
            for start in range(0, n, _CHUNK):
                stop = min(n, start + _CHUNK)
                m = stop - start
                sc, lc, i, t, g = s[start:stop], lab[start:stop], idx[:m], tmp[:m], got[:m]
                out = bits[start:stop]
                np.take(self.label_access, lc, out=i)
                np.take(self.subject_key, sc, out=t)
                np.add(i, t, out=i)
                np.take(self.access, i, out=out)
                np.take(self.label_clock, lc, out=i)
                np.take(clock_key, sc, out=t)
                np.add(i, t, out=i)
                np.take(clock_table, i, out=g)
                np.bitwise_or(out, g, out=out)
                if sends:
                    np.take(self.label_send, lc, out=i)
                    np.add(i, send_column[start:stop], out=i)
                    np.take(self.send, i, out=g)
                    np.bitwise_or(out, g, out=out)
        else:
            bits[:] = self.access[self.label_access[lab] + self.subject_key[s]]
            bits |= self._clock_bits_each(s, lab, np.asarray(now, dtype=np.float64))
            if sends:
                bits |= self.send[self.label_send[lab] + send_column]

        if purpose is not None:
            stated = np.asarray(purpose)
            wanted = self.purpose[lab]
            _set(bits, (stated >= 0) & (wanted >= 0) & (stated != wanted), Code.PURPOSE_MISMATCH)
        if source is not None:
            creating = np.asarray(acts) == ACTION_INDEX[Action.CREATE]
            rows = np.flatnonzero((np.asarray(source) >= 0) & creating)
            if rows.size:
                self._write_down(bits, rows, lab[rows], np.asarray(source)[rows])
        return bits

    def _clock_tables(self, t: float) -> tuple[Index, Bits]:
        """At one instant: each subject's clock key (premultiplied), and the clock table.

        A subject's clock key stands for its expired grants and the state (valid, expired,
        missing) of each programme membership at `t`; subjects in the same state share it.
        """
        per = np.zeros(self.cl_exp.shape[0], dtype=U32)
        _set(per, ~self.cl_missing & (self.cl_exp <= t), Code.CLEARANCE_EXPIRED)
        _set(per, self.brief <= t, Code.BRIEFING_STALE)
        _set(per, ~self.fcl_missing & (self.fcl_exp <= t), Code.FACILITY_CLEARANCE_EXPIRED)
        held = self.prog_exp > -np.inf
        expired = held & (self.prog_exp <= t)
        state = np.column_stack([per, held, expired]).astype(np.int64)
        distinct, key = np.unique(state, axis=0, return_inverse=True)
        width = self.prog_exp.shape[1]
        missing = (distinct[:, 1 : 1 + width] == 0).astype(np.int32)
        lapsed = (distinct[:, 1 + width :] != 0).astype(np.int32)
        wanted = self.prog_kinds.astype(np.int32).T
        kinds = wanted.shape[1]
        # table[key, kind]: the key's expired grants, and its programmes the kind lacks
        table = np.repeat(distinct[:, 0].astype(U32)[:, None], kinds, axis=1)
        _set(table, (missing @ wanted) > 0, Code.PROGRAMME_MISSING)
        _set(table, (lapsed @ wanted) > 0, Code.PROGRAMME_EXPIRED)
        return (key.reshape(-1) * kinds).astype(np.intp), table.ravel()

    def _clock_bits_each(self, s: Index, lab: Index, t_each: Floats) -> Bits:
        bits = np.zeros(s.shape[0], dtype=U32)
        _set(bits, ~self.cl_missing[s] & (self.cl_exp[s] <= t_each), Code.CLEARANCE_EXPIRED)
        _set(bits, self.brief[s] <= t_each, Code.BRIEFING_STALE)
        _set(
            bits,
            ~self.fcl_missing[s] & (self.fcl_exp[s] <= t_each),
            Code.FACILITY_CLEARANCE_EXPIRED,
        )
        rows = np.flatnonzero(self.label_has_prog[lab])
        if rows.size:
            exp = self.prog_exp[s[rows]]
            held = exp > -np.inf
            expired = held & (exp <= t_each[rows, None])
            sub = np.zeros(rows.size, dtype=U32)
            wanted = self.label_prog[lab[rows]]
            _set(sub, (wanted & ~held).any(axis=1), Code.PROGRAMME_MISSING)
            _set(sub, (wanted & expired).any(axis=1), Code.PROGRAMME_EXPIRED)
            bits[rows] |= sub
        return bits

    def _write_down(self, bits: Bits, rows: Index, new: Index, src: Index) -> None:
        """Set WRITE_DOWN where the new label does not dominate its source (engine.dominates)."""
        level_ok = self.need[src, self.orig_col[new]] <= self.own_rank[new]
        ok = (self.policy[src] == self.policy[new]) & level_ok
        # The source's purpose is kept (cix.labels.dominates): -1 is "no purpose".
        ok &= (self.purpose[src] == -1) | (self.purpose[src] == self.purpose[new])
        if self.masks is not None:
            prog, caveats, rel = self.masks
            ok &= (prog[src] & ~prog[new]) == 0
            ok &= (caveats[src] & ~caveats[new]) == 0
            ok &= (rel[new] & ~rel[src]) == 0
        else:  # more than 64 programmes: Python integers, row by row
            for i, (n, o) in enumerate(zip(new.tolist(), src.tolist(), strict=True)):
                ok[i] &= not (
                    self.prog_mask[o] & ~self.prog_mask[n]
                    or self.caveats[o] & ~self.caveats[n]
                    or self.rel[n] & ~self.rel[o]
                )
        bits[rows[~ok]] |= U32(Code.WRITE_DOWN.value)


def _masks(
    labels: Sequence[CompiledLabel],
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.uint64]] | None:
    columns = ([lab.prog for lab in labels], [lab.caveats for lab in labels])
    rel = [lab.rel for lab in labels]
    if any(v > _MASK64 or v < 0 for column in (*columns, rel) for v in column):
        return None
    prog, caveats = (np.array(c, dtype=np.uint64) for c in columns)
    return prog, caveats, np.array(rel, dtype=np.uint64)


def _access_table(profiles: list[Any], kinds: list[Any]) -> Bits:
    """Bits of the clock-independent access rules for every (label kind, subject profile)."""
    need = np.array([k[0] for k in kinds], dtype=np.int16).reshape(len(kinds), -1)
    rel = [k[1] for k in kinds]
    outside = [k[2] for k in kinds]
    govonly = np.array([k[3] for k in kinds], dtype=bool)
    table = np.zeros((len(kinds), len(profiles)), dtype=U32)
    for p, (cl_col, cl_rank, contractor, fcl_missing, fcl_col, fcl_rank, nat) in enumerate(
        profiles
    ):
        column = table[:, p]
        if cl_col < 0:
            _set(column, np.ones(len(kinds), dtype=bool), Code.CLEARANCE_MISSING)
        else:
            wanted = need[:, cl_col]
            short = wanted > cl_rank
            _set(column, short & (wanted == NOT_RECOGNISED), Code.CLEARANCE_NOT_RECOGNISED)
            _set(column, short & (wanted == OUT_OF_SCOPE), Code.LEVEL_OUT_OF_SCOPE)
            _set(column, short & (wanted < OUT_OF_SCOPE), Code.CLEARANCE_INSUFFICIENT)
        _set(column, np.array([not nat & r for r in rel]), Code.NATIONALITY_NOT_RELEASED)
        _set(column, np.array([bool(nat & o) for o in outside]), Code.THIRD_PARTY_NATIONAL)
        if contractor:
            if fcl_missing:
                _set(column, np.ones(len(kinds), dtype=bool), Code.FACILITY_CLEARANCE_MISSING)
            else:
                _set(column, need[:, fcl_col] > fcl_rank, Code.FACILITY_CLEARANCE_INSUFFICIENT)
            _set(column, govonly, Code.GOVERNMENT_ONLY)
        table[:, p] = column
    return table


def _send_table(kinds: list[Any], parties: int) -> Bits:
    """Bits of the action rules for every (label kind, recipient, action, consent given)."""
    table = np.zeros((len(kinds), parties, _N_ACTIONS, 2), dtype=U32)
    transmit, release = ACTION_INDEX[Action.TRANSMIT], ACTION_INDEX[Action.RELEASE]
    downgrade = ACTION_INDEX[Action.DOWNGRADE]
    for k, (parties_mask, rel, out_of_scope) in enumerate(kinds):
        table[k, :, downgrade, 0] = _b(Code.DOWNGRADE_CONSENT_MISSING)
        for to in range(parties):
            third = not parties_mask >> to & 1
            common = 0
            if out_of_scope >> to & 1:
                common |= _b(Code.RECIPIENT_LEVEL_OUT_OF_SCOPE)
            if not third and not rel >> to & 1:
                common |= _b(Code.RECIPIENT_NOT_RELEASED)
            for given in (0, 1):
                sent = common | (_b(Code.RECIPIENT_THIRD_PARTY) if third else 0)
                released = common
                if third and not given:
                    released |= _b(Code.THIRD_PARTY_CONSENT_MISSING)
                table[k, to, transmit, given] = sent
                table[k, to, release, given] = released
    return table
