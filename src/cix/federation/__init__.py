"""Between nodes: identities, signed messages, and what each node trusts the other for.

Pure (no database, HTTP or clock: `now` is a parameter). Public API:

- identities: `NodeIdentity`, `SignedIdentity`, `sign_identity`, `read_identity`,
  `identity_from_json`, `add_voucher`, `check_voucher`;
- messages: `PinnedPeer`, `Message`, `sign_message`, `verify_message`, `peek_sender`,
  `new_message_id`, `MESSAGE_TYP`;
- canonical JSON (RFC 8785): `canonical_json`;
- errors: `MessageRefused` (with a `MessageRefusal` code), `IdentityInvalid`.

The formats and the trust model are in docs/federation.md.
"""

from cix.federation.canonical import canonical_json
from cix.federation.errors import IdentityInvalid, MessageRefusal, MessageRefused
from cix.federation.identity import (
    IDENTITY_TYPE,
    NodeIdentity,
    SignedIdentity,
    add_voucher,
    check_voucher,
    identity_from_json,
    read_identity,
    sign_identity,
)
from cix.federation.message import (
    MESSAGE_TYP,
    Message,
    PinnedPeer,
    new_message_id,
    peek_sender,
    sign_message,
    verify_message,
)

__all__ = [
    "IDENTITY_TYPE",
    "MESSAGE_TYP",
    "IdentityInvalid",
    "Message",
    "MessageRefusal",
    "MessageRefused",
    "NodeIdentity",
    "PinnedPeer",
    "SignedIdentity",
    "add_voucher",
    "canonical_json",
    "check_voucher",
    "identity_from_json",
    "new_message_id",
    "peek_sender",
    "read_identity",
    "sign_identity",
    "sign_message",
    "verify_message",
]
