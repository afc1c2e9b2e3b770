"""Child process of the crash test: append batches forever, report each commit on stdout.

Usage: python -m tests.audit.crash_child LOG RUN. Each line written after a commit is
`<run> <batch> <first seq> <last seq>`; the parent kills this process with SIGKILL.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime

from cix.audit import Event, open_log
from cix.audit.checkpoint import signer_from_seed


def main() -> None:
    address, run = sys.argv[1], int(sys.argv[2])
    rng = random.Random(run)
    now = datetime.now(UTC)
    with open_log(address, signer=signer_from_seed("crash.test/log", bytes(32))) as log:
        batch = 0
        while True:
            n = rng.randint(1, 300)
            events = [
                Event(
                    time=now,
                    node="crash",
                    type="crash.test",
                    actor=f"run-{run}",
                    details={"run": run, "batch": batch, "i": i, "of": n, "pad": "x" * (i % 400)},
                )
                for i in range(n)
            ]
            entries = log.append_batch(events)
            sys.stdout.write(f"{run} {batch} {entries[0].seq} {entries[-1].seq}\n")
            sys.stdout.flush()
            batch += 1


if __name__ == "__main__":
    main()
