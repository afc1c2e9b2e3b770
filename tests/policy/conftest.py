"""Fixtures of the policy tests: the bundled policies and a subject builder."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from cix.agreements import bundled
from cix.policy import Policies, Subject, subject_from_json
from tests.policy.helpers import CANADIAN_ANALYST, HELD


@pytest.fixture(scope="session")
def policies() -> Policies:
    """Canada's node view: kor-can, can-deu and the three national policies."""
    return Policies([bundled(i) for i in HELD])


@pytest.fixture
def subject() -> Callable[..., Subject]:
    """Build a subject from the Canadian analyst, with top-level keys replaced."""

    def build(**changes: Any) -> Subject:
        obj = copy.deepcopy(CANADIAN_ANALYST)
        obj.update(changes)
        return subject_from_json(obj)

    return build
