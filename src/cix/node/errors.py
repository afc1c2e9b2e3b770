"""Errors of the node's services, each in the family that says who is at fault.

Every error class of `cix.node` is defined here (the modules that raise one import it from
here), so that the API maps them to HTTP in one place (`cix.api.problems`) and the CLI to
exit codes in one place (`cix.cli.main`):

- the caller's fault (`InputError`): `NotFound` 404, `Conflict` 409, `PayloadTooLarge` 413;
- a refusal (`AccessDenied`): `Forbidden` and `DocumentRefused` 403 (opaque; the reasons
  are audited), `Unauthenticated` 401; of the caller's own request (`RequestRefused`, 403
  naming the rule): `RoleRequired`, `LabelRefused`;
- the operator's set-up (`InputError`, CLI exit 2): `KeysLocked`, `StaleSchema`,
  `DataDirectoryNotPrivate`; a node's label index full (`TooManyLabelValues`, 400);
"""

from __future__ import annotations

from cix.errors import AccessDenied, InputError, RequestRefused, VerificationError


class NotFound(InputError):
    """The request names an object this node does not hold (HTTP 404)."""


class Conflict(InputError):
    """The request conflicts with the current state, e.g. an id already taken (HTTP 409)."""


class Forbidden(AccessDenied):
    """The actor's roles do not allow this change; the reason is in the audit record."""


class RoleRequired(Forbidden, RequestRefused):
    """The actor lacks the role an action needs; the message names the roles (the caller's
    own business: it reveals nothing about any object)."""

    def __init__(self, roles: tuple[str, ...]) -> None:
        super().__init__("role required: " + " or ".join(roles))
        self.roles = roles


class Unauthenticated(AccessDenied):
    """No valid credential was presented (HTTP 401); the precise reason is logged only."""


class PayloadTooLarge(InputError):
    """The request body or document is larger than the node accepts (HTTP 413)."""


class DocumentRefused(AccessDenied):
    """The decision function (or a role check) refused.

    The caller sees one opaque refusal whatever the rule; `reasons` (the stable reason
    codes) are kept for the audit record and for tests, never sent to the caller.
    """

    def __init__(self, *reasons: str) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = tuple(r.split(":", 1)[0] for r in reasons)


class LabelRefused(DocumentRefused, RequestRefused):
    """The decision refused the label the caller asked for (a new document's, a derived
    one's): each failing rule with its sentence, shown to the caller, because it is about
    the caller's own input and own entitlements. Access to a held object is never refused
    this way (that is `DocumentRefused`, opaque)."""

    def __init__(self, reasons: tuple[tuple[str, str], ...]) -> None:
        super().__init__(*(code for code, _ in reasons))
        self.args = ("; ".join(f"{code}: {text}" for code, text in reasons),)


class KeysLocked(InputError):
    """The node was opened without its private keys; sealing and opening need them."""


class StaleSchema(InputError):
    """The database schema is older than this version of cix; `cix init --dir` upgrades it."""


class DatabaseNotTheNodes(InputError):
    """The configured database is missing or holds no cix schema, yet the directory holds a
    node (its keys): the database URL is wrong, or the database was lost. Nothing is
    created, so no second, empty node appears under the first one's keys."""


class DataDirectoryNotPrivate(InputError):
    """The data directory (or a file in it) can be read or entered by other users."""


class TooManyLabelValues(InputError):
    """A node can index at most 63 distinct values of each kind (parties, programmes, caveats)."""


class CertificateInvalid(VerificationError):
    """A destruction certificate's signature does not verify, or its fields were changed."""
