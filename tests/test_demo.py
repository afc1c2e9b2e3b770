"""`make demo`'s seeding path and the commands it prints, run as a user would run them.

`prepare`, `start`, `seed_documents` and `commands` are exactly what `main` calls before
printing; `main` itself runs once (slow), to show that signals stop every node it started.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path

import pytest

from cix.demo import MARKER, DemoCommand, DemoNode, commands, prepare, seed_documents, start, stop
from cix.demo_cast import CANADA, KOREA, NATIONS
from cix.errors import InputError
from cix.node.roles import SYSTEM
from cix.node.service import Node
from tests.live_node import node_environ

# The demo prefers fixed ports: two demos at once in two workers would reach each other.
pytestmark = pytest.mark.xdist_group("demo")


def test_prepare_seeds_three_nodes_with_their_cast_and_client_configs(tmp_path: Path) -> None:
    nodes = prepare(tmp_path / "demo-data", base_port=0)
    assert [n.nation.party for n in nodes] == ["CAN", "KOR", "DEU"]
    assert len({n.port for n in nodes}) == 3
    for demo, nation in zip(nodes, NATIONS, strict=True):
        node = Node.open(demo.data_dir, environ={})
        try:
            people = {p.id: p for p in node.registry.list_people(SYSTEM, None)}
            assert set(people) == {m.id for m in nation.people} | {"root"}
            orgs = {o.id: o for o in node.registry.list_organisations(SYSTEM)}
            for org in nation.orgs:
                cleared = orgs[org.id].facility_clearance
                assert (cleared.level if cleared else None) == org.facility
            for person, token in demo.tokens.items():
                assert node.api_tokens.authenticate(token, node.clock()) == person
                config = demo.clients[person]
                assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
                assert tomllib.loads(config.read_text()) == {"url": demo.url, "token": token}
        finally:
            node.close()
    can = Node.open(nodes[0].data_dir, environ={})
    try:
        members = can.registry.list_memberships(SYSTEM, person=None, programme="CPSP")
        assert {m.person for m in members} == {
            m.id for m in CANADA.people if "CPSP" in m.programmes
        }
    finally:
        can.close()


def test_prepare_recreates_its_own_directory_but_never_a_foreign_one(tmp_path: Path) -> None:
    root = tmp_path / "demo-data"
    prepare(root, nations=(CANADA,), base_port=0)
    (root / "stale").write_text("from the last run")
    prepare(root, nations=(CANADA,), base_port=0)
    assert not (root / "stale").exists()
    assert (root / MARKER).exists()
    foreign = tmp_path / "precious"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    with pytest.raises(InputError, match="not a cix demo directory"):
        prepare(foreign, nations=(CANADA,))
    assert (foreign / "thesis.tex").read_text() == "keep me"


def _run_as_printed(command: DemoCommand) -> subprocess.CompletedProcess[str]:
    """Run a printed command as a user pastes it; it must exit as printed, cleanly."""
    done = subprocess.run(
        command.argv,
        env=node_environ(**command.env, COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == command.exit_code, (command.shell(), done.stderr)
    assert "Traceback" not in done.stderr
    return done


def test_the_printed_commands_behave_as_printed(tmp_path: Path) -> None:
    root = tmp_path / "demo-data"
    nodes = prepare(root, nations=(CANADA,), base_port=0)
    processes = start(nodes)
    try:
        seeded = seed_documents(nodes)
        out = root / "out"
        out.mkdir()
        printed = commands(nodes, out)
        assert len(printed) == (4 if seeded else 1)
        results = [_run_as_printed(command) for command in printed]
    finally:
        stop(processes)
    if not seeded:
        assert "pspc-cso" in results[0].stdout
        return
    permit, denial, reasons, _verified = results
    assert "cix-marking" in permit.stdout.lower() or "wrote" in permit.stdout
    acoustics = next(d for d in CANADA.documents if d.key == "acoustics")
    written = Path(printed[0].argv[printed[0].argv.index("-o") + 1])
    assert written.read_text() == acoustics.text
    assert "refused" in denial.stderr
    assert "facility" not in denial.stderr  # the caller gets no reason ...
    record = json.loads(reasons.stdout.strip().splitlines()[-1])
    assert record["decision"] == "deny"  # ... the audit record has them
    assert any("facility" in reason for reason in record["reasons"])
    denied_out = Path(printed[1].argv[printed[1].argv.index("-o") + 1])
    assert not denied_out.exists()


def _children(pid: int) -> list[int]:
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat_file.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_demo_stopped_by_two_sigterms_leaves_no_node_serving(tmp_path: Path) -> None:
    # What `make demo` does when make is sent SIGTERM: the demo gets one, then a second
    # while it is stopping its nodes.
    log = tmp_path / "demo.log"  # a file, not a pipe nobody reads while the demo starts
    with log.open("w") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "cix.demo"],
            cwd=tmp_path,
            env=node_environ(),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        # Three nodes to create and start: slow on a loaded machine, hence the long wait.
        deadline = time.monotonic() + 300
        while "http://" not in log.read_text() or len(_children(demo.pid)) < 3:
            assert demo.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"the demo did not start: {log.read_text()}"
            time.sleep(0.2)
        nodes = _children(demo.pid)
        demo.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=60) == 0
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in nodes):
            assert time.monotonic() < deadline, "nodes still serving after the demo stopped"
            time.sleep(0.1)
    finally:
        if demo.poll() is None:
            demo.kill()
        for pid in _children(demo.pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_the_federated_demo_behaves_as_printed(tmp_path: Path) -> None:
    """Three federated nodes: KOR's design received at CAN with its receipt stored at KOR,
    CAN's release to DEU refused without KOR's consent and permitted with it, DEU's copy
    registered with the chain and opened there by a cleared TKMS engineer."""
    from cix.demo import demo_environ
    from cix.demo_exchange import COPY, exchange, wait_witnessed

    root = tmp_path / "demo-data"
    nodes = prepare(root, base_port=0)
    processes = start(nodes)
    try:
        assert seed_documents(nodes)
        exchange(nodes)
        wait_witnessed(nodes)
        out = root / "out"
        out.mkdir()
        printed = commands(nodes, out)
        for command in printed:
            _run_as_printed(command)
    finally:
        stop(processes)
    can = next(n for n in nodes if n.nation.party == "CAN")
    assert COPY in can.documents
    node = Node.open(can.data_dir, environ=demo_environ(), unlock=False)
    try:
        log = node.audit.log  # type: ignore[attr-defined]
        releases = [
            e.event
            for e in log.entries(0, log.size())
            if e.event.type == "document" and e.event.action == "release"
        ]
    finally:
        node.close()
    assert releases[0].decision == "deny"
    assert "third-party-consent-missing" in releases[0].reasons
    assert releases[-1].decision == "permit"
    deu = next(n for n in nodes if n.nation.party == "DEU")
    node = Node.open(deu.data_dir, environ=demo_environ(), unlock=False)
    try:
        log = node.audit.log  # type: ignore[attr-defined]
        events = [e.event for e in log.entries(0, log.size())]
    finally:
        node.close()
    (received,) = [e for e in events if e.type == "document" and e.action == "receive"]
    assert received.decision == "permit"
    assert received.details["originator_party"] == "KOR"
    assert received.details["consent"] == can.consents["release-to-deu"]
    opened = [e for e in events if e.action == "read" and e.actor == "tkms-eng"]
    assert [e.decision for e in opened] == ["permit"]
    design = next(d for d in KOREA.documents if d.key == "cpsp-design")
    assert (out / "tkms-copy.txt").read_text() == design.text
    _assert_cross_cosigned(nodes, printed)


def _assert_cross_cosigned(nodes: Sequence[DemoNode], printed: Sequence[DemoCommand]) -> None:
    """Each pairing's logs are cosigned both ways, under the peer's pinned audit key, and
    the printed commands show them."""
    from cix.node.logcheck import list_cosignatures
    from cix.settings import load_settings

    by_party = {n.nation.party: n for n in nodes}
    for here, there in (("KOR", "CAN"), ("CAN", "KOR"), ("CAN", "DEU"), ("DEU", "CAN")):
        rows = list_cosignatures(by_party[here].data_dir)
        peer = load_settings(by_party[there].data_dir).node_id
        assert any(r.peer == peer and r.cosigned_at for r in rows), (here, there, rows)
    shown = [c.argv[1:3] for c in printed]
    assert shown.count(("audit", "cosignatures")) == 2
