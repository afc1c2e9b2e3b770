"""RFC 9162 Merkle tree hashing, proof construction and proof verification.

Hashes (RFC 9162 §2.1.1): a leaf is `SHA-256(0x00 || data)`, an interior node
`SHA-256(0x01 || left || right)`, and the tree over `n` leaves splits at the largest power of
two smaller than `n`. The empty tree's root is `SHA-256("")`.

Stored trees keep the root of every *complete* aligned subtree (a perfect subtree of
`2**level` leaves starting at a multiple of `2**level`), addressed by `(level, index)`. Every
subtree that RFC 9162's recursion visits is a run of such complete subtrees, so a root, an
inclusion proof or a consistency proof needs O(log n) stored hashes: `inclusion_path` and
`consistency_path` compute which ones (`*_needs`) and then fold them. Verification follows
RFC 9162 §2.1.3.2 and §2.1.4.2 step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

from cix.audit.errors import AuditInputError, ConsistencyProofError, InclusionProofError

Node = tuple[int, int]
"""A complete aligned subtree (level, index): leaves [index << level, (index + 1) << level)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the empty tree (RFC 9162 §2.1.1: the hash of an empty string)."""

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """The RFC 9162 leaf hash of `data`: SHA-256(0x00 || data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """The root over `leaf_hashes` in memory (used for small trees, tests and recomputation)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    stack: list[bytes] = []
    for i, h in enumerate(leaf_hashes):
        stack.append(h)
        j = i
        while j & 1:
            right = stack.pop()
            stack[-1] = node_hash(stack[-1], right)
            j >>= 1
    return fold_right(stack)


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """Join the roots of consecutive complete subtrees (largest first) into one subtree root."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def storage_id(level: int, index: int) -> int:
    """A dense integer key for node (level, index): its position in post-order.

    This is the numbering of Go's `sumdb/tlog` (`StoredHashIndex`): nodes are numbered in the
    order an append-only writer completes them, so a full verification can stream stored
    nodes in key order alongside the recomputation.
    """
    last = ((index + 1) << level) - 1
    return 2 * last - last.bit_count() + level


def node_at(sid: int) -> Node:
    """The (level, index) whose `storage_id` is `sid` (used only to name a broken node)."""
    for level in range(64):
        lo, hi = 0, sid + 1  # storage_id grows with index: binary search at each level
        while lo < hi:
            mid = (lo + hi) // 2
            if storage_id(level, mid) < sid:
                lo = mid + 1
            else:
                hi = mid
        if storage_id(level, lo) == sid:
            return level, lo
    raise AuditInputError(f"no tree node has storage id {sid}")


def decompose(start: int, end: int) -> list[Node]:
    """The complete aligned subtrees that make up leaves [start, end), largest first.

    Valid for every range RFC 9162's recursion visits (start is aligned to the largest power
    of two not below end - start) and for [0, n).
    """
    nodes: list[Node] = []
    pos = start
    width = end - start
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            nodes.append((level, pos >> level))
            pos += 1 << level
    return nodes


def _split(width: int) -> int:
    """The largest power of two strictly smaller than width (width >= 2)."""
    return 1 << ((width - 1).bit_length() - 1)


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The sibling ranges of RFC 9162 PATH(index, D[0:size]), deepest first."""
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def _consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """The ranges of RFC 9162 PROOF(old, D[0:new]) (SUBPROOF with b = true), in proof order."""
    ranges: list[tuple[int, int]] = []
    start, end, complete = 0, new, True
    m = old
    while True:
        width = end - start
        if m == width:
            if not complete:
                ranges.append((start, end))
            break
        k = _split(width)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
            complete = False
    ranges.reverse()
    return ranges


def range_needs(ranges: Iterable[tuple[int, int]]) -> list[Node]:
    """Every stored node needed to hash the given ranges (deduplicated, order kept)."""
    seen: dict[Node, None] = {}
    for start, end in ranges:
        for node in decompose(start, end):
            seen[node] = None
    return list(seen)


def hash_ranges(ranges: Sequence[tuple[int, int]], nodes: Mapping[Node, bytes]) -> list[bytes]:
    """Hash each range from the stored complete subtrees in `nodes`."""
    return [fold_right([nodes[n] for n in decompose(s, e)]) for s, e in ranges]


NodeReader = Callable[[Sequence[Node]], Mapping[Node, bytes]]
"""Reads stored complete-subtree hashes by (level, index), all in one round trip."""


def root_at(size: int, read: NodeReader) -> bytes:
    """The root of the first `size` leaves, from at most log2(size) + 1 stored hashes."""
    if size == 0:
        return EMPTY_ROOT
    return hash_ranges([(0, size)], read(decompose(0, size)))[0]


def inclusion_path(index: int, size: int, read: NodeReader) -> list[bytes]:
    """The RFC 9162 §2.1.3.1 inclusion proof for leaf `index` in the tree of `size` leaves."""
    if not 0 <= index < size:
        raise AuditInputError(f"index {index} is outside the tree of size {size}")
    ranges = _inclusion_ranges(index, size)
    return hash_ranges(ranges, read(range_needs(ranges)))


def consistency_path(old: int, new: int, read: NodeReader) -> list[bytes]:
    """The RFC 9162 §2.1.4.1 consistency proof between tree sizes `old` and `new`."""
    if not 0 <= old <= new:
        raise AuditInputError(f"cannot prove consistency from size {old} to size {new}")
    if old in (0, new):
        return []
    ranges = _consistency_ranges(old, new)
    return hash_ranges(ranges, read(range_needs(ranges)))


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> None:
    """Check an inclusion proof (RFC 9162 §2.1.3.2); raise `InclusionProofError` if it fails."""
    if not 0 <= index < size:
        raise InclusionProofError(f"index {index} is outside the tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise InclusionProofError(f"inclusion proof for index {index} is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InclusionProofError(f"inclusion proof for index {index} is too short")
    if r != root:
        raise InclusionProofError(f"inclusion proof for index {index} does not reach the root")


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, path: Sequence[bytes]
) -> None:
    """Check a consistency proof (RFC 9162 §2.1.4.2); raise `ConsistencyProofError` if it fails."""
    if not 0 <= old <= new:
        raise ConsistencyProofError(f"size {new} cannot extend size {old}")
    if old == new:
        if path or old_root != new_root:
            raise ConsistencyProofError(f"two different roots for the same size {old}")
        return
    if old == 0:
        if path:
            raise ConsistencyProofError("a proof from the empty tree must be empty")
        return
    if not path:
        raise ConsistencyProofError(f"empty consistency proof from size {old} to {new}")
    hashes = list(path)
    if old & (old - 1) == 0:
        hashes.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = hashes[0]
    for c in hashes[1:]:
        if sn == 0:
            raise ConsistencyProofError(f"consistency proof {old}->{new} is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ConsistencyProofError(f"consistency proof {old}->{new} is too short")
    if fr != old_root:
        raise ConsistencyProofError(f"consistency proof {old}->{new} does not match the old root")
    if sr != new_root:
        raise ConsistencyProofError(f"consistency proof {old}->{new} does not match the new root")


class Frontier:
    """The right edge of an append-only tree: the roots of its complete subtrees.

    Appending a leaf merges equal-sized subtrees and yields each newly completed node, in
    the order an append-only writer completes them (the `storage_id` order).
    """

    __slots__ = ("hashes", "size")

    def __init__(self, size: int, hashes: Sequence[bytes]) -> None:
        if len(hashes) != size.bit_count():
            raise AuditInputError(f"a frontier of size {size} has {size.bit_count()} hashes")
        self.size = size
        self.hashes = list(hashes)

    @classmethod
    def load(cls, size: int, read: NodeReader) -> Frontier:
        """The frontier of a stored tree of `size` leaves (log2(size) + 1 reads at most)."""
        needs = decompose(0, size)
        got = read(needs)
        return cls(size, [got[n] for n in needs])

    def push(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash; return the completed interior nodes as (level, index, hash)."""
        index = self.size
        self.size += 1
        hashes = self.hashes
        h = leaf
        level = 0
        done: list[tuple[int, int, bytes]] = []
        while index >> level & 1:
            h = node_hash(hashes.pop(), h)
            level += 1
            done.append((level, index >> level, h))
        hashes.append(h)
        return done

    def root(self) -> bytes:
        """The root of the tree so far."""
        return fold_right(self.hashes) if self.hashes else EMPTY_ROOT
