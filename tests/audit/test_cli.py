"""`cix audit …` end to end, in process, on both backends; bad input exits 2, changes nothing."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from cix.audit import open_log
from cix.cli.main import run
from tests.audit.conftest import sql


@dataclass
class Result:
    code: int
    out: str
    err: str


class Invoke(Protocol):
    def __call__(self, *args: str, stdin: bytes = b"") -> Result: ...


@pytest.fixture
def cix(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Invoke:
    monkeypatch.setenv("CIX_PASSPHRASE", "test passphrase")
    monkeypatch.delenv("CIX_PASSPHRASE_FILE", raising=False)
    monkeypatch.delenv("CIX_NODE", raising=False)

    def invoke(*args: str, stdin: bytes = b"") -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["cix", "audit", *args])
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        code = 0
        try:
            run()
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return invoke


def lines(*objs: object) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


def test_append_tail_checkpoint_prove_verify(cix: Invoke, log_address: str, tmp_path: Path) -> None:
    key = tmp_path / "log.key"
    assert cix("keygen", "--name", "kor.cix/audit", "--out", str(key)).code == 0
    r = cix(
        "append",
        "--log",
        log_address,
        "--node",
        "kor",
        stdin=lines(
            {"type": "document.open", "actor": "alice"},
            {"type": "decision", "actor": "bob", "decision": "deny", "reasons": ["x"], "seq": 1},
        ),
    )
    assert r.code == 0, r.err
    assert "appended 2 entries (0..1)" in r.err
    r = cix("tail", "--log", log_address, "-n", "1")
    tail = [json.loads(x) for x in r.out.splitlines()]
    assert [(e["seq"], e["actor"], e["node"]) for e in tail] == [(1, "bob", "kor")]
    r = cix("checkpoint", "--log", log_address, "--key", str(key))
    assert r.code == 0
    assert r.out.startswith("kor.cix/audit\n2\n")
    (tmp_path / "cp").write_text(r.out)
    r = cix("prove", "--log", log_address, "--index", "0")
    (tmp_path / "proof.json").write_text(r.out)
    assert json.loads(r.out)["entry"]["actor"] == "alice"
    r = cix(
        "check-proof",
        "--checkpoint",
        str(tmp_path / "cp"),
        "--log-key",
        f"{key}.pub",
        "--proof",
        str(tmp_path / "proof.json"),
    )
    assert r.code == 0
    assert "included: entry 0" in r.out
    r = cix("verify", "--log", log_address)
    assert r.code == 0
    assert r.out.startswith("intact: 2 entries")


def test_verify_names_the_broken_entry_and_exits_1(cix: Invoke, log_address: str) -> None:
    data = lines(*({"type": "x", "actor": f"a{i}", "node": "kor"} for i in range(5)))
    assert cix("append", "--log", log_address, stdin=data).code == 0
    sql(log_address, "DELETE FROM audit_entries WHERE seq = 2")
    r = cix("verify", "--log", log_address)
    assert r.code == 1
    assert "EntryMissing: entry 2 is missing" in r.err
    r = cix("verify", "--log", log_address, "--workers", "2")
    assert r.code == 1
    assert "EntryMissing: entry 2 is missing" in r.err
    assert cix("verify", "--log", log_address, "--workers", "0").code == 2  # usage error


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        (b'{"type":"x","actor":"a"}\n{"type":"x",\n', "stdin line 2: not JSON"),
        (b'{"type":"x","actor":"a"}\n[1]\n', "stdin line 2: expected a JSON object"),
        (b'{"type":"x","actor":"' + b"a" * 300 + b'"}\n', "stdin line 1: actor: longer"),
        (b'{"type":"x","actor":"a","details":{"b":"' + b"x" * 40000 + b'"}}\n', "larger than"),
        (b'{"type":"x","actor":"a","seq":7}\n', "seq 7 given, but the next entry is 3"),
        (b"\xff\xfe\n", "stdin line 1: not JSON"),
    ],
)
def test_bad_lines_exit_2_and_append_nothing(
    cix: Invoke, log_address: str, stdin: bytes, message: str
) -> None:
    good = lines(*({"type": "x", "actor": f"a{i}"} for i in range(3)))
    assert cix("append", "--log", log_address, "--node", "kor", stdin=good).code == 0
    r = cix("append", "--log", log_address, "--node", "kor", stdin=stdin)
    assert r.code == 2, r.err
    assert message in r.err
    assert "Traceback" not in r.err
    with open_log(log_address, create=False) as log:
        assert log.size() == 3
        log.verify()


def test_missing_node_asks_for_one(cix: Invoke, tmp_path: Path) -> None:
    r = cix("append", "--log", str(tmp_path / "a.db"), stdin=b'{"type":"x","actor":"a"}\n')
    assert r.code == 2
    assert "give --node or set CIX_NODE" in r.err


@pytest.mark.parametrize(
    "address", ["mysql://db/x", "postgresql://127.0.0.1:1/none", "/no/such/dir/a.db", "absent.db"]
)
def test_unknown_log_exits_2(cix: Invoke, address: str, tmp_path: Path) -> None:
    if address == "absent.db":
        address = str(tmp_path / address)
    r = cix("tail", "--log", address)
    assert r.code == 2, r.err
    assert "error:" in r.err
    assert "Traceback" not in r.err
    r = cix("append", "--log", address, "--node", "n", stdin=b'{"type":"x","actor":"a"}\n')
    if address.endswith("absent.db"):
        assert r.code == 0  # append creates the log on first use
    else:
        assert r.code == 2


def test_witness_cli_cosigns_then_refuses_a_replay(cix: Invoke, tmp_path: Path) -> None:
    log, key, wdir = str(tmp_path / "a.db"), tmp_path / "log.key", tmp_path / "w"
    cix("keygen", "--name", "kor.cix/audit", "--out", str(key))
    assert cix("witness", "init", "--dir", str(wdir), "--name", "can.cix/witness").code == 0
    one = b'{"type":"x","actor":"a"}\n'
    r = cix("append", "--log", log, "--node", "kor", "--key", str(key), stdin=one)
    (tmp_path / "cp1").write_text(r.out)
    cix("append", "--log", log, "--node", "kor", stdin=one * 3)
    (tmp_path / "cp2").write_text(cix("checkpoint", "--log", log, "--key", str(key)).out)
    (tmp_path / "c.json").write_text(cix("prove", "--log", log, "--old-size", "1").out)
    pub = f"{key}.pub"
    r = cix(
        "witness",
        "cosign",
        "--dir",
        str(wdir),
        "--checkpoint",
        str(tmp_path / "cp1"),
        "--log-key",
        pub,
    )
    assert r.code == 0
    assert "\u2014 can.cix/witness " in r.out
    r = cix(
        "witness",
        "cosign",
        "--dir",
        str(wdir),
        "--checkpoint",
        str(tmp_path / "cp2"),
        "--log-key",
        pub,
        "--proof",
        str(tmp_path / "c.json"),
    )
    assert r.code == 0, r.err
    r = cix(
        "witness",
        "cosign",
        "--dir",
        str(wdir),
        "--checkpoint",
        str(tmp_path / "cp1"),
        "--log-key",
        pub,
    )
    assert r.code == 1
    assert "WitnessConflict" in r.err


def test_passphrase_is_required_for_keys(
    cix: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CIX_PASSPHRASE")
    r = cix("keygen", "--name", "n", "--out", str(tmp_path / "k"))
    assert r.code == 2
    assert "CIX_PASSPHRASE" in r.err
    (tmp_path / "pass").write_text("from a file\n")
    monkeypatch.setenv("CIX_PASSPHRASE_FILE", str(tmp_path / "pass"))
    assert cix("keygen", "--name", "n", "--out", str(tmp_path / "k")).code == 0


def test_tail_filters_by_actor_document_type_decision_and_time_and_reads_as_lines(
    cix: Invoke, log_address: str
) -> None:
    """Issue 14 #11: `audit tail` filters and a readable form beside JSON."""
    entries = [
        {"type": "document", "actor": "alice", "action": "read", "decision": "permit",
         "object": "document:aaaa", "time": "2026-12-01T10:00:00Z"},
        {"type": "document", "actor": "bob", "action": "read", "decision": "deny",
         "object": "document:bbbb", "reasons": ["clearance-level"], "time": "2026-12-02T10:00:00Z"},
        {"type": "registry", "actor": "alice", "action": "update", "decision": "permit",
         "object": "person:bob", "time": "2026-12-03T10:00:00Z"},
        *({"type": "document", "actor": "carol", "action": "read", "decision": "permit",
           "object": f"document:c{i}", "time": "2026-12-04T10:00:00Z"} for i in range(2500)),
    ]  # fmt: skip
    assert cix("append", "--log", log_address, "--node", "can", stdin=lines(*entries)).code == 0

    def seqs(*args: str) -> list[int]:
        r = cix("tail", "--log", log_address, *args)
        assert r.code == 0, r.err
        return [json.loads(x)["seq"] for x in r.out.splitlines()]

    # Past a window of newest entries that all fail the filter (2,500 by carol).
    assert seqs("--actor", "alice", "-n", "5") == [0, 2]
    assert seqs("--document", "bbbb") == [1]
    assert seqs("--type", "registry") == [2]
    assert seqs("--decision", "deny") == [1]
    assert seqs("--actor", "alice", "--since", "2026-12-02T00:00:00Z") == [2]
    assert seqs("--actor", "alice", "--until", "2026-12-02T00:00:00Z") == [0]
    assert len(seqs("--actor", "carol", "-n", "3")) == 3
    readable = cix("tail", "--log", log_address, "--decision", "deny", "--readable")
    assert readable.out.strip() == (
        "#1  2026-12-02 10:00:00Z  document  read  deny  bob  document:bbbb  (clearance-level)"
    )
    bad = cix("tail", "--log", log_address, "--decision", "maybe")
    assert bad.code == 2
    assert "--decision" in bad.err
