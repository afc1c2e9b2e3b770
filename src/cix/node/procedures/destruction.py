"""Certified, cryptographic destruction and the sweeps that finish one a crash interrupted.

A destruction deletes the sealed object (with every wrapped copy of its data key), marks the
row destroyed and issues a certificate; the decision and the destruction are audited as one
group in the transaction that commits them. The blob is deleted after the commit: a crash in
between leaves an unreferenced blob (swept by `recover` or `sweep_destroyed`), never a live
row without its blob.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cix.errors import InputError
from cix.federation.jws import JwsInvalid, sign_compact, verify_compact
from cix.node.auditing import AuditRecord, audited_write
from cix.node.errors import CertificateInvalid, DocumentRefused, NotFound
from cix.node.opening import Opener
from cix.node.register import DocumentInfo, Register, event, new_id
from cix.node.roles import Actor, Role
from cix.policy import Action
from cix.store.models import DestructionCertificate, Document, OutboxItem, Reproduction

#: The JWS `typ` of a signed destruction certificate.
CERTIFICATE_TYP = "cix-destruction-certificate+jws"


def sign_certificate(certificate: dict[str, Any], signer: Any) -> dict[str, Any]:
    """`certificate` with `signer` (the node's Ed25519 key) over its canonical JSON: the
    fields plus `signer` (the key id) and `signature` (a compact JWS whose payload is the
    fields), so that the originator or an auditor can check it without this node."""
    return {
        **certificate,
        "signer": signer.kid,
        "signature": sign_compact(certificate, signer, CERTIFICATE_TYP),
    }


def verify_certificate(signed: dict[str, Any], key: Any) -> dict[str, Any]:
    """The certificate's fields once its signature by `key` verifies and they are the ones
    signed; raises `CertificateInvalid` otherwise (never a bool)."""
    fields = {k: v for k, v in signed.items() if k not in ("id", "signer", "signature")}
    try:
        payload = verify_compact(str(signed.get("signature", "")), key, CERTIFICATE_TYP)
    except JwsInvalid as exc:
        raise CertificateInvalid(f"destruction certificate: {exc}") from None
    if payload != fields:
        raise CertificateInvalid("destruction certificate: its fields are not the ones signed")
    return payload


def _may_see_certificate(actor: Actor, destroyed_by: str, custodian: str | None) -> bool:
    return actor.id in (destroyed_by, custodian) or actor.has(Role.NSA_OFFICER, Role.AUDITOR)


class Destruction:
    """Destroys documents, shows their certificates, sweeps what a crash left behind."""

    def __init__(self, register: Register, opener: Opener) -> None:
        self.reg = register
        self.opener = opener

    def destroy(self, actor: Actor, doc_id: str, *, reason: str) -> dict[str, Any]:
        """Destroy a document and return its destruction certificate.

        The custodian or an NSA officer may destroy, and the decision function must permit
        `destroy` on the label.
        """
        if not reason.strip():
            raise InputError("reason: a destruction needs a reason")
        reg = self.reg
        now = reg.clock()
        obj = f"document:{doc_id}"
        subject = reg.registry.subject_for(actor.id, now)
        permits: list[AuditRecord] = []
        with audited_write(reg.db, reg.audit) as (session, group):
            row = reg.live(session, doc_id)
            if row.custodian_id != actor.id and not actor.has(Role.NSA_OFFICER):
                reg.audit.append(
                    event(actor, "destroy", obj, denied_reason="not-custodian", now=now)
                )
                raise DocumentRefused("not-custodian")
            label = reg.label_of(row)
            reg.decide(actor, subject, label, Action.DESTROY, obj, now, pending=permits)
            blob = row.blob_hash
            assert blob is not None
            certificate = {
                "document": doc_id,
                "label": row.label_json,
                "title": row.title,
                "sealed_sha256": blob,
                "copies_made": row.copies_made,
                "destroyed_by": actor.id,
                "destroyed_at": now.isoformat(),
                "method": "crypto-erase: sealed object and its wrapped data keys deleted",
                "reason": reason,
                "party": reg.party,
            }
            certificate = sign_certificate(certificate, reg.keys().signing)
            cert_id = new_id(now)
            session.add(
                DestructionCertificate(
                    id=cert_id,
                    document_id=doc_id,
                    destroyed_by=actor.id,
                    destroyed_at=now,
                    method="crypto-erase",
                    reason=reason,
                    certificate=certificate,
                )
            )
            row.destroyed_at = now
            row.blob_hash = None
            for copy in session.scalars(
                select(Reproduction).where(Reproduction.document_id == doc_id)
            ):
                copy.destroyed_at = now
            session.flush()
            destroyed = event(
                actor, "destroyed", obj, now=now, details={"certificate": cert_id, "blob": blob}
            )
            group.append([*permits, destroyed])
        # Destruction is cryptographic: no copy of the wrapped data key may outlive it, not
        # even in a cache of verified manifests, this process's or another worker's.
        reg.db.count_destruction()
        self.opener.forget_keys()
        if not self._blob_shared(blob):
            reg.blobs.delete(blob)
        return {"id": cert_id, **certificate}

    def certificate(self, actor: Actor, doc_id: str) -> dict[str, Any]:
        """The signed destruction certificate of a document (its destroyer, its custodian, an
        NSA officer, an auditor); `NotFound` for anyone else, as for a document never
        destroyed."""
        with self.reg.db.read() as session:
            cert = session.scalars(
                select(DestructionCertificate).where(DestructionCertificate.document_id == doc_id)
            ).first()
            if cert is None:
                raise NotFound(f"no destruction certificate for {doc_id!r}")
            row = session.get(Document, doc_id)
            custodian = None if row is None else row.custodian_id
            if not _may_see_certificate(actor, cert.destroyed_by, custodian):
                raise NotFound(f"no destruction certificate for {doc_id!r}")
            return {"id": cert.id, **cert.certificate}

    def destroyed_entry(self, actor: Actor, doc_id: str) -> DocumentInfo | None:
        """The register entry of a destroyed document (with `destroyed_at` and its
        certificate id) for those entitled to its certificate; None when the document is not
        destroyed (or never existed); `NotFound` for anyone else, as for an unknown id."""
        reg = self.reg
        with reg.db.read() as session:
            row = session.get(Document, doc_id)
            if row is None or row.destroyed_at is None:
                return None
            cert = session.scalars(
                select(DestructionCertificate).where(DestructionCertificate.document_id == doc_id)
            ).first()
            if cert is None or not _may_see_certificate(actor, cert.destroyed_by, row.custodian_id):
                raise NotFound(f"no document {doc_id!r}")
            info = reg.info(session, row, reg.label_of(row))
            return info.model_copy(
                update={"destroyed_at": row.destroyed_at, "certificate": cert.id}
            )

    def recover(self) -> tuple[int, int]:
        """After a crash, before serving: drop temporary blob files and blobs no row names.

        A blob is referenced by a document row or by a queued outbox item (the object a
        transmission sends, until the peer answers it). An upload writes its blob before its
        row, and a destruction deletes its row's blob after the commit, so either crash
        leaves at most an unreferenced blob, never a row without its blob. Returns
        (temporary files removed, orphan blobs removed). Call only while nothing else
        writes to this node.
        """
        blobs = self.reg.blobs
        temporary = blobs.sweep_temporary()
        with self.reg.db.read() as session:
            referenced = set(
                session.scalars(select(Document.blob_hash).where(Document.blob_hash.is_not(None)))
            )
            # A transmission's rewrapped object is named by its outbox item, not a document,
            # until the peer has answered it for good (delivery then deletes it).
            referenced.update(
                session.scalars(
                    select(OutboxItem.blob_hash).where(
                        OutboxItem.blob_hash.is_not(None), OutboxItem.state == "queued"
                    )
                )
            )
        orphans = [h for h in blobs.hashes() if h not in referenced]
        for blob in orphans:
            blobs.delete(blob)
        return temporary, len(orphans)

    def sweep_destroyed(self) -> int:
        """Delete the sealed objects of destroyed documents that are still on disk (a
        process killed between a destruction's commit and the deletion of its blob);
        returns how many. Unlike `recover`, safe while other processes serve the node: it
        deletes only blobs that a destruction certificate names and no live row uses."""
        with self.reg.db.read() as session:
            named = {
                str(c["sealed_sha256"])
                for c in session.scalars(select(DestructionCertificate.certificate))
                if isinstance(c, dict) and c.get("sealed_sha256")
            }
        swept = 0
        for blob in named:
            if self.reg.blobs.exists(blob) and not self._blob_shared(blob):
                self.reg.blobs.delete(blob)
                swept += 1
        return swept

    def _blob_shared(self, blob: str) -> bool:
        with self.reg.db.read() as session:
            return session.scalar(select(Document.id).where(Document.blob_hash == blob)) is not None
