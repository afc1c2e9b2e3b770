"""tlog-witness add-checkpoint bodies: the spec's examples, round trips, and bad input named."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cix.audit import Checkpoint, generate_signer
from cix.audit.checkpoint import parse_checkpoint, sign_checkpoint, split_note
from cix.audit.errors import AuditInputError, MalformedWitnessRequest
from cix.audit.witness_protocol import (
    AddCheckpointRequest,
    build_add_checkpoint,
    build_conflict_body,
    build_cosignature_response,
    parse_add_checkpoint,
    parse_conflict_body,
    parse_cosignature_response,
)

VECTORS = Path(__file__).parents[1] / "vectors" / "audit"


def _spec() -> dict[str, Any]:
    loaded: dict[str, dict[str, Any]] = json.loads((VECTORS / "cosignature.json").read_text())
    return loaded["add_checkpoint"]


def test_the_specs_example_request_parses_and_rebuilds_byte_for_byte() -> None:
    v = _spec()
    request = parse_add_checkpoint(v["request"])
    assert request.old_size == v["old_size"]
    assert [base64.b64encode(h).decode() for h in request.proof] == v["proof_b64"]
    text, sigs = split_note(request.note)
    assert parse_checkpoint(text).size == v["checkpoint_size"]
    assert len(sigs) == 2
    assert request.to_text() == v["request"]
    assert parse_add_checkpoint(v["request"].encode()) == request


def test_the_specs_example_response_parses() -> None:
    v = _spec()
    lines = parse_cosignature_response(v["response"])
    assert [line.split(" ")[1] for line in lines] == v["response_names"]
    assert "".join(lines) == v["response"]
    assert build_cosignature_response(lines) == v["response"]


def _note(size: int = 7) -> str:
    log = generate_signer("kor.cix.example/audit")
    return sign_checkpoint(Checkpoint(log.name, size, hashlib.sha256(b"x").digest()), log).note


def test_add_checkpoint_round_trip() -> None:
    note = _note()
    proof = [hashlib.sha256(bytes([i])).digest() for i in range(5)]
    body = build_add_checkpoint(3, proof, note)
    assert body.startswith("old 3\n")
    assert body.endswith(note)
    assert body.split("\n")[6] == ""  # the empty line after five proof lines
    assert parse_add_checkpoint(body) == AddCheckpointRequest(3, tuple(proof), note)
    first = build_add_checkpoint(0, [], note)
    assert first == "old 0\n\n" + note
    assert parse_add_checkpoint(first).proof == ()


def test_conflict_body_round_trip() -> None:
    assert build_conflict_body(20852163) == "20852163\n"
    assert parse_conflict_body(b"20852163\n") == 20852163
    for bad in ("", "12", "012\n", "-1\n", "1 \n", "9" * 20 + "\n"):
        with pytest.raises(MalformedWitnessRequest):
            parse_conflict_body(bad)


H = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("old 1\n" + H + "\n", "no empty line"),
        ("new 1\n\nx\n\n- y\n", "line 1"),
        ("old 01\n\nx\n\n- y\n", "line 1"),
        ("old -1\n\nx\n\n- y\n", "line 1"),
        ("old 1\n!!!!\n\nx\n\n- y\n", "line 2: a proof hash is not base64"),
        ("old 1\nAAAA\n\nx\n\n- y\n", "line 2: a proof hash is 32 bytes"),
        ("old 0\n" + H + "\n\nx\n\n- y\n", "empty when the old size is 0"),
        ("old 1\n" + (H + "\n") * 64 + "\nx\n\n- y\n", "more than 63"),
        ("old 1\n\nx\n", "checkpoint"),
        ("old 1\r\n\nx\n\n- y\n", "control characters"),
        ("old 1\n\nx\n\n- y\n" + "a" * 70_000, "larger than"),
    ],
)
def test_malformed_requests_name_what_is_wrong(body: str, named: str) -> None:
    with pytest.raises(MalformedWitnessRequest, match=named):
        parse_add_checkpoint(body)


def test_non_utf8_and_lone_surrogates_are_refused() -> None:
    with pytest.raises(MalformedWitnessRequest, match="UTF-8"):
        parse_add_checkpoint(b"old 1\n\n\xff\n\n- y\n")
    with pytest.raises(MalformedWitnessRequest, match="UTF-8"):
        parse_add_checkpoint("old 1\n\n\udc80\n\n- y\n")


@pytest.mark.parametrize("body", ["", "\u2014 w AAAAAAAA", "- w AAAAAAAA\n", "\u2014 w AAAA\n\n"])
def test_malformed_responses(body: str) -> None:
    with pytest.raises(MalformedWitnessRequest):
        parse_cosignature_response(body)


_LINES = st.sampled_from(
    ["old 0", "old 12", "old 012", H, "AAAA", "", "\u2014 w " + H, "x", "5", "old", " "]
)


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300), st.lists(_LINES).map("\n".join)))
def test_random_requests_raise_only_input_errors(body: str | bytes) -> None:
    try:
        request = parse_add_checkpoint(body)
    except AuditInputError:
        return
    assert parse_add_checkpoint(request.to_text()) == request


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300), st.lists(_LINES).map("\n".join)))
def test_random_responses_and_conflicts_raise_only_input_errors(body: str | bytes) -> None:
    for parse in (parse_cosignature_response, parse_conflict_body):
        with contextlib.suppress(AuditInputError):
            parse(body)
