"""A real `cix serve` on a loopback port, for tests that need the process (crash, CLI, demo).

`LiveNode.start(data_dir)` runs `python -m cix.cli.main serve` in its own process group and
returns once health answers; `kill()` sends SIGKILL (the crash test), `stop()` SIGTERM.
Only the process started here is ever signalled, by its pid.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from cix.demo import PASSPHRASE

CONSOLE = str(Path(sys.executable).with_name("cix"))
"""The `cix` console script of this environment."""


def free_port() -> int:
    """A free TCP port on loopback (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def node_environ(**extra: str) -> dict[str, str]:
    """The environment of a served node: ours without CIX_ settings, plus the passphrase."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIX_")}
    env["CIX_PASSPHRASE"] = PASSPHRASE
    env.update(extra)
    return env


@dataclass
class LiveNode:
    """A `cix serve` process serving `data_dir` on `port`."""

    data_dir: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        """The base URL of the node."""
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        data_dir: Path,
        *,
        port: int | None = None,
        timeout: float = 30,
        workers: int = 1,
        environ: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> LiveNode:
        """Serve `data_dir` with `workers` processes and wait until `GET /api/v1/health`
        answers 200."""
        port = port or free_port()
        log = data_dir.parent / f"serve-{data_dir.name}-{port}.log"
        with log.open("ab") as handle:
            # From another directory, the installed console script (as an operator runs
            # it): `python -m` would import from that directory.
            command = [sys.executable, "-m", "cix.cli.main"] if cwd is None else [CONSOLE]
            process = subprocess.Popen(
                [
                    *command,
                    "serve",
                    "--dir",
                    str(data_dir),
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                    "--workers",
                    str(workers),
                ],
                env=environ or node_environ(),
                cwd=cwd,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        node = cls(data_dir, port, process, log)
        node.wait_ready(timeout, workers=workers)
        return node

    def wait_ready(self, timeout: float, *, workers: int = 1) -> None:
        """Block until health answers (and, with workers, until the server says that every
        worker serves); raise with the log's tail if the process died."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"cix serve exited {self.process.returncode}: {self.tail()}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200 and (
                    workers == 1 or f"({workers} worker processes)" in self.tail()
                ):
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"cix serve did not answer within {timeout} s: {self.tail()}")
            time.sleep(0.05)

    def workers(self) -> list[int]:
        """The pids of the worker processes serving (none when one process serves)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == self.process.pid and b"cix.serving.workers" in cmdline:
                found.append(int(entry.name))
        return sorted(found)

    def tail(self, size: int = 2000) -> str:
        """The last `size` characters of the server's log."""
        try:
            return self.log.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the server (no clean-up of any kind) and reap it."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM the server, SIGKILL after `timeout`; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.wait()


def run_cix(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`cix ARGS…` in a child process with a served node's environment; never raises on
    its exit status (the caller asserts it)."""
    return subprocess.run(
        [sys.executable, "-m", "cix.cli.main", *args],
        env=node_environ(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
