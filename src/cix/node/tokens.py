"""Credentials: the built-in OIDC-style token issuer, bearer token verification, API tokens.

Bearer tokens are JWTs (RFC 7519) verified against the configured issuer's JWKS: the
built-in issuer's Ed25519 key lives in the data directory, encrypted under the node's
passphrase like every node key (`keys/token-issuer.key`), and its public half
(`keys/token-issuer.pub`) is served at `/.well-known/jwks.json`; an external OIDC
provider is configured by `token_issuer` and `token_jwks_url`. The token names the person
(`sub`); roles and clearances come from the registry on every request, never from the token.

API tokens (for the CLI) are 256-bit random strings prefixed `cix_`; only their SHA-256 is
stored, so a database leak does not leak usable tokens.

Both are checked on every request, so both are cached (`cix.node.cache`): a verified JWT's
claims per token string until its `exp` (and, with an external issuer, no longer than the
JWKS cache lifetime), the time window re-checked against each request's `now`; an API
token's row per digest until the next database write (a revocation is one).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from jwt.algorithms import OKPAlgorithm
from pydantic import BaseModel
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
from cix.node.auditing import AuditSink
from cix.node.cache import GenerationCache, LruCache
from cix.node.errors import NotFound, Unauthenticated
from cix.node.refusals import Refusals
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


@dataclass(frozen=True, slots=True)
class Credential:
    """A verified credential: whom it names, until when it is valid, which API token it is.

    What a request authenticated with mints can live no longer than `expires_at`, and a
    token minted by an API token (`token_id`) is revoked with it.
    """

    person_id: str
    expires_at: datetime
    token_id: str | None = None


@dataclass(frozen=True, slots=True)
class _Claims:
    """What a verified JWT says that matters after its signature: subject and times."""

    sub: str
    exp: float
    iat: float
    nbf: float
    verified_at: float
    credential: Credential


class TokenVerifier:
    """Verifies bearer JWTs: signature by the issuer's JWKS, issuer, audience, time window.

    A token whose signature, issuer and audience verified is remembered (at most
    `cache_size` of them) with its claims; the time window is checked on every call.
    """

    def __init__(
        self, settings: Settings, local_jwk: Mapping[str, str] | None, *, cache_size: int = 4096
    ) -> None:
        self.settings = settings
        self._local = dict(local_jwk) if local_jwk is not None else None
        self._verified: LruCache[str, _Claims] = LruCache(cache_size)
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
        return self.verify_credential(token, now).person_id

    def verify_credential(self, token: str, now: datetime) -> Credential:
        """`verify`, with the token's expiry: what it mints must not outlive it."""
        t = now.timestamp()
        claims = self._verified.get(token)
        if claims is None or not self._reusable(claims, t):
            claims = self._verify_signed(token, t)
        self._check_times(claims, t)
        self._verified.put(token, claims)
        return claims.credential

    def cached(self, token: str, now: datetime) -> Credential | None:
        """`verify_credential` from the cache only: None where the signature must be checked."""
        t = now.timestamp()
        claims = self._verified.get(token)
        if claims is None or not self._reusable(claims, t):
            return None
        self._check_times(claims, t)
        return claims.credential

    def _reusable(self, claims: _Claims, t: float) -> bool:
        # Past its `exp` a token is refused anyway (and dropped below); with an external
        # issuer, a key withdrawn from its JWKS must stop verifying once the JWKS cache
        # would have been refreshed, so a verification is reused no longer than that.
        if self._client is not None and t - claims.verified_at > self.settings.jwks_cache_seconds:
            return False
        return t <= claims.exp + self.settings.token_leeway_seconds

    def _verify_signed(self, token: str, t: float) -> _Claims:
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
        exp, iat, nbf = (claims.get(k, claims.get("iat")) for k in ("exp", "iat", "nbf"))
        if not (
            isinstance(exp, int | float)
            and isinstance(iat, int | float)
            and isinstance(nbf, int | float)
        ):
            raise Unauthenticated("token: non-numeric time claim")
        if exp - iat > s.token_max_ttl_seconds:
            raise Unauthenticated("token: lifetime longer than token_max_ttl_seconds")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise Unauthenticated("token: empty subject")
        try:
            credential = Credential(sub, datetime.fromtimestamp(exp, UTC))
        except (OverflowError, ValueError, OSError):
            raise Unauthenticated("token: time claim out of range") from None
        return _Claims(sub=sub, exp=exp, iat=iat, nbf=nbf, verified_at=t, credential=credential)

    def _check_times(self, claims: _Claims, t: float) -> None:
        leeway = self.settings.token_leeway_seconds
        if t > claims.exp + leeway:
            raise Unauthenticated("token: expired")
        if t + leeway < claims.nbf or t + leeway < claims.iat:
            raise Unauthenticated("token: not yet valid")


def new_api_token() -> tuple[str, str, str]:
    """A fresh API token: (token shown once, its id, the SHA-256 hex to store)."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, secrets.token_hex(8), hash_api_token(token)


def hash_api_token(token: str) -> str:
    """The stored form of an API token: SHA-256 hex (tokens are 256-bit random)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class _TokenRow:
    token_id: str
    person_id: str
    expires_at: datetime
    revoked: bool


API_TOKEN_EVENT = "credential.api-token"  # noqa: S105 - an audit event type


def _minted_by(credential: Credential | None) -> str:
    if credential is None:
        return "node"
    return "bearer-token" if credential.token_id is None else "api-token"


class ApiTokenInfo(BaseModel):
    """An API token as listed: never the token itself, nor its digest."""

    id: str
    person: str
    name: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    parent: str | None

    @classmethod
    def of(cls, row: ApiToken) -> ApiTokenInfo:
        """The listing form of a stored token."""
        return cls(
            id=row.id,
            person=row.person_id,
            name=row.name,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            parent=row.parent_id,
        )


class ApiTokens:
    """API tokens of the registry's people, stored hashed.

    A token minted by a request lives no longer than the credential the request presented
    (a bearer JWT's `exp`, a parent token's expiry) nor than `max_ttl` seconds; a token
    minted by an API token records it as its parent, and revoking a token revokes every
    token minted from it, transitively. Rows are cached by digest (at most `cache_size`)
    until the next database write.
    """

    def __init__(
        self,
        db: Database,
        audit: AuditSink,
        *,
        max_ttl: int = 366 * 86400,
        cache_size: int = 4096,
    ) -> None:
        self.db = db
        self.audit = audit
        self.max_ttl = max_ttl
        self._rows: GenerationCache[str, _TokenRow] = GenerationCache(cache_size)

    def _audit(
        self,
        actor: Actor,
        token_id: str,
        action: str,
        now: datetime,
        details: dict[str, Any],
        *,
        decision: str = "permit",
        reasons: tuple[str, ...] = (),
    ) -> None:
        # A token service is given each call's time, so its decisions are recorded at it.
        Refusals(self.audit, lambda: now).record(
            actor,
            API_TOKEN_EVENT,
            f"api-token:{token_id}",
            action,
            decision=decision,
            reasons=reasons,
            details=details,
        )

    def create(
        self,
        actor: Actor,
        name: str,
        *,
        ttl: int,
        now: datetime,
        minted_by: Credential | None = None,
    ) -> tuple[str, ApiToken]:
        """A new token for `actor` itself: (the token, shown once; its stored row).

        `minted_by` is the credential the request came with: the new token expires no later
        than it does, and is its child when it is an API token. A `ttl` above `max_ttl` is
        an InputError naming the setting.
        """
        if not name.strip() or len(name) > 100:
            raise InputError("token name must be 1 to 100 characters")
        if not 60 <= ttl <= self.max_ttl:
            raise InputError(
                f"ttl {ttl} is outside 60..{self.max_ttl} seconds (api_token_max_ttl_seconds)"
            )
        expires_at = now + timedelta(seconds=ttl)
        parent_id = None
        if minted_by is not None:
            if minted_by.person_id != actor.id:
                raise InputError("a credential mints tokens only for the person it names")
            expires_at = min(expires_at, minted_by.expires_at)
            parent_id = minted_by.token_id
        if expires_at <= now:
            raise InputError("the credential presented expires now: it cannot mint a token")
        token, token_id, digest = new_api_token()
        row = ApiToken(
            id=token_id,
            person_id=actor.id,
            token_hash=digest,
            name=name.strip(),
            created_at=now,
            expires_at=expires_at,
            revoked_at=None,
            parent_id=parent_id,
        )
        with self.db.write() as session:
            if parent_id is not None:
                parent = session.get(ApiToken, parent_id)
                if parent is None or parent.revoked_at is not None:
                    raise Unauthenticated("api token: revoked")
            session.add(row)
            session.flush()
            self._audit(
                actor,
                token_id,
                "create",
                now,
                {
                    "name": row.name,
                    "ttl": ttl,
                    "expires_at": expires_at.isoformat(),
                    "parent": parent_id,
                    "minted_by": _minted_by(minted_by),
                },
            )
        return token, row

    def authenticate(self, token: str, now: datetime) -> str:
        """The person id an API token belongs to; `Unauthenticated` if unknown/expired/revoked."""
        return self.authenticate_credential(token, now).person_id

    def authenticate_credential(self, token: str, now: datetime) -> Credential:
        """`authenticate`, with the token's id and expiry."""
        digest = hash_api_token(token)
        generation = self.db.generation
        row = self._rows.get(digest, generation)
        if row is None:
            row = self._read(digest)
            self._rows.put(digest, generation, row)
        return self._valid(row, now)

    def cached(self, token: str, now: datetime) -> Credential | None:
        """`authenticate_credential` from the cache only: None where it would need the
        database."""
        row = self._rows.get(hash_api_token(token), self.db.generation)
        return None if row is None else self._valid(row, now)

    @staticmethod
    def _valid(row: _TokenRow, now: datetime) -> Credential:
        if row.revoked:
            raise Unauthenticated("api token: revoked")
        if row.expires_at <= now:
            raise Unauthenticated("api token: expired")
        return Credential(row.person_id, row.expires_at, row.token_id)

    def _read(self, digest: str) -> _TokenRow:
        with self.db.read() as session:
            found = session.execute(
                select(
                    ApiToken.id, ApiToken.person_id, ApiToken.expires_at, ApiToken.revoked_at
                ).where(ApiToken.token_hash == digest)
            ).first()
        if found is None:
            raise Unauthenticated("api token: unknown")
        token_id, person_id, expires_at, revoked_at = found
        return _TokenRow(token_id, person_id, expires_at, revoked_at is not None)

    def listing(self, actor: Actor) -> list[ApiTokenInfo]:
        """The actor's own tokens (an administrator's: everyone's), newest first: never a
        token, nor its digest."""
        with self.db.read() as session:
            query = select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id)
            if not actor.has(Role.ADMINISTRATOR):
                query = query.where(ApiToken.person_id == actor.id)
            return [ApiTokenInfo.of(row) for row in session.scalars(query)]

    def revoke(self, actor: Actor, token_id: str, now: datetime) -> list[str]:
        """Revoke one of the actor's own tokens (administrators: anyone's) and every token
        minted from it, transitively; the ids revoked, the named one first."""
        with self.db.write() as session:
            row = session.get(ApiToken, token_id)
            if row is None or (row.person_id != actor.id and not actor.has(Role.ADMINISTRATOR)):
                self._audit(
                    actor, token_id, "revoke", now, {}, decision="deny", reasons=("not-found",)
                )
                raise NotFound(f"no api token {token_id!r}")
            revoked: list[str] = []
            pending = [row]
            while pending:
                current = pending.pop()
                if current.revoked_at is None:
                    current.revoked_at = now
                    revoked.append(current.id)
                    self._audit(
                        actor,
                        current.id,
                        "revoke",
                        now,
                        {
                            "person": current.person_id,
                            "because": None if current is row else f"api-token:{token_id}",
                        },
                    )
                pending.extend(
                    session.scalars(select(ApiToken).where(ApiToken.parent_id == current.id))
                )
            return revoked
