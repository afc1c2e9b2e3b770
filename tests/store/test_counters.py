"""The write counters shared by the workers of one `cix serve` (`cix.store.counters`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cix.store.counters import DESTRUCTIONS, WRITES, SharedCounters
from cix.store.db import Database, share_counters

BUMPER = """
import sys
from pathlib import Path
from cix.store.counters import SharedCounters
counters = SharedCounters(Path(sys.argv[1]), create=False)
for _ in range(int(sys.argv[2])):
    counters.bump(0)
"""

WRITER = """
import sys
from pathlib import Path
from sqlalchemy import text
from cix.store.counters import SharedCounters
from cix.store.db import Database, share_counters
share_counters(sys.argv[2], SharedCounters(Path(sys.argv[1]), create=False))
db = Database(sys.argv[2])
with db.write() as session:
    session.execute(text("SELECT 1"))
db.dispose()
"""


def test_concurrent_bumps_from_two_processes_are_all_counted(tmp_path: Path) -> None:
    path = tmp_path / "serve.counters"
    counters = SharedCounters(path, create=True)
    bumpers = [
        subprocess.Popen([sys.executable, "-c", BUMPER, str(path), "5000"]) for _ in range(2)
    ]
    for _ in range(5000):
        counters.bump(WRITES)
    assert [b.wait(60) for b in bumpers] == [0, 0]
    # A lost update (two read-add-stores interleaved) would leave less than this.
    assert counters.get(WRITES) == 15_000
    assert counters.get(DESTRUCTIONS) == 0
    counters.close()


def test_write_in_another_process_moves_this_process_generation(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'node.db'}"
    path = tmp_path / "serve.counters"
    share_counters(url, SharedCounters(path, create=True))
    db = Database(url)
    before = db.generation
    subprocess.run([sys.executable, "-c", WRITER, str(path), url], check=True, timeout=60)
    assert db.generation == before + 1  # so every cached entry read before it is dropped
    db.dispose()


def test_counters_file_of_another_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "serve.counters"
    path.write_bytes(b"\0" * 10)
    with pytest.raises(ValueError, match="not a counters file"):
        SharedCounters(path, create=False)


def test_creating_starts_every_count_at_zero(tmp_path: Path) -> None:
    path = tmp_path / "serve.counters"
    first = SharedCounters(path, create=True)
    first.bump(DESTRUCTIONS)
    first.close()
    again = SharedCounters(path, create=True)
    assert again.get(DESTRUCTIONS) == 0
    again.close()


def test_symlink_planted_as_counters_file_is_refused_not_followed(tmp_path: Path) -> None:
    # Creating the counters file truncates it: a link to the database must not be followed.
    database = tmp_path / "cix.db"
    database.write_bytes(b"precious" * 100)
    (tmp_path / "serve.counters").symlink_to(database)
    with pytest.raises(OSError):
        SharedCounters(tmp_path / "serve.counters", create=True)
    assert database.read_bytes() == b"precious" * 100


def test_lock_file_is_private_even_if_it_existed_wider(tmp_path: Path) -> None:
    from cix.filelock import FileLock

    path = tmp_path / "cix.db.lock"
    path.touch(mode=0o666)
    path.chmod(0o666)
    lock = FileLock(path)
    with lock:
        pass
    lock.close()
    assert path.stat().st_mode & 0o777 == 0o600
