"""Issue 14 #7: several nodes and users from one client configuration — named profiles
(`cix --profile NAME`, `CIX_PROFILE`), `cix login` naming the token it stored, `cix whoami`
and `cix logout` (which revokes the token on the node)."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path

from cix.demo import DemoNode
from tests.live_node import LiveNode
from tests.node.test_cli_client import bearer, can, cix

__all__ = ["can"]  # the served node, a fixture shared with test_cli_client


def test_two_profiles_are_two_people_and_logout_revokes_only_its_own(
    can: tuple[DemoNode, LiveNode], tmp_path: Path
) -> None:
    demo, live = can
    config = tmp_path / "client.toml"
    pm = cix("--profile", "dnd-pm", "login", "--url", live.url,
             "--token", bearer(demo.data_dir, "dnd-pm"), config=config)  # fmt: skip
    assert pm.returncode == 0, pm.stderr
    assert "profile dnd-pm" in pm.stdout
    eng = cix("login", "--url", live.url, "--token", bearer(demo.data_dir, "tide-eng"),
              config=config, env={"CIX_PROFILE": "tide"})  # fmt: skip
    assert eng.returncode == 0, eng.stderr
    stored = tomllib.loads(config.read_text())
    assert set(stored["profiles"]) == {"dnd-pm", "tide"}
    assert "url" not in stored  # no default profile was written
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    # login names the API token it stored, as the node lists it
    token_id = stored["profiles"]["dnd-pm"]["token_id"]
    assert f"api token {token_id}" in pm.stdout
    listed = cix("--profile", "dnd-pm", "token", "list", "--json", config=config)
    assert token_id in [t["id"] for t in json.loads(listed.stdout)]

    me = cix("--profile", "dnd-pm", "whoami", "--json", config=config)
    assert me.returncode == 0, me.stderr
    assert json.loads(me.stdout)["person"] == "dnd-pm"
    assert json.loads(me.stdout)["token_id"] == token_id
    other = cix("whoami", "--json", config=config, env={"CIX_PROFILE": "tide"})
    assert json.loads(other.stdout)["person"] == "tide-eng"

    out = cix("--profile", "dnd-pm", "logout", config=config)
    assert out.returncode == 0, out.stderr
    stored_after = tomllib.loads(config.read_text())
    assert set(stored_after["profiles"]) == {"tide"}
    # The token is revoked on the node, not only forgotten here.
    revoked = cix("whoami", config=config,
                  env={"CIX_CLIENT_URL": live.url, "CIX_CLIENT_TOKEN": stored["profiles"]["dnd-pm"]["token"]})  # fmt: skip  # noqa: E501
    assert revoked.returncode == 1
    assert "401" in revoked.stderr
    still = cix("--profile", "tide", "whoami", "--json", config=config)
    assert json.loads(still.stdout)["person"] == "tide-eng"


def test_an_unknown_or_malformed_profile_is_bad_input_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "client.toml"
    config.write_text('[profiles.kor-dapa]\nurl = "http://127.0.0.1:1"\ntoken = "cix_abcdefgh"\n')
    unknown = cix("--profile", "kor-dnd", "docs", "list", config=config)
    assert unknown.returncode == 2
    assert "no profile 'kor-dnd'" in unknown.stderr
    assert "kor-dapa" in unknown.stderr
    default = cix("docs", "list", config=config)
    assert default.returncode == 2
    assert "cix login" in default.stderr
    bad = cix("--profile", "../etc", "login", "--url", "http://x", "--token", "cix_abcdefgh",
              config=config)  # fmt: skip
    assert bad.returncode == 2
    assert "profile '../etc'" in bad.stderr
    assert "kor-dapa" in config.read_text()  # nothing changed
