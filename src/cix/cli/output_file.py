"""Where a command writes what it produced: a file, atomically and never by accident, or `-`.

Plaintext of a classified document is the most sensitive thing the command line ever
writes, so every command that writes a file goes through `output_file`:

- the file is created mode 0600 (whatever the umask), written beside its final name and
  renamed only once complete, so a refusal or a crash mid-write leaves nothing partial;
- an existing file is kept unless the caller passed `--force`;
- the output is never one of the command's inputs (`cix open x.tdf -o x.tdf` would replace
  the sealed object with its own plaintext);
- `-` is standard output, for pipes.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from cix.errors import InputError, StorageError

STDOUT = "-"


def is_stdout(path: Path | str) -> bool:
    """Whether `path` names standard output (`-`)."""
    return str(path) == STDOUT


def check_output(path: Path, *, force: bool, inputs: Sequence[Path] = ()) -> None:
    """Raise InputError, before anything is read or fetched, if `path` may not be written.

    Refused: an existing file without `force`; anything but a regular file; a directory
    that does not exist; a path that is (or links to) one of `inputs`.
    """
    if is_stdout(path):
        return
    for source in inputs:
        if _same_file(path, source):
            raise InputError(f"-o {path}: is the input {source}; write the output elsewhere")
    if path.exists() or path.is_symlink():
        if not path.is_file():
            raise InputError(f"-o {path}: exists and is not a regular file")
        if not force:
            raise InputError(f"-o {path}: exists; pass --force to replace it")
    parent = path.parent if str(path.parent) else Path()
    if not parent.is_dir():
        raise InputError(f"-o {path}: no such directory {parent}")


@contextlib.contextmanager
def output_file(path: Path, *, force: bool, inputs: Sequence[Path] = ()) -> Iterator[BinaryIO]:
    """A binary stream for the output `path` (see the module for its rules).

    The file appears under `path`, mode 0600, only if the block ends without an error;
    an OSError while writing is a StorageError and leaves nothing behind.
    """
    check_output(path, force=force, inputs=inputs)
    if is_stdout(path):
        stream = sys.stdout.buffer
        yield stream
        stream.flush()
        return
    directory = path.parent if str(path.parent) else Path()
    try:
        # mkstemp creates the file 0600 whatever the umask, exclusively (O_EXCL).
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=directory)
    except OSError as exc:
        raise InputError(f"-o {path}: cannot write there ({exc.strerror})") from None
    done = False
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # Checked again just before the rename: a file created meanwhile is not replaced.
        if not force and (path.exists() or path.is_symlink()):
            raise InputError(f"-o {path}: appeared while writing; pass --force to replace it")
        os.replace(tmp, path)
        done = True
    except OSError as exc:
        raise StorageError(f"-o {path}: nothing written ({exc.strerror or exc})") from None
    finally:
        if not done:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _same_file(output: Path, source: Path) -> bool:
    try:
        return output.resolve() == source.resolve() or (
            output.exists() and os.path.samefile(output, source)
        )
    except OSError:
        return False
