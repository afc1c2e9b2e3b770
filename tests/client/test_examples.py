"""The SDK's examples (docs/sdk.md) run against a real `cix serve` and do what they say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cix.client import Client
from cix.demo import DemoNode
from tests.client.test_sdk import LABEL, can
from tests.live_node import LiveNode, node_environ

__all__ = ["can"]  # the served node, a fixture shared with test_sdk

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(example: str, *args: str, url: str, token: str) -> subprocess.CompletedProcess[str]:
    """Run `examples/EXAMPLE ARGS` as a user would."""
    env = node_environ(CIX_CLIENT_URL=url, CIX_CLIENT_TOKEN=token)
    return subprocess.run(
        [sys.executable, str(EXAMPLES / example), *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_upload_directory_uploads_each_file_once_and_reports_refusals(
    can: tuple[DemoNode, LiveNode], tmp_path: Path
) -> None:
    demo, live = can
    reports = tmp_path / "reports"
    reports.mkdir()
    for name in ("trial-1.txt", "trial-2.txt"):
        (reports / name).write_text(f"{name} results\n")
    token = demo.tokens["dnd-pm"]
    first = run("upload_directory.py", str(reports), LABEL, url=live.url, token=token)
    assert first.returncode == 0, first.stderr
    assert [line.split("  ")[-1] for line in first.stdout.splitlines()] == [
        "trial-1.txt",
        "trial-2.txt",
    ]
    again = run("upload_directory.py", str(reports), LABEL, url=live.url, token=token)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("skipped") == 2
    (reports / "trial-3.txt").write_text("more\n")
    refused = run("upload_directory.py", str(reports), "SECRET//REL TO ATLANTIS", url=live.url,
                  token=token)  # fmt: skip
    assert refused.returncode == 1
    assert "failed   trial-3.txt" in refused.stderr
    with Client(live.url, token) as node:
        titles = [d.title for d in node.documents.list("trial")]
    assert sorted(titles) == ["trial-1.txt", "trial-2.txt"]


def test_programme_reading_list_counts_what_a_member_may_read(
    can: tuple[DemoNode, LiveNode],
) -> None:
    demo, live = can
    token = demo.tokens["dnd-pm"]
    with Client(live.url, token) as node:
        made = node.documents.upload(b"ops", label=LABEL, title="reading list probe")
        expected = [d.id for d in node.documents.list(programme="CPSP")]
    assert made.id in expected
    done = run("programme_reading_list.py", "CPSP", url=live.url, token=token)
    assert done.returncode == 0, done.stderr
    listed = [line.split()[0] for line in done.stdout.splitlines() if len(line.split()[0]) == 32]
    assert listed == expected
    assert f"  {LABEL}" in done.stdout
