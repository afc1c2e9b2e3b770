"""Each way of falsifying the log's history, tried against the real storage, fails distinctly.

The attacker has write access to the database (SQL below); the defender has the log's
public key and the signed checkpoints.
"""

from __future__ import annotations

import hashlib

import pytest

from cix.audit import Checkpoint, Log, Signer, generate_signer, merkle, open_checkpoint
from cix.audit.checkpoint import sign_checkpoint
from cix.audit.errors import (
    CheckpointReplayed,
    CheckpointSignatureInvalid,
    EntryMissing,
    EntryOutOfOrder,
    EntryTampered,
    LogTruncated,
    RootMismatch,
    TreeTampered,
    WrongKey,
)
from cix.errors import VerificationError
from tests.audit.conftest import event, sql


def _fill(log: Log, n: int = 40, batch: int = 8) -> None:
    for start in range(0, n, batch):
        log.append_batch([event(i) for i in range(start, min(start + batch, n))])


def _body(address: str, seq: int) -> bytes:
    return bytes(sql(address, "SELECT body FROM audit_entries WHERE seq = ?", [seq])[0][0])


def test_entry_edited_in_the_database_is_detected(log: Log, log_address: str) -> None:
    _fill(log)
    original = _body(log_address, 17)  # event 17 was permitted; the insider makes it a denial
    forged = original.replace(b'"decision":"permit"', b'"decision":"deny"')
    assert forged != original
    sql(log_address, "UPDATE audit_entries SET body = ? WHERE seq = 17", [forged])
    with pytest.raises(EntryTampered, match="entry 17 does not match"):
        log.verify()


def test_entry_edited_with_its_leaf_hash_is_detected_in_the_tree(
    log: Log, log_address: str
) -> None:
    _fill(log)
    forged = _body(log_address, 20).replace(b"user-20@", b"user-99@")
    leaf = hashlib.sha256(b"\x00" + forged).digest()
    sql(log_address, "UPDATE audit_entries SET body = ?, leaf = ? WHERE seq = 20", [forged, leaf])
    with pytest.raises(TreeTampered, match=r"entries 20\.\.21"):
        log.verify()


def test_entry_edited_with_the_whole_tree_rebuilt_is_caught_by_the_checkpoints(
    log: Log, log_address: str
) -> None:
    _fill(log)
    forged = _body(log_address, 26).replace(b"user-26@", b"user-66@")
    sql(log_address, "UPDATE audit_entries SET body = ? WHERE seq = 26", [forged])
    # Rebuild every leaf and node hash so the stored tree is self-consistent again.
    rows = sql(log_address, "SELECT seq, body FROM audit_entries ORDER BY seq")
    sql(log_address, "DELETE FROM audit_nodes")
    frontier = merkle.Frontier(0, [])
    for seq, body in rows:
        leaf = merkle.leaf_hash(bytes(body))
        sql(log_address, "UPDATE audit_entries SET leaf = ? WHERE seq = ?", [leaf, seq])
        for level, index, h in frontier.push(leaf):
            sql(
                log_address,
                "INSERT INTO audit_nodes (id, hash) VALUES (?, ?)",
                [merkle.storage_id(level, index), h],
            )
    with pytest.raises(RootMismatch, match=r"entries 24\.\.31"):
        log.verify()


def test_entry_deleted_is_detected(log: Log, log_address: str) -> None:
    _fill(log)
    sql(log_address, "DELETE FROM audit_entries WHERE seq = 11")
    with pytest.raises(EntryMissing, match="entry 11 is missing"):
        log.verify()


def test_entries_reordered_are_detected(log: Log, log_address: str) -> None:
    _fill(log)
    a = sql(log_address, "SELECT body, leaf FROM audit_entries WHERE seq = 5")[0]
    b = sql(log_address, "SELECT body, leaf FROM audit_entries WHERE seq = 6")[0]
    sql(log_address, "UPDATE audit_entries SET body = ?, leaf = ? WHERE seq = 5", list(b))
    sql(log_address, "UPDATE audit_entries SET body = ?, leaf = ? WHERE seq = 6", list(a))
    with pytest.raises(EntryOutOfOrder, match="entry 5 holds the entry numbered 6"):
        log.verify()


def test_log_truncated_is_detected(log: Log, log_address: str) -> None:
    _fill(log)
    sql(log_address, "DELETE FROM audit_entries WHERE seq >= 30")
    sql(log_address, "DELETE FROM audit_nodes WHERE id >= ?", [merkle.storage_id(0, 30)])
    sql(log_address, "UPDATE audit_meta SET value = '30' WHERE key = 'size'")
    with pytest.raises(LogTruncated, match="signed at 40"):
        log.verify()


def test_log_truncated_with_its_checkpoints_is_caught_by_a_client(
    log: Log, log_address: str, signer: Signer
) -> None:
    _fill(log)
    seen = log.latest_checkpoint()
    assert seen is not None
    sql(log_address, "DELETE FROM audit_entries WHERE seq >= 30")
    sql(log_address, "DELETE FROM audit_nodes WHERE id >= ?", [merkle.storage_id(0, 30)])
    sql(log_address, "DELETE FROM audit_checkpoints WHERE size > 30")
    sql(log_address, "UPDATE audit_meta SET value = '30' WHERE key = 'size'")
    log.verify()  # self-consistent now: only someone who saw size 40 can tell
    shown = log.checkpoint(signer)
    with pytest.raises(CheckpointReplayed):
        open_checkpoint(shown.note, signer.verifier, not_before=seen.checkpoint)


def test_old_checkpoint_replayed_is_refused(log: Log, signer: Signer) -> None:
    _fill(log, 16)
    old = log.checkpoint(signer)
    _fill(log, 8)
    new = log.checkpoint(signer)
    assert open_checkpoint(new.note, signer.verifier, not_before=old.checkpoint)
    with pytest.raises(CheckpointReplayed, match="older than the size 24"):
        open_checkpoint(old.note, signer.verifier, not_before=new.checkpoint)


def test_checkpoint_signed_by_the_wrong_key_is_refused(log: Log, log_address: str) -> None:
    _fill(log, 8)
    impostor = generate_signer("kor.cix.example/audit")  # same name, another key
    forged = sign_checkpoint(Checkpoint("kor.cix.example/audit", 8, log.root()), impostor)
    sql(log_address, "UPDATE audit_checkpoints SET note = ? WHERE size = 8", [forged.note])
    with pytest.raises(WrongKey):
        log.verify()


def test_checkpoint_with_a_forged_signature_is_refused(log: Log, signer: Signer) -> None:
    _fill(log, 8)
    note = log.checkpoint(signer).note
    line = note.rstrip("\n").rsplit("\n", 1)[1]
    sig = line.split(" ")[2]
    forged_sig = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    with pytest.raises(CheckpointSignatureInvalid):
        open_checkpoint(note.replace(sig, forged_sig), signer.verifier)


def test_checkpoint_root_altered_is_refused(log: Log, signer: Signer) -> None:
    _fill(log, 8)
    note = log.checkpoint(signer).note
    lines = note.split("\n")
    lines[1] = "9"
    with pytest.raises(CheckpointSignatureInvalid):
        open_checkpoint("\n".join(lines), signer.verifier)


def test_stored_node_altered_is_detected(log: Log, log_address: str) -> None:
    _fill(log)
    sql(
        log_address,
        "UPDATE audit_nodes SET hash = ? WHERE id = ?",
        [b"\x00" * 32, merkle.storage_id(2, 3)],
    )
    with pytest.raises(TreeTampered, match=r"entries 12\.\.15"):
        log.verify()


def test_all_attacks_are_verification_errors() -> None:
    for exc in (
        EntryTampered,
        EntryMissing,
        EntryOutOfOrder,
        LogTruncated,
        RootMismatch,
        TreeTampered,
        WrongKey,
        CheckpointSignatureInvalid,
        CheckpointReplayed,
    ):
        assert issubclass(exc, VerificationError)
    assert len({EntryTampered, EntryMissing, EntryOutOfOrder, LogTruncated, WrongKey}) == 5


def test_entry_smuggled_beyond_the_size_is_detected(log: Log, log_address: str) -> None:
    _fill(log, 8)
    body = _body(log_address, 7)
    sql(
        log_address,
        "INSERT INTO audit_entries (seq, leaf, body) VALUES (8, ?, ?)",
        [merkle.leaf_hash(body), body],
    )
    with pytest.raises(EntryTampered, match="beyond the log's recorded size 8"):
        log.verify()


def test_node_smuggled_beyond_the_size_is_detected(log: Log, log_address: str) -> None:
    _fill(log, 8)
    sql(
        log_address,
        "INSERT INTO audit_nodes (id, hash) VALUES (?, ?)",
        [merkle.storage_id(1, 9), b"\x01" * 32],
    )
    with pytest.raises(TreeTampered, match="beyond the log's size 8"):
        log.verify()
