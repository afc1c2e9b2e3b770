"""The courier: how a node reaches its peers over HTTP(S) (httpx). It implements the
exchange's `Transport` protocol (`cix.node.exchange.transport`) and knows nothing else of
the node: it neither signs nor verifies, it moves bytes. `cix.serving` wires it in."""

from cix.courier.http import CourierError, HttpTransport, TlsFor, pinned_tls

__all__ = ["CourierError", "HttpTransport", "TlsFor", "pinned_tls"]
