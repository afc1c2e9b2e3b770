"""The failed-authentication limiter: fixed windows, bounded memory."""

from __future__ import annotations

from cix.api.limits import FailureLimiter


def test_blocks_after_limit_until_window_passes() -> None:
    limiter = FailureLimiter(limit=3, window=60, max_clients=10)
    for t in range(3):
        assert limiter.retry_after("198.51.100.1", t) is None
        limiter.record_failure("198.51.100.1", t)
    assert limiter.retry_after("198.51.100.1", 3) == 57
    assert limiter.retry_after("198.51.100.2", 3) is None
    assert limiter.retry_after("198.51.100.1", 60) is None


def test_memory_is_bounded_by_forgetting_least_recent() -> None:
    limiter = FailureLimiter(limit=1, window=60, max_clients=16)
    for i in range(10_000):
        limiter.record_failure(f"10.0.{i // 256}.{i % 256}", 0)
    assert len(limiter) == 16
    assert limiter.retry_after("10.0.39.15", 1) is not None  # the most recent is kept
    assert limiter.retry_after("10.0.0.0", 1) is None  # the oldest is forgotten
