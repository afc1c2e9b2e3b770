"""The witness cosigns only consistent checkpoints and keeps evidence of split views."""

from __future__ import annotations

import json
import os
import threading
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
from cix.audit.cosignature import verify_cosigned
from cix.audit.errors import (
    AuditInputError,
    CheckpointReplayed,
    CheckpointSignatureInvalid,
    ConsistencyProofError,
    InconsistentCheckpoint,
    SplitView,
    WitnessConflict,
    WrongKey,
)
from cix.audit.witness import Witness
from cix.audit.witness_protocol import (
    AddCheckpointRequest,
    build_add_checkpoint,
    build_conflict_body,
    parse_add_checkpoint,
    parse_cosignature_response,
)
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


def _request(log: Log, signer: Signer, old: int) -> AddCheckpointRequest:
    note = log.checkpoint(signer).note
    return parse_add_checkpoint(build_add_checkpoint(old, log.prove_consistency(old).path, note))


def test_witness_cosigns_only_append_only_extensions(
    tmp_path: Path, signer: Signer, witness: Witness
) -> None:
    honest = open_log(tmp_path / "honest.db", signer=signer)
    fork = open_log(tmp_path / "fork.db", signer=signer)
    _grow(honest, 0, 5)
    fork.append_batch([event(i if i != 2 else 102) for i in range(5)])
    response = witness.add_checkpoint(_request(honest, signer, 0), signer.verifier, timestamp=T)
    [line] = parse_cosignature_response(response)
    assert witness.cosigner.verify_line(honest.checkpoint(signer).checkpoint.text(), line) == T
    _grow(honest, 5, 6)
    _grow(fork, 5, 6)
    # The fork's size-11 checkpoint, with the fork's own (valid for it) proof from size 5:
    # it does not extend the size 5 cosigned.
    with pytest.raises(InconsistentCheckpoint):
        witness.add_checkpoint(_request(fork, signer, 5), signer.verifier, timestamp=T)
    assert witness.known_size(signer.verifier) == 5
    response = witness.add_checkpoint(_request(honest, signer, 5), signer.verifier, timestamp=T)
    assert witness.known_size(signer.verifier) == 11
    cosigned = honest.checkpoint(signer).note + response
    assert verify_cosigned(cosigned, witness.cosigner) == T
    # The same checkpoint again (old size 11, no proof): cosigned again, state unchanged.
    again = witness.add_checkpoint(_request(honest, signer, 11), signer.verifier, timestamp=T + 1)
    assert again != response
    assert witness.known_size(signer.verifier) == 11
    honest.close()
    fork.close()


def test_witness_refuses_rollback_with_conflict_size(
    log: Log, signer: Signer, witness: Witness
) -> None:
    _grow(log, 0, 4)
    old = log.checkpoint(signer)
    witness.add_checkpoint(_request(log, signer, 0), signer.verifier, timestamp=T)
    _grow(log, 4, 4)
    witness.add_checkpoint(_request(log, signer, 4), signer.verifier, timestamp=T)
    # The older genuine checkpoint presented again, as if current: a rollback.
    for old_size in (0, 4):
        replay = AddCheckpointRequest(old_size, (), old.note)
        with pytest.raises(WitnessConflict) as caught:
            witness.add_checkpoint(replay, signer.verifier, timestamp=T)
        assert caught.value.known_size == 8
        assert build_conflict_body(caught.value.known_size) == "8\n"
    # A newer checkpoint whose client believes the witness is at another size: 409 with 8.
    _grow(log, 8, 2)
    with pytest.raises(WitnessConflict) as caught:
        witness.add_checkpoint(_request(log, signer, 4), signer.verifier, timestamp=T)
    assert caught.value.known_size == 8
    retried = _request(log, signer, caught.value.known_size)
    witness.add_checkpoint(retried, signer.verifier, timestamp=T)
    assert witness.known_size(signer.verifier) == 10


def test_witness_refuses_split_view_and_keeps_evidence(
    tmp_path: Path, signer: Signer, witness: Witness
) -> None:
    honest = open_log(tmp_path / "honest.db", signer=signer)
    fork = open_log(tmp_path / "fork.db", signer=signer)
    _grow(honest, 0, 6)
    fork.append_batch([event(i if i != 5 else 105) for i in range(6)])
    cosigned = honest.checkpoint(signer)
    witness.add_checkpoint(_request(honest, signer, 0), signer.verifier, timestamp=T)
    forked = fork.checkpoint(signer)
    with pytest.raises(SplitView, match="two different roots"):
        witness.add_checkpoint(
            AddCheckpointRequest(6, (), forked.note), signer.verifier, timestamp=T
        )
    [evidence] = [json.loads(p.read_text()) for p in witness.evidence()]
    assert (evidence["cosigned"], evidence["presented"]) == (cosigned.note, forked.note)
    # Both notes in the evidence are genuinely signed by the log: proof of the fork.
    for note in (evidence["cosigned"], evidence["presented"]):
        open_checkpoint(note, signer.verifier)
    last = witness.last_cosigned(signer.verifier)
    assert last is not None
    assert last.note == cosigned.note
    honest.close()
    fork.close()


def test_witness_state_survives_crash_mid_write(
    tmp_path: Path, log: Log, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = generate_signer("can.cix.example/witness")
    _grow(log, 0, 3)
    Witness(tmp_path / "w", key).add_checkpoint(
        _request(log, signer, 0), signer.verifier, timestamp=T
    )
    _grow(log, 3, 3)
    real_replace = os.replace

    def killed(src: object, dst: object) -> None:
        raise KeyboardInterrupt("killed between the write and the rename")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        Witness(tmp_path / "w", key).add_checkpoint(
            _request(log, signer, 3), signer.verifier, timestamp=T
        )
    monkeypatch.setattr(os, "replace", real_replace)
    [stray] = (tmp_path / "w" / "state").glob("*.tmp")
    assert json.loads(stray.read_text())["size"] == 6  # written, never renamed
    restarted = Witness(tmp_path / "w", key)
    assert restarted.known_size(signer.verifier) == 3  # the last state that was renamed
    with pytest.raises(WitnessConflict):  # and it holds: a request from 6 is refused
        restarted.add_checkpoint(_request(log, signer, 6), signer.verifier, timestamp=T)
    stray.write_bytes(b"\x00garbage")  # a torn temporary file is never read either
    restarted.add_checkpoint(_request(log, signer, 3), signer.verifier, timestamp=T)
    assert Witness(tmp_path / "w", key).known_size(signer.verifier) == 6
    assert not list((tmp_path / "w" / "state").glob("*.tmp"))


def test_concurrent_requests_from_one_size_advance_the_witness_once(
    tmp_path: Path, log: Log, signer: Signer
) -> None:
    key = generate_signer("can.cix.example/witness")
    _grow(log, 0, 4)
    request = _request(log, signer, 0)
    witnesses = [Witness(tmp_path / "w", key) for _ in range(8)]  # one lock file each
    outcomes: list[str] = []

    def submit(w: Witness) -> None:
        try:
            w.add_checkpoint(request, signer.verifier, timestamp=T)
            outcomes.append("cosigned")
        except WitnessConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=submit, args=(w,)) for w in witnesses]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["cosigned"]


def test_edited_witness_state_is_refused(log: Log, signer: Signer, witness: Witness) -> None:
    _grow(log, 0, 3)
    witness.add_checkpoint(_request(log, signer, 0), signer.verifier, timestamp=T)
    [path] = (witness._dir / "state").glob("*.json")
    state = json.loads(path.read_text())
    state["size"] = 1  # rolled back by hand, note kept
    path.write_text(json.dumps(state))
    with pytest.raises(AuditInputError, match="disagree"):
        witness.known_size(signer.verifier)
