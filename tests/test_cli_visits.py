"""`cix visits …` shapes each request as the API takes it (a recording session stands in
for the node) and refuses a bad visitor file before anything is sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cix.cli import client_visits
from cix.cli.main import app as cli
from cix.errors import InputError

SHOWN = {
    "id": "v1",
    "side": "requester",
    "state": "drafted",
    "kind": "one-time",
    "host_party": "CAN",
    "first_day": "2026-04-14",
    "last_day": "2026-04-18",
    "facility": "Halifax Shipyard",
    "history": [{"step": "draft", "by": "fso", "at": "2026-03-12T15:00:00+00:00"}],
}


class Recorder:
    """A client session that records each call and answers one visit."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append((method, path, kwargs))
        return {"items": [SHOWN]} if path == "/visits" and method == "GET" else SHOWN


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()

    def with_session(work: Callable[[Recorder], Any]) -> Any:
        return work(rec)

    monkeypatch.setattr(client_visits, "with_session", with_session)
    return rec


def draft_args(visitor: Path) -> list[str]:
    return [
        "visits", "draft", "--agreement", "kor-can", "--host", "CAN", "--visitor", str(visitor),
        "--from", "2026-04-14", "--to", "2026-04-18", "--facility", "Halifax Shipyard",
        "--level", "S", "--purpose", "Hull design review", "--contact", "J. Tremblay",
        "--contract", "CPSP",
    ]  # fmt: skip


def test_draft_sends_the_visitor_file_and_the_fields(recorder: Recorder, tmp_path: Path) -> None:
    visitor = tmp_path / "kim.json"
    visitor.write_text(json.dumps({"name": "Kim Min-jun", "passport_number": "M12345678"}))
    result = CliRunner().invoke(cli, draft_args(visitor))
    assert result.exit_code == 0, result.output
    ((method, path, kwargs),) = recorder.calls
    assert (method, path) == ("POST", "/visits")
    body = kwargs["json"]
    assert body["visitor"]["passport_number"] == "M12345678"
    assert (body["host_party"], body["kind"], body["highest_level"]) == ("CAN", "one-time", "S")


def test_draft_with_a_visitor_file_that_is_not_json_exits_non_zero(
    recorder: Recorder, tmp_path: Path
) -> None:
    visitor = tmp_path / "kim.json"
    visitor.write_text("name = Kim")
    result = CliRunner().invoke(cli, draft_args(visitor))
    # the entry point (cix.cli.main.main) prints an InputError and exits 2
    assert result.exit_code != 0
    assert isinstance(result.exception, InputError)
    assert "--visitor" in str(result.exception)
    assert "not JSON" in str(result.exception)
    assert recorder.calls == []


def test_list_passes_its_filters_and_answers_use_their_routes(recorder: Recorder) -> None:
    runner = CliRunner()
    assert (
        runner.invoke(cli, ["visits", "list", "--side", "host", "--state", "sent"]).exit_code == 0
    )
    assert recorder.calls[0] == ("GET", "/visits", {"params": {"state": "sent", "side": "host"}})
    for action, option in (
        ("approve", "--conditions"),
        ("deny", "--reason"),
        ("revoke", "--reason"),
    ):
        result = runner.invoke(cli, ["visits", action, "v1", option, "words"])
        assert result.exit_code == 0, result.output
        assert recorder.calls[-1] == ("POST", f"/visits/v1/{action}", {"json": {"text": "words"}})
    assert runner.invoke(cli, ["visits", "send", "v1", "--json"]).exit_code == 0
    assert recorder.calls[-1][:2] == ("POST", "/visits/v1/send")
    shown = runner.invoke(cli, ["visits", "show", "v1"])
    assert "draft  by fso" in shown.output
