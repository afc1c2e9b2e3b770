"""The compiled fast schema check gives jsonschema's verdict on every manifest.

`schema_errors` asks fastjsonschema first and lists errors with jsonschema only when the
fast check fails; that is safe only if the fast check never accepts what jsonschema
rejects. Manifests are mutated at random paths (key dropped, value replaced by a value of
another type, key added) and both verdicts compared.
"""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path
from typing import Any

import fastjsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cix.envelope import _manifest

VECTORS = sorted((Path(__file__).parents[1] / "vectors" / "envelope").glob("*.tdf"))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=5,
)


def _manifests() -> list[dict[str, Any]]:
    return [json.loads(zipfile.ZipFile(p).read("0.manifest.json")) for p in VECTORS]


def _containers(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if isinstance(doc, dict | list) and doc else []
    children = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    )
    for key, value in children:
        found += _containers(value, (*path, key))
    return found


def _fast_accepts(doc: object) -> bool:
    try:
        _manifest._fast_validator()(doc)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _full_accepts(doc: object) -> bool:
    return not any(True for _ in _manifest._validator().iter_errors(doc))


def test_vectors_exist_and_are_schema_valid() -> None:
    assert VECTORS, "no envelope vectors found"
    for doc in _manifests():
        assert _fast_accepts(doc)
        assert _full_accepts(doc)
        assert _manifest.schema_errors(doc) == []


@settings(max_examples=400, deadline=None)
@given(data=st.data(), replacement=JSON_VALUES, operation=st.sampled_from(["drop", "set", "add"]))
def test_fast_check_agrees_with_jsonschema(
    data: st.DataObject, replacement: object, operation: str
) -> None:
    doc = copy.deepcopy(data.draw(st.sampled_from(_manifests())))
    path = data.draw(st.sampled_from(_containers(doc)))
    parent: Any = doc
    for key in path:
        parent = parent[key]
    keys = list(parent.keys()) if isinstance(parent, dict) else list(range(len(parent)))
    key = data.draw(st.sampled_from(keys))
    if operation == "drop":
        del parent[key]
    elif operation == "set":
        parent[key] = replacement
    elif isinstance(parent, dict):
        parent[f"x-{key}"] = replacement
    else:
        parent.append(replacement)
    assert _fast_accepts(doc) == _full_accepts(doc)
    assert (_manifest.schema_errors(doc) == []) == _full_accepts(doc)


@pytest.mark.parametrize("doc", [None, [], "manifest", 7, {}])
def test_non_manifests_are_rejected_by_both(doc: object) -> None:
    assert not _fast_accepts(doc)
    assert _manifest.schema_errors(doc)
