"""The witness cosigns only consistent checkpoints and keeps evidence of split views."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cix.audit import (
    Checkpoint,
    Log,
    Signer,
    Verifier,
    generate_signer,
    open_checkpoint,
    open_log,
)
from cix.audit.checkpoint import sign_checkpoint
from cix.audit.errors import (
    AuditInputError,
    CheckpointReplayed,
    CheckpointSignatureInvalid,
    ConsistencyProofError,
    SplitView,
    WrongKey,
)
from cix.audit.cosignature import verify_cosigned
from cix.audit.witness import Witness
from tests.audit.conftest import event

T = 1_780_000_000  # the cosignatures' time: a parameter, never the clock


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    return Witness(tmp_path / "witness", generate_signer("can.cix.example/witness"))


def _grow(log: Log, start: int, n: int) -> None:
    log.append_batch([event(i) for i in range(start, start + n)])


def test_witness_cosigns_a_growing_log(log: Log, signer: Signer, witness: Witness) -> None:
    _grow(log, 0, 5)
    first = witness.cosign(log.checkpoint(signer).note, signer.verifier, timestamp=T)
    assert verify_cosigned(first.note, witness.cosigner) == T
    first.verify_signed_by(signer.verifier)
    with pytest.raises(WrongKey):  # a cosignature/v1 line is no plain note signature
        first.verify_signed_by(witness.verifier)
    _grow(log, 5, 9)
    second = log.checkpoint(signer)
    cosigned = witness.cosign(second.note, signer.verifier, log.prove_consistency(5), timestamp=T)
    assert verify_cosigned(cosigned.note, witness.cosigner) == T
    with pytest.raises(WrongKey):  # a witness's line never passes for the log's own
        open_checkpoint(cosigned.note, Verifier(signer.name, witness.verifier.public))
    again = witness.cosign(second.note, signer.verifier, timestamp=T)  # same checkpoint: idempotent
    assert again.note == cosigned.note
    last = witness.last_cosigned(signer.verifier)
    assert last is not None
    assert last.checkpoint.size == 14


def test_forked_log_shown_to_a_witness_is_refused_with_evidence(
    tmp_path: Path, signer: Signer, witness: Witness
) -> None:
    # One key, two databases: the log shows one history to one party and another to another.
    honest = open_log(tmp_path / "honest.db", signer=signer)
    fork = open_log(tmp_path / "fork.db", signer=signer)
    _grow(honest, 0, 6)
    fork.append_batch([event(i if i != 3 else 103) for i in range(6)])  # entry 3 rewritten
    witness.cosign(honest.checkpoint(signer).note, signer.verifier, timestamp=T)
    _grow(fork, 6, 4)
    forked = fork.checkpoint(signer)
    with pytest.raises(SplitView):
        witness.cosign(forked.note, signer.verifier, fork.prove_consistency(6), timestamp=T)
    # Same size, other root: the plainest fork.
    _grow(honest, 6, 4)
    honest_10 = honest.checkpoint(signer)
    witness.cosign(honest_10.note, signer.verifier, honest.prove_consistency(6), timestamp=T)
    with pytest.raises(SplitView, match="two different roots"):
        witness.cosign(forked.note, signer.verifier, timestamp=T)
    evidence = [json.loads(p.read_text()) for p in witness.evidence()]
    assert len(evidence) == 2
    assert {e["presented"] for e in evidence} == {forked.note}
    assert honest_10.note in {e["cosigned"] for e in evidence}
    last = witness.last_cosigned(signer.verifier)
    assert last is not None
    assert last.note == honest_10.note
    honest.close()
    fork.close()


def test_witness_refuses_an_old_checkpoint_replayed(
    log: Log, signer: Signer, witness: Witness
) -> None:
    _grow(log, 0, 4)
    old = log.checkpoint(signer)
    witness.cosign(old.note, signer.verifier, timestamp=T)
    _grow(log, 4, 4)
    witness.cosign(
        log.checkpoint(signer).note, signer.verifier, log.prove_consistency(4), timestamp=T
    )
    with pytest.raises(CheckpointReplayed):
        witness.cosign(old.note, signer.verifier, timestamp=T)


def test_witness_refuses_a_checkpoint_signed_by_the_wrong_key(
    log: Log, signer: Signer, witness: Witness
) -> None:
    _grow(log, 0, 4)
    impostor = generate_signer(signer.name)  # same name, another key
    fake = sign_checkpoint(Checkpoint(signer.name, 4, log.root()), impostor)
    with pytest.raises(WrongKey):
        witness.cosign(fake.note, signer.verifier, timestamp=T)
    assert witness.last_cosigned(signer.verifier) is None
    witness.cosign(log.checkpoint(signer).note, signer.verifier, timestamp=T)


def test_witness_needs_a_proof_to_move_forward(log: Log, signer: Signer, witness: Witness) -> None:
    _grow(log, 0, 3)
    witness.cosign(log.checkpoint(signer).note, signer.verifier, timestamp=T)
    _grow(log, 3, 3)
    note = log.checkpoint(signer).note
    with pytest.raises(AuditInputError, match="consistency proof from size 3 to 6"):
        witness.cosign(note, signer.verifier, timestamp=T)
    with pytest.raises(ConsistencyProofError):
        witness.cosign(note, signer.verifier, log.prove_consistency(2), timestamp=T)


def test_witness_state_survives_a_restart(tmp_path: Path, log: Log, signer: Signer) -> None:
    key = generate_signer("can.cix.example/witness")
    _grow(log, 0, 3)
    Witness(tmp_path / "w", key).cosign(log.checkpoint(signer).note, signer.verifier, timestamp=T)
    _grow(log, 3, 3)
    restarted = Witness(tmp_path / "w", key)
    with pytest.raises(AuditInputError):
        restarted.cosign(
            log.checkpoint(signer).note, signer.verifier, timestamp=T
        )  # remembers size 3


def test_tampered_cosigned_note_fails(log: Log, signer: Signer, witness: Witness) -> None:
    _grow(log, 0, 3)
    cosigned = witness.cosign(log.checkpoint(signer).note, signer.verifier, timestamp=T)
    tampered = cosigned.note.replace("\n3\n", "\n4\n")
    with pytest.raises(CheckpointSignatureInvalid):
        open_checkpoint(tampered, signer.verifier)
