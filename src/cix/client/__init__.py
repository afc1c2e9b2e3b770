"""cix.client: the Python SDK of a cix national node.

A typed client over the node's REST API, synchronous (`Client`) and asynchronous
(`AsyncClient`), the same call for call: documents uploaded and downloaded as streams, lists
as iterators that fetch pages as they go, answers as typed models (`Document`,
`Transmission`, …) that keep the node's whole answer in `raw`, and failures as the families
of cix errors (`NodeRejected` is an `InputError`, `NodeRefused` an `AccessDenied`,
`NodeFailed` a `PeerError`). The `cix` command line is built on it. docs/sdk.md has the
guide and examples.
"""

from cix.client.asynchronous import AsyncClient
from cix.client.errors import NodeFailed, NodeProblem, NodeRefused, NodeRejected
from cix.client.models import (
    Consent,
    Document,
    Opened,
    Organisation,
    Person,
    Programme,
    Transmission,
)
from cix.client.resolve import IdNotResolved
from cix.client.sync import Client

__all__ = [
    "AsyncClient",
    "Client",
    "Consent",
    "Document",
    "IdNotResolved",
    "NodeFailed",
    "NodeProblem",
    "NodeRefused",
    "NodeRejected",
    "Opened",
    "Organisation",
    "Person",
    "Programme",
    "Transmission",
]
