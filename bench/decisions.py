"""Access decisions per second: cix one by one and batched, against Cedar (cedarpy).

All engines decide the same seeded random requests (every action, subjects and labels over
the bundled kor-can, can-deu and national policies, one decision instant), and the answers
are checked to agree before any rate is printed. Compilation of subjects and labels and the
packing of the batch tables happen once, before timing, as on a node (subjects and labels
are compiled when loaded); building Cedar's requests and entity store is likewise untimed.

    python -m bench decisions            # from the repository root
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable

import cedarpy
import numpy as np
from tests.policy import cedar_model
from tests.policy.cases import World, world

from cix.policy.batch import BatchTables
from cix.policy.decision import ACTION_INDEX
from cix.policy.engine import decide_compiled, request_bits

N_REQUESTS = 200_000
N_CEDAR_SINGLE = 5_000
N_CEDAR_BATCH = 100_000
CEDAR_CHUNK = 25_000
BATCH_REPEAT = 20


def _best(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """The fastest of `repeat` runs: (wall seconds, CPU seconds of this process).

    The machine is shared, so the best run is the least disturbed one; CPU time shows what
    the code costs when it has a core to itself.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return min(walls), min(cpus)


def _machine() -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} cpus, {model}, Python {platform.python_version()}, "
        f"numpy {np.__version__}, load average {load:.1f}"
    )


def _columns(w: World) -> dict[str, np.ndarray]:
    pol = w.policies
    return {
        "s": np.array([c.subject for c in w.cases], dtype=np.intp),
        "l": np.array([c.label for c in w.cases], dtype=np.intp),
        "a": np.array([ACTION_INDEX[c.action] for c in w.cases], dtype=np.intp),
        "to": np.array([pol.party_bit(c.to or "KOR") for c in w.cases], dtype=np.intp),
        "consent": np.array([c.consent is not None for c in w.cases]),
        "purpose": np.array(
            [-1 if c.purpose is None else pol.purpose_index.get(c.purpose, 99) for c in w.cases],
            dtype=np.intp,
        ),
        "source": np.array([-1 if c.source is None else c.source for c in w.cases], dtype=np.intp),
    }


def main() -> None:
    """Measure and print rates and ratios; fail loudly if any two engines disagree."""
    print(f"machine: {_machine()}")
    w = world(seed=4774, n_cases=N_REQUESTS, n_subjects=2_000, n_labels=1_000, instants=1)
    pol = w.policies
    now = w.cases[0].now.timestamp()
    subjects = pol.subjects(w.subjects)
    labels = pol.labels(w.labels)
    args = [
        (
            pol,
            subjects[c.subject],
            labels[c.label],
            c.action,
            now,
            c.to,
            c.consent,
            c.purpose,
            () if c.source is None else (labels[c.source],),
        )
        for c in w.cases
    ]

    # cix, one by one: the reason bits (permit = no bit), then full Decision objects
    single_bits: list[int] = []

    def one_by_one_bits() -> None:
        single_bits.clear()
        append = single_bits.append
        for a in args:
            append(request_bits(*a))

    t_bits = _best(one_by_one_bits, 5)
    decisions: list[bool] = []

    def one_by_one_decisions() -> None:
        decisions.clear()
        append = decisions.append
        for p, s, lab, act, t, to, consent, purpose, sources in args:
            append(decide_compiled(p, s, lab, act, t, to, consent, purpose, sources).permit)

    t_decisions = _best(one_by_one_decisions, 5)
    assert decisions == [b == 0 for b in single_bits]

    # cix, batched over the same requests
    tables = BatchTables.build(pol, subjects, labels)
    cols = _columns(w)
    batch_bits: list[np.ndarray] = []

    def batched() -> None:
        batch_bits[:] = [
            tables.decide(
                cols["s"],
                cols["l"],
                cols["a"],
                now,
                to=cols["to"],
                consent=cols["consent"],
                purpose=cols["purpose"],
                source=cols["source"],
            )
        ]

    t_batch = _best(batched, BATCH_REPEAT)
    assert (batch_bits[0] == np.array(single_bits, dtype=np.uint32)).all()
    each = np.full(N_REQUESTS, now)

    def batched_each_time() -> None:
        batch_bits[:] = [
            tables.decide(
                cols["s"], cols["l"], cols["a"], each, to=cols["to"], consent=cols["consent"],
                purpose=cols["purpose"], source=cols["source"],
            )
        ]  # fmt: skip

    t_batch_each = _best(batched_each_time, 5)
    assert (batch_bits[0] == np.array(single_bits, dtype=np.uint32)).all()

    # Cedar on the same requests, same answers
    policy_set = cedarpy.PolicySet.from_str(cedar_model.POLICY_FILE.read_text(encoding="utf-8"))
    entities = cedarpy.Entities.from_json_str(
        json.dumps(cedar_model.entities(w.agreements, w.subjects, w.labels))
    )
    cedar_requests = [
        cedar_model.request(
            w.subjects[c.subject], c.label, c.action, c.now, to=c.to,
            consent=c.consent is not None, purpose=c.purpose, source_row=c.source,
        )
        for c in w.cases[:N_CEDAR_BATCH]
    ]  # fmt: skip
    cedar_single: list[bool] = []
    cedar_batch: list[bool] = []

    def cedar_one_by_one() -> None:
        cedar_single[:] = [
            cedarpy.is_authorized(r, policy_set, entities).allowed
            for r in cedar_requests[:N_CEDAR_SINGLE]
        ]

    def cedar_batched() -> None:
        cedar_batch.clear()
        for i in range(0, N_CEDAR_BATCH, CEDAR_CHUNK):
            results = cedarpy.is_authorized_batch(
                cedar_requests[i : i + CEDAR_CHUNK], policy_set, entities
            )
            cedar_batch.extend(r.allowed for r in results)

    t_cedar_single = _best(cedar_one_by_one, 1)
    t_cedar_batch = _best(cedar_batched, 1)
    assert cedar_single == cedar_batch[:N_CEDAR_SINGLE]
    agree = sum(c == (b == 0) for c, b in zip(cedar_batch, single_bits, strict=False))
    assert agree == N_CEDAR_BATCH, f"Cedar and cix disagree on {N_CEDAR_BATCH - agree} requests"

    timings = {
        "cix one by one, reason bits": (N_REQUESTS, t_bits),
        "cix one by one, Decision objects": (N_REQUESTS, t_decisions),
        "cix batched, one instant": (N_REQUESTS, t_batch),
        "cix batched, a time per request": (N_REQUESTS, t_batch_each),
        "cedarpy is_authorized (single)": (N_CEDAR_SINGLE, t_cedar_single),
        "cedarpy is_authorized_batch": (N_CEDAR_BATCH, t_cedar_batch),
    }
    permits = sum(b == 0 for b in single_bits)
    print(
        f"{N_REQUESTS:,} requests ({permits:,} permits); Cedar on the first "
        f"{N_CEDAR_BATCH:,} (single: {N_CEDAR_SINGLE:,}); all answers identical"
    )
    print(f"  {'engine':<34} {'decisions/s (wall)':>19} {'decisions/s (CPU)':>19}")
    wall = {name: n / t[0] for name, (n, t) in timings.items()}
    cpu = {name: n / t[1] for name, (n, t) in timings.items()}
    for name in timings:
        print(f"  {name:<34} {wall[name]:>19,.0f} {cpu[name]:>19,.0f}")
    print("ratios (wall clock, same run):")
    single, batch = "cedarpy is_authorized (single)", "cedarpy is_authorized_batch"
    for name in list(timings)[:4]:
        print(
            f"  {name:<34} {wall[name] / wall[single]:>8,.0f}x cedarpy single"
            f" {wall[name] / wall[batch]:>8,.0f}x cedarpy batch"
        )
    print("targets: one by one >= 500,000/s; batched >= 10,000,000/s and >= 50x cedarpy batch")


if __name__ == "__main__":
    main()
