"""Credentials: the built-in OIDC-style token issuer, bearer token verification, API tokens.

Bearer tokens are JWTs (RFC 7519) verified against the configured issuer's JWKS: the
built-in issuer's key lives in the data directory (`keys/token-issuer.jwk`, mode 0600,
Ed25519) and its public half is served at `/.well-known/jwks.json`; an external OIDC
provider is configured by `token_issuer` and `token_jwks_url`. The token names the person
(`sub`); roles and clearances come from the registry on every request, never from the token.

API tokens (for the CLI) are 256-bit random strings prefixed `cix_`; only their SHA-256 is
stored, so a database leak does not leak usable tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from jwt.algorithms import OKPAlgorithm
from sqlalchemy import select

from cix.errors import InputError
from cix.node.auditing import AuditEvent, AuditSink
from cix.node.errors import NotFound, Unauthenticated
from cix.node.roles import Actor, Role
from cix.settings import Settings
from cix.store.db import Database
from cix.store.models import ApiToken

ISSUER_KEY_FILE = Path("keys") / "token-issuer.jwk"
API_TOKEN_PREFIX = "cix_"  # noqa: S105 - a prefix, not a secret
# RFC 8410 section 7: the PKCS#8 DER prefix of an Ed25519 private key, then the 32-byte seed.
_ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _new_ed25519_jwk() -> dict[str, str]:
    seed = secrets.token_bytes(32)
    der = _ED25519_PKCS8_PREFIX + seed
    pem = (
        b"-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(der) + b"-----END PRIVATE KEY-----\n"
    )
    key = OKPAlgorithm().prepare_key(pem)
    private = json.loads(OKPAlgorithm.to_jwk(key))
    public = json.loads(OKPAlgorithm.to_jwk(key.public_key()))  # type: ignore[union-attr]
    kid = hashlib.sha256(public["x"].encode()).hexdigest()[:16]
    return {"kty": "OKP", "crv": "Ed25519", "x": public["x"], "d": private["d"], "kid": kid}


class TokenIssuer:
    """The built-in issuer: an Ed25519 key in the data directory that signs bearer tokens."""

    def __init__(self, jwk: Mapping[str, str], issuer: str, audience: str, max_ttl: int) -> None:
        key = OKPAlgorithm.from_jwk(dict(jwk))
        if not hasattr(key, "sign"):
            raise jwt.InvalidKeyError("the issuer JWK holds no private key")
        self._key: Any = key
        self.kid = jwk["kid"]
        self.public_jwk = {k: jwk[k] for k in ("kty", "crv", "x", "kid")} | {
            "alg": "EdDSA",
            "use": "sig",
        }
        self.issuer = issuer
        self.audience = audience
        self.max_ttl = max_ttl

    @classmethod
    def create(cls, data_dir: Path) -> Path:
        """Generate the issuer key in `data_dir` (refusing to overwrite one); return its path."""
        path = data_dir / ISSUER_KEY_FILE
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        jwk = _new_ed25519_jwk()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(jwk, handle)
            handle.flush()
            os.fsync(handle.fileno())
        return path

    @classmethod
    def load(cls, settings: Settings) -> TokenIssuer:
        """The issuer of the node whose settings are given; InputError if it has no key."""
        path = settings.data_dir / ISSUER_KEY_FILE
        try:
            jwk = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                jwk, settings.token_issuer, settings.token_audience, settings.token_max_ttl_seconds
            )
        except FileNotFoundError:
            raise InputError(f"{path}: no token issuer key (run `cix init`)") from None
        except (ValueError, KeyError, jwt.InvalidKeyError) as exc:
            raise InputError(f"{path}: not a valid Ed25519 JWK ({type(exc).__name__})") from None

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
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        """The public JWKS to serve at `/.well-known/jwks.json`."""
        return {"keys": [dict(self.public_jwk)]}


class TokenVerifier:
    """Verifies bearer JWTs: signature by the issuer's JWKS, issuer, audience, time window."""

    def __init__(self, settings: Settings, issuer: TokenIssuer | None) -> None:
        self.settings = settings
        self._local = issuer
        self._client: jwt.PyJWKClient | None = None
        if not settings.uses_builtin_issuer:
            self._client = jwt.PyJWKClient(
                settings.token_jwks_url,
                cache_jwk_set=settings.jwks_cache_seconds > 0,
                lifespan=max(settings.jwks_cache_seconds, 1),
                cooldown_duration=settings.jwks_refresh_cooldown_seconds,
                timeout=10,
            )
        elif issuer is None:
            raise InputError("the built-in issuer is configured but its key was not loaded")

    def _signing_key(self, token: str) -> Any:
        if self._client is not None:
            try:
                return self._client.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientError as exc:
                raise Unauthenticated(f"jwks: {exc}") from None
        assert self._local is not None
        header = jwt.get_unverified_header(token)
        if header.get("kid") != self._local.kid:
            raise Unauthenticated("unknown kid")
        return OKPAlgorithm.from_jwk(dict(self._local.public_jwk))

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
