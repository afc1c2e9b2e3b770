"""Issue 14 #4: the subject file and the batch of docs/labels.md, run as written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "labels.md"


def _section() -> str:
    text = DOC.read_text(encoding="utf-8")
    return text[text.index("## Deciding from the command line") : text.index("## Agreement files")]


def _decide(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cix.cli.main", "decide", *args],
        capture_output=True, text=True, cwd=cwd, timeout=120, check=False,
    )  # fmt: skip


def test_the_documented_subject_file_and_batch_decide_as_documented(tmp_path: Path) -> None:
    section = _section()
    blocks = re.findall(r"```json\n(.*?)```", section, re.S)
    subject, batch = blocks
    (tmp_path / "alice.json").write_text(subject, encoding="utf-8")
    (tmp_path / "requests.jsonl").write_text(batch, encoding="utf-8")
    # The level is the name SECRET, not the code S: accepted, as the node's API accepts it.
    read = _decide("--agreement", "kor-can", "--subject", "alice.json", "--label",
                   "SECRET//CPSP//REL TO CAN, KOR", "--action", "read", "--at",
                   "2027-01-15T12:00:00Z", cwd=tmp_path)  # fmt: skip
    assert read.returncode == 0, read.stdout + read.stderr
    assert json.loads(read.stdout)["permit"] is True
    # Valid through the day of the expiry, not after it.
    late = _decide("--agreement", "kor-can", "--subject", "alice.json", "--label",
                   "SECRET//CPSP//REL TO CAN, KOR", "--at", "2028-01-01T00:00:01Z",
                   cwd=tmp_path)  # fmt: skip
    assert late.returncode == 1
    out = _decide("--agreement", "kor-can", "--batch", "requests.jsonl", cwd=tmp_path)
    decisions = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(decisions) == 2
    assert out.returncode == 1  # the transmission to DEU, a third party, is refused
    assert decisions[1]["permit"] is False
    for command in re.findall(r"```sh\n(.*?)```", section, re.S):
        assert command.lstrip().startswith("cix decide")
