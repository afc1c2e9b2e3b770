"""Server-side sessions of the web interface: begun at sign-in, ended by sign-out or timeout.

The browser holds a random 256-bit secret in a cookie; the database holds only its SHA-256
(`web_sessions`), so a database leak yields no usable session, and every worker process of a
node sees the same sessions. A session ends at the first of: its idle timeout
(`web_session_idle_seconds` without a request), its absolute timeout
(`web_session_absolute_seconds` after sign-in), the expiry of the credential it was signed in
with, the revocation of that credential (an API token), the deactivation of the person. Each
session carries its own CSRF token, which every state-changing request must present.

The last-seen time is written at most once per `touch_interval` (a write moves the database
generation, which empties every read cache): the idle timeout is exact to that interval.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from cix.node.auditing import AuditRecord, AuditSink
from cix.node.errors import Unauthenticated
from cix.node.tokens import Credential
from cix.store.db import Database
from cix.store.models import ApiToken, WebSession


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionView:
    """What a request learns of its session: who, the CSRF token to check, the language."""

    person_id: str
    csrf_token: str
    language: str
    expires_at: datetime
    idle_until: datetime

    def csrf_matches(self, presented: str | None) -> bool:
        """Whether `presented` is this session's CSRF token (compared in constant time)."""
        if not presented:
            return False
        return hmac.compare_digest(presented.encode("utf-8"), self.csrf_token.encode("utf-8"))


class WebSessions:
    """Begin, resume and end web sessions (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        audit: AuditSink,
        *,
        idle_seconds: int,
        absolute_seconds: int,
    ) -> None:
        self.db = db
        self.audit = audit
        self.idle = timedelta(seconds=idle_seconds)
        self.absolute = timedelta(seconds=absolute_seconds)
        self.touch_interval = min(timedelta(seconds=60), self.idle / 10)

    def _audit(self, person: str, action: str, session_id: str, now: datetime,
               reason: str | None = None) -> None:  # fmt: skip
        self.audit.append(
            AuditRecord(
                type="session",
                actor=person,
                object=f"web-session:{session_id[:16]}",
                action=action,
                decision="permit",
                time=now,
                details={"reason": reason} if reason else {},
            )
        )

    def begin(
        self, credential: Credential, language: str, now: datetime
    ) -> tuple[str, SessionView]:
        """A new session for the person a verified `credential` names: the cookie secret
        (shown once) and the session. It lives no longer than the credential."""
        secret = secrets.token_urlsafe(32)
        row = WebSession(
            id=_digest(secret),
            person_id=credential.person_id,
            csrf_token=secrets.token_urlsafe(32),
            language=language,
            token_id=credential.token_id,
            created_at=now,
            last_seen_at=now,
            expires_at=min(now + self.absolute, credential.expires_at),
        )
        with self.db.write() as session:
            session.add(row)
        self._audit(credential.person_id, "sign-in", row.id, now)
        return secret, self._view(row)

    def _view(self, row: WebSession) -> SessionView:
        return SessionView(
            person_id=row.person_id,
            csrf_token=row.csrf_token,
            language=row.language,
            expires_at=row.expires_at,
            idle_until=row.last_seen_at + self.idle,
        )

    def resume(self, secret: str, now: datetime) -> SessionView:
        """The live session whose cookie is `secret`, its idle time restarted; raises
        `Unauthenticated` (the reason in the message) for an unknown or ended one, which is
        then forgotten."""
        if not secret or len(secret) > 128:
            raise Unauthenticated("session: none")
        digest = _digest(secret)
        with self.db.read() as session:
            found = session.execute(
                select(WebSession, ApiToken.revoked_at)
                .outerjoin(ApiToken, ApiToken.id == WebSession.token_id)
                .where(WebSession.id == digest)
            ).first()
        if found is None:
            raise Unauthenticated("session: unknown")
        row, token_revoked = found
        reason = None
        if now >= row.expires_at:
            reason = "absolute timeout"
        elif now >= row.last_seen_at + self.idle:
            reason = "idle timeout"
        elif token_revoked is not None:
            reason = "credential revoked"
        if reason is not None:
            self._forget(digest)
            self._audit(row.person_id, "expire", digest, now, reason)
            raise Unauthenticated(f"session: {reason}")
        if now - row.last_seen_at >= self.touch_interval:
            with self.db.write() as session:
                stored = session.get(WebSession, digest)
                if stored is not None:
                    stored.last_seen_at = now
                    row.last_seen_at = now
        return self._view(row)

    def _forget(self, digest: str) -> None:
        with self.db.write() as session:
            session.execute(delete(WebSession).where(WebSession.id == digest))

    def end(self, secret: str, now: datetime) -> None:
        """Sign out: forget the session whose cookie is `secret` (nothing if unknown)."""
        digest = _digest(secret)
        with self.db.read() as session:
            row = session.get(WebSession, digest)
            person = None if row is None else row.person_id
        if person is None:
            return
        self._forget(digest)
        self._audit(person, "sign-out", digest, now)

    def set_language(self, secret: str, language: str) -> None:
        """Remember the language the session's pages are marked in."""
        with self.db.write() as session:
            row = session.get(WebSession, _digest(secret))
            if row is not None:
                row.language = language

    def purge(self, now: datetime) -> int:
        """Forget every session past its absolute timeout; how many were forgotten."""
        with self.db.write() as session:
            result = session.execute(delete(WebSession).where(WebSession.expires_at <= now))
            return int(getattr(result, "rowcount", 0) or 0)
