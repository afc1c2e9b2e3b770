"""The log on both backends: appends, proofs against the oracle, verification, group commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from cix.audit import (
    Checkpoint,
    Log,
    Signer,
    entry_from_bytes,
    generate_signer,
    open_checkpoint,
    open_log,
    verify_consistency,
    verify_inclusion,
)
from cix.audit.errors import AuditInputError, UnknownLog
from cix.audit.log import Storage, Writer
from cix.audit.storage import open_storage
from tests.audit import oracle
from tests.audit.conftest import T0, event


def test_appended_entries_read_back_in_order(log: Log) -> None:
    first = log.append(event(0))
    batch = log.append_batch([event(i) for i in range(1, 10)])
    assert first.seq == 0
    assert [e.seq for e in batch] == list(range(1, 10))
    assert log.size() == 10
    assert [e.to_json()["actor"] for e in log.tail(3)] == [f"user-{i}@mnd.go.kr" for i in (7, 8, 9)]
    assert log.entries(0, 1)[0] == first


def test_root_and_proofs_match_the_oracle_at_every_size(log: Log) -> None:
    bodies: list[bytes] = []
    for i in range(40):
        bodies.append(log.append(event(i)).body)
        n = len(bodies)
        assert log.root() == oracle.mth(bodies)
    n = len(bodies)
    for size in (1, 2, 5, 17, 32, 33, 40):
        for index in range(size):
            assert list(log.prove_inclusion(index, size).path) == oracle.path(index, bodies[:size])
        for old in range(size + 1):
            proof = log.prove_consistency(old, size)
            assert list(proof.path) == oracle.proof(old, bodies[:size])
    assert log.size() == n


def test_each_batch_carries_a_signed_checkpoint(log: Log, signer: Signer) -> None:
    log.append_batch([event(i) for i in range(5)])
    log.append_batch([event(i) for i in range(5, 12)])
    latest = log.latest_checkpoint()
    assert latest is not None
    assert latest.checkpoint.size == 12
    assert latest.checkpoint.root == log.root()
    assert open_checkpoint(latest.note, signer.verifier).checkpoint == latest.checkpoint
    assert [size for size, _ in log.storage.checkpoints()] == [5, 12]


def test_light_verifier_needs_only_checkpoint_and_key(log: Log, signer: Signer) -> None:
    log.append_batch([event(i) for i in range(9)])
    old = log.checkpoint(signer)
    log.append_batch([event(i) for i in range(9, 30)])
    new = log.checkpoint(signer)
    entry = log.entries(13, 14)[0]
    proof = log.prove_inclusion(13)
    assert verify_inclusion(entry.body, proof, new.note, signer.verifier) == new.checkpoint
    verify_consistency(old.checkpoint, new.checkpoint, log.prove_consistency(9))


def test_full_verification_passes_on_an_intact_log(log: Log) -> None:
    for start in range(0, 100, 13):
        log.append_batch([event(i) for i in range(start, min(start + 13, 100))])
    report = log.verify()
    assert (report.size, report.root, report.checkpoints) == (100, log.root(), 8)
    assert log.verify(deep=False) == report


class SlowWrites:
    """The real storage with a pause inside each write transaction, so commits overlap."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.commits = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    @contextmanager
    def write(self) -> Iterator[Writer]:
        with self.inner.write() as tx:
            time.sleep(0.02)
            yield tx
        self.commits += 1


def test_concurrent_appends_share_commits_and_lose_nothing(
    log_address: str, signer: Signer
) -> None:
    slow = SlowWrites(open_storage(log_address))
    log = Log(slow, signer=signer)  # type: ignore[arg-type]

    def worker(k: int) -> None:
        for i in range(25):
            log.append(event(k * 100 + i))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.size() == 200
    actors = sorted(e.to_json()["actor"] for e in log.entries(0, 200))
    assert actors == sorted(f"user-{k * 100 + i}@mnd.go.kr" for k in range(8) for i in range(25))
    assert slow.commits < 60, slow.commits  # callers queued behind a commit went in together
    assert len(log.storage.checkpoints()) == slow.commits - 1  # one per batch (+1: key pin)
    log.verify()
    log.close()


def test_checkpoint_interval_follows_event_time(log_address: str, signer: Signer) -> None:
    with open_log(log_address, signer=signer, checkpoint_interval=timedelta(minutes=1)) as log:
        for i in range(10):  # events 20 s apart, one per batch
            log.append(event(0, time=T0 + timedelta(seconds=20 * i)))
        sizes = [size for size, _ in log.storage.checkpoints()]
    assert sizes == [1, 4, 7, 10]


def test_a_given_seq_that_is_not_next_appends_nothing(log: Log) -> None:
    log.append(event(0))
    with pytest.raises(AuditInputError, match="seq 5 given"):
        log.append_batch([event(1), event(2)], seqs=[None, 5])
    assert log.size() == 1


def test_reopened_log_continues_the_same_tree(log_address: str, signer: Signer) -> None:
    with open_log(log_address, signer=signer) as first:
        first.append_batch([event(i) for i in range(7)])
    with open_log(log_address, create=False) as again:
        again.append_batch([event(i) for i in range(7, 12)])
        bodies = [e.body for e in again.entries(0, 12)]
        assert again.root() == oracle.mth(bodies)
        again.verify()


def test_log_refuses_a_second_signing_key(log: Log) -> None:
    log.append(event(0))
    with pytest.raises(AuditInputError, match="refusing the key"):
        log.checkpoint(generate_signer("kor.cix.example/audit"))


def test_missing_log_is_reported_not_created(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("none") / "absent.db"
    with pytest.raises(UnknownLog, match="no audit log"):
        open_log(path, create=False)
    assert not path.exists()


@pytest.mark.parametrize("address", ["mysql://db/audit", "sqlite:///x.db", "", "s3://bucket/log"])
def test_unknown_log_address_is_an_input_error(address: str) -> None:
    with pytest.raises(UnknownLog):
        open_log(address)


def test_entries_round_trip_through_storage(log: Log) -> None:
    entry = log.append(event(3, details={"한국": "캐나다", "nested": {"list": [1, True, None]}}))
    stored = log.entries(0, 1)[0]
    assert stored == entry
    assert entry_from_bytes(stored.body) == entry
    assert Checkpoint("kor.cix.example/audit", 1, log.root()).size == 1


@pytest.mark.postgres
def test_sqlalchemy_style_postgres_url_is_accepted(postgres_url: str) -> None:
    url = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    with open_log(url) as log:
        log.append(event(0))
    with open_log(postgres_url, create=False) as again:
        assert again.size() == 1
