"""Bounded per-process read caches of the node's hot path, invalidated exactly on every write.

What an open needs from the database (the API token, the person and their organisation and
memberships, the document's row) changes only through the node's services, and every one of
their changes is a `Database.write()` transaction, after which the database's `generation`
moves. Each cache entry carries the generation read *before* its rows were read, and is used
only while the generation is still that one: a revoked token, a changed clearance, role,
membership or organisation, a destroyed document are seen by the very next request, and an
entry read while a write was under way is never trusted. Time-dependent facts (token expiry,
membership start and end, clearance and briefing expiry) are kept as data and checked against
the request's `now`, never frozen into an entry.

Assumption: one node is served by one `cix serve`, which it enforces (`cix.serving.claim`);
its workers (`--workers N`) count their writes in one shared file (`cix.store.counters`), so
each sees the others'. A write by a process outside the server (a script writing to the
same database while the node serves) is not counted, and not seen until the server next
writes; `docs/settings.md` says so.
Every cache is bounded (least recently used entries leave first).
"""

from __future__ import annotations

from typing import Generic, TypeVar

from cix.lru import LruCache

__all__ = ["GenerationCache", "LruCache", "NotCached"]

K = TypeVar("K")
V = TypeVar("V")


class NotCached(LookupError):
    """A cache-only lookup would have needed the database."""


class GenerationCache(Generic[K, V]):
    """At most `size` entries, each valid while the database generation it was read at holds."""

    def __init__(self, size: int) -> None:
        self._entries: LruCache[K, tuple[int, V]] = LruCache(size)

    def get(self, key: K, generation: int) -> V | None:
        """The entry for `key` if it was read at `generation`, else None (and it is dropped)."""
        found = self._entries.get(key)
        if found is None:
            return None
        if found[0] != generation:
            self._entries.pop(key)
            return None
        return found[1]

    def put(self, key: K, generation: int, value: V) -> None:
        """Remember `value`, read at `generation` (taken before the read)."""
        self._entries.put(key, (generation, value))

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
