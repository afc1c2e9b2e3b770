"""The node's pinned peers: which other nations' nodes it federates with, under which
agreements, and with which keys.

Pinning a peer is the node operator's act, done out of band: the two operators exchange
signed identity documents (`cix node identity`), compare their fingerprints over a second
channel (by phone), and each pins the other's (`cix peer add --dir`). That is why no API
route adds or removes a peer: a bearer token, however privileged, proves nothing about the
phone call, and a route that could pin keys would let whoever steals one token make this
node trust a node of their choosing. The actor is the local operator (`local_operator`),
at the data directory, as for `cix init`.

`add` verifies the document and refuses, audited with a reason code and naming what was
wrong (an `InputError`, nothing changed): an agreement this node does not hold; one the
peer's identity does not list; a peer whose party is not a party of it, or is this node's
own party; this node's own node id; a node id already pinned with other keys (remove it
first); a second node of the same party under the same agreement (`for_party` must have
one answer); a TLS certificate that is not the one the identity's fingerprint names.
Re-adding the same identity (same party and keys) under another agreement extends its
agreements.
"""

from __future__ import annotations

import builtins
import functools
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from cix.agreements import bundled_registry
from cix.audit import load_verifier
from cix.errors import InputError
from cix.federation import (
    IdentityInvalid,
    NodeIdentity,
    PinnedPeer,
    SignedIdentity,
    identity_from_json,
    read_identity,
    sign_identity,
)
from cix.keys import (
    KEM_PUBLIC,
    SIGN_PUBLIC,
    TLS_CERT,
    TLS_KEY,
    CertificateInvalid,
    TlsFiles,
    certificate_fingerprint,
    certificate_pem,
    generate_tls_certificate,
    load_kem_public,
    load_verify_key,
)
from cix.node.auditing import AuditRecord, AuditSink, audited_write
from cix.node.errors import KeysLocked, NotFound
from cix.node.keyring import AUDIT_KEY, KEYS_DIR, NodeKeys
from cix.node.roles import Actor, Role
from cix.settings import Settings
from cix.store.db import Database
from cix.store.models import PeerRow

EVENT = "federation.peer"


class PeerRefused(InputError):
    """The operator asked to pin (or remove) a peer this node will not: `reason` is the code
    audited, the message names what was wrong and what to do."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class PeerInfo:
    """One pinned peer as the operator sees it (`cix peer list`)."""

    node_id: str
    party: str
    url: str
    agreements: tuple[str, ...]
    fingerprint: str
    tls_fingerprint: str | None
    has_tls_cert: bool
    added_by: str
    added_at: datetime

    def to_json(self) -> dict[str, object]:
        """The peer as a JSON object (stable keys)."""
        return {
            "node_id": self.node_id,
            "party": self.party,
            "url": self.url,
            "agreements": list(self.agreements),
            "fingerprint": self.fingerprint,
            "tls_fingerprint": self.tls_fingerprint,
            "tls_cert": self.has_tls_cert,
            "added_by": self.added_by,
            "added_at": self.added_at.isoformat(),
        }


def local_operator(name: str) -> Actor:
    """The person at the node's console (`cix ... --dir`), named as the OS knows them: the
    actor of what only the operator may do (pinning peers)."""
    return Actor(
        id=f"operator:{name}"[:64],
        roles=frozenset({Role.ADMINISTRATOR}),
        organisation_id="",
        organisation_kind="government",
        party="",
    )


def _in_data_dir(settings: Settings, value: str, default: Path) -> Path:
    if not value:
        return settings.data_dir / default
    path = Path(value)
    return path if path.is_absolute() else settings.data_dir / path


def tls_files(settings: Settings) -> TlsFiles:
    """Where this node's TLS key and certificate are (settings `tls_key`, `tls_cert`, or
    `keys/tls.key`, `keys/tls.crt` in the data directory); they may not exist."""
    return TlsFiles(
        key=_in_data_dir(settings, settings.tls_key, KEYS_DIR / TLS_KEY),
        cert=_in_data_dir(settings, settings.tls_cert, KEYS_DIR / TLS_CERT),
    )


def create_tls_files(settings: Settings, *, now: datetime) -> bool:
    """Give the node a TLS key and self-signed certificate where `tls_files` says, unless
    the certificate exists; True if they were created. Half a pair is refused (say which)."""
    files = tls_files(settings)
    if files.cert.exists() and files.key.exists():
        return False
    if files.cert.exists() or files.key.exists():
        half = files.cert if files.cert.exists() else files.key
        raise InputError(f"{half}: exists without its other half; remove it or complete it")
    generate_tls_certificate(files, node_id=settings.node_id, now=now)
    return True


PEER_BUNDLE = KEYS_DIR / "peers.pem"
"""The pinned peers' TLS certificates, one PEM file: the CA list `cix serve` requires a
client certificate from when `federation_mtls` is on (rewritten at every add and remove)."""


def own_url(settings: Settings) -> str:
    """The URL peers reach this node at: `federation_url`, or http(s)://host:port."""
    if settings.federation_url:
        return settings.federation_url.rstrip("/")
    scheme = "https" if settings.federation_mtls else "http"
    return f"{scheme}://{settings.host}:{settings.port}"


@functools.lru_cache(maxsize=256)
@functools.lru_cache(maxsize=256)
def _stored_identity(document: str) -> NodeIdentity:
    # The stored document's self-signature was verified when it was pinned; reading it per
    # message parses it (cached by its text: a changed document is a new entry).
    return identity_from_json(json.loads(document)["identity"])


def _same_keys(a: NodeIdentity, b: NodeIdentity) -> bool:
    return (
        a.party == b.party
        and a.signing_key.public_bytes == b.signing_key.public_bytes
        and a.signing_key.algorithm == b.signing_key.algorithm
        and a.kem_key.public_bytes == b.kem_key.public_bytes
        and a.kem_key.algorithm == b.kem_key.algorithm
        and a.audit_key.vkey() == b.audit_key.vkey()
        and a.tls_fingerprint == b.tls_fingerprint
    )


class Peers:
    """The peers this node has pinned (table `peers`), and its own identity."""

    def __init__(
        self,
        db: Database,
        audit: AuditSink,
        *,
        settings: Settings,
        keys: NodeKeys | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.audit = audit
        self.settings = settings
        self.keys = keys
        self.clock = clock
        registry = bundled_registry()
        self._agreements = {a: registry.get(a) for a in settings.agreements}

    # -- this node ---------------------------------------------------------------------

    def own_tls_fingerprint(self) -> str | None:
        """The SHA-256 fingerprint of this node's TLS certificate, if it has one."""
        cert = tls_files(self.settings).cert
        if not cert.exists():
            if self.settings.tls_cert:
                raise InputError(f"tls_cert: {cert} does not exist")
            return None
        try:
            return certificate_fingerprint(cert.read_bytes())
        except CertificateInvalid as exc:
            raise InputError(f"tls_cert: {cert}: {exc}") from None

    def own_identity(self) -> NodeIdentity:
        """This node's public identity: party, node id, URL, agreements, its signing, KEM
        and audit-log keys (the unlocked keys, else the public key files) and TLS
        certificate fingerprint."""
        settings = self.settings
        if self.keys is not None:
            signing, kem = self.keys.verify_key, self.keys.kem_public
            audit_key = self.keys.audit_signer.verifier
        else:
            directory = settings.data_dir / KEYS_DIR
            signing = load_verify_key(directory / SIGN_PUBLIC)
            kem = load_kem_public(directory / KEM_PUBLIC)
            audit_key = load_verifier(str(directory / (AUDIT_KEY + ".pub")))
        return NodeIdentity(
            party=settings.party,
            node_id=settings.node_id,
            url=own_url(settings),
            agreements=tuple(sorted(settings.agreements)),
            signing_key=signing,
            kem_key=kem,
            audit_key=audit_key,
            tls_fingerprint=self.own_tls_fingerprint(),
        )

    def own_identity_document(self) -> str:
        """This node's identity document, signed by its signing key (needs the keys)."""
        if self.keys is None:
            raise KeysLocked("the node's keys are locked: set CIX_PASSPHRASE to sign")
        return sign_identity(self.own_identity(), self.keys.signing)

    # -- pinning -----------------------------------------------------------------------

    def _refuse(
        self, actor: Actor, node_id: str, action: str, reason: str, message: str, **details: str
    ) -> PeerRefused:
        self.audit.append(
            AuditRecord(
                type=EVENT,
                actor=actor.id,
                object=f"peer:{node_id or '?'}",
                action=action,
                decision="deny",
                time=self.clock(),
                reasons=(reason,),
                details=details,
            )
        )
        return PeerRefused(reason, message)

    def _require_operator(self, actor: Actor, node_id: str, action: str) -> None:
        if not actor.has(Role.ADMINISTRATOR):
            raise self._refuse(
                actor, node_id, action, "role-required:administrator", "only the operator"
            )

    def add(
        self,
        actor: Actor,
        identity_text: str,
        *,
        agreement: str,
        url: str | None = None,
        tls_cert: str | None = None,
    ) -> PeerInfo:
        """Pin the peer of the signed `identity_text` under `agreement` (see the module
        docstring for what is refused); `url` overrides the identity's URL, `tls_cert` is
        the peer's TLS certificate (PEM), checked against the identity's fingerprint.
        Audited (who, which peer, its fingerprint)."""
        self._require_operator(actor, "", "add")
        try:
            signed = read_identity(identity_text)
        except IdentityInvalid as exc:
            raise self._refuse(actor, "", "add", "identity-invalid", str(exc)) from None
        peer = signed.identity
        details = {"party": peer.party, "agreement": agreement, "fingerprint": peer.fingerprint}

        def refuse(reason: str, message: str) -> PeerRefused:
            return self._refuse(actor, peer.node_id, "add", reason, message, **details)

        held = self._agreements.get(agreement)
        if held is None:
            raise refuse(
                "agreement-not-held",
                f"this node does not hold agreement {agreement!r} "
                f"(it holds: {', '.join(sorted(self._agreements)) or 'none'})",
            )
        if agreement not in peer.agreements:
            raise refuse(
                "agreement-not-in-identity",
                f"the identity of {peer.node_id} does not list agreement {agreement!r} "
                f"(it lists: {', '.join(peer.agreements) or 'none'})",
            )
        if peer.party not in held.parties:
            raise refuse(
                "party-not-in-agreement",
                f"{peer.node_id} serves {peer.party}, not a party of {agreement} "
                f"({', '.join(held.parties)})",
            )
        if peer.party == self.settings.party:
            raise refuse("own-party", f"{peer.node_id} serves {peer.party}, this node's own party")
        if peer.node_id == self.settings.node_id:
            raise refuse("own-node-id", f"{peer.node_id} is this node's own node id")
        if url is not None:
            url = self._check_url(url, refuse)
        cert_pem = self._check_cert(peer, tls_cert, refuse) if tls_cert is not None else None
        with audited_write(self.db, self.audit) as (session, group):
            row = session.get(PeerRow, peer.node_id)
            if row is None:
                rival = self._pinned_party(session, peer.party, agreement)
                if rival is not None:
                    raise refuse(
                        "party-already-pinned",
                        f"{rival} is already pinned for {peer.party} under {agreement}: "
                        f"remove it first (`cix peer remove {rival}`)",
                    )
                row = PeerRow(
                    node_id=peer.node_id,
                    party=peer.party,
                    url=url or peer.url,
                    identity=signed.document,
                    agreements=[agreement],
                    added_by=actor.id,
                    added_at=self.clock(),
                    tls_cert=cert_pem,
                )
                session.add(row)
                action = "add"
            else:
                if not _same_keys(_stored_identity(row.identity), peer):
                    raise refuse(
                        "pinned-with-other-keys",
                        f"{peer.node_id} is already pinned with other keys: if its operator "
                        f"confirms the new identity, remove it first "
                        f"(`cix peer remove {peer.node_id}`), then add it again",
                    )
                if agreement not in row.agreements:
                    rival = self._pinned_party(session, peer.party, agreement)
                    if rival is not None and rival != peer.node_id:
                        raise refuse(
                            "party-already-pinned",
                            f"{rival} is already pinned for {peer.party} under {agreement}: "
                            f"remove it first (`cix peer remove {rival}`)",
                        )
                overridden = row.url != _stored_identity(row.identity).url
                row.agreements = sorted({*row.agreements, agreement})
                row.identity = signed.document
                if url is not None:
                    row.url = url
                elif not overridden:
                    row.url = peer.url  # the peer's newer document may name a new URL
                if cert_pem is not None:
                    row.tls_cert = cert_pem
                action = "extend"
            details.update(url=row.url, tls_cert="yes" if row.tls_cert else "no")
            session.flush()
            info = _info(row)
            group.append(
                [
                    AuditRecord(
                        type=EVENT,
                        actor=actor.id,
                        object=f"peer:{peer.node_id}",
                        action=action,
                        decision="permit",
                        time=self.clock(),
                        details={**details, "agreements": list(row.agreements)},
                    )
                ]
            )
        self._write_bundle()
        return info

    @staticmethod
    def _check_url(url: str, refuse: Callable[[str, str], PeerRefused]) -> str:
        from cix.settings import check_value

        try:
            check_value("federation_url", url)
        except InputError:
            raise refuse("url-invalid", f"--url {url!r}: expected http(s)://host[:port]") from None
        if not url:
            raise refuse("url-invalid", "--url is empty")
        return url.rstrip("/")

    @staticmethod
    def _check_cert(peer: NodeIdentity, pem: str, refuse: Callable[[str, str], PeerRefused]) -> str:
        try:
            canonical = certificate_pem(pem)
            fingerprint = certificate_fingerprint(canonical)
        except CertificateInvalid as exc:
            raise refuse("tls-cert-invalid", f"the TLS certificate: {exc}") from None
        if peer.tls_fingerprint is None:
            raise refuse(
                "tls-cert-not-in-identity",
                f"the identity of {peer.node_id} names no TLS certificate fingerprint",
            )
        if fingerprint != peer.tls_fingerprint:
            raise refuse(
                "tls-cert-mismatch",
                f"the TLS certificate's fingerprint {fingerprint} is not the one in the "
                f"identity of {peer.node_id} ({peer.tls_fingerprint})",
            )
        return canonical

    @staticmethod
    def _pinned_party(session: object, party: str, agreement: str) -> str | None:
        from sqlalchemy.orm import Session

        assert isinstance(session, Session)
        for row in session.scalars(select(PeerRow).where(PeerRow.party == party)):
            if agreement in row.agreements:
                return row.node_id
        return None

    def remove(self, actor: Actor, node_id: str) -> None:
        """Unpin `node_id` (audited); raises `NotFound` if it is not pinned."""
        self._require_operator(actor, node_id, "remove")
        with audited_write(self.db, self.audit) as (session, group):
            row = session.get(PeerRow, node_id)
            if row is None:
                raise self._refuse(
                    actor, node_id, "remove", "not-pinned", f"{node_id!r} is not a pinned peer"
                )
            identity = _stored_identity(row.identity)
            session.delete(row)
            session.flush()
            group.append(
                [
                    AuditRecord(
                        type=EVENT,
                        actor=actor.id,
                        object=f"peer:{node_id}",
                        action="remove",
                        decision="permit",
                        time=self.clock(),
                        details={
                            "party": row.party,
                            "agreements": list(row.agreements),
                            "fingerprint": identity.fingerprint,
                        },
                    )
                ]
            )
        self._write_bundle()

    # -- reading -----------------------------------------------------------------------

    def list(self) -> builtins.list[PeerInfo]:
        """Every pinned peer, by node id."""
        with self.db.read() as session:
            return [_info(r) for r in session.scalars(select(PeerRow).order_by(PeerRow.node_id))]

    def pinned(self, node_id: str) -> PinnedPeer | None:
        """What this node trusts `node_id` for, or None if it is not pinned."""
        with self.db.read() as session:
            row = session.get(PeerRow, node_id)
            if row is None:
                return None
            return PinnedPeer(_stored_identity(row.identity), frozenset(row.agreements))

    def all_pinned(self) -> builtins.list[PinnedPeer]:
        """What this node trusts each pinned peer for, in one read."""
        with self.db.read() as session:
            rows = session.execute(
                select(PeerRow.identity, PeerRow.agreements).order_by(PeerRow.node_id)
            ).all()
        return [PinnedPeer(_stored_identity(i), frozenset(a)) for i, a in rows]

    def for_party(self, party: str, agreement: str) -> PinnedPeer | None:
        """The node pinned for `party` under `agreement` (at most one is), or None."""
        with self.db.read() as session:
            for row in session.scalars(select(PeerRow).where(PeerRow.party == party)):
                if agreement in row.agreements:
                    return PinnedPeer(_stored_identity(row.identity), frozenset(row.agreements))
        return None

    def url_of(self, node_id: str) -> str:
        """The base URL `node_id` is reached at (its identity's, or the one pinned with
        `--url`); raises `NotFound` if it is not pinned."""
        with self.db.read() as session:
            row = session.get(PeerRow, node_id)
            if row is None:
                raise NotFound(f"{node_id!r} is not a pinned peer")
            return row.url

    def tls_cert_of(self, node_id: str) -> str | None:
        """The pinned TLS certificate (PEM) of `node_id`, or None (not pinned, or pinned
        without `--cert`)."""
        with self.db.read() as session:
            row = session.get(PeerRow, node_id)
            return row.tls_cert if row is not None else None

    def signed_identity(self, node_id: str) -> SignedIdentity | None:
        """The identity document of `node_id` as pinned (for vouching), or None."""
        with self.db.read() as session:
            row = session.get(PeerRow, node_id)
            document = row.identity if row is not None else None
        return read_identity(document) if document is not None else None

    # -- the TLS bundle ----------------------------------------------------------------

    def bundle_path(self) -> Path:
        """The file of the pinned peers' TLS certificates (see `PEER_BUNDLE`)."""
        return self.settings.data_dir / PEER_BUNDLE

    def _write_bundle(self) -> None:
        certs = self._certs()
        path = self.bundle_path()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".peers.", suffix=".pem", dir=path.parent)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write("".join(certs))
        os.replace(tmp, path)

    def write_bundle(self) -> Path:
        """Rewrite the bundle from the table (at `cix serve`: the table is the truth)."""
        self._write_bundle()
        return self.bundle_path()

    def _certs(self) -> Sequence[str]:
        with self.db.read() as session:
            rows = session.scalars(select(PeerRow).order_by(PeerRow.node_id))
            return [r.tls_cert for r in rows if r.tls_cert]


def _info(row: PeerRow) -> PeerInfo:
    identity = _stored_identity(row.identity)
    return PeerInfo(
        node_id=row.node_id,
        party=row.party,
        url=row.url,
        agreements=tuple(sorted(row.agreements)),
        fingerprint=identity.fingerprint,
        tls_fingerprint=identity.tls_fingerprint,
        has_tls_cert=row.tls_cert is not None,
        added_by=row.added_by,
        added_at=row.added_at,
    )
