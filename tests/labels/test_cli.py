"""`cix label …`: output for good labels, exit code 2 and a one-line message for bad ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CREATED = ["--created", "2026-03-01T09:30:00Z"]


def cix(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cix.cli.main", "label", *args],
        capture_output=True,
        text=True,
        input=stdin,
        check=False,
        timeout=60,
    )


def test_check_prints_canonical_json() -> None:
    result = cix("check", "SECRET//CPSP//REL TO CAN, KOR", "--agreement", "kor-can", *CREATED)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "caveats": [],
        "classification": "S",
        "created": "2026-03-01T09:30:00Z",
        "originator": "CAN",
        "policy": "kor-can",
        "programmes": ["CPSP"],
        "purpose": None,
        "releasable_to": ["CAN", "KOR"],
    }


def test_translate_to_canada_names_the_korean_originator() -> None:
    result = cix(
        "translate", "군사Ⅱ급비밀//CPSP//REL TO CAN, KOR", "--agreement", "kor-can", "--to", "CAN"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "SECRET//CPSP//REL TO CAN, KOR//ORIGINATOR KOR\n"


def test_translate_to_korea_is_written_in_korean() -> None:
    result = cix("translate", "(C//REL TO CAN, KOR)", "-a", "kor-can", "--to", "KOR")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "군사Ⅲ급비밀//배포 허용 CAN, KOR//생산국 CAN\n"


def test_xml_reads_json_from_a_file_and_writes_4774(tmp_path: Path) -> None:
    path = tmp_path / "label.json"
    check = cix("check", "SECRET//REL TO CAN, KOR", "-a", "kor-can", *CREATED)
    path.write_text(check.stdout, encoding="utf-8")
    result = cix("xml", f"@{path}", "--to", "KOR")
    assert result.returncode == 0, result.stderr
    assert "<alternativeConfidentialityLabel" in result.stdout
    assert "<Classification>군사Ⅱ급비밀</Classification>" in result.stdout
    back = cix("check", "-", stdin=result.stdout)
    assert back.returncode == 0, back.stderr
    assert back.stdout == check.stdout


def test_visibility_expression() -> None:
    result = cix("visibility", "CONFIDENTIAL//GOVONLY//REL TO CAN", *CREATED)
    assert result.returncode == 0, result.stderr
    expected = "(level:CAN:C|level:CAN:S|level:CAN:TS)&caveat:GOVONLY&nationality:CAN\n"
    assert result.stdout == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("check", "SECRET//REL TO"), "no releasability segment"),
        (("check", "SECRET//REL TO CAN", "-a", "kor-usa"), "unknown agreement or policy"),
        (("check", "{not json"), "not valid JSON"),
        (("check", "<a><b></a>"), "not well-formed"),
        (("check", "TOP SECRET//REL TO CAN, KOR", "-a", "kor-can"), "out of scope"),
        (("check", "@/nonexistent/label.json"), "cannot read the label"),
        (("check", "SECRET//REL TO CAN", "-a", "/nonexistent/agreement.toml"), "cannot read"),
        (("translate", "군사Ⅰ급비밀//REL TO KOR", "-a", "kor-can", "--to", "CAN"), "out of scope"),
        (("translate", "SECRET//REL TO CAN, KOR", "-a", "kor-can", "--to", "USA"), "'USA'"),
        (("check", "SECRET//REL TO CAN", "--created", "noon"), "--created"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_no_traceback(
    args: tuple[str, ...], message: str
) -> None:
    result = cix(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_undecodable_argument_exits_2() -> None:
    result = subprocess.run(
        [sys.executable.encode(), b"-m", b"cix.cli.main", b"label", b"check", b"<\xff\xfe>"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert b"Traceback" not in result.stderr
