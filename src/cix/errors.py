"""The exception families of cix, split by who is at fault (python-tuf's model).

Every package raises a subclass of one of these families, so that the API maps them to
HTTP problems in one place and the CLI maps them to exit codes in one place:

- `InputError`: the caller gave something malformed or unknown (CLI exit 2, HTTP 4xx).
- `VerificationError`: an artefact is broken or forged (a sealed object, a signature, the
  audit log). Callers outside a trust boundary see only the opaque `Refused`; the precise
  subclass goes to the audit record.
- `AccessDenied`: an authorisation decision said no; the reasons go to the audit record.
  `RequestRefused`, one of them about the caller's own input, says which rule failed.
- `StorageError`: the database or blob store failed; nothing was changed.
- `PeerError`: another node failed or misbehaved.
- `ServiceError`: this node's own service could not run as configured (another server
  holds it, a worker process failed); nobody's input was wrong (CLI exit 3).
"""

from __future__ import annotations


class CixError(Exception):
    """Base of every error cix raises on purpose."""


class InputError(CixError, ValueError):
    """The caller's input is malformed or names something unknown; nothing was changed.

    The message names what was wrong and where (file, key, position) so that a person can
    fix it without reading a traceback.
    """


class VerificationError(CixError):
    """An artefact failed verification: it is broken, truncated, reordered or forged."""


class AccessDenied(CixError):
    """An authorisation decision refused the request."""


class RequestRefused(AccessDenied):
    """A refusal of the caller's own request about its own input: the label it asked for,
    the role an action needs, a recipient its label does not release to.

    Unlike every other refusal, its message says which rule failed and may be shown to the
    caller (CLI and API): it reveals nothing the caller did not bring, and without it a
    person cannot correct their own mistake. Access to an object is never refused this way.
    """


class StorageError(CixError):
    """The storage backend failed; the operation was not applied."""


class PeerError(CixError):
    """A peer node failed, answered wrongly or sent a message that does not verify."""


class ServiceError(CixError):
    """This node's service could not start or keep running; no request was at fault."""


class Refused(CixError):
    """The one opaque failure shown to callers for any integrity or authorisation failure.

    Like Fernet's `InvalidToken`, it deliberately carries no reason: the reason is written
    to the audit record by whoever raised it.
    """

    def __init__(self) -> None:
        super().__init__("refused: the object could not be verified or access is not permitted")
