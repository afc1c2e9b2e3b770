"""tlog-cosignature/v1: published known answers, our fixed-seed vector, forgeries refused."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from cix.audit import Checkpoint, generate_signer, open_checkpoint, verifier_from_vkey
from cix.audit.checkpoint import sign_checkpoint, signer_from_seed
from cix.audit.cosignature import (
    add_cosignature,
    cosignature_line,
    cosignature_message,
    cosigner_from_vkey,
    cosigner_of,
    parse_signature_line,
    verify_cosigned,
)
from cix.audit.errors import (
    AuditInputError,
    CheckpointSignatureInvalid,
    MalformedCheckpoint,
    WrongKey,
)

VECTORS = Path(__file__).parents[1] / "vectors" / "audit"


def _vectors() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((VECTORS / "cosignature.json").read_text())
    return loaded


def test_go_reference_note_signature_is_reproduced_byte_for_byte() -> None:
    v = _vectors()["go_note"]
    _, _, name, _, b64 = v["skey"].split("+", 4)  # PRIVATE+KEY+<name>+<id>+<0x01 || seed>
    raw = base64.b64decode(b64)
    assert raw[:1] == b"\x01"
    signer = signer_from_seed(name, raw[1:])
    assert signer.verifier.vkey() == v["vkey"]
    assert signer.sign_line(v["text"].encode()) == v["signature_line"]


def test_a_published_cosigned_checkpoint_verifies() -> None:
    v = _vectors()["real_cosigned_checkpoint"]
    note = (VECTORS / v["note_file"]).read_text()
    head = open_checkpoint(note, verifier_from_vkey(v["log_vkey"])).checkpoint
    assert (head.size, base64.b64encode(head.root).decode()) == (v["size"], v["root_b64"])
    witness = cosigner_from_vkey(v["witness_vkey"])
    assert verify_cosigned(note, witness) == v["witness_timestamp"]
    # One byte of the body changed: the witness's statement no longer holds.
    with pytest.raises(CheckpointSignatureInvalid):
        verify_cosigned(note.replace(str(v["size"]), str(v["size"] + 1), 1), witness)
    # The witness key as a plain note key (0x01) names the same key and still verifies.
    as_note_key = verifier_from_vkey(
        f"{witness.name}+"
        + hashlib.sha256(witness.name.encode() + b"\n\x01" + witness.public).digest()[:4].hex()
        + "+"
        + base64.b64encode(b"\x01" + witness.public).decode()
    )
    assert verify_cosigned(note, cosigner_from_vkey(as_note_key.vkey())) == v["witness_timestamp"]
    with pytest.raises(WrongKey):  # the log's own line is no cosignature of the log's key
        verify_cosigned(note, cosigner_of(verifier_from_vkey(v["log_vkey"])))


def test_published_timestamps_are_read_big_endian() -> None:
    for item in _vectors()["timestamps"]["lines"]:
        _, raw = parse_signature_line(item["line"])
        assert int.from_bytes(raw[4:12], "big") == item["timestamp"]


def test_fixed_seed_cosignature_vector() -> None:
    v = _vectors()["cix_cosignature"]
    note = (VECTORS / v["checkpoint_note_file"]).read_text()
    signed = open_checkpoint(note, verifier_from_vkey(v["log_vkey"]))
    witness = signer_from_seed(v["witness_name"], bytes.fromhex(v["witness_seed_hex"]))
    key = cosigner_of(witness.verifier)
    assert key.vkey() == v["witness_vkey"]
    assert cosigner_from_vkey(v["witness_vkey"]) == key
    text = signed.checkpoint.text()
    assert cosignature_message(text, v["timestamp"]).decode() == v["signed_message"]
    assert cosignature_line(witness, text, v["timestamp"]) == v["line"]
    assert key.verify_line(text, v["line"]) == v["timestamp"]
    # Layout, computed here independently of the module.
    name, raw = parse_signature_line(v["line"])
    assert name == v["witness_name"]
    assert raw[:4] == hashlib.sha256(name.encode() + b"\n\x04" + key.public).digest()[:4]
    assert raw[4:12] == v["timestamp"].to_bytes(8, "big")
    assert len(raw) == 4 + 8 + 64
    cosigned = add_cosignature(signed, witness, v["timestamp"])
    assert cosigned.note == note + v["line"]
    assert verify_cosigned(cosigned.note, key) == v["timestamp"]


def _cosigned(timestamp: int = 1_780_000_000) -> tuple[str, str, Any]:
    log = generate_signer("kor.cix.example/audit")
    witness = generate_signer("can.cix.example/witness")
    signed = sign_checkpoint(Checkpoint(log.name, 3, hashlib.sha256(b"r").digest()), log)
    line = cosignature_line(witness, signed.checkpoint.text(), timestamp)
    return signed.note, line, witness


def test_a_cosignature_of_another_checkpoint_or_time_fails() -> None:
    note, line, witness = _cosigned()
    key = cosigner_of(witness.verifier)
    text = note[: note.index("\n\n") + 1].encode()
    other = text.replace(b"\n3\n", b"\n4\n")
    with pytest.raises(CheckpointSignatureInvalid):
        key.verify_line(other, line)
    _, raw = parse_signature_line(line)
    moved = raw[:4] + (1_780_000_001).to_bytes(8, "big") + raw[12:]
    with pytest.raises(CheckpointSignatureInvalid):
        key.verify_line(text, f"\u2014 {key.name} {base64.b64encode(moved).decode()}\n")


def test_a_cosignature_by_another_witness_key_is_wrong_key() -> None:
    note, line, witness = _cosigned()
    impostor = cosigner_of(generate_signer(witness.name).verifier)  # same name, other key
    with pytest.raises(WrongKey):
        verify_cosigned(note + line, impostor)
    with pytest.raises(WrongKey):
        cosigner_of(witness.verifier).verify_line(b"x\n", line.replace(witness.name, "other"))


def test_a_cosignature_dated_after_the_bound_is_refused() -> None:
    note, line, witness = _cosigned(2_000_000_000)
    key = cosigner_of(witness.verifier)
    assert verify_cosigned(note + line, key, not_after=2_000_000_000) == 2_000_000_000
    with pytest.raises(CheckpointSignatureInvalid, match="after"):
        verify_cosigned(note + line, key, not_after=1_999_999_999)


@pytest.mark.parametrize("timestamp", [-1, 2**63, True])
def test_timestamps_outside_the_spec_cannot_be_signed(timestamp: int) -> None:
    with pytest.raises(AuditInputError):
        cosignature_message(b"x\n", timestamp)


@pytest.mark.parametrize(
    "line",
    ["", "\u2014 a", "- a AAAAAAAA\n", "\u2014 a b c\n", "\u2014 a !!!!\n", "\u2014 a AAAA\n"],
)
def test_malformed_signature_lines(line: str) -> None:
    with pytest.raises(MalformedCheckpoint):
        parse_signature_line(line)


def test_a_truncated_cosignature_is_malformed() -> None:
    note, line, witness = _cosigned()
    name, raw = parse_signature_line(line)
    short = f"\u2014 {name} {base64.b64encode(raw[:-1]).decode()}\n"
    with pytest.raises(MalformedCheckpoint):
        verify_cosigned(note + short, cosigner_of(witness.verifier))


@pytest.mark.parametrize(
    "vkey",
    [
        "w+00000000+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",  # key id does not match
        "w+12345678+Ag==",  # neither 0x01 nor 0x04
        "no-plus-signs",
        "w+zz+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
    ],
)
def test_bad_witness_keys_are_input_errors(vkey: str) -> None:
    with pytest.raises(AuditInputError):
        cosigner_from_vkey(vkey)
