"""Memory stays flat: sealing and opening a 2 GiB file each peak under 100 MiB of RSS.

Each operation runs in a fresh Python subprocess; its peak resident set size is the
`ru_maxrss` that `os.wait4` reports for exactly that child (so other tests' children cannot
blur it). The 2 GiB input is a sparse file (zeros, no disk blocks), the outputs are real
files, removed at the end. A control test shows the probe does see a large allocation.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cix.keys import KemAlgorithm, generate_kem, generate_signing, write_key_pair

MiB = 1 << 20
GiB = 1 << 30
PAYLOAD = 2 * GiB
LIMIT = 100 * MiB
PASSPHRASE = "memory test passphrase"

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
        seal(fin, fout, label_xml=b"<label/>", label_json={"policy": "kor-can"},
             recipients=[recipient], signer=signer)
    """
)

OPEN = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from cix.envelope import open_sealed
    from cix.keys import load_kem_private, load_verify_key

    keys, src, dst = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    key = load_kem_private(keys / "kem.key", sys.argv[4].encode())
    trusted = [load_verify_key(keys / "sign.pub")]
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        open_sealed(fin, fout, private_key=key, trusted_signers=trusted)
    """
)


def _peak_rss(argv: list[str], env: dict[str, str] | None = None) -> int:
    """Run `argv` to completion and return its peak RSS in bytes; fail on a non-zero exit."""
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.stderr is not None
    stderr = child.stderr.read().decode(errors="replace")
    child.stderr.close()
    assert child.returncode == 0, stderr
    return usage.ru_maxrss * 1024  # Linux reports KiB


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


def test_rss_probe_sees_a_256_mib_allocation() -> None:
    script = "b = bytearray(256 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])"

    peak = _peak_rss([sys.executable, "-c", script])

    assert peak >= 256 * MiB


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
        seal_peak = _peak_rss(
            [sys.executable, "-c", SEAL, str(keys), str(plain), str(sealed), PASSPHRASE]
        )
        assert sealed.stat().st_size > PAYLOAD

        open_peak = _peak_rss(
            [sys.executable, "-c", OPEN, str(keys), str(sealed), str(opened), PASSPHRASE]
        )
        assert _all_zero(opened, PAYLOAD)
        opened.unlink()

        cli_peak = _peak_rss(
            [
                *(sys.executable, "-m", "cix.cli.main", "open", str(sealed)),
                *("-o", str(opened_cli), "--key", str(keys / "kem.key")),
                *("--trust", str(keys / "sign.pub")),
            ],
            env={**os.environ, "CIX_PASSPHRASE": PASSPHRASE},
        )
        assert opened_cli.stat().st_size == PAYLOAD
    finally:
        for path in (plain, sealed, opened, opened_cli):
            path.unlink(missing_ok=True)

    assert seal_peak < LIMIT, f"seal peaked at {seal_peak / MiB:.1f} MiB"
    assert open_peak < LIMIT, f"open peaked at {open_peak / MiB:.1f} MiB"
    assert cli_peak < LIMIT, f"cix open peaked at {cli_peak / MiB:.1f} MiB"
