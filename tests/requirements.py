"""A test that needs a part of the machine (PostgreSQL, Chromium, an optional package).

Where the part is missing the test is skipped, naming what is missing and how to get it;
under `CI=true` it fails instead, because CI must run every test (the project's rule for
real parts: skipped with a clear reason on a developer's machine, never in CI).
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(reason: str) -> NoReturn:
    """Skip the test for `reason`, or fail it under `CI=true`."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true requires this test to run)")
    pytest.skip(reason)
