"""Verification in blocks and in worker processes reports exactly what one process does.

Every comparison runs the same log three ways: one process with the default block size
(the reference), one process with tiny blocks, and this process plus a worker process with
tiny blocks (the threshold lowered so a small log takes the parallel path). On an intact log
the reports are equal; on each kind of tampering the exception type and message are.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cix.audit import Log, Signer, generate_signer, merkle, open_log
from cix.audit.log import VerifyReport
from cix.audit.storage import parallel
from cix.audit.verify import BlockResult, run_here, verify_block
from tests.audit.conftest import event, sql

N = 200
Outcome = tuple[str, str] | VerifyReport


def _fill(log: Log, n: int = N, batch: int = 16) -> None:
    for start in range(0, n, batch):
        log.append_batch([event(i) for i in range(start, min(start + batch, n))])


def _outcome(run: Callable[[], VerifyReport]) -> Outcome:
    try:
        return run()
    except Exception as exc:
        return type(exc).__name__, str(exc)


def _three_ways(log: Log) -> list[Outcome]:
    return [
        _outcome(lambda: log.verify(workers=1)),
        _outcome(lambda: log.verify(workers=1, block_size=8)),
        _outcome(lambda: log.verify(workers=2, block_size=8, parallel_from=0)),
    ]


def _body(address: str, seq: int) -> bytes:
    return bytes(sql(address, "SELECT body FROM audit_entries WHERE seq = ?", [seq])[0][0])


def _edit(address: str, seq: int) -> None:
    forged = _body(address, seq).replace(b'"action":"read"', b'"action":"copy"')
    sql(address, "UPDATE audit_entries SET body = ? WHERE seq = ?", [forged, seq])


def _edit_with_leaf(address: str, seq: int) -> None:
    forged = _body(address, seq).replace(b'"action":"read"', b'"action":"copy"')
    leaf = hashlib.sha256(b"\x00" + forged).digest()
    sql(address, "UPDATE audit_entries SET body = ?, leaf = ? WHERE seq = ?", [forged, leaf, seq])


def _delete(address: str, seq: int) -> None:
    sql(address, "DELETE FROM audit_entries WHERE seq = ?", [seq])


def _swap(address: str, seq: int) -> None:
    other = seq + 1 if seq + 1 < N else seq - 1
    a = sql(address, "SELECT body, leaf FROM audit_entries WHERE seq = ?", [seq])[0]
    b = sql(address, "SELECT body, leaf FROM audit_entries WHERE seq = ?", [other])[0]
    sql(address, "UPDATE audit_entries SET body = ?, leaf = ? WHERE seq = ?", [*b, seq])
    sql(address, "UPDATE audit_entries SET body = ?, leaf = ? WHERE seq = ?", [*a, other])


def _node(seq: int) -> int:
    level = min((seq | 1).bit_length(), 3)  # a node that exists in a 200-entry tree
    index = min(seq >> level, (N >> level) - 1)
    return merkle.storage_id(level, index)


def _alter_node(address: str, seq: int) -> None:
    sql(address, "UPDATE audit_nodes SET hash = ? WHERE id = ?", [b"\x07" * 32, _node(seq)])


def _delete_node(address: str, seq: int) -> None:
    sql(address, "DELETE FROM audit_nodes WHERE id = ?", [_node(seq)])


def _smuggle(address: str, seq: int) -> None:
    body = _body(address, seq)
    sql(
        address,
        "INSERT INTO audit_entries (seq, leaf, body) VALUES (?, ?, ?)",
        [N + seq, merkle.leaf_hash(body), body],
    )


def _truncate(address: str, seq: int) -> None:
    cut = max(seq, 1)
    sql(address, "DELETE FROM audit_entries WHERE seq >= ?", [cut])
    sql(address, "DELETE FROM audit_nodes WHERE id >= ?", [merkle.storage_id(0, cut)])
    sql(address, "UPDATE audit_meta SET value = ? WHERE key = 'size'", [str(cut)])


TAMPERING: dict[str, Callable[[str, int], None]] = {
    "edit": _edit,
    "edit_with_leaf": _edit_with_leaf,
    "delete": _delete,
    "swap": _swap,
    "alter_node": _alter_node,
    "delete_node": _delete_node,
    "smuggle": _smuggle,
    "truncate": _truncate,
}


def test_intact_log_gives_the_same_report_every_way(log: Log) -> None:
    _fill(log)
    outcomes = _three_ways(log)
    assert isinstance(outcomes[0], VerifyReport)
    assert outcomes[0].size == N
    assert outcomes[0].root == log.root()
    assert outcomes == [outcomes[0]] * 3


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_each_tampering_is_reported_the_same_every_way(
    log: Log, log_address: str, kind: str
) -> None:
    _fill(log)
    TAMPERING[kind](log_address, 133)
    outcomes = _three_ways(log)
    assert not isinstance(outcomes[0], VerifyReport), f"{kind} went unnoticed"
    assert outcomes == [outcomes[0]] * 3


def test_two_tamperings_report_the_earlier_every_way(log: Log, log_address: str) -> None:
    _fill(log)
    _edit(log_address, 190)  # found by the worker, which takes blocks from the back
    _alter_node(log_address, 20)  # found by this process
    outcomes = _three_ways(log)
    assert outcomes[0] == ("TreeTampered", outcomes[0][1])  # type: ignore[index]
    assert outcomes == [outcomes[0]] * 3


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    size=st.integers(min_value=1, max_value=N),
    kind=st.sampled_from(sorted(TAMPERING)),
    where=st.floats(min_value=0, max_value=1, allow_nan=False),
)
def test_random_logs_and_tampering_agree_every_way(
    tmp_path: Path, signer: Signer, size: int, kind: str, where: float
) -> None:
    path = tmp_path / f"audit-{time.monotonic_ns()}.db"
    with open_log(path, signer=signer) as log:
        _fill(log, size, batch=13)
        intact = _three_ways(log)
        assert intact == [intact[0]] * 3
        seq = min(int(where * size), size - 1)
        if kind in {"swap", "smuggle", "alter_node", "delete_node"} and size < 16:
            kind = "edit"  # these need a few entries around the position
        if kind == "swap":
            seq = min(seq, size - 2)
        TAMPERING[kind](str(path), seq)
        outcomes = _three_ways(log)
        assert outcomes == [outcomes[0]] * 3


def test_a_worker_process_checks_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Slow this process down so the worker takes blocks from the back, and check that
    # what it sent back is what this process computes.
    here: list[int] = []
    slow = verify_block

    def counting(*args: object, **kwargs: bool) -> BlockResult:
        here.append(1)
        time.sleep(0.05)
        return slow(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(parallel, "verify_block", counting)
    with open_log(tmp_path / "a.db", signer=generate_signer("a.example/audit")) as log:
        _fill(log, 120)
        tasks = [(s, min(s + 8, 120), [s + 8] if s + 8 <= 120 else []) for s in range(0, 120, 8)]
        both = list(parallel.run_in_processes(log.storage, tasks, True, 1))
        alone = list(run_here(log.storage, tasks, True))
    assert len(here) < len(tasks)  # the worker did the rest
    assert both == alone
