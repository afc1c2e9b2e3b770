"""The `access_log` setting: one line per HTTP request only when asked for (off by default).

Checked on a real `cix serve` at log level `info`, where uvicorn would otherwise write its
access line, and on the app alone (the app applies the setting at start-up, so it holds
however the app is served).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from cix.api.app import create_app
from cix.node.service import Node
from tests.live_node import free_port, node_environ

CIX = [sys.executable, "-m", "cix.cli.main"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("access-log") / "can"
    done = subprocess.run(
        [*CIX, "init", "--party", "CAN", "--dir", str(where)],
        env=node_environ(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return where


def _served_log(data_dir: Path, **environ: str) -> str:
    """What `cix serve --log-level info` writes while answering two requests."""
    port = free_port()
    log = data_dir.parent / f"serve-{port}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [*CIX, "serve", "--dir", str(data_dir), "--port", str(port), "--log-level", "info"],
            env=node_environ(**environ),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "cix serve did not come up"
            time.sleep(0.2)
        assert httpx.get(f"{base}/api/v1/organisations", timeout=5).status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=20)
    return log.read_text()


@pytest.mark.slow
def test_served_node_writes_no_access_log_by_default(data_dir: Path) -> None:
    text = _served_log(data_dir)
    assert "Application startup complete" in text  # the server did log at info
    assert '"GET /api/v1/health' not in text
    assert '"GET /api/v1/organisations' not in text


@pytest.mark.slow
def test_served_node_writes_an_access_log_when_asked(data_dir: Path) -> None:
    text = _served_log(data_dir, CIX_ACCESS_LOG="true")
    assert '"GET /api/v1/health HTTP/1.1" 200' in text
    assert '"GET /api/v1/organisations HTTP/1.1" 401' in text


@pytest.fixture
def access_logger() -> Iterator[logging.Logger]:
    """uvicorn's access logger as uvicorn configures it, restored afterwards."""
    logger = logging.getLogger("uvicorn.access")
    saved = logger.handlers[:], logger.propagate
    logger.handlers = [logging.StreamHandler(open(os.devnull, "w"))]  # noqa: SIM115
    logger.propagate = False
    try:
        yield logger
    finally:
        for handler in logger.handlers:
            handler.close()
        logger.handlers, logger.propagate = saved


@pytest.mark.parametrize("enabled", [False, True])
def test_app_start_up_applies_the_setting(
    node: Node, access_logger: logging.Logger, enabled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # uvicorn gives a connection an access log only if the logger has handlers then.
    monkeypatch.setattr(node, "settings", dataclasses.replace(node.settings, access_log=enabled))
    app = create_app(node)

    async def start_and_stop() -> None:
        async with app.router.lifespan_context(app):
            pass

    anyio.run(start_and_stop)
    assert access_logger.hasHandlers() is enabled
