"""Fixtures of the node tests (see tests/node_support.py)."""

from tests.node_support import api, audit, clock, database_url, node

__all__ = ["api", "audit", "clock", "database_url", "node"]
