"""Security review: profile writes of the client configuration (`save_config`).

`cix --profile a login` and `cix --profile b login` run at once (two scripts, two
terminals) each read the file, changed their own profile and wrote the whole file back:
the second write lost the first profile (its API token still alive on the node, no longer
known to `cix logout`). Both also wrote the same temporary file."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest

from cix.cli import client_http
from cix.cli.client_http import ClientConfig, load_config, save_config


def test_two_profile_logins_at_once_lose_neither_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "client.toml"
    both_read = threading.Barrier(2, timeout=2)
    real_read = client_http._read

    def read_then_wait(where: Path) -> dict[str, object]:
        values = real_read(where)
        # Both read before either writes (as two processes may), unless writes are
        # serialised: then the other waits for this one's write and the barrier breaks.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait()
        return values

    monkeypatch.setattr(client_http, "_read", read_then_wait)
    errors: list[BaseException] = []

    def login(profile: str) -> None:
        env = {"CIX_CLIENT_CONFIG": str(path), "CIX_PROFILE": profile}
        try:
            save_config(ClientConfig("http://127.0.0.1:8740", f"cix_{profile}_token"), env)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=login, args=(p,)) for p in ("alpha", "beta")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors
    monkeypatch.setattr(client_http, "_read", real_read)
    for profile in ("alpha", "beta"):
        env = {"CIX_CLIENT_CONFIG": str(path), "CIX_PROFILE": profile}
        assert load_config(env).token == f"cix_{profile}_token"


def test_profile_write_does_not_follow_a_planted_temporary_symlink(tmp_path: Path) -> None:
    """Another user who can write where the configuration lives (CIX_CLIENT_CONFIG in a
    shared directory) plants `client.toml.tmp` as a link: the token must not be written
    through it."""
    path = tmp_path / "client.toml"
    elsewhere = tmp_path / "attacker-owned"
    elsewhere.write_text("")
    (tmp_path / "client.toml.tmp").symlink_to(elsewhere)
    env = {"CIX_CLIENT_CONFIG": str(path)}
    save_config(ClientConfig("http://127.0.0.1:8740", "cix_secret_token_value"), env)
    assert "cix_secret_token_value" not in elsewhere.read_text()
    assert load_config(env).token == "cix_secret_token_value"
