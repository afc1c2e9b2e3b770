"""Issue 14 #1: lists a person can use — ids and markings never cut, at 80 columns in a
terminal and on a pipe; `--format table|json|csv`; a unique id prefix accepted where a person
types an id. Each command runs as a subprocess against a real `cix serve`."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from fcntl import ioctl
from pathlib import Path

import pytest

from cix.demo import DemoNode
from tests.live_node import LiveNode, node_environ
from tests.node.test_cli_client import can, cix, login

__all__ = ["can"]  # the served node, a fixture shared with test_cli_client

MARKING = "SECRET//CPSP//REL TO CAN, KOR"
TITLE = "Hull design review: minutes of the third meeting of the joint working group on sonar"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def uploaded(
    can: tuple[DemoNode, LiveNode], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[dict[str, object]]]:
    """A logged-in programme manager and two documents uploaded by them, newest first."""
    root = tmp_path_factory.mktemp("listing")
    config = root / "pm.toml"
    login(can, "dnd-pm", config)
    source = root / "minutes.txt"
    source.write_bytes(b"minutes\n" * 700)
    docs = []
    for n in range(2):
        up = cix(
            "docs", "upload", str(source), "--label", MARKING, "--title", f"{TITLE} {n}",
            "--json", config=config,
        )  # fmt: skip
        assert up.returncode == 0, up.stderr
        docs.append(json.loads(up.stdout))
    return config, docs[::-1]


def in_terminal(*args: str, config: Path, columns: int) -> str:
    """What `cix ARGS` shows in a terminal `columns` wide (a pseudo-terminal), escapes removed."""
    leader, follower = pty.openpty()
    ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = node_environ(CIX_CLIENT_CONFIG=str(config), TERM="xterm")
    env.pop("COLUMNS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cix.cli.main", *args],
        stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=60) == 0, b"".join(chunks).decode(errors="replace")
    os.close(leader)
    return ANSI.sub("", b"".join(chunks).decode()).replace("\r", "")


def test_an_80_column_terminal_shows_every_id_and_marking_whole(
    uploaded: tuple[Path, list[dict[str, object]]],
) -> None:
    config, docs = uploaded
    shown = in_terminal("docs", "list", "--query", "Hull design", config=config, columns=80)
    lines = shown.splitlines()
    for doc in docs:
        # Whole, on one line each (no ellipsis, no line broken inside them).
        assert any(str(doc["id"]) in line for line in lines), shown
        assert any(MARKING in line for line in lines), shown
    assert "…" not in shown
    assert max(map(len, lines)) <= 80  # nothing runs off the terminal but whole values


def test_a_wide_terminal_shows_a_table(uploaded: tuple[Path, list[dict[str, object]]]) -> None:
    config, docs = uploaded
    shown = in_terminal("docs", "list", "--query", "Hull design", config=config, columns=200)
    row = next(line for line in shown.splitlines() if str(docs[0]["id"]) in line)
    assert MARKING in row
    assert "│" in row
    assert "5.5 KiB" in row  # a size for a person (5,600 bytes)


def test_piped_output_is_one_plain_line_per_document(
    uploaded: tuple[Path, list[dict[str, object]]],
) -> None:
    config, docs = uploaded
    piped = cix("docs", "list", "--query", "Hull design", config=config, env={"COLUMNS": "80"})
    assert piped.returncode == 0, piped.stderr
    header, *rows = piped.stdout.splitlines()
    assert header.split("\t") == ["id", "marking", "title", "size", "created"]
    assert [r.split("\t")[:3] for r in rows] == [
        [str(d["id"]), MARKING, str(d["title"])] for d in docs
    ]
    assert not re.search(r"[│┃━─…]", piped.stdout)


def test_csv_and_json_carry_exact_values(uploaded: tuple[Path, list[dict[str, object]]]) -> None:
    config, docs = uploaded
    as_csv = cix("docs", "list", "-q", "Hull design", "--format", "csv", config=config)
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["id"], r["marking"], r["size"]) for r in rows] == [
        (d["id"], MARKING, str(d["plaintext_size"])) for d in docs
    ]
    as_json = cix("docs", "list", "-q", "Hull design", "--format", "json", config=config)
    assert [d["id"] for d in json.loads(as_json.stdout)["items"]] == [d["id"] for d in docs]
    clash = cix("docs", "list", "--json", "--format", "csv", config=config)
    assert clash.returncode == 2
    assert "--json and --format csv" in clash.stderr
    unknown = cix("docs", "list", "--format", "xml", config=config)
    assert unknown.returncode == 2


def test_a_unique_id_prefix_names_the_document(
    uploaded: tuple[Path, list[dict[str, object]]],
) -> None:
    config, docs = uploaded
    full = str(docs[0]["id"])
    other = str(docs[1]["id"])
    # The shortest prefix telling the two apart, plus one digit.
    common = next(i for i, (a, b) in enumerate(zip(full, other, strict=True)) if a != b)
    prefix = full[: max(common + 2, 4)]
    shown = cix("docs", "show", prefix.upper(), "--json", config=config)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == full
    history = cix("docs", "history", prefix, "--format", "json", config=config)
    assert history.returncode == 0, history.stderr


def test_an_ambiguous_id_prefix_is_refused_naming_the_candidates(
    uploaded: tuple[Path, list[dict[str, object]]],
) -> None:
    config, docs = uploaded
    full, other = str(docs[0]["id"]), str(docs[1]["id"])
    common = next(i for i, (a, b) in enumerate(zip(full, other, strict=True)) if a != b)
    if common < 4:
        pytest.fail("the two documents' ids differ in their first 4 digits")
    done = cix("docs", "show", full[:common], config=config)
    assert done.returncode == 2
    assert "several documents" in done.stderr
    assert full in done.stderr
    assert other in done.stderr


def test_id_prefix_of_a_document_out_of_reach_reads_as_no_document(
    can: tuple[DemoNode, LiveNode],
    uploaded: tuple[Path, list[dict[str, object]]],
    tmp_path: Path,
) -> None:
    """A contractor without a facility clearance learns nothing from a prefix: the answer for
    a SECRET document's prefix is the answer for a prefix of nothing."""
    _, docs = uploaded
    outsider = tmp_path / "outsider.toml"
    login(can, "northfab-eng", outsider)
    hidden = cix("docs", "show", str(docs[0]["id"])[:20], config=outsider)
    absent = cix("docs", "show", "ffffffffffffffffffff", config=outsider)
    assert hidden.returncode == absent.returncode == 2
    assert hidden.stderr.replace(str(docs[0]["id"])[:20], "X") == absent.stderr.replace(
        "ffffffffffffffffffff", "X"
    )


def test_list_filters_reach_the_node_and_bad_ones_name_themselves(
    uploaded: tuple[Path, list[dict[str, object]]],
) -> None:
    config, docs = uploaded
    found = cix(
        "docs", "list", "-q", "design HULL", "--classification", "secret", "--programme", "CPSP",
        "--originator", "CAN", "--format", "json", config=config,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert [d["id"] for d in json.loads(found.stdout)["items"]] == [d["id"] for d in docs]
    none = cix("docs", "list", "--classification", "CONFIDENTIAL", "--json", config=config)
    assert not {d["id"] for d in json.loads(none.stdout)["items"]} & {d["id"] for d in docs}
    bad = cix("docs", "list", "--since", "2026-13-01", config=config)
    assert bad.returncode == 2
    assert "since" in bad.stderr


def test_upload_from_standard_input_streams_and_needs_a_title(
    uploaded: tuple[Path, list[dict[str, object]]],
) -> None:
    """Issue 14 #11: `cix docs upload -` reads standard input (then --title is required)."""
    config, _ = uploaded
    env = node_environ(CIX_CLIENT_CONFIG=str(config))
    content = os.urandom(600_000)

    def upload(*extra: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "cix.cli.main", "docs", "upload", "-", "--label", MARKING,
             "--json", *extra],
            input=content, env=env, capture_output=True, timeout=120, check=False,
        )  # fmt: skip

    untitled = upload()
    assert untitled.returncode == 2
    assert b"--title" in untitled.stderr
    done = upload("--title", "piped trial data")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["plaintext_size"] == len(content)
    opened = subprocess.run(
        [sys.executable, "-m", "cix.cli.main", "docs", "open", doc["id"], "-o", "-"],
        env=env, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == content
