"""Credentials: the built-in OIDC-style token issuer, bearer token verification, API tokens.

Bearer tokens are JWTs (RFC 7519) verified against the configured issuer's JWKS: the
built-in issuer's Ed25519 key lives in the data directory, encrypted under the node's
passphrase like every node key (`keys/token-issuer.key`), and its public half
(`keys/token-issuer.pub`) is served at `/.well-known/jwks.json`; an external OIDC
provider is configured by `token_issuer` and `token_jwks_url`. The token names the person
(`sub`); roles and clearances come from the registry on every request, never from the token.

API tokens (for the CLI) are 256-bit random strings prefixed `cix_`; only their SHA-256 is
stored, so a database leak does not leak usable tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from jwt.algorithms import OKPAlgorithm
from sqlalchemy import select

from cix.errors import InputError
from cix.keys import (
    SignatureAlgorithm,
    SigningKey,
    VerifyKey,
    generate_signing,
    load_signing_key,
    load_verify_key,
    signing_from_raw,
    write_signing_key,
)
from cix.node.auditing import AuditEvent, AuditSink
from cix.node.errors import NotFound, Unauthenticated
from cix.node.roles import Actor, Role
from cix.settings import Settings
from cix.store.db import Database
from cix.store.models import ApiToken

ISSUER_KEY_FILE = Path("keys") / "token-issuer.key"
ISSUER_PUBLIC_FILE = Path("keys") / "token-issuer.pub"
LEGACY_ISSUER_JWK = Path("keys") / "token-issuer.jwk"
API_TOKEN_PREFIX = "cix_"  # noqa: S105 - a prefix, not a secret


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issuer_public_jwk(key: VerifyKey) -> dict[str, str]:
    """The JWK (RFC 8037 OKP) of the built-in issuer's Ed25519 public key."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(key.public_bytes),
        "kid": key.kid,
        "alg": "EdDSA",
        "use": "sig",
    }


def load_issuer_public(data_dir: Path) -> dict[str, str]:
    """The built-in issuer's public JWK from the data directory (no passphrase needed)."""
    path = data_dir / ISSUER_PUBLIC_FILE
    if not path.exists():
        if (data_dir / LEGACY_ISSUER_JWK).exists():
            raise InputError(
                f"{data_dir / LEGACY_ISSUER_JWK}: the token issuer key of an older cix is stored "
                f"unencrypted; run `cix init --dir {data_dir}` to encrypt it"
            )
        raise InputError(f"{path}: no token issuer key (run `cix init`)")
    return issuer_public_jwk(load_verify_key(path))


class TokenIssuer:
    """The built-in issuer: an Ed25519 key of the data directory that signs bearer tokens.

    The private key is stored like every node key, as PKCS#8 encrypted under the node's
    passphrase (`keys/token-issuer.key`, mode 0600), since whoever holds it can mint a token
    for anyone; its public half is `keys/token-issuer.pub`.
    """

    def __init__(self, key: SigningKey, issuer: str, audience: str, max_ttl: int) -> None:
        if key.algorithm is not SignatureAlgorithm.ED25519:
            raise InputError(f"the token issuer key must be Ed25519, not {key.algorithm}")
        self._key = key
        self.kid = key.kid
        self.public_jwk = issuer_public_jwk(key.public)
        self.issuer = issuer
        self.audience = audience
        self.max_ttl = max_ttl

    @classmethod
    def create(cls, data_dir: Path, passphrase: bytes) -> Path:
        """Generate the issuer key in `data_dir` (refusing to overwrite one); return its path.

        An unencrypted key left by an older cix (`token-issuer.jwk`) is encrypted instead of
        replaced, so the same key keeps signing, and the plaintext file is removed.
        """
        legacy = data_dir / LEGACY_ISSUER_JWK
        if legacy.exists():
            try:
                seed = _b64url_decode(json.loads(legacy.read_text(encoding="utf-8"))["d"])
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{legacy}: not a valid Ed25519 JWK ({exc})") from None
            key = signing_from_raw(SignatureAlgorithm.ED25519, seed)
        else:
            key = generate_signing(SignatureAlgorithm.ED25519)
        path = data_dir / ISSUER_KEY_FILE
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_signing_key(path, data_dir / ISSUER_PUBLIC_FILE, key, passphrase)
        if legacy.exists():
            legacy.unlink()
        return path

    @classmethod
    def load(cls, settings: Settings, passphrase: bytes) -> TokenIssuer:
        """The issuer of the node whose settings are given; InputError if it has no key."""
        load_issuer_public(settings.data_dir)  # names an unencrypted legacy key
        key = load_signing_key(settings.data_dir / ISSUER_KEY_FILE, passphrase)
        return cls(
            key, settings.token_issuer, settings.token_audience, settings.token_max_ttl_seconds
        )

    def issue(self, subject: str, *, ttl: int, now: datetime) -> str:
        """A signed bearer token for `subject`, valid from `now` for `ttl` seconds."""
        if not 1 <= ttl <= self.max_ttl:
            raise InputError(f"ttl {ttl} is outside 1..{self.max_ttl} seconds")
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.audience,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=ttl)).timestamp()),
            "jti": secrets.token_hex(16),
        }
        # RFC 7515 compact serialisation, RFC 8037 EdDSA: the key never leaves cix.keys.
        header = {"alg": "EdDSA", "kid": self.kid, "typ": "JWT"}
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        return signing_input + "." + _b64url(self._key.sign(signing_input.encode("ascii")))

    def jwks(self) -> dict[str, Any]:
        """The public JWKS to serve at `/.well-known/jwks.json`."""
        return {"keys": [dict(self.public_jwk)]}


class TokenVerifier:
    """Verifies bearer JWTs: signature by the issuer's JWKS, issuer, audience, time window."""

    def __init__(self, settings: Settings, local_jwk: Mapping[str, str] | None) -> None:
        self.settings = settings
        self._local = dict(local_jwk) if local_jwk is not None else None
        self._client: jwt.PyJWKClient | None = None
        if not settings.uses_builtin_issuer:
            self._client = jwt.PyJWKClient(
                settings.token_jwks_url,
                cache_jwk_set=settings.jwks_cache_seconds > 0,
                lifespan=max(settings.jwks_cache_seconds, 1),
                cooldown_duration=settings.jwks_refresh_cooldown_seconds,
                timeout=10,
            )
        elif local_jwk is None:
            raise InputError("the built-in issuer is configured but its public key was not loaded")

    def _signing_key(self, token: str) -> Any:
        if self._client is not None:
            try:
                return self._client.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientError as exc:
                raise Unauthenticated(f"jwks: {exc}") from None
        assert self._local is not None
        header = jwt.get_unverified_header(token)
        if header.get("kid") != self._local["kid"]:
            raise Unauthenticated("unknown kid")
        return OKPAlgorithm.from_jwk(self._local)

    def jwks(self) -> dict[str, Any]:
        """The built-in issuer's public JWKS (served at `/.well-known/jwks.json`); NotFound
        when tokens come from an external issuer."""
        if self._local is None:
            raise NotFound("this node uses an external token issuer")
        return {"keys": [dict(self._local)]}

    def verify(self, token: str, now: datetime) -> str:
        """The `sub` of a valid token; raises `Unauthenticated` (reason in the message) if not."""
        s = self.settings
        try:
            key = self._signing_key(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=list(s.token_algorithms),
                audience=s.token_audience,
                issuer=s.token_issuer,
                options={
                    "require": ["exp", "iat", "sub", "iss", "aud"],
                    # Times are checked below against the `now` we were given.
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"token: {type(exc).__name__}") from None
        t = now.timestamp()
        leeway = s.token_leeway_seconds
        exp, iat, nbf = (claims.get(k, claims.get("iat")) for k in ("exp", "iat", "nbf"))
        if not (
            isinstance(exp, int | float)
            and isinstance(iat, int | float)
            and isinstance(nbf, int | float)
        ):
            raise Unauthenticated("token: non-numeric time claim")
        if t > exp + leeway:
            raise Unauthenticated("token: expired")
        if t + leeway < nbf or t + leeway < iat:
            raise Unauthenticated("token: not yet valid")
        if exp - iat > s.token_max_ttl_seconds:
            raise Unauthenticated("token: lifetime longer than token_max_ttl_seconds")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise Unauthenticated("token: empty subject")
        return sub


def new_api_token() -> tuple[str, str, str]:
    """A fresh API token: (token shown once, its id, the SHA-256 hex to store)."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, secrets.token_hex(8), hash_api_token(token)


def hash_api_token(token: str) -> str:
    """The stored form of an API token: SHA-256 hex (tokens are 256-bit random)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiTokens:
    """API tokens of the registry's people, stored hashed."""

    def __init__(self, db: Database, audit: AuditSink) -> None:
        self.db = db
        self.audit = audit

    def create(self, actor: Actor, name: str, *, ttl: int, now: datetime) -> tuple[str, ApiToken]:
        """A new token for `actor` itself: (the token, shown once; its stored row)."""
        if not name.strip() or len(name) > 100:
            raise InputError("token name must be 1 to 100 characters")
        if not 60 <= ttl <= 366 * 86400:
            raise InputError(f"ttl {ttl} is outside 60..{366 * 86400} seconds")
        token, token_id, digest = new_api_token()
        row = ApiToken(
            id=token_id,
            person_id=actor.id,
            token_hash=digest,
            name=name.strip(),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
            revoked_at=None,
        )
        with self.db.write() as session:
            session.add(row)
            session.flush()
            self.audit.append(
                AuditEvent(
                    type="credential.api-token",
                    actor=actor.id,
                    object=f"api-token:{token_id}",
                    action="create",
                    decision="permit",
                    time=now,
                    details={"name": row.name, "expires_at": row.expires_at.isoformat()},
                )
            )
        return token, row

    def authenticate(self, token: str, now: datetime) -> str:
        """The person id an API token belongs to; `Unauthenticated` if unknown/expired/revoked."""
        digest = hash_api_token(token)
        with self.db.read() as session:
            row = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).first()
            if row is None:
                raise Unauthenticated("api token: unknown")
            if row.revoked_at is not None:
                raise Unauthenticated("api token: revoked")
            if row.expires_at <= now:
                raise Unauthenticated("api token: expired")
            return row.person_id

    def revoke(self, actor: Actor, token_id: str, now: datetime) -> None:
        """Revoke one of the actor's own tokens (administrators: anyone's)."""
        with self.db.write() as session:
            row = session.get(ApiToken, token_id)
            if row is None or (row.person_id != actor.id and not actor.has(Role.ADMINISTRATOR)):
                raise NotFound(f"no api token {token_id!r}")
            row.revoked_at = now
            self.audit.append(
                AuditEvent(
                    type="credential.api-token",
                    actor=actor.id,
                    object=f"api-token:{token_id}",
                    action="revoke",
                    decision="permit",
                    time=now,
                    details={"person": row.person_id},
                )
            )
