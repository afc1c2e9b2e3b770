"""Checkpoints in the signed-note format: fixed vector, key ids, malformed and forged notes."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from cix.audit import Checkpoint, generate_signer, open_checkpoint, verifier_from_vkey
from cix.audit.checkpoint import add_signature, sign_checkpoint, signer_from_seed
from cix.audit.errors import (
    AuditInputError,
    CheckpointSignatureInvalid,
    MalformedCheckpoint,
    WrongKey,
)
from cix.audit.keyfile import load_signer, load_verifier, public_path, save_signer

VECTORS = Path(__file__).parents[1] / "vectors" / "audit"


def test_fixed_checkpoint_vector() -> None:
    v = json.loads((VECTORS / "checkpoint.json").read_text())
    note = (VECTORS / v["note_file"]).read_text()
    signer = signer_from_seed(v["name"], bytes.fromhex(v["seed_hex"]))
    head = Checkpoint(v["name"], v["size"], bytes.fromhex(v["root_hex"]))
    assert sign_checkpoint(head, signer).note == note
    assert signer.verifier.vkey() == v["vkey"]
    assert open_checkpoint(note, verifier_from_vkey(v["vkey"])).checkpoint == head


def test_note_layout_follows_the_signed_note_spec() -> None:
    v = json.loads((VECTORS / "checkpoint.json").read_text())
    note = (VECTORS / v["note_file"]).read_text()
    text, _, sigs = note.partition("\n\n")
    origin, size, root = text.split("\n")
    assert (origin, size, base64.b64decode(root).hex()) == (v["name"], "5", v["root_hex"])
    dash, name, b64 = sigs.rstrip("\n").split(" ")
    assert dash == "\u2014"
    assert name == v["name"]
    raw = base64.b64decode(b64)
    public = verifier_from_vkey(v["vkey"]).public
    # key id = SHA-256(name || 0x0A || 0x01 || public key)[:4], computed here independently
    assert raw[:4] == hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    assert len(raw) == 4 + 64


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n.replace("\n\n", "\n"),
        lambda n: n.rstrip("\n"),
        lambda n: n.replace("\u2014 ", "-- "),
        lambda n: n.replace("\n5\n", "\n05\n"),
        lambda n: n + "garbage\n",
        lambda n: n.replace("\n5\n", "\n5\x07\n"),
    ],
)
def test_malformed_notes_are_refused(mangle: object) -> None:
    v = json.loads((VECTORS / "checkpoint.json").read_text())
    note = (VECTORS / v["note_file"]).read_text()
    with pytest.raises((MalformedCheckpoint, CheckpointSignatureInvalid)):
        open_checkpoint(mangle(note), verifier_from_vkey(v["vkey"]))  # type: ignore[operator]


def test_a_note_for_another_origin_is_refused() -> None:
    signer = generate_signer("can.cix.example/audit")
    note = sign_checkpoint(Checkpoint("kor.cix.example/audit", 1, b"\x00" * 32), signer).note
    with pytest.raises(WrongKey, match="origin"):
        open_checkpoint(note, signer.verifier)


def test_cosigned_note_verifies_for_both_keys() -> None:
    log_key, witness_key = generate_signer("kor/log"), generate_signer("can/witness")
    signed = sign_checkpoint(Checkpoint("kor/log", 3, b"\x01" * 32), log_key)
    both = add_signature(signed, witness_key)
    assert open_checkpoint(both.note, log_key.verifier).checkpoint.size == 3
    both.verify_signed_by(witness_key.verifier)
    with pytest.raises(WrongKey):
        signed.verify_signed_by(witness_key.verifier)


@pytest.mark.parametrize(
    "vkey",
    [
        "nokeyid",
        "name+zz+AQ==",
        "name+00000000+" + base64.b64encode(b"\x01" + b"k" * 32).decode(),
        "name+00000000+" + base64.b64encode(b"\x02" + b"k" * 32).decode(),
        "bad name+00000000+AQ==",
    ],
)
def test_bad_verifier_keys_are_input_errors(vkey: str) -> None:
    with pytest.raises(AuditInputError):
        verifier_from_vkey(vkey)


def test_key_file_round_trip_and_wrong_passphrase(tmp_path: Path) -> None:
    signer = generate_signer("kor.cix.example/audit")
    path = tmp_path / "log.key"
    save_signer(path, signer, b"correct horse")
    assert path.stat().st_mode & 0o777 == 0o600
    assert b"PRIVATE KEY" in path.read_bytes()
    assert b"ENCRYPTED" in path.read_bytes()
    assert load_signer(path, b"correct horse").verifier == signer.verifier
    assert load_verifier(str(public_path(path))) == signer.verifier
    with pytest.raises(AuditInputError, match="wrong passphrase"):
        load_signer(path, b"wrong")
    with pytest.raises(AuditInputError, match="refusing to overwrite"):
        save_signer(path, signer, b"x")
    assert "PRIVATE" not in repr(signer)
    assert signer.name in repr(signer)
