"""`cix serve` with pieces of the open fast path turned off, for `bench.node --without`.

Run: `python -m bench.fast_path_off PIECES serve --dir DIR ...` where PIECES is `none` or
`+`-joined names of `PIECES`. Each piece is turned off by patching this process before the
node is served (one process: `--workers 1`), never by a setting of the product: the
general path each piece stands beside then answers every open, as it does when the piece
does not apply.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def _no_open_route() -> None:
    from starlette.routing import Match

    from cix.api import fast_path

    def matches(self: Any, scope: Any) -> tuple[Match, dict[str, Any]]:
        return Match.NONE, {}

    fast_path.OpenRoute.matches = matches  # type: ignore[method-assign]


def _no_bodiless_bypass() -> None:
    from cix.api import fast_path

    async def call(self: Any, scope: Any, receive: Any, send: Any) -> None:
        await self._limited(scope, receive, send)

    fast_path.BodilessBypass.__call__ = call  # type: ignore[method-assign]


def _no_admit_on_loop() -> None:
    import anyio.to_thread

    from cix.api import fast_path

    async def admit(opener: Any, actor: Any, doc_id: str) -> Any:
        return await anyio.to_thread.run_sync(opener.admit, actor, doc_id)

    fast_path.admit = admit


def _no_decrypt_on_loop() -> None:
    from cix.api import fast_path

    fast_path.ON_LOOP = -1


def _no_in_memory() -> None:
    from cix.api import fast_path

    fast_path.IN_MEMORY = -1


def _no_verified_blobs() -> None:
    from cix.node.opening import Opener

    init = Opener.__init__

    def patched(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._verified_blobs = None

    Opener.__init__ = patched  # type: ignore[method-assign]


def _no_manifest_cache() -> None:
    from cix.envelope import ManifestCache
    from cix.node.opening import Opener

    class Forgetful(ManifestCache):
        def get(self, key: Any) -> Any:
            return None

        def put(self, key: Any, value: Any) -> None:
            return None

    init = Opener.__init__

    def patched(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._manifests = Forgetful(1)

    Opener.__init__ = patched  # type: ignore[method-assign]


PIECES: dict[str, Callable[[], None]] = {
    "open-route": _no_open_route,
    "bodiless-bypass": _no_bodiless_bypass,
    "admit-on-loop": _no_admit_on_loop,
    "decrypt-on-loop": _no_decrypt_on_loop,
    "in-memory": _no_in_memory,
    "verified-blobs": _no_verified_blobs,
    "manifest-cache": _no_manifest_cache,
}
"""Each piece by name, with what turns it off."""


def turn_off(spec: str) -> None:
    """Turn off the pieces `spec` names (`none`, or names joined by `+`)."""
    for name in [] if spec == "none" else spec.split("+"):
        if name not in PIECES:
            raise SystemExit(f"unknown piece {name!r} (known: {', '.join(PIECES)})")
        PIECES[name]()


def main() -> None:
    """Turn the pieces off, then run the `cix` command line with the remaining arguments."""
    turn_off(sys.argv[1])
    sys.argv = ["cix", *sys.argv[2:]]
    from cix.cli.main import run

    run()


if __name__ == "__main__":
    main()
