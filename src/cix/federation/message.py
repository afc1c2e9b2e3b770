"""Federation messages: a compact JWS (Ed25519) over the RFC 8785 JSON of its claims.

Claims (every one required):

    iss        the sending node's id            aud     the receiving node's id
    url        the target URL path it was sent to (a message for one route is not good at
               another)
    iat        issue time, integer seconds      jti     the message id (unique, for good)
    agreement  the agreement it is sent under   kind    what it is ("transmission", ...)
    body       the kind's own JSON object

The receiver checks, in this order, so that the cheapest refusal comes first and nothing is
trusted before its signature is: the token's form; the sender is a pinned peer; the
signature by that peer's pinned key; the audience is this node; the URL is the route it
arrived at; the agreement is held here and the peer is pinned under it; the issue time is
within the clock-skew bound of `now`. The message id against the inbox is the caller's
(it needs the database); a message id seen before gets the stored answer back.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cix.federation.canonical import unb64url
from cix.federation.errors import MessageRefusal, MessageRefused
from cix.federation.identity import NodeIdentity
from cix.federation.jws import JwsInvalid, sign_compact, unverified_header, verify_compact
from cix.keys import SigningKey

MESSAGE_TYP = "cix-federation+jws"
_CLAIMS = frozenset({"iss", "aud", "url", "iat", "jti", "agreement", "kind", "body"})
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}\Z")
_KIND = re.compile(r"[a-z][a-z0-9-]{0,31}\Z")
_PATH = re.compile(r"/[!-~]{0,500}\Z")


@dataclass(frozen=True)
class PinnedPeer:
    """What this node trusts a peer for: its identity as pinned, under these agreements."""

    identity: NodeIdentity
    agreements: frozenset[str]


@dataclass(frozen=True)
class Message:
    """A verified federation message; `token` is the JWS exactly as received (evidence)."""

    sender: str
    audience: str
    url: str
    issued_at: datetime
    message_id: str
    agreement: str
    kind: str
    body: dict[str, Any]
    token: str


def new_message_id() -> str:
    """A fresh message id (random UUID: unique without coordination between nodes)."""
    return str(uuid.uuid4())


def sign_message(
    signer: SigningKey,
    *,
    sender: str,
    audience: str,
    url: str,
    agreement: str,
    kind: str,
    body: dict[str, Any],
    message_id: str,
    issued_at: datetime,
) -> str:
    """The compact JWS of one message (see the module docstring for the claims)."""
    claims = {
        "iss": sender,
        "aud": audience,
        "url": url,
        "iat": int(issued_at.timestamp()),
        "jti": message_id,
        "agreement": agreement,
        "kind": kind,
        "body": body,
    }
    _check_claims(claims)
    return sign_compact(claims, signer, MESSAGE_TYP)


def _refuse(reason: MessageRefusal, detail: str) -> MessageRefused:
    return MessageRefused(reason, detail)


def _check_claims(claims: dict[str, Any]) -> None:
    if set(claims) != _CLAIMS:
        raise _refuse(MessageRefusal.MALFORMED, f"the claims must be exactly {sorted(_CLAIMS)}")
    for name in ("iss", "aud", "jti", "agreement"):
        if not isinstance(claims[name], str) or not _ID.match(claims[name]):
            raise _refuse(MessageRefusal.MALFORMED, f"claim `{name}` is missing or malformed")
    if not isinstance(claims["kind"], str) or not _KIND.match(claims["kind"]):
        raise _refuse(MessageRefusal.MALFORMED, "claim `kind` is malformed")
    if not isinstance(claims["url"], str) or not _PATH.match(claims["url"]):
        raise _refuse(MessageRefusal.MALFORMED, "claim `url` must be a URL path")
    iat = claims["iat"]
    if not isinstance(iat, int) or isinstance(iat, bool) or not 0 <= iat < 1 << 40:
        raise _refuse(MessageRefusal.MALFORMED, "claim `iat` must be integer seconds")
    if not isinstance(claims["body"], dict):
        raise _refuse(MessageRefusal.MALFORMED, "claim `body` must be an object")


def peek_sender(token: str) -> str:
    """The `iss` claim, unverified: which peer the message says it is from (for routing a
    refusal to the right audit entry; never trusted)."""
    try:
        unverified_header(token)
        claims = json.loads(unb64url(token.split(".")[1]))
    except (JwsInvalid, ValueError):
        return ""
    sender = claims.get("iss") if isinstance(claims, dict) else None
    return sender if isinstance(sender, str) and _ID.match(sender) else ""


def verify_message(
    token: str,
    *,
    peer: Callable[[str], PinnedPeer | None],
    audience: str,
    url: str,
    held_agreements: Collection[str],
    now: datetime,
    max_skew: timedelta,
) -> Message:
    """Verify one message received at `url` (see the module docstring for the checks);
    raise `MessageRefused` with the first check that fails."""
    try:
        unverified_header(token)
    except JwsInvalid as exc:
        raise _refuse(MessageRefusal.MALFORMED, str(exc)) from None
    sender = peek_sender(token)
    pinned = peer(sender) if sender else None
    if pinned is None:
        raise _refuse(MessageRefusal.UNKNOWN_SENDER, "the sender is not a pinned peer")
    try:
        claims = verify_compact(token, pinned.identity.signing_key, MESSAGE_TYP)
    except JwsInvalid as exc:
        raise _refuse(MessageRefusal.SIGNATURE_INVALID, str(exc)) from None
    _check_claims(claims)
    if claims["iss"] != pinned.identity.node_id:
        raise _refuse(MessageRefusal.UNKNOWN_SENDER, "the sender is not the peer pinned")
    if claims["aud"] != audience:
        raise _refuse(MessageRefusal.WRONG_AUDIENCE, f"addressed to {claims['aud']!r}")
    if claims["url"] != url:
        raise _refuse(MessageRefusal.WRONG_TARGET, f"signed for {claims['url']!r}")
    agreement = claims["agreement"]
    if agreement not in held_agreements:
        raise _refuse(MessageRefusal.AGREEMENT_NOT_HELD, f"agreement {agreement!r}")
    if agreement not in pinned.agreements:
        raise _refuse(
            MessageRefusal.NOT_PEERED_UNDER_AGREEMENT,
            f"the peer is not pinned under {agreement!r}",
        )
    issued = datetime.fromtimestamp(claims["iat"], UTC)
    if abs(now - issued) > max_skew:
        raise _refuse(
            MessageRefusal.CLOCK_SKEW,
            f"issued {int((now - issued).total_seconds())} s from this node's clock",
        )
    return Message(
        sender=claims["iss"],
        audience=claims["aud"],
        url=claims["url"],
        issued_at=issued,
        message_id=claims["jti"],
        agreement=agreement,
        kind=claims["kind"],
        body=claims["body"],
        token=token,
    )
