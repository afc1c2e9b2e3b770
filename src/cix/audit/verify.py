"""Full verification of a stored log, block by block, in one process or several.

The log is cut into aligned blocks of `block_size` leaves (a power of two): every block but
the last is a complete subtree of RFC 9162's tree, so it can be checked on its own: its
entries (all present, each at its own number, each matching its leaf hash), every stored
interior node inside it, and the hash of its part of each checkpoint's range. A parent then
joins the block roots in log order (as an append-only writer would), compares the stored
nodes above the blocks and each checkpoint's root, and raises the first finding.

"First" is defined by position in the log, the same whatever the block size or the number
of processes: a finding at entry `p` (missing, out of order or invalid, not matching its
hash, in that precedence) comes before a stored node completed by entry `p`, which comes
before a checkpoint of size `p + 1`; rows stored beyond the log's size come last. So one
process and many report the same exception with the same message.

Blocks are checked by a `Runner`: `run_here` checks them in turn in this process;
`cix.audit.storage.parallel.run_in_processes` shares them with worker processes (the
process and storage-opening glue lives there, at the impure edge). This module is
storage-agnostic: it reads through `BlockReader`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from operator import itemgetter
from typing import Final, Protocol

from cix.audit import merkle
from cix.audit.entry import entry_from_bytes
from cix.audit.errors import (
    AuditInputError,
    EntryMissing,
    EntryOutOfOrder,
    EntryTampered,
    RootMismatch,
    TreeTampered,
)
from cix.errors import VerificationError

BLOCK_SIZE: Final = 16_384
"""Leaves per block (a power of two): small enough to share work evenly, large enough that
per-block queries cost little."""
PARALLEL_FROM: Final = 50_000
"""Smaller logs are checked in one process: starting workers costs more than it saves."""

# Precedence of findings at the same position (see the module docstring).
_MISSING, _ENTRY, _LEAF, _NODE, _HEAD = range(5)

_sha256 = hashlib.sha256
_digest = type(_sha256()).digest
_leaf_input = b"\x00".__add__
_node_input = b"\x01%b%b".__mod__
_first = itemgetter(0)
_second = itemgetter(1)
_SEQ_KEY: Final = b',"seq":'


class BlockReader(Protocol):
    """What block verification reads from a storage (see `cix.audit.log.Storage`)."""

    @property
    def address(self) -> str:
        """The address `open_storage` reopens this storage from, in another process."""

    def read_block(self, start: int, end: int) -> list[tuple[bytes, bytes]]:
        """(body, leaf hash) of the entries with start <= seq < end, in seq order."""

    def read_seqs(self, start: int, end: int | None, limit: int) -> list[int]:
        """Up to `limit` stored sequence numbers >= start (and < end), in order."""

    def read_node_range(self, lo: int, hi: int) -> list[tuple[int, bytes]]:
        """(storage id, hash) of the interior nodes with lo <= id < hi, in id order."""

    def extent(self) -> tuple[int | None, int | None, int | None, int | None]:
        """(smallest seq, largest seq, smallest node id, largest node id); None when empty."""


@dataclass(frozen=True, slots=True)
class Finding:
    """Something broken, with its place in log order (position, then precedence)."""

    position: int
    rank: int
    error: VerificationError

    @property
    def key(self) -> tuple[int, int]:
        """The order in which findings are reported: the smallest key is the first."""
        return self.position, self.rank


@dataclass(frozen=True, slots=True)
class BlockResult:
    """What one block's check found and what the parent needs to join it to the rest."""

    start: int
    end: int
    roots: list[bytes]
    """Hashes of the complete subtrees that make up the block (one for a full block)."""
    heads: list[tuple[int, bytes]]
    """For each checkpoint size s inside the block: (s, hash of entries start..s-1)."""
    upper: list[tuple[int, bytes]]
    """Stored nodes after the block's own, up to the next block's first (its ancestors)."""
    finding: Finding | None


def first_finding(*findings: Finding | None) -> Finding | None:
    """The earliest of some findings (None when there are none)."""
    present = [f for f in findings if f is not None]
    return min(present, key=lambda f: f.key) if present else None


# -- one block ------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _post_order(width: int) -> tuple[list[int], list[int]]:
    """For a block of `width` leaves: where each interior node sits in the per-level lists
    laid end to end (level 1 first), and its storage id relative to the block, both in
    storage-id (completion) order."""
    offsets = [0, 0]
    count = width // 2
    while count:
        offsets.append(offsets[-1] + count)
        count //= 2
    where: list[int] = []
    ids: list[int] = []
    for i in range(width):
        level = 0
        base = 2 * i - i.bit_count()
        while i >> level & 1:
            level += 1
            where.append(offsets[level] + ((i + 1) >> level) - 1)
            ids.append(base + level)
    return where, ids


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every complete aligned subtree's hash, level by level (level 0: the leaves)."""
    levels = [leaves]
    row = leaves
    while len(row) > 1:
        pairs = iter(row)  # consecutive pairs; an odd last hash has no parent yet
        joined = map(_node_input, zip(pairs, pairs, strict=False))
        row = list(map(_digest, map(_sha256, joined)))
        levels.append(row)
    return levels


def _range_hash(levels: list[list[bytes]], width: int) -> list[bytes]:
    """The complete subtrees over the block's first `width` leaves, largest first."""
    hashes: list[bytes] = []
    pos = 0
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            hashes.append(levels[level][pos >> level])
            pos += 1 << level
    return hashes


def _entry_finding(bodies: list[bytes], start: int, deep: bool) -> Finding | None:
    if not deep:
        # Fast path, exactly the per-entry test below: the last `,"seq":` of each body is
        # followed by its own number and a comma.
        ats = list(map(bytes.rfind, bodies, repeat(_SEQ_KEY)))
        if not ats or (
            min(ats) >= 0
            and all(
                map(
                    bytes.startswith,
                    bodies,
                    map(b"%d,".__mod__, range(start, start + len(bodies))),
                    map(len(_SEQ_KEY).__add__, ats),
                )
            )
        ):
            return None
    for k, body in enumerate(bodies):
        seq = start + k
        if not deep:
            at = body.rfind(_SEQ_KEY) + len(_SEQ_KEY)
            if at >= len(_SEQ_KEY) and body.startswith(b"%d," % seq, at):
                continue
        try:
            body_seq = entry_from_bytes(body).seq
        except AuditInputError as exc:
            return Finding(seq, _ENTRY, EntryTampered(f"entry {seq} is not a valid entry: {exc}"))
        if body_seq != seq:
            return Finding(
                seq, _ENTRY, EntryOutOfOrder(f"entry {seq} holds the entry numbered {body_seq}")
            )
    return None


def _node_finding(stored: list[tuple[int, bytes]], computed: list[tuple[int, bytes]]) -> Finding:
    for k, (sid, h) in enumerate(computed):
        if k >= len(stored) or stored[k] != (sid, h):
            level, index = merkle.node_at(sid)
            first, last = index << level, ((index + 1) << level) - 1
            return Finding(
                last,
                _NODE,
                TreeTampered(
                    f"stored tree node over entries {first}..{last} differs from the recomputed one"
                ),
            )
    raise AssertionError("no differing node")  # pragma: no cover (callers compared first)


def verify_block(
    storage: BlockReader, start: int, end: int, heads: Sequence[int], *, deep: bool
) -> BlockResult:
    """Check the entries start..end-1 (start a multiple of the block size, end - start no
    larger) and the stored nodes inside them; `heads` are the checkpoint sizes in
    (start, end] whose partial hashes the parent needs."""
    rows = storage.read_block(start, end)
    missing: Finding | None = None
    if len(rows) != end - start:  # the range is bounded and seq unique: a gap
        seqs = storage.read_seqs(start, end, end - start)
        k = next((k for k, seq in enumerate(seqs) if seq != start + k), len(seqs))
        missing = Finding(start + k, _MISSING, EntryMissing(f"entry {start + k} is missing"))
        rows = rows[:k]
    width = len(rows)
    bodies = list(map(_first, rows))
    stored_leaves = list(map(_second, rows))
    entry = _entry_finding(bodies, start, deep)
    leaves = list(map(_digest, map(_sha256, map(_leaf_input, bodies))))
    leaf: Finding | None = None
    if leaves != stored_leaves:
        k = next(k for k, (a, b) in enumerate(zip(leaves, stored_leaves, strict=True)) if a != b)
        leaf = Finding(
            start + k,
            _LEAF,
            EntryTampered(f"entry {start + k} does not match its recorded hash (edited)"),
        )
    levels = _levels(leaves)
    where, local_ids = _post_order(width)
    shift = 2 * start - start.bit_count()  # storage ids of a block are its local ids + shift
    laid_out = [h for row in levels[1:] for h in row]
    computed = list(
        zip(map(shift.__add__, local_ids), map(laid_out.__getitem__, where), strict=True)
    )
    next_start = 2 * end - end.bit_count()
    stored = storage.read_node_range(shift, next_start)
    node: Finding | None = None
    if stored[: len(computed)] != computed:
        node = _node_finding(stored, computed)
    finding = first_finding(missing, entry, leaf, node)
    roots = _range_hash(levels, width) if width else []
    head_hashes = [
        (s, merkle.fold_right(_range_hash(levels, s - start))) for s in heads if s - start <= width
    ]
    return BlockResult(start, end, roots, head_hashes, stored[len(computed) :], finding)


# -- the whole log --------------------------------------------------------------------------


BlockTask = tuple[int, int, list[int]]
"""A block to check: its first entry, the entry after its last, the checkpoint sizes in it."""

Runner = Callable[[BlockReader, Sequence[BlockTask], bool], Iterator[BlockResult]]
"""Checks blocks (deep or not) and yields their results in the order given."""


def run_here(storage: BlockReader, tasks: Sequence[BlockTask], deep: bool) -> Iterator[BlockResult]:
    """The one-process runner: each block in turn, in this process."""
    for start, end, heads in tasks:
        yield verify_block(storage, start, end, heads, deep=deep)


def verify_tree(
    storage: BlockReader,
    size: int,
    heads: Sequence[tuple[int, bytes]],
    *,
    deep: bool,
    block_size: int = BLOCK_SIZE,
    runner: Runner = run_here,
) -> bytes:
    """Check entries 0..size-1, the stored tree and each checkpoint (size, root) with
    0 < size; return the root; raise the first finding. `heads` are in size order."""
    if block_size < 2 or block_size & (block_size - 1):
        raise AuditInputError(f"block size {block_size} is not a power of two >= 2")
    tasks: list[BlockTask] = [
        (s, min(s + block_size, size), []) for s in range(0, size, block_size)
    ]
    for s, _ in heads:
        tasks[(s - 1) // block_size][2].append(s)
    bounds = _bounds_finding(storage, size)
    if bounds is not None and bounds.position < 0:
        raise bounds.error
    join = _Joiner(size, heads, block_size.bit_length() - 1)
    for result in runner(storage, tasks, deep):
        join.add(result)
    if bounds is not None:
        raise bounds.error
    return join.root()


def _bounds_finding(storage: BlockReader, size: int) -> Finding | None:
    """Rows no block reads: entries or nodes numbered below 0 or at/after the log's size."""
    min_seq, max_seq, min_id, max_id = storage.extent()
    if min_seq is not None and min_seq < 0:
        return Finding(-1, _MISSING, EntryTampered(f"entry {min_seq} lies before entry 0"))
    if min_id is not None and min_id < 0:
        return Finding(-1, _NODE, TreeTampered(f"a tree node is stored at id {min_id}"))
    if max_seq is not None and max_seq >= size:
        first = storage.read_seqs(size, None, 1)[0]
        return Finding(
            size,
            _MISSING,
            EntryTampered(f"entry {first} lies beyond the log's recorded size {size}"),
        )
    if max_id is not None and max_id >= 2 * size - size.bit_count():
        return Finding(
            size, _NODE, TreeTampered(f"tree nodes are stored beyond the log's size {size}")
        )
    return None


class _Joiner:
    """Joins block results in log order: the tree above the blocks, checkpoints, findings."""

    def __init__(self, size: int, heads: Sequence[tuple[int, bytes]], block_level: int) -> None:
        self._size = size
        self._roots = dict(heads)
        self._block_level = block_level
        self._stack: list[bytes] = []  # decompose(0, start of the next block)
        self._good = 0  # the size of the last checkpoint whose root matched
        self._last: list[bytes] = []

    def add(self, result: BlockResult) -> None:
        """Take the next block's result; raise the first finding up to its end."""
        findings = [result.finding]
        for s, partial in result.heads:
            if merkle.fold_right([*self._stack, partial]) != self._roots[s]:
                findings.append(
                    Finding(
                        s - 1,
                        _HEAD,
                        RootMismatch(
                            f"checkpoint at size {s} does not match the entries: "
                            f"the broken range is entries {self._good}..{s - 1}"
                        ),
                    )
                )
                break
            self._good = s
        full = result.end - result.start == 1 << self._block_level
        if result.finding is None and full:
            findings.append(self._push(result))
        elif result.finding is None and result.upper:
            # After the last, partial block's own nodes only ids that name no node remain.
            sid = result.upper[0][0]
            bogus = TreeTampered(f"a tree node is stored under id {sid}, which names no node")
            findings.append(Finding(self._size, _NODE, bogus))
        if not full:
            self._last = result.roots
        first = first_finding(*findings)
        if first is not None:
            raise first.error

    def _push(self, result: BlockResult) -> Finding | None:
        # Merge the block's root into the stack as an append-only writer would, comparing
        # each completed ancestor with the stored one.
        h = result.roots[0]
        index = result.start >> self._block_level
        level = self._block_level
        computed: list[tuple[int, bytes]] = []
        while index & 1:
            h = merkle.node_hash(self._stack.pop(), h)
            index >>= 1
            level += 1
            computed.append((merkle.storage_id(level, index), h))
        self._stack.append(h)
        if result.upper[: len(computed)] != computed:
            return _node_finding(result.upper, computed)
        return None

    def root(self) -> bytes:
        """The root of the whole tree (after the last block)."""
        hashes = self._stack + self._last
        return merkle.fold_right(hashes) if hashes else merkle.EMPTY_ROOT
