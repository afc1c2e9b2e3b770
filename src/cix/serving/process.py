"""What every serving process does: its logging, its collector, and serving in-process.

Shared by `cix serve` with one process (`serve_in_process`) and by each worker of
`cix serve --workers N` (`cix.serving.workers`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from cix.courier import HttpTransport
    from cix.node.service import Node


def tune_collector() -> None:
    """Keep the garbage collector's pauses short under load (call once the node is open).

    Everything alive once the node is open (modules, the app, the policies) lives as long as
    the process: frozen out of the collector's view, a full collection scans only what
    requests allocate, not ~130,000 startup objects (pauses of ~100 ms at ~1,000 requests/s
    otherwise). A larger first-generation threshold lets the objects of requests in flight
    die young instead of being promoted and scanned again.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 10)


def configure_logging(level: str) -> None:
    """Give cix's own loggers (`cix.*`: failed authentications, blocked clients) a handler
    on standard error at `level`, in the format of uvicorn's, in a serving process.

    uvicorn configures only its own loggers; without this, Python's last-resort handler
    would drop everything below warning, and the access log (off by default) would be the
    only trace of a client probing tokens.
    """
    import logging

    logger = logging.getLogger("cix")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


def _pinned_peer_certificate(node: Node) -> Callable[[str], tuple[str, str] | None]:
    """For a peer's URL: its pinned TLS certificate (PEM) and the fingerprint its identity
    names, or None when no peer at that URL has both (the courier then uses plain trust,
    which a self-signed peer never passes)."""

    def lookup(url: str) -> tuple[str, str] | None:
        for info in node.peers.list():
            if node.peers.url_of(info.node_id) != url:
                continue
            cert = node.peers.tls_cert_of(info.node_id)
            pinned = node.peers.pinned(info.node_id)
            if cert is None or pinned is None or pinned.identity.tls_fingerprint is None:
                return None
            return cert, pinned.identity.tls_fingerprint
        return None

    return lookup


def start_delivery(node: Node) -> Callable[[], None]:
    """Deliver the node's outbox to its peers from a background thread, through the
    courier (`cix.node.exchange.delivery.Delivery.run_forever`: a pass every 0.2 s while
    idle, at once when a transmission is queued or a pass was full); the function that
    stops it. A node whose keys are locked signs nothing: no thread then."""
    if node.keys is None:
        return lambda: None
    from cix.courier import HttpTransport, pinned_tls
    from cix.node.exchange.peers import tls_files

    files = tls_files(node.settings)
    tls_for = pinned_tls(files.cert, files.key, _pinned_peer_certificate(node))
    transport = HttpTransport(tls_for=tls_for)
    delivery = node.exchange.delivery
    delivery.transport = transport
    stop = threading.Event()
    thread = threading.Thread(
        target=delivery.run_forever, args=(stop,), name="cix-delivery", daemon=True
    )
    thread.start()
    witnessing = _start_witnessing(node, transport, stop)

    def halt() -> None:
        stop.set()
        delivery.wake()
        thread.join(timeout=30)
        delivery.close()
        if witnessing is not None:
            witnessing.join(timeout=30)
        transport.close()

    return halt


def _start_witnessing(
    node: Node, transport: HttpTransport, stop: threading.Event
) -> threading.Thread | None:
    """Exchange audit checkpoints with the pinned peers from a background thread, through
    the same courier (`cix.node.exchange.cosigning.Cosigning.run_forever`)."""
    cosigning = node.cosigning
    if cosigning is None:
        return None
    cosigning.transport = transport
    thread = threading.Thread(
        target=cosigning.run_forever, args=(stop,), name="cix-witnessing", daemon=True
    )
    thread.start()
    return thread


def serve_in_process(node: Node, *, echo: Callable[[str], None]) -> None:
    """Serve `node` in this process with uvicorn until interrupted, then close it."""
    import uvicorn

    from cix.serving.tls import scheme, uvicorn_tls_options
    from cix.web.app import node_app

    settings = node.settings
    configure_logging(settings.log_level)
    halt = start_delivery(node)
    try:
        tls = uvicorn_tls_options(node)
        echo(
            f"cix node {settings.node_id} serving on "
            f"{scheme(tls)}://{settings.host}:{settings.port}"
        )
        tune_collector()
        uvicorn.run(
            node_app(node),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            access_log=settings.access_log,
            server_header=False,
            proxy_headers=False,
            **tls,
        )
    finally:
        halt()
        node.close()
