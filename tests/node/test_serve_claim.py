"""The one-process claim of `cix serve`, in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from cix.errors import InputError
from cix.node.service import Node
from cix.serving.claim import NodeBusy, ServeClaim
from cix.serving.workers import WorkerFailed
from cix.store.db import Database


def test_claim_is_exclusive_and_released(node: Node) -> None:
    first = ServeClaim(node.settings.data_dir, node.db)
    with pytest.raises(NodeBusy, match="another `cix serve`"):
        ServeClaim(node.settings.data_dir, node.db)
    first.release()
    first.release()  # idempotent
    ServeClaim(node.settings.data_dir, node.db).release()


def test_another_data_directory_on_the_same_database_is_refused(tmp_path: Path, node: Node) -> None:
    # Two data directories pointed at one database hold one node's data: one server only.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    same = Database(node.db.url.render_as_string(hide_password=False))
    held = ServeClaim(node.settings.data_dir, node.db)
    try:
        with pytest.raises(NodeBusy, match="another `cix serve`"):
            ServeClaim(elsewhere, same)
    finally:
        held.release()
    ServeClaim(elsewhere, same).release()
    same.dispose()


@pytest.mark.parametrize("error", [NodeBusy, WorkerFailed])
def test_busy_node_or_dead_worker_is_not_reported_as_bad_input(
    error: type[Exception], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cix.cli import main

    assert not issubclass(error, InputError)

    def fail() -> None:
        raise error("the node could not be served")

    monkeypatch.setattr(main, "app", fail)
    with pytest.raises(SystemExit) as exited:
        main.run()
    assert exited.value.code == 3  # 2 would tell the operator their input was wrong
    assert "the node could not be served" in capsys.readouterr().err
