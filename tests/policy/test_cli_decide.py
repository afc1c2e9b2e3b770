"""`cix decide`: JSON out, exit 0 on permit, 1 on deny, 2 on bad input, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.policy.helpers import CANADIAN_ANALYST

LABEL = {
    "policy": "kor-can",
    "originator": "KOR",
    "classification": "군사Ⅱ급비밀",
    "releasable_to": ["CAN", "KOR"],
    "programmes": ["CPSP"],
    "created": "2026-03-01T00:00:00Z",
}
AT = "2026-06-01T12:00:00Z"


def cix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cix.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.fixture
def subject_file(tmp_path: Path) -> Path:
    path = tmp_path / "analyst.json"
    path.write_text(json.dumps(CANADIAN_ANALYST), encoding="utf-8")
    return path


def _decide(
    subject: Path, *extra: str, label: dict[str, Any] = LABEL
) -> subprocess.CompletedProcess[str]:
    return cix(
        "decide", "--agreement", "kor-can", "--subject", str(subject),
        "--label", json.dumps(label, ensure_ascii=False), "--at", AT, *extra,
    )  # fmt: skip


def test_permit_prints_the_decision_and_exits_0(subject_file: Path) -> None:
    result = _decide(subject_file)
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["permit"] is True
    assert decision["reasons"] == []
    assert {"code": "mark", "party": "CAN", "level": "S", "originator": "KOR"} in decision[
        "obligations"
    ]


def test_deny_prints_every_reason_and_exits_1(subject_file: Path, tmp_path: Path) -> None:
    stale = dict(CANADIAN_ANALYST, briefed_until="2026-01-01", programmes={})
    path = tmp_path / "stale.json"
    path.write_text(json.dumps(stale), encoding="utf-8")
    result = _decide(path, "--action", "transmit", "--to", "DEU")
    assert result.returncode == 1, result.stderr
    decision = json.loads(result.stdout)
    assert decision["permit"] is False
    assert [r["code"] for r in decision["reasons"]] == [
        "programme-missing",
        "briefing-stale",
        "recipient-third-party",
    ]


def test_release_with_consent_is_permitted(subject_file: Path) -> None:
    result = _decide(subject_file, "--action", "release", "--to", "DEU", "--consent", "KOR-7")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--action", "peek"], "action 'peek' is not one of"),
        (["--at", "yesterday"], "--at: 'yesterday' is not an ISO date-time"),
        (["--at", "2026-06-01T12:00:00"], "has no time zone"),
        (["--action", "transmit"], "needs a recipient"),
        (["--action", "transmit", "--to", "Germany"], "--to: 'Germany' is not a party"),
    ],
)
def test_bad_request_exits_2_naming_the_problem(
    subject_file: Path, args: list[str], message: str
) -> None:
    result = _decide(subject_file, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (dict(LABEL, classification="COSMIC TOP SECRET"), "COSMIC TOP SECRET"),
        (dict(LABEL, originator="USA"), "USA"),
        (dict(LABEL, classification="군사Ⅰ급비밀"), "out of scope"),
        (dict(LABEL, policy="kor-usa"), "kor-usa"),
    ],
)
def test_unknown_level_party_or_policy_in_the_label_exits_2(
    subject_file: Path, label: dict[str, Any], message: str
) -> None:
    result = _decide(subject_file, label=label)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_subject_file_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": "x", "nationalities": ["CAN"],', encoding="utf-8")
    result = _decide(broken)
    assert result.returncode == 2
    assert f"{broken}: not JSON" in result.stderr
    bad_level = tmp_path / "level.json"
    subject = dict(
        CANADIAN_ANALYST, clearance={"party": "CAN", "level": "X", "expires": "2027-01-01"}
    )
    bad_level.write_text(json.dumps(subject), encoding="utf-8")
    result = _decide(bad_level)
    assert result.returncode == 2
    assert "'X' is not a level of CAN" in result.stderr
    missing = _decide(tmp_path / "absent.json")
    assert missing.returncode == 2
    assert "cannot read the subject file" in missing.stderr
    assert "Traceback" not in result.stderr + missing.stderr


def test_unknown_agreement_exits_2(subject_file: Path) -> None:
    result = cix(
        "decide", "--agreement", "kor-usa", "--subject", str(subject_file), "--label", "{}"
    )
    assert result.returncode == 2
    assert "kor-usa" in result.stderr


def test_batch_prints_one_decision_a_line(tmp_path: Path, subject_file: Path) -> None:
    lines = [
        {"subject": subject_file.name, "label": LABEL, "action": "read", "at": AT},
        {"subject": CANADIAN_ANALYST, "label": LABEL, "action": "transmit", "to": "DEU", "at": AT},
        {
            "subject": subject_file.name,
            "label": json.dumps(LABEL),
            "action": "release",
            "to": "DEU",
            "consent": "K-1",
            "at": AT,
            "agreement": "can-deu",
        },
    ]
    batch = tmp_path / "requests.jsonl"
    batch.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    result = cix("decide", "--agreement", "kor-can", "--batch", str(batch))
    assert result.returncode == 1, result.stderr
    decisions = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["permit"] for d in decisions] == [True, False, True]
    assert decisions[1]["reasons"][0]["code"] == "recipient-third-party"


def test_batch_bad_line_exits_2_naming_the_line(tmp_path: Path, subject_file: Path) -> None:
    batch = tmp_path / "requests.jsonl"
    good = json.dumps({"subject": subject_file.name, "label": LABEL, "at": AT})
    batch.write_text(good + "\n" + '{"subject": "analyst.json", "label": 5}\n', encoding="utf-8")
    result = cix("decide", "--agreement", "kor-can", "--batch", str(batch))
    assert result.returncode == 2
    assert f"{batch}:2" in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    batch.write_text(good + "\nnot json\n", encoding="utf-8")
    result = cix("decide", "--batch", str(batch))
    assert result.returncode == 2
    assert f"{batch}:2: not JSON" in result.stderr


def test_label_may_be_given_as_a_banner(subject_file: Path) -> None:
    result = cix(
        "decide", "--agreement", "kor-can", "--subject", str(subject_file),
        "--label", "군사Ⅱ급비밀//CPSP//REL TO CAN, KOR", "--at", AT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["permit"] is True
    kss = cix(
        "decide", "--agreement", "kor-can", "--subject", str(subject_file),
        "--label", "군사Ⅱ급비밀//KSS//REL TO CAN, KOR", "--at", AT,
    )  # fmt: skip
    assert kss.returncode == 1
    assert json.loads(kss.stdout)["reasons"][0]["code"] == "programme-missing"
    garbled = cix(
        "decide", "--agreement", "kor-can", "--subject", str(subject_file),
        "--label", "SECRET//REL TO", "--at", AT,
    )  # fmt: skip
    assert garbled.returncode == 2
    assert garbled.stderr.startswith("error: --label:")
    assert "Traceback" not in garbled.stderr
