"""The `cix` client commands against a real `cix serve`: login, registry, errors and exit codes.

Each command runs as a subprocess (`python -m cix.cli.main`), so exit codes and messages are
exactly what a user sees. The node is the demonstration's Canadian node (registry seeded).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from cix.demo import PASSPHRASE, DemoNode, prepare
from cix.demo_cast import CANADA
from cix.node.service import Node
from tests.live_node import LiveNode, free_port, node_environ

PASS_ENV = {"CIX_PASSPHRASE": PASSPHRASE}


@pytest.fixture(scope="module")
def can(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoNode, LiveNode]]:
    """The seeded Canadian node, served."""
    root = tmp_path_factory.mktemp("client")
    (demo,) = prepare(root / "demo", nations=(CANADA,), base_port=0)
    live = LiveNode.start(demo.data_dir)
    demo.port = live.port
    try:
        yield demo, live
    finally:
        live.stop()


def cix(
    *args: str, config: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `cix ARGS` with the client configuration at `config`."""
    environ = node_environ(**({"CIX_CLIENT_CONFIG": str(config), "COLUMNS": "200"} | (env or {})))
    return subprocess.run(
        [sys.executable, "-m", "cix.cli.main", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def bearer(data_dir: Path, person: str) -> str:
    """A bearer JWT for `person` from the node's built-in issuer."""
    node = Node.open(data_dir, environ=PASS_ENV)
    try:
        assert node.issuer is not None
        return node.issuer.issue(person, ttl=600, now=node.clock())
    finally:
        node.close()


def login(can: tuple[DemoNode, LiveNode], person: str, config: Path) -> None:
    """Log `person` in with a bearer token, storing the configuration at `config`."""
    demo, live = can
    done = cix("login", "--url", live.url, "--token", bearer(demo.data_dir, person), config=config)
    assert done.returncode == 0, done.stderr


def test_login_exchanges_a_bearer_token_for_an_api_token_stored_0600(
    can: tuple[DemoNode, LiveNode], tmp_path: Path
) -> None:
    demo, live = can
    config = tmp_path / "cfg" / "client.toml"
    jwt = bearer(demo.data_dir, "dnd-pm")
    done = cix("login", "--url", live.url + "/", "--token", jwt, config=config)
    assert done.returncode == 0, done.stderr
    assert "as dnd-pm" in done.stdout
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    stored = tomllib.loads(config.read_text())
    assert stored["url"] == live.url
    assert stored["token"].startswith("cix_")
    assert jwt not in config.read_text()
    # The stored API token works on its own.
    listed = cix("registry", "programmes", "list", "--json", config=config)
    assert listed.returncode == 0, listed.stderr
    assert [p["id"] for p in json.loads(listed.stdout)] == ["CPSP"]


def test_login_with_a_bad_token_is_refused_and_writes_nothing(
    can: tuple[DemoNode, LiveNode], tmp_path: Path
) -> None:
    _, live = can
    config = tmp_path / "client.toml"
    done = cix("login", "--url", live.url, "--token", "cix_not-a-real-token", config=config)
    assert done.returncode == 1
    assert "401" in done.stderr
    assert not config.exists()


def test_login_with_a_malformed_url_is_bad_input(tmp_path: Path) -> None:
    config = tmp_path / "client.toml"
    done = cix("login", "--url", "ftp://node", "--token", "cix_abcdefgh", config=config)
    assert done.returncode == 2
    assert "ftp://node" in done.stderr
    assert "Traceback" not in done.stderr


def test_commands_without_login_say_how_to_log_in(tmp_path: Path) -> None:
    done = cix("docs", "list", config=tmp_path / "none.toml")
    assert done.returncode == 2
    assert "cix login" in done.stderr


def test_unreachable_node_exits_3(tmp_path: Path) -> None:
    config = tmp_path / "client.toml"
    config.write_text(f'url = "http://127.0.0.1:{free_port()}"\ntoken = "cix_abcdefgh"\n')
    done = cix("registry", "people", "list", config=config)
    assert done.returncode == 3
    assert "unreachable" in done.stderr


def test_registry_add_and_list_as_the_nsa_officer(
    can: tuple[DemoNode, LiveNode], tmp_path: Path
) -> None:
    config = tmp_path / "client.toml"
    login(can, "pspc-cso", config)
    added = cix(
        "registry", "organisations", "add", "seaworks", "--name", "Seaworks Ltd",
        "--kind", "contractor", "--party", "CAN", "--facility-level", "S",
        "--facility-party", "CAN", "--facility-expires", "2030-01-01",
        config=config,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "seaworks" in added.stdout
    listed = cix("registry", "organisations", "list", "--json", config=config)
    orgs = {o["id"]: o for o in json.loads(listed.stdout)}
    assert orgs["seaworks"]["facility_clearance"]["level"] == "S"
    table = cix("registry", "organisations", "list", config=config)
    assert "Seaworks Ltd" in table.stdout
    # Valid through 1 January 2030 where the node is (Toronto): until its end, 05:00 UTC.
    assert "CAN S until 2030-01-02 05:00 UTC" in table.stdout
    granted = cix(
        "registry", "memberships", "add", "--person", "dnd-auditor", "--programme", "CPSP",
        "--until", "2030-01-01", "--justification", "audits the programme", "--json",
        config=config,
    )  # fmt: skip
    assert granted.returncode == 0, granted.stderr
    assert json.loads(granted.stdout)["granted_by"] == "pspc-cso"


def test_bad_registry_input_names_the_field_and_exits_2(
    can: tuple[DemoNode, LiveNode], tmp_path: Path
) -> None:
    config = tmp_path / "client.toml"
    login(can, "pspc-cso", config)
    done = cix(
        "registry", "organisations", "add", "x1", "--name", "X", "--kind", "contractor",
        "--party", "Canada", config=config,
    )  # fmt: skip
    assert done.returncode == 2
    assert "party" in done.stderr
    half = cix(
        "registry", "organisations", "add", "x2", "--name", "X", "--kind", "contractor",
        "--party", "CAN", "--facility-level", "S", config=config,
    )  # fmt: skip
    assert half.returncode == 2
    assert "--facility" in half.stderr
    bad_date = cix(
        "registry", "memberships", "add", "--person", "dnd-pm", "--programme", "CPSP",
        "--until", "next year", "--justification", "because", config=config,
    )  # fmt: skip
    assert bad_date.returncode == 2
    assert "--until" in bad_date.stderr


def test_a_role_the_caller_lacks_is_refused_with_exit_1(
    can: tuple[DemoNode, LiveNode], tmp_path: Path
) -> None:
    config = tmp_path / "client.toml"
    login(can, "tide-eng", config)
    done = cix(
        "registry", "programmes", "add", "ROGUE", "--title", "Rogue", "--party", "CAN",
        config=config,
    )  # fmt: skip
    assert done.returncode == 1
    assert "refused: 403" in done.stderr
    listed = cix("registry", "programmes", "list", "--json", config=config)
    assert "ROGUE" not in listed.stdout


def test_upload_of_a_missing_file_is_bad_input(
    can: tuple[DemoNode, LiveNode], tmp_path: Path
) -> None:
    config = tmp_path / "client.toml"
    login(can, "dnd-pm", config)
    done = cix(
        "docs", "upload", str(tmp_path / "nope.pdf"), "--label", "S//REL TO CAN", config=config
    )
    assert done.returncode == 2
    assert "nope.pdf" in done.stderr


def test_documents_upload_list_open_derive_destroy(
    can: tuple[DemoNode, LiveNode], tmp_path: Path
) -> None:
    pm, reader, outsider = (tmp_path / f"{p}.toml" for p in ("pm", "reader", "outsider"))
    login(can, "dnd-pm", pm)
    login(can, "tide-eng", reader)
    login(can, "northfab-eng", outsider)
    source = tmp_path / "sonar.txt"
    source.write_bytes(b"towed array trials\n" * 5000)
    label = "SECRET//CPSP//REL TO CAN, KOR"
    up = cix(
        "docs", "upload", str(source), "--label", label, "--title", "Sonar", "--json", config=pm
    )
    assert up.returncode == 0, up.stderr
    doc = json.loads(up.stdout)
    assert doc["banner"] == label
    assert doc["plaintext_size"] == source.stat().st_size

    listed = cix("docs", "list", "--json", "--query", "Sonar", config=reader)
    assert [d["id"] for d in json.loads(listed.stdout)["items"]] == [doc["id"]]
    assert (
        cix("docs", "list", "--json", "--query", "Sonar", config=outsider).stdout.count(doc["id"])
        == 0
    )  # no facility clearance: not even listed

    out = tmp_path / "opened.txt"
    opened = cix("docs", "open", doc["id"], "-o", str(out), config=reader)
    assert opened.returncode == 0, opened.stderr
    assert out.read_bytes() == source.read_bytes()
    assert f"cix-marking: {label}" in opened.stdout
    assert "cix-reader: tide-eng" in opened.stdout

    denied_out = tmp_path / "denied.txt"
    denied = cix("docs", "open", doc["id"], "-o", str(denied_out), config=outsider)
    assert denied.returncode == 1
    assert "refused: 403" in denied.stderr
    assert not denied_out.exists()
    assert not list(tmp_path.glob(".denied.txt.*"))

    notes = tmp_path / "notes.txt"
    notes.write_text("summary of the trials\n")
    down = cix(
        "docs", "derive", str(notes), "--from", doc["id"], "--label",
        "CONFIDENTIAL//REL TO CAN", config=pm,
    )  # fmt: skip
    assert down.returncode == 1  # a write-down is refused
    derived = cix(
        "docs", "derive", str(notes), "--from", doc["id"], "--label", label, "--json", config=pm
    )
    assert derived.returncode == 0, derived.stderr
    assert json.loads(derived.stdout)["sources"] == [doc["id"]]

    bad_label = cix("docs", "upload", str(notes), "--label", "SECRET//REL TO ATLANTIS", config=pm)
    assert bad_label.returncode == 2
    assert "Traceback" not in bad_label.stderr

    _destroy_with_care(can, doc["id"], pm)


def _destroy_with_care(can: tuple[DemoNode, LiveNode], doc_id: str, pm: Path) -> None:
    """Issue 14 #9: a reason required, confirmation (or --yes), a signed certificate printed
    whole and as JSON, fetched again later, and the register entry kept as destroyed."""
    from cix.keys import load_verify_key
    from cix.node.procedures.destruction import verify_certificate

    no_reason = cix("docs", "destroy", doc_id, "--yes", config=pm)
    assert no_reason.returncode == 2
    assert "--reason" in no_reason.stderr
    unconfirmed = cix("docs", "destroy", doc_id, "--reason", "superseded", config=pm)
    assert unconfirmed.returncode == 2
    assert "--yes" in unconfirmed.stderr
    assert cix("docs", "show", doc_id, config=pm).returncode == 0  # nothing destroyed yet

    destroyed = cix(
        "docs", "destroy", doc_id, "--reason", "superseded", "--yes", "--json", config=pm
    )  # fmt: skip
    assert destroyed.returncode == 0, destroyed.stderr
    cert = json.loads(destroyed.stdout)
    assert (cert["document"], cert["reason"]) == (doc_id, "superseded")
    node_key = load_verify_key(can[0].data_dir / "keys" / "sign.pub")
    assert verify_certificate(cert, node_key)["sealed_sha256"] == cert["sealed_sha256"]

    # Piped at 80 columns: every field whole (the hash and signature survive copying).
    readable = cix("docs", "certificate", doc_id, config=pm, env={"COLUMNS": "80"})
    assert readable.returncode == 0, readable.stderr
    assert "DESTRUCTION CERTIFICATE" in readable.stdout
    assert cert["sealed_sha256"] in readable.stdout
    assert cert["signature"] in readable.stdout
    again = cix("docs", "certificate", doc_id, "--json", config=pm)
    assert json.loads(again.stdout) == cert

    entry = cix("docs", "show", doc_id, "--json", config=pm)
    assert entry.returncode == 0, entry.stderr
    shown = json.loads(entry.stdout)
    assert (shown["certificate"], shown["destroyed_at"]) == (cert["id"], cert["destroyed_at"])


def _uploaded(can: tuple[DemoNode, LiveNode], tmp_path: Path, pm: Path) -> tuple[str, bytes]:
    body = b"hull acoustic signature\n" * 100
    source = tmp_path / "sig.txt"
    source.write_bytes(body)
    up = cix(
        "docs", "upload", str(source), "--label", "SECRET//CPSP//REL TO CAN, KOR", "--json",
        config=pm,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    return str(json.loads(up.stdout)["id"]), body


def test_opened_plaintext_is_not_readable_by_other_users(
    can: tuple[DemoNode, LiveNode], tmp_path: Path
) -> None:
    pm, reader = tmp_path / "pm.toml", tmp_path / "reader.toml"
    login(can, "dnd-pm", pm)
    login(can, "tide-eng", reader)
    doc_id, body = _uploaded(can, tmp_path, pm)
    out = tmp_path / "plain.txt"
    old = os.umask(0o022)  # the child inherits it: a plain open() would give 0644
    try:
        opened = cix("docs", "open", doc_id, "-o", str(out), config=reader)
    finally:
        os.umask(old)
    assert opened.returncode == 0, opened.stderr
    assert out.read_bytes() == body
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_open_to_dash_writes_standard_output_not_a_file_named_dash(
    can: tuple[DemoNode, LiveNode], tmp_path: Path
) -> None:
    pm, reader = tmp_path / "pm.toml", tmp_path / "reader.toml"
    login(can, "dnd-pm", pm)
    login(can, "tide-eng", reader)
    doc_id, body = _uploaded(can, tmp_path, pm)
    environ = node_environ(CIX_CLIENT_CONFIG=str(reader), COLUMNS="200")
    done = subprocess.run(
        [sys.executable, "-m", "cix.cli.main", "docs", "open", doc_id, "-o", "-"],
        env=environ,
        capture_output=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == body  # the plaintext only: obligations go to stderr
    assert b"cix-reader: tide-eng" in done.stderr
    assert not (tmp_path / "-").exists()


def test_open_does_not_overwrite_an_existing_file_without_force(
    can: tuple[DemoNode, LiveNode], tmp_path: Path
) -> None:
    pm, reader = tmp_path / "pm.toml", tmp_path / "reader.toml"
    login(can, "dnd-pm", pm)
    login(can, "tide-eng", reader)
    doc_id, body = _uploaded(can, tmp_path, pm)
    out = tmp_path / "report.txt"
    out.write_bytes(b"my own work\n")
    kept = cix("docs", "open", doc_id, "-o", str(out), config=reader)
    assert kept.returncode == 2
    assert "--force" in kept.stderr
    assert out.read_bytes() == b"my own work\n"
    forced = cix("docs", "open", doc_id, "-o", str(out), "--force", config=reader)
    assert forced.returncode == 0, forced.stderr
    assert out.read_bytes() == body
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_token_list_and_revoke_revokes_the_minted_token(
    can: tuple[DemoNode, LiveNode], tmp_path: Path
) -> None:
    _, live = can
    parent_config, child_config = tmp_path / "parent.toml", tmp_path / "child.toml"
    login(can, "dnd-pm", parent_config)
    parent = tomllib.loads(parent_config.read_text())["token"]
    # Logging in with the API token mints nothing; mint a child with it through the API.
    import httpx

    created = httpx.post(
        f"{live.url}/api/v1/tokens",
        json={"name": "child"},
        headers={"Authorization": f"Bearer {parent}"},
    ).json()
    done = cix("login", "--url", live.url, "--token", created["token"], config=child_config)
    assert done.returncode == 0, done.stderr
    listed = cix("token", "list", "--json", config=parent_config)
    assert listed.returncode == 0, listed.stderr
    items = {t["id"]: t for t in json.loads(listed.stdout)}
    assert items[created["id"]]["parent"] in items
    assert parent not in listed.stdout
    assert created["token"] not in listed.stdout
    parent_id = items[created["id"]]["parent"]
    revoked = cix("token", "revoke", parent_id, config=parent_config)
    assert revoked.returncode == 0, revoked.stderr
    refused = cix("registry", "programmes", "list", config=child_config)
    assert refused.returncode == 1, refused.stdout


def test_docs_reclassify_then_history(can: tuple[DemoNode, LiveNode], tmp_path: Path) -> None:
    pm, cso = tmp_path / "pm.toml", tmp_path / "cso.toml"
    login(can, "dnd-pm", pm)
    login(can, "pspc-cso", cso)  # the NSA role
    source = tmp_path / "memo.txt"
    source.write_bytes(b"trial schedule\n")
    up = cix(
        "docs", "upload", str(source), "--label", "SECRET//REL TO CAN, KOR", "--json", config=pm
    )
    assert up.returncode == 0, up.stderr
    doc_id = json.loads(up.stdout)["id"]
    lower = "CONFIDENTIAL//REL TO CAN, KOR"
    refused = cix("docs", "reclassify", doc_id, "--label", lower, "--reason", "x", config=pm)
    assert refused.returncode == 1  # an originator without the NSA role
    done = cix(
        "docs", "reclassify", doc_id, "--label", lower, "--reason", "schedule public",
        "--json", config=cso,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["revision"], result["banner"], result["notified"]) == (1, lower, [])
    shown = cix("docs", "history", doc_id, "--json", config=cso)
    assert shown.returncode == 0, shown.stderr
    (row,) = json.loads(shown.stdout)
    assert (row["changed_by"], row["label"]["classification"]) == ("pspc-cso", "C")
    table = cix("docs", "history", doc_id, config=cso)
    assert "S → C" in table.stdout
