"""Pairing two nodes as their operators do: `cix init --tls`, `cix node identity`,
`cix peer add|list|remove`, and `cix serve` over mutual TLS (subprocesses, real files)."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cix.keys import certificate_fingerprint, peer_ssl_context
from tests.node.test_cli_node import CIX, cix, free_port
from tests.node_support import PASSPHRASE


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """KOR and CAN nodes holding kor-can, each with a TLS certificate, not yet paired
    (made once: each test works on its own copy)."""
    root = tmp_path_factory.mktemp("pair")
    for party in ("KOR", "CAN"):
        made = cix(
            "init", "--dir", str(root / party.lower()), "--party", party,
            "--agreement", "kor-can", "--tls",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert "created TLS certificate" in made.stdout
    for name in ("kor", "can"):
        out = root / f"{name}.identity.json"
        made = cix("node", "identity", "--dir", str(root / name), "--out", str(out))
        assert made.returncode == 0, made.stderr
        (root / f"{name}.said").write_text(made.stderr)
    return root


@pytest.fixture
def nodes(pristine: Path, tmp_path: Path) -> Path:
    """A copy of the two unpaired nodes for this test."""
    for name in ("kor", "can"):
        shutil.copytree(pristine / name, tmp_path / name)
        for suffix in (".identity.json", ".said"):
            shutil.copy(pristine / f"{name}{suffix}", tmp_path / f"{name}{suffix}")
    return tmp_path


def _identity(root: Path, name: str) -> tuple[Path, str]:
    """The identity document `cix node identity --out` wrote, and what it said on stderr."""
    return root / f"{name}.identity.json", (root / f"{name}.said").read_text()


def _pinned(root: Path, name: str) -> list[str]:
    """The node ids pinned at the node, read in-process (quicker than `cix peer list`)."""
    from cix.node.service import Node

    node = Node.open(root / name, environ={}, unlock=False)
    try:
        return [p.node_id for p in node.peers.list()]
    finally:
        node.close()


def _peers(root: Path, name: str) -> list[dict[str, object]]:
    listed = cix("peer", "list", "--dir", str(root / name), "--json")
    assert listed.returncode == 0, listed.stderr
    items: list[dict[str, object]] = json.loads(listed.stdout)["items"]
    return items


def test_identity_prints_the_signed_document_and_its_fingerprint(nodes: Path) -> None:
    result = cix("node", "identity", "--dir", str(nodes / "kor"))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["identity"]["node_id"] == "cix-kor"
    from cix.federation import read_identity

    fingerprint = read_identity(result.stdout).identity.fingerprint
    grouped = " ".join(fingerprint[i : i + 4] for i in range(0, 64, 4))
    assert f"fingerprint: {grouped}" in result.stderr
    assert fingerprint not in result.stdout  # stdout is the document alone
    cert = (nodes / "kor" / "keys" / "tls.crt").read_text()
    assert document["identity"]["tls_fingerprint"] == certificate_fingerprint(cert)


def test_operators_pair_two_nodes(nodes: Path) -> None:
    kor_doc, kor_said = _identity(nodes, "kor")
    can_doc, _ = _identity(nodes, "can")
    added = cix(
        "peer", "add", "--dir", str(nodes / "can"), "--agreement", "kor-can",
        "--identity", str(kor_doc), "--cert", str(nodes / "kor" / "keys" / "tls.crt"),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "pinned cix-kor (KOR) under kor-can" in added.stdout
    # What CAN's operator reads back is what KOR's operator read out.
    assert kor_said.splitlines()[1] in added.stdout
    back = cix(
        "peer", "add", "--dir", str(nodes / "kor"), "--agreement", "kor-can",
        "--identity", str(can_doc), "--url", "https://127.0.0.1:9999",
    )  # fmt: skip
    assert back.returncode == 0, back.stderr
    (peer,) = _peers(nodes, "can")
    assert (peer["node_id"], peer["party"], peer["agreements"], peer["tls_cert"]) == (
        "cix-kor",
        "KOR",
        ["kor-can"],
        True,
    )
    (other,) = _peers(nodes, "kor")
    assert (other["node_id"], other["url"], other["tls_cert"]) == (
        "cix-can",
        "https://127.0.0.1:9999",
        False,
    )
    table = cix("peer", "list", "--dir", str(nodes / "can"))
    assert "cix-kor" in table.stdout
    removed = cix("peer", "remove", "--dir", str(nodes / "can"), "cix-kor")
    assert removed.returncode == 0, removed.stderr
    assert _peers(nodes, "can") == []
    verified = cix("audit", "verify", "--dir", str(nodes / "can"))
    assert verified.returncode == 0, verified.stderr


def _tampered(path: Path) -> Path:
    doc = json.loads(path.read_text())
    doc["identity"]["url"] = "http://evil.example"
    out = path.with_name("tampered.json")
    out.write_text(json.dumps(doc))
    return out


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing-file", "--identity"),
        ("tampered", "node identity: the signature"),
        ("agreement-not-held", "does not hold agreement 'can-deu'"),
        ("wrong-cert", "is not the one in the identity"),
        ("not-a-cert", "the TLS certificate"),
        ("bad-url", "--url"),
    ],
)
def test_peer_add_with_bad_input_exits_2_and_changes_nothing(
    nodes: Path, case: str, message: str
) -> None:
    kor_doc, _ = _identity(nodes, "kor")
    args = ["--agreement", "kor-can", "--identity", str(kor_doc)]
    if case == "missing-file":
        args[3] = str(nodes / "nowhere.json")
    elif case == "tampered":
        args[3] = str(_tampered(kor_doc))
    elif case == "agreement-not-held":
        args[1] = "can-deu"
    elif case == "wrong-cert":
        args += ["--cert", str(nodes / "can" / "keys" / "tls.crt")]
    elif case == "not-a-cert":
        args += ["--cert", str(kor_doc)]
    elif case == "bad-url":
        args += ["--url", "ftp://kor"]
    result = cix("peer", "add", "--dir", str(nodes / "can"), *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert _pinned(nodes, "can") == []


def test_peer_remove_of_an_unknown_peer_exits_2(nodes: Path) -> None:
    result = cix("peer", "remove", "--dir", str(nodes / "can"), "cix-kor")
    assert result.returncode == 2
    assert "is not a pinned peer" in result.stderr


def test_init_tls_adds_a_certificate_to_an_existing_node(tmp_path: Path) -> None:
    data_dir = tmp_path / "can"
    assert cix("init", "--dir", str(data_dir), "--party", "CAN").returncode == 0
    assert not (data_dir / "keys" / "tls.crt").exists()
    added = cix("init", "--dir", str(data_dir), "--tls")
    assert added.returncode == 0, added.stderr
    assert (data_dir / "keys" / "tls.key").stat().st_mode & 0o077 == 0
    again = cix("init", "--dir", str(data_dir), "--tls")
    assert "already has a TLS certificate" in again.stdout


@pytest.fixture
def mtls_served(nodes: Path) -> Iterator[tuple[str, Path]]:
    """CAN serving over mutual TLS with KOR's certificate pinned."""
    kor_doc, _ = _identity(nodes, "kor")
    added = cix(
        "peer", "add", "--dir", str(nodes / "can"), "--agreement", "kor-can",
        "--identity", str(kor_doc), "--cert", str(nodes / "kor" / "keys" / "tls.crt"),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    port = free_port()
    log_path = nodes / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*CIX, "serve", "--dir", str(nodes / "can"), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "CIX_PASSPHRASE": PASSPHRASE, "CIX_FEDERATION_MTLS": "true"},
        )
        try:
            deadline = time.monotonic() + 60
            while "serving on https://" not in log_path.read_text():
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "cix serve did not come up"
                time.sleep(0.2)
            time.sleep(0.5)
            yield f"https://127.0.0.1:{port}", nodes
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _kor_context(nodes: Path) -> ssl.SSLContext:
    can_cert = (nodes / "can" / "keys" / "tls.crt").read_text()
    keys = nodes / "kor" / "keys"
    return peer_ssl_context(
        keys / "tls.crt", keys / "tls.key", certificate_fingerprint(can_cert), peer_cert=can_cert
    )


def test_serve_with_mtls_admits_the_pinned_peer_only(mtls_served: tuple[str, Path]) -> None:
    base, nodes = mtls_served
    with httpx.Client(verify=_kor_context(nodes), timeout=10) as kor:
        response = kor.get(f"{base}/api/v1/health")
        assert response.status_code == 200
        from cix.keys import check_peer_fingerprint

        ssl_object = response.extensions["network_stream"].get_extra_info("ssl_object")
        can_cert = (nodes / "can" / "keys" / "tls.crt").read_text()
        check_peer_fingerprint(ssl_object, certificate_fingerprint(can_cert))
    # A client with no certificate, or with one not pinned, gets no answer at all.
    anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anonymous.check_hostname = False
    anonymous.verify_mode = ssl.CERT_NONE
    with pytest.raises(httpx.TransportError), httpx.Client(verify=anonymous, timeout=10) as c:
        c.get(f"{base}/api/v1/health")


def test_serve_with_mtls_and_no_pinned_certificate_refuses_to_start(nodes: Path) -> None:
    result = cix(
        "serve", "--dir", str(nodes / "can"), "--port", str(free_port()),
        env={"CIX_FEDERATION_MTLS": "true"},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "no peer has a pinned TLS certificate" in result.stderr
