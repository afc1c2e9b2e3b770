"""The node's database is part of its configuration (issue 14 #3): `cix init` records the
URL it was given by CIX_DATABASE_URL, and a command on a node whose configured database is
missing or empty fails saying so and creates nothing (no second, empty node)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cix.node.errors import DatabaseNotTheNodes
from cix.node.service import Node, init_node
from cix.settings import load_settings

PASS = {"CIX_PASSPHRASE": "database config test passphrase"}


def _cix(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os

    full = {k: v for k, v in os.environ.items() if not k.startswith("CIX_")} | PASS | env
    return subprocess.run(
        [sys.executable, "-m", "cix.cli.main", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
        check=False,
    )


def test_init_records_the_database_url_of_the_environment(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.db"
    env = PASS | {"CIX_DATABASE_URL": f"sqlite:///{elsewhere}"}
    init_node(tmp_path / "can", party="CAN", agreements=("kor-can",), environ=env)
    # Without the variable, later commands still find the node's database.
    settings = load_settings(tmp_path / "can", environ=PASS)
    assert settings.database_url.reveal() == f"sqlite:///{elsewhere}"
    assert not (tmp_path / "can" / "cix.db").exists()


def test_init_records_a_password_url_by_reference_never_inline(
    tmp_path: Path, postgres_url: str
) -> None:
    with_password = postgres_url.replace("://postgres@", "://postgres:not-written@")
    env = PASS | {"CIX_DATABASE_URL": with_password}
    init_node(tmp_path / "can", party="CAN", agreements=("kor-can",), environ=env)
    config = (tmp_path / "can" / "cix.toml").read_text()
    assert "not-written" not in config
    assert 'database_url = "$env:CIX_DATABASE_URL"' in config
    assert load_settings(tmp_path / "can", environ=env).database_url.reveal() == with_password


def test_lost_sqlite_database_is_not_silently_recreated(tmp_path: Path) -> None:
    data_dir = tmp_path / "can"
    init_node(data_dir, party="CAN", agreements=("kor-can",), environ=PASS)
    (data_dir / "cix.db").unlink()
    with pytest.raises(DatabaseNotTheNodes, match="does not exist"):
        Node.open(data_dir, environ=PASS)
    with pytest.raises(DatabaseNotTheNodes, match="does not exist"):
        init_node(data_dir, party=None, environ=PASS)  # an upgrade must not make a new one
    assert not (data_dir / "cix.db").exists()


def test_command_on_an_empty_configured_database_fails_and_changes_nothing(
    tmp_path: Path, postgres_url: str
) -> None:
    data_dir = tmp_path / "can"
    init_node(data_dir, party="CAN", agreements=("kor-can",), environ=PASS)
    # The operator points the node at another (empty) database by mistake.
    config = data_dir / "cix.toml"
    config.write_text(config.read_text() + f'database_url = "{postgres_url}"\n')
    for args in (("init", "--dir", str(data_dir)), ("node", "identity", "--dir", str(data_dir))):
        result = _cix(*args, env={})
        assert result.returncode == 2, result.stderr
        assert "holds no cix schema" in result.stderr
        assert "nothing was" in result.stderr
    from cix.store import migrate

    assert migrate.current(postgres_url) is None  # init did not migrate the wrong database
