"""Opaque listing cursors (cix.keys.cursor): a round trip that hides the id, one key for
every process of a node, and a cursor the node did not make refused or harmless."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cix.errors import InputError
from cix.keys.cursor import CursorCipher

KEY = bytes(range(32))


@given(st.binary(min_size=16, max_size=16))
def test_a_cursor_opens_to_its_position_and_is_not_it(block: bytes) -> None:
    cipher = CursorCipher(KEY)
    doc_id = block.hex()
    cursor = cipher.seal(doc_id)
    assert len(cursor) == 32
    assert cipher.open(cursor) == doc_id


@pytest.mark.parametrize("bad", ["", "zz" * 16, "00" * 15, "00" * 17])
def test_a_malformed_cursor_is_bad_input(bad: str) -> None:
    with pytest.raises(InputError, match="cursor"):
        CursorCipher(KEY).open(bad)


def test_processes_racing_to_make_the_key_all_read_the_same_whole_key(tmp_path: Path) -> None:
    path = tmp_path / "cursor.key"
    with ThreadPoolExecutor(8) as pool:
        ciphers = list(pool.map(lambda _: CursorCipher.at(path), range(16)))
    assert len({c.seal("00" * 16) for c in ciphers}) == 1
    assert len(path.read_bytes()) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["cursor.key"]  # no temporary left


def test_a_cursor_differs_from_the_id_it_names() -> None:
    cipher = CursorCipher(KEY)
    ids = [f"{n:032x}" for n in range(1000)]
    assert sum(cipher.seal(i) == i for i in ids) == 0
