"""RFC 9162 hashing and proofs against an independent oracle and fixed vectors."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pymerkle import InmemoryTree

from cix.audit import merkle
from cix.audit.errors import ConsistencyProofError, InclusionProofError
from tests.audit import oracle

VECTORS = Path(__file__).parents[1] / "vectors" / "audit" / "rfc9162.json"
SIZES = range(0, 71)
DATA = [f"entry {i}".encode() for i in range(max(SIZES))]


def reader_for(data: Sequence[bytes]) -> merkle.NodeReader:
    """A node reader over the complete subtrees of `data`, built the slow way (oracle.mth)."""
    table: dict[merkle.Node, bytes] = {}
    level = 0
    while (1 << level) <= len(data):
        for index in range(len(data) >> level):
            table[(level, index)] = oracle.mth(list(data[index << level : (index + 1) << level]))
        level += 1

    def read(nodes: Sequence[merkle.Node]) -> Mapping[merkle.Node, bytes]:
        return {n: table[n] for n in nodes}

    return read


READ = reader_for(DATA)


def sequence_data(n: int) -> list[bytes]:
    return [i.to_bytes(2, "big") for i in range(n)]


@pytest.mark.parametrize("n", SIZES)
def test_root_matches_oracle_and_pymerkle(n: int) -> None:
    leaves = [merkle.leaf_hash(d) for d in DATA[:n]]
    expected = oracle.mth(DATA[:n])
    assert merkle.root_of(leaves) == expected
    assert merkle.root_at(n, READ) == expected
    if n:
        tree = InmemoryTree(algorithm="sha256")
        for d in DATA[:n]:
            tree.append_entry(d)
        assert tree.get_root() == expected


@pytest.mark.parametrize("n", SIZES)
def test_inclusion_proofs_match_oracle_for_every_index(n: int) -> None:
    root = oracle.mth(DATA[:n])
    for i in range(n):
        path = merkle.inclusion_path(i, n, READ)
        assert path == oracle.path(i, DATA[:n])
        merkle.verify_inclusion(merkle.leaf_hash(DATA[i]), i, n, path, root)


@pytest.mark.parametrize("n", SIZES)
def test_consistency_proofs_match_oracle_for_every_old_size(n: int) -> None:
    new_root = oracle.mth(DATA[:n])
    for m in range(0, n + 1):
        path = merkle.consistency_path(m, n, READ)
        assert path == oracle.proof(m, DATA[:n])
        merkle.verify_consistency(m, n, oracle.mth(DATA[:m]), new_root, path)


def test_frontier_yields_every_complete_subtree_in_storage_order() -> None:
    frontier = merkle.Frontier(0, [])
    ids: list[int] = []
    for i, d in enumerate(DATA[:64]):
        ids.append(merkle.storage_id(0, i))
        for level, index, h in frontier.push(merkle.leaf_hash(d)):
            assert h == oracle.mth(DATA[index << level : (index + 1) << level])
            ids.append(merkle.storage_id(level, index))
        assert frontier.root() == oracle.mth(DATA[: i + 1])
    assert ids == list(range(len(ids)))  # post-order numbering is dense and increasing


def _b64(items: list[str]) -> list[bytes]:
    return [base64.b64decode(h) for h in items]


def test_fixed_vectors_certificate_transparency() -> None:
    vectors = json.loads(VECTORS.read_text())["ct"]
    leaves = [bytes.fromhex(h) for h in vectors["leaves_hex"]]
    read = reader_for(leaves)
    for n, root in vectors["roots_hex"].items():
        assert merkle.root_at(int(n), read).hex() == root
    for v in vectors["inclusion_hex"]:
        assert [h.hex() for h in merkle.inclusion_path(v["index"], v["size"], read)] == v["path"]
    for v in vectors["consistency_hex"]:
        got = merkle.consistency_path(v["old_size"], v["new_size"], read)
        assert [h.hex() for h in got] == v["path"]


def test_fixed_vectors_sequence() -> None:
    vectors = json.loads(VECTORS.read_text())["sequence"]
    data = sequence_data(64)
    read = reader_for(data)
    for n, root in vectors["roots"].items():
        assert merkle.root_at(int(n), read) == base64.b64decode(root)
    for v in vectors["inclusion"]:
        path = _b64(v["path"])
        assert merkle.inclusion_path(v["index"], v["size"], read) == path
        root = base64.b64decode(vectors["roots"][str(v["size"])])
        merkle.verify_inclusion(
            merkle.leaf_hash(data[v["index"]]), v["index"], v["size"], path, root
        )
    for v in vectors["consistency"]:
        path = _b64(v["path"])
        m, n = v["old_size"], v["new_size"]
        assert merkle.consistency_path(m, n, read) == path
        merkle.verify_consistency(
            m,
            n,
            base64.b64decode(vectors["roots"][str(m)]),
            base64.b64decode(vectors["roots"][str(n)]),
            path,
        )


@given(st.data())
def test_any_altered_inclusion_proof_is_rejected(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 64))
    i = data.draw(st.integers(0, n - 1))
    root = oracle.mth(DATA[:n])
    path = merkle.inclusion_path(i, n, READ)
    leaf = merkle.leaf_hash(DATA[i])
    change = data.draw(st.sampled_from(["flip", "index", "size", "drop", "extra", "leaf"]))
    if change == "flip" and path:
        k = data.draw(st.integers(0, len(path) - 1))
        path[k] = bytes([path[k][0] ^ 1]) + path[k][1:]
    elif change == "index" and n > 1:
        i = (i + data.draw(st.integers(1, n - 1))) % n
    elif change == "size":
        # The same path against the root of a larger tree (sizes are bound by the root).
        n = n + data.draw(st.integers(1, 6))
        root = oracle.mth(DATA[:n])
        assume(path != oracle.path(i, DATA[:n]))
    elif change == "drop" and path:
        path.pop()
    elif change == "extra":
        path.append(b"\x00" * 32)
    else:
        leaf = merkle.leaf_hash(b"forged")
    with pytest.raises(InclusionProofError):
        merkle.verify_inclusion(leaf, i, n, path, root)


@given(st.data())
def test_any_altered_consistency_proof_is_rejected(data: st.DataObject) -> None:
    n = data.draw(st.integers(2, 64))
    m = data.draw(st.integers(1, n - 1))
    path = merkle.consistency_path(m, n, READ)
    old_root, new_root = oracle.mth(DATA[:m]), oracle.mth(DATA[:n])
    change = data.draw(st.sampled_from(["flip", "old_root", "new_root", "drop", "extra"]))
    if change == "flip":
        k = data.draw(st.integers(0, len(path) - 1))
        path[k] = bytes([path[k][0] ^ 1]) + path[k][1:]
    elif change == "old_root":
        old_root = oracle.mth(DATA[1 : m + 1])
    elif change == "new_root":
        new_root = oracle.mth([*DATA[: n - 1], b"forged"])
    elif change == "drop":
        path.pop()
    else:
        path.append(b"\x00" * 32)
    with pytest.raises(ConsistencyProofError):
        merkle.verify_consistency(m, n, old_root, new_root, path)


def test_same_size_different_roots_is_not_consistent() -> None:
    with pytest.raises(ConsistencyProofError):
        merkle.verify_consistency(5, 5, oracle.mth(DATA[:5]), oracle.mth(DATA[1:6]), [])


def test_storage_id_is_the_tlog_post_order() -> None:
    # Go sumdb/tlog StoredHashIndex for the first nodes of an 8-leaf tree.
    order = [(0, 0), (0, 1), (1, 0), (0, 2), (0, 3), (1, 1), (2, 0), (0, 4)]
    assert [merkle.storage_id(level, index) for level, index in order] == list(range(8))


def test_node_at_inverts_storage_id() -> None:
    for level in range(8):
        for index in range(70):
            assert merkle.node_at(merkle.storage_id(level, index)) == (level, index)
