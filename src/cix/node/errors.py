"""Errors of the node's services, each in the family that says who is at fault.

Every error class of `cix.node` is defined here (the modules that raise one import it from
here), so that the API maps them to HTTP in one place (`cix.api.problems`) and the CLI to
exit codes in one place (`cix.cli.main`):

- the caller's fault (`InputError`): `NotFound` 404, `Conflict` 409, `PayloadTooLarge` 413;
- a refusal (`AccessDenied`): `Forbidden` 403 (opaque; the reason is audited),
  `Unauthenticated` 401;
"""

from __future__ import annotations

from cix.errors import AccessDenied, InputError


class NotFound(InputError):
    """The request names an object this node does not hold (HTTP 404)."""


class Conflict(InputError):
    """The request conflicts with the current state, e.g. an id already taken (HTTP 409)."""


class Forbidden(AccessDenied):
    """The actor's roles do not allow this change; the reason is in the audit record."""


class Unauthenticated(AccessDenied):
    """No valid credential was presented (HTTP 401); the precise reason is logged only."""


class PayloadTooLarge(InputError):
    """The request body or document is larger than the node accepts (HTTP 413)."""
