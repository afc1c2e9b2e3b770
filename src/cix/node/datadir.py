"""The data directory holds the node (its keys, database, audit log, sealed objects): only
the user who runs the node may enter it.

`cix init` makes it mode 0700 (a directory that already existed, 0755 say, included: its
files would otherwise be created readable by everyone) and everything the node creates is
created under a umask of 077. `cix serve` refuses a data directory that others can enter
rather than serve keys and plaintext metadata from it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cix.node.errors import DataDirectoryNotPrivate

PRIVATE_MODE = 0o700
PRIVATE_UMASK = 0o077


def make_private(data_dir: Path) -> None:
    """Create `data_dir` if missing and give it mode 0700; files the node creates from now
    on in this process are private too (umask 077)."""
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_MODE)
    if stat.S_IMODE(data_dir.stat().st_mode) != PRIVATE_MODE:
        try:
            data_dir.chmod(PRIVATE_MODE)
        except OSError as exc:
            raise DataDirectoryNotPrivate(
                f"{data_dir}: cannot make the data directory private (mode 0700): {exc.strerror}"
            ) from None


def check_private(data_dir: Path) -> None:
    """Raise `DataDirectoryNotPrivate`, naming the fix, unless `data_dir` is a directory of
    this user that no one else can enter; then set the umask to 077 for what follows.
    A missing directory is left to `Node.open` to report."""
    if not data_dir.is_dir():
        return
    info = data_dir.stat()
    loose = stat.S_IMODE(info.st_mode) & 0o077
    if loose or info.st_uid != os.geteuid():
        owner = "" if info.st_uid == os.geteuid() else f", owned by uid {info.st_uid}"
        raise DataDirectoryNotPrivate(
            f"{data_dir}: the data directory is mode {stat.S_IMODE(info.st_mode):04o}{owner}; "
            f"it holds the node's keys and database: `chmod 700 {data_dir}` "
            "(or `cix init --dir` to fix it), then serve"
        )
    os.umask(PRIVATE_UMASK)
