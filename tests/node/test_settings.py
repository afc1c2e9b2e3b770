"""The settings registry: precedence, bounds, secrets by reference, and its documentation."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from cix.cli.node import serve
from cix.settings import (
    SETTINGS,
    Secret,
    SettingsError,
    load_settings,
    write_config,
)
from cix.settings.docs import render_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def _node_dir(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "cix.toml").write_text('party = "CAN"\n' + extra, encoding="utf-8")
    return tmp_path


def test_settings_doc_matches_registry() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_markdown(), (
        "docs/settings.md is stale: regenerate with `python -m cix.settings > docs/settings.md`"
    )


def test_every_setting_is_documented_with_its_environment_variable() -> None:
    text = render_markdown()
    for setting in SETTINGS:
        assert f"## `{setting.name}`" in text
        assert setting.env in text


def test_serve_flags_are_exactly_the_flagged_settings() -> None:
    params = set(inspect.signature(serve).parameters) - {"data_dir"}
    assert params == {s.name for s in SETTINGS if s.flag}


def test_defaults_apply(tmp_path: Path) -> None:
    settings = load_settings(_node_dir(tmp_path), environ={})
    assert settings.port == 8740
    assert settings.node_id == "cix-can"
    assert settings.token_issuer == "urn:cix:cix-can"
    assert settings.database_url.reveal() == f"sqlite:///{tmp_path.resolve() / 'cix.db'}"
    assert settings.blob_dir == tmp_path.resolve() / "blobs"
    assert settings.sources["port"] == "default"


def test_precedence_file_then_environment_then_flag(tmp_path: Path) -> None:
    data_dir = _node_dir(tmp_path, "port = 9001\n")
    assert load_settings(data_dir, environ={}).port == 9001
    assert load_settings(data_dir, environ={"CIX_PORT": "9002"}).port == 9002
    flagged = load_settings(data_dir, environ={"CIX_PORT": "9002"}, overrides={"port": 9003})
    assert flagged.port == 9003
    assert flagged.sources["port"] == "flag"


def test_list_setting_from_environment(tmp_path: Path) -> None:
    settings = load_settings(_node_dir(tmp_path), environ={"CIX_AGREEMENTS": "kor-can, can-deu"})
    assert settings.agreements == ("kor-can", "can-deu")


def test_out_of_bounds_port_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"cix\.toml: port: 70000 is above the maximum"):
        load_settings(_node_dir(tmp_path, "port = 70000\n"), environ={})
    with pytest.raises(SettingsError, match="environment CIX_PORT"):
        load_settings(_node_dir(tmp_path), environ={"CIX_PORT": "eighty"})


def test_unknown_key_in_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"cix\.toml: unknown setting 'prot'"):
        load_settings(_node_dir(tmp_path, "prot = 1\n"), environ={})


def test_wrong_type_in_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="page_size: expected an integer"):
        load_settings(_node_dir(tmp_path, 'page_size = "50"\n'), environ={})


def test_missing_party_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cix.toml").write_text("port = 1234\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="'party' is required"):
        load_settings(tmp_path, environ={})


def test_malformed_party_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cix.toml").write_text('party = "Canada"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="party: 'Canada' does not match"):
        load_settings(tmp_path, environ={})


def test_inline_secret_in_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="by reference only"):
        load_settings(_node_dir(tmp_path, 'passphrase = "hunter2"\n'), environ={})


def test_database_url_with_inline_password_is_refused(tmp_path: Path) -> None:
    extra = 'database_url = "postgresql+psycopg://cix:hunter2@db/cix"\n'
    with pytest.raises(SettingsError, match="by reference only"):
        load_settings(_node_dir(tmp_path, extra), environ={})


def test_database_url_without_password_may_be_inline(tmp_path: Path) -> None:
    extra = 'database_url = "postgresql+psycopg://cix@db/cix"\n'
    settings = load_settings(_node_dir(tmp_path, extra), environ={})
    assert settings.database_url.reveal() == "postgresql+psycopg://cix@db/cix"


def test_secret_by_env_reference(tmp_path: Path) -> None:
    data_dir = _node_dir(tmp_path, 'passphrase = "$env:MY_PASS"\n')
    assert load_settings(data_dir, environ={"MY_PASS": "s3cret"}).passphrase.reveal() == "s3cret"
    with pytest.raises(SettingsError, match="'MY_PASS' is not set"):
        load_settings(data_dir, environ={})


def test_secret_by_file_reference_relative_to_data_dir(tmp_path: Path) -> None:
    (tmp_path / "pass.txt").write_text("from-file\n", encoding="utf-8")
    data_dir = _node_dir(tmp_path, 'passphrase = "$file:pass.txt"\n')
    assert load_settings(data_dir, environ={}).passphrase.reveal() == "from-file"


def test_passphrase_from_environment_and_file(tmp_path: Path) -> None:
    data_dir = _node_dir(tmp_path)
    assert load_settings(data_dir, environ={"CIX_PASSPHRASE": "p1"}).passphrase.reveal() == "p1"
    secret_file = tmp_path / "p2"
    secret_file.write_text("p2", encoding="utf-8")
    env = {"CIX_PASSPHRASE_FILE": str(secret_file)}
    assert load_settings(data_dir, environ=env).passphrase.reveal() == "p2"


def test_missing_secret_file_is_refused(tmp_path: Path) -> None:
    env = {"CIX_PASSPHRASE_FILE": str(tmp_path / "absent")}
    with pytest.raises(SettingsError, match="CIX_PASSPHRASE_FILE: cannot read secret file"):
        load_settings(_node_dir(tmp_path), environ=env)


def test_secret_never_shows_itself() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret}"


def test_write_config_refuses_inline_secret(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="by reference only"):
        write_config(tmp_path, {"party": "CAN", "passphrase": "hunter2"})
    assert not (tmp_path / "cix.toml").exists()


def test_write_config_round_trips(tmp_path: Path) -> None:
    write_config(
        tmp_path, {"party": "KOR", "agreements": ["kor-can"], "passphrase": "$env:KOR_PASS"}
    )
    settings = load_settings(tmp_path, environ={"KOR_PASS": "x"})
    assert (settings.party, settings.agreements) == ("KOR", ("kor-can",))
    assert settings.passphrase.reveal() == "x"
