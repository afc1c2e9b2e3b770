"""Memory stays flat: sealing and opening a 2 GiB file each peak under 100 MiB of RSS.

Each operation runs in a fresh Python subprocess, which reports its own peak resident set
size (`VmHWM` of /proc/self/status) as it exits. Not `ru_maxrss`: Linux records the *parent's*
high-water mark in the child's `ru_maxrss` when the (v)forked child calls exec, so a child
of a large pytest worker looks as large as the worker. `VmHWM` belongs to the child's own
address space, which exec creates anew. The 2 GiB input is a sparse file (zeros, no disk
blocks); the outputs are real files, removed at the end. Control tests show that the probe
sees a large allocation in the child and does not see one in the parent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from cix.keys import KemAlgorithm, generate_kem, generate_signing, write_key_pair

MiB = 1 << 20
GiB = 1 << 30
PAYLOAD = 2 * GiB
LIMIT = 100 * MiB
PASSPHRASE = "memory test passphrase"

# Prepended to every measured script: write VmHWM (KiB) to the path in argv[1] at exit,
# also when the script ends with SystemExit (as the CLI does).
PROBE = textwrap.dedent(
    """
    import atexit, sys
    from pathlib import Path

    _report = Path(sys.argv.pop(1))

    def _write_peak() -> None:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                _report.write_text(line.split()[1])

    atexit.register(_write_peak)
    """
)

CLI = 'import runpy\nsys.argv[0] = "cix"\nrunpy.run_module("cix.cli.main", run_name="__main__")\n'

SEAL = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from cix.envelope import seal
    from cix.keys import load_kem_public, load_signing_key

    keys, src, dst = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    recipient = load_kem_public(keys / "kem.pub")
    signer = load_signing_key(keys / "sign.key", sys.argv[4].encode())
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        seal(fin, fout, label_xml=b"<label/>",
             label_json={"policy": "kor-can", "originator": "KOR"},
             recipients=[recipient], signer=signer)
    """
)

SEAL_MAPPED = (
    SEAL.replace("from cix.envelope import seal", "from cix.envelope import mapped_input, seal")
    .replace('open(dst, "wb") as fout:', 'open(dst, "wb") as fout, mapped_input(fin) as source:')
    .replace("seal(fin, fout,", "seal(source, fout,")
)

OPEN = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from cix import envelope
    from cix.keys import load_kem_private, load_verify_key

    keys, src, dst = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    key = load_kem_private(keys / "kem.key", sys.argv[4].encode())
    trusted = {"KOR": [load_verify_key(keys / "sign.pub")]}
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        envelope.open(fin, fout, private_key=key, trusted_signers=trusted)
    """
)


OPEN_MAPPED = (
    OPEN.replace(
        "from cix import envelope",
        "from cix import envelope\nfrom cix.envelope import mapped_input",
    )
    .replace('open(dst, "wb") as fout:', 'open(dst, "wb") as fout, mapped_input(fin) as source:')
    .replace("envelope.open(fin, fout,", "envelope.open(source, fout,")
)


def _peak_rss(script: str, *args: str, env: dict[str, str] | None = None) -> int:
    """Run `script` in a new Python with `args`; return its peak RSS in bytes (exit must be 0)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "peak"
        done = subprocess.run(
            [sys.executable, "-c", PROBE + script, str(report), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return int(report.read_text()) * 1024


def _sparse(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        f.truncate(size)
    return path


def _all_zero(path: Path, size: int) -> bool:
    zeros = bytes(8 * MiB)
    seen = 0
    with path.open("rb") as f:
        while chunk := f.read(len(zeros)):
            if chunk != zeros[: len(chunk)]:
                return False
            seen += len(chunk)
    return seen == size


def test_rss_probe_sees_a_256_mib_allocation_in_the_child() -> None:
    script = "b = bytearray(256 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])"

    assert _peak_rss(script) >= 256 * MiB


def test_rss_probe_does_not_count_the_parents_memory() -> None:
    parent = bytearray(256 * MiB)
    parent[:: 4 << 10] = b"x" * len(parent[:: 4 << 10])  # touch every page: resident

    assert _peak_rss("pass") < 64 * MiB
    assert parent[0] == ord("x")


@pytest.mark.slow
def test_seal_and_open_of_2_gib_each_stay_under_100_mib(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    write_key_pair(
        keys, generate_kem(KemAlgorithm.MLKEM768_X25519), generate_signing(), PASSPHRASE.encode()
    )
    plain = _sparse(tmp_path / "plain.bin", PAYLOAD)
    sealed = tmp_path / "sealed.tdf"
    opened = tmp_path / "opened.bin"
    opened_cli = tmp_path / "opened-cli.bin"
    try:
        mapped_peak = _peak_rss(SEAL_MAPPED, str(keys), str(plain), str(sealed), PASSPHRASE)
        assert sealed.stat().st_size > PAYLOAD
        sealed.unlink()
        seal_peak = _peak_rss(SEAL, str(keys), str(plain), str(sealed), PASSPHRASE)
        assert sealed.stat().st_size > PAYLOAD

        open_peak = _peak_rss(OPEN, str(keys), str(sealed), str(opened), PASSPHRASE)
        assert _all_zero(opened, PAYLOAD)
        opened.unlink()
        mapped_open_peak = _peak_rss(OPEN_MAPPED, str(keys), str(sealed), str(opened), PASSPHRASE)
        assert _all_zero(opened, PAYLOAD)
        opened.unlink()

        cli_peak = _peak_rss(
            CLI,
            *("open", str(sealed), "-o", str(opened_cli)),
            *("--key", str(keys / "kem.key"), "--trust", f"KOR={keys / 'sign.pub'}"),
            env={**os.environ, "CIX_PASSPHRASE": PASSPHRASE},
        )
        assert opened_cli.stat().st_size == PAYLOAD
    finally:
        for path in (plain, sealed, opened, opened_cli):
            path.unlink(missing_ok=True)

    assert seal_peak < LIMIT, f"seal peaked at {seal_peak / MiB:.1f} MiB"
    # The mapped file counts in the resident set while mapped: each window is released.
    assert mapped_peak < LIMIT, f"seal of a mapped file peaked at {mapped_peak / MiB:.1f} MiB"
    assert open_peak < LIMIT, f"open peaked at {open_peak / MiB:.1f} MiB"
    assert mapped_open_peak < LIMIT, (
        f"open of a mapped file peaked at {mapped_open_peak / MiB:.1f} MiB"
    )
    # `cix open` maps its input too.
    assert cli_peak < LIMIT, f"cix open peaked at {cli_peak / MiB:.1f} MiB"
