"""SIGKILL at random moments while appending: nothing acknowledged is lost, nothing is partial.

A child process appends batches of random size to one log and reports each batch on a pipe
after its commit returned; the parent kills it at a random moment, then checks that every
reported batch is there with the same sequence numbers, that every batch present is complete
(no partial batch is visible), and that the whole log verifies. Then it starts the next child
on the same log.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from cix.audit import open_log

ROOT = Path(__file__).resolve().parents[2]
KILLS = 100


def _run_and_kill(address: str, run: int, rng: random.Random) -> list[tuple[int, int, int]]:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.audit.crash_child", address, str(run)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT)},
    )
    assert child.stdout is not None
    early = run % 10 == 0  # now and then, kill while it opens the log
    first_line = b"" if early else child.stdout.readline()
    time.sleep(rng.uniform(0.0, 0.3))
    child.send_signal(signal.SIGKILL)
    out, err = child.communicate()
    out = first_line + out
    assert child.returncode == -signal.SIGKILL, err.decode()
    acked = []
    for line in out.decode().splitlines():
        _, batch, first, last = map(int, line.split())
        acked.append((batch, first, last))
    return acked


@pytest.mark.slow
def test_sigkill_during_appends_loses_nothing_acknowledged(log_address: str) -> None:
    rng = random.Random(9162)
    acked: dict[tuple[int, int], tuple[int, int]] = {}
    for run in range(KILLS):
        for batch, first, last in _run_and_kill(log_address, run, rng):
            acked[(run, batch)] = (first, last)
    with open_log(log_address, create=False) as log:
        report = log.verify()
        seen: dict[tuple[int, int], list[int]] = defaultdict(list)
        sizes: dict[tuple[int, int], int] = {}
        for entry in log.entries(0, report.size):
            d = entry.event.details
            key = (int(d["run"]), int(d["batch"]))  # type: ignore[arg-type]
            seen[key].append(entry.seq)
            sizes[key] = int(d["of"])  # type: ignore[arg-type]
    for key, (first, last) in acked.items():
        assert seen[key] == list(range(first, last + 1)), f"acknowledged batch {key} lost"
    for key, seqs in seen.items():
        assert len(seqs) == sizes[key], f"batch {key} is partial: {len(seqs)}/{sizes[key]}"
    assert len({run for run, _ in acked}) >= KILLS * 9 // 10  # killed mid-append, not at start
    assert report.size >= sum(last - first + 1 for first, last in acked.values())
