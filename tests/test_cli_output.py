"""The command line's output rules, without a node: plaintext files, terminal escapes and
the one mapping of errors to exit codes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cix.cli.client_http import NodeFailed, NodeRefused, NodeRejected
from cix.cli.main import exit_code_of, message_of
from cix.cli.output_file import output_file
from cix.cli.terminal import printable
from cix.errors import InputError, Refused, StorageError
from cix.serving.claim import NodeBusy
from cix.serving.workers import WorkerFailed


def test_output_never_replaces_its_own_input(tmp_path: Path) -> None:
    sealed = tmp_path / "x.tdf"
    sealed.write_bytes(b"sealed")
    with (
        pytest.raises(InputError, match="is the input"),
        output_file(sealed, force=True, inputs=(sealed,)),
    ):
        pass
    link = tmp_path / "link.tdf"
    link.symlink_to(sealed)
    with (
        pytest.raises(InputError, match="is the input"),
        output_file(link, force=True, inputs=(sealed,)),
    ):
        pass
    assert sealed.read_bytes() == b"sealed"


def test_output_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with output_file(tmp_path / "p", force=False) as handle:
            handle.write(b"plain")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "p").stat().st_mode) == 0o600


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "p"

    def cut_mid_write() -> None:
        with output_file(target, force=False) as handle:
            handle.write(b"half")
            raise RuntimeError("cut")

    with pytest.raises(RuntimeError):
        cut_mid_write()
    assert list(tmp_path.iterdir()) == []


def test_output_into_a_directory_or_a_missing_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a regular file"), output_file(tmp_path, force=True):
        pass
    missing = tmp_path / "nope" / "p"
    with pytest.raises(InputError, match="no such directory"), output_file(missing, force=False):
        pass


def test_terminal_escape_in_a_title_is_shown_escaped() -> None:
    shown = printable("Sonar\x1b]0;owned\x07\r\nfake: line\x00\u202e\x9b")
    assert shown == "Sonar\\x1b]0;owned\\x07\\x0d\\x0afake: line\\x00\\u202e\\x9b"


@given(st.text())
def test_printable_output_holds_no_control_character(text: str) -> None:
    import unicodedata

    shown = printable(text)
    assert not any(unicodedata.category(c).startswith("C") for c in shown)
    assert "\u2028" not in shown
    assert "\u2029" not in shown


def test_json_output_escapes_c1_controls(capsys: pytest.CaptureFixture[str]) -> None:
    from cix.cli.terminal import print_json

    print_json({"title": "a\x9b2Jb\u202e", "ok": "군사Ⅲ급비밀"})
    out = capsys.readouterr().out
    assert "\\u009b" in out
    assert "\\u202e" in out
    assert "군사Ⅲ급비밀" in out
    assert "\x9b" not in out


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InputError("x"), 2),
        (NodeRejected(422, "Unprocessable", "label"), 2),
        (NodeRefused(403, "Forbidden", "refused"), 1),
        (NodeRefused(429, "Too Many Requests", "later"), 1),
        (NodeFailed(None, "Node unreachable", "x"), 3),
        (NodeFailed(503, "Unavailable", "x"), 3),
        (Refused(), 1),
        (StorageError("disk"), 3),
        (WorkerFailed("worker 1 ended"), 3),
        (NodeBusy("another cix serve"), 3),
    ],
)
def test_one_mapping_of_errors_to_exit_codes(error: Exception, code: int) -> None:
    assert exit_code_of(error) == code  # type: ignore[arg-type]


def test_worker_failure_is_not_reported_as_bad_input() -> None:
    assert not isinstance(WorkerFailed("x"), InputError)
    assert not isinstance(NodeBusy("x"), InputError)


def test_a_nodes_refusal_is_shown_as_worded_with_escapes() -> None:
    message = message_of(NodeRefused(401, "Unauthorized", "token expired\x1b[2J"))
    assert message == "refused: 401 Unauthorized: token expired\\x1b[2J"
    assert message_of(Refused()) == str(Refused())


def test_line_separators_in_a_name_are_shown_escaped() -> None:
    assert printable("a\u2028b\u2029c") == "a\\u2028b\\u2029c"


def test_json_text_escapes_c1_and_bidi_controls_of_untrusted_values() -> None:
    from cix.cli.terminal import json_text

    shown = json_text({"attribute": "https://x/attr/a/value/\x9b31mRED\u202e"})
    assert "\x9b" not in shown
    assert "\u202e" not in shown
    assert "\\u009b31mRED\\u202e" in shown
