"""HTTPS with mutual TLS for `cix serve` when `federation_mtls` is on.

The node presents its own certificate (`tls_cert`, `tls_key`) and requires every client to
present one of its pinned peers' certificates: the trust anchors are exactly the bundle of
certificates pinned with `cix peer add --cert` (rewritten from the `peers` table when the
server starts, so a peer added or removed since takes effect at the next start). The
messages are signed whatever the transport; TLS adds that nobody but a pinned peer reaches
the port. A node with mutual TLS on serves only its peers on that port: its users' clients
would need a pinned certificate too.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from cix.errors import InputError

if TYPE_CHECKING:
    from cix.node.service import Node


def uvicorn_tls_options(node: Node, *, write_bundle: bool = True) -> dict[str, Any]:
    """The uvicorn options that serve `node` over mutual TLS, or {} when it is off.

    With `write_bundle` the peers' certificate bundle is rewritten from the table first
    (once per start: the supervisor of several workers does it, its workers only read it).

    Raises `InputError` naming what is missing: the node's certificate or key, or any
    pinned peer certificate (a server that no client could reach is a configuration
    mistake, not a secure default).
    """
    from cix.node.exchange.peers import tls_files

    settings = node.settings
    if not settings.federation_mtls:
        return {}
    files = tls_files(settings)
    for path, name in ((files.cert, "tls_cert"), (files.key, "tls_key")):
        if not path.is_file():
            raise InputError(
                f"federation_mtls is on but {name} {path} does not exist "
                f"(`cix init --dir {settings.data_dir} --tls` creates it)"
            )
    bundle = node.peers.write_bundle() if write_bundle else node.peers.bundle_path()
    if not bundle.is_file() or not bundle.read_text(encoding="ascii").strip():
        raise InputError(
            "federation_mtls is on but no peer has a pinned TLS certificate "
            "(`cix peer add ... --cert PEER.crt`)"
        )
    return {
        "ssl_certfile": str(files.cert),
        "ssl_keyfile": str(files.key),
        "ssl_ca_certs": str(bundle),
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
    }


def scheme(options: dict[str, Any]) -> str:
    """The URL scheme the server answers on with `options`."""
    return "https" if options else "http"
