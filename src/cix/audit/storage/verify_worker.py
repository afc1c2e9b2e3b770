"""The worker process of a parallel verification (`cix.audit.storage.parallel` starts it).

Its own module so that the parent's side, which `Log.verify` imports, does not import the
storage backends (which import the log): the worker alone reopens the storage by address.
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import IO

from cix.audit.storage import open_storage
from cix.audit.verify import verify_block


def serve() -> None:
    """A worker's main loop: open the storage named by the parent, check blocks until EOF."""
    stdin: IO[bytes] = sys.stdin.buffer
    out = os.fdopen(os.dup(1), "wb")  # the protocol's channel; stray prints go to stderr
    os.dup2(2, 1)
    address, deep = pickle.load(stdin)  # noqa: S301 (from our parent, over a private pipe)
    storage = open_storage(address, create=False)
    try:
        while True:
            try:
                start, end, heads = pickle.load(stdin)  # noqa: S301 (as above)
            except EOFError:
                return
            try:
                result: object = verify_block(storage, start, end, heads, deep=deep)
            except Exception as exc:
                result = exc
            pickle.dump(result, out)
            out.flush()
    finally:
        storage.close()
