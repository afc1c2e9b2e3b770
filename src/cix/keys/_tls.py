"""A node's TLS key and self-signed certificate, and TLS contexts pinned to a peer's certificate.

Federation between nodes may run over mutual TLS (issue 12, item 2). There is no CA between
nations: each node has a self-signed certificate, and the peer pins it by the SHA-256
fingerprint of its DER encoding, which travels in the node's signed identity document
(`tls_fingerprint`). The key is ECDSA P-256: every OpenSSL that Python's `ssl` links to
negotiates it in TLS 1.3 and 1.2 (Ed25519 certificates are not supported by every
OpenSSL build and client stack).

How a pinned certificate is checked: the peer's stored certificate (checked against the
fingerprint in its identity) is the *only* trust anchor of the context
(`load_verify_locations(cadata=...)`), so OpenSSL's own chain check, during the handshake,
accepts nothing else; a self-signed certificate is its own anchor. Host names are not
checked (the node id, not a DNS name, is what is pinned). After the handshake,
`check_peer_fingerprint` compares the SHA-256 of the certificate presented with the pinned
fingerprint, so that even another certificate for the same key and subject (which only the
key's holder can make) is refused. The server side (`server_ssl_context`, and uvicorn in
`cix serve`) trusts the bundle of every pinned peer's certificate the same way.

The private key file is written 0600, unencrypted: `cix serve` is unattended and uvicorn
loads the key by path (the data directory itself is private, `cix.node.datadir`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cix.errors import InputError, VerificationError

TLS_KEY = "tls.key"
TLS_CERT = "tls.crt"
#: How long a generated certificate is valid: re-pairing is an out-of-band act, so rarely.
CERT_VALIDITY = timedelta(days=730)
_MAX_CERT = 64 * 1024


class CertificateInvalid(InputError):
    """A certificate given to cix is not a PEM X.509 certificate it can use."""


class PeerCertificateRefused(VerificationError):
    """The peer presented no certificate, or not the one pinned."""


@dataclass(frozen=True)
class TlsFiles:
    """Where a node's TLS key and certificate are."""

    key: Path
    cert: Path


def generate_tls_certificate(
    files: TlsFiles, *, node_id: str, now: datetime, validity: timedelta = CERT_VALIDITY
) -> TlsFiles:
    """Write a new P-256 key (0600) and a self-signed certificate for `node_id` at `files`
    (conventionally `tls.key`, `tls.crt` in the keys directory); refuse to overwrite either.
    Subject CN and the SAN are the node id, `localhost` and 127.0.0.1 (loopback pairing)."""
    key_path, cert_path = files.key, files.cert
    for path in (key_path, cert_path):
        if path.exists():
            raise InputError(f"{path}: already exists; refusing to overwrite a TLS file")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)])
    alt_names: list[x509.GeneralName] = [x509.DNSName(node_id), x509.DNSName("localhost")]
    alt_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + validity)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    for directory in {key_path.parent, cert_path.parent}:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem_key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return TlsFiles(key=key_path, cert=cert_path)


def _load(pem: bytes | str) -> x509.Certificate:
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    if len(data) > _MAX_CERT:
        raise CertificateInvalid(f"certificate larger than {_MAX_CERT} bytes")
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise CertificateInvalid("not a PEM X.509 certificate") from None


def certificate_pem(pem: bytes | str) -> str:
    """The certificate `pem` as canonical PEM text (one certificate only); raises
    `CertificateInvalid` for anything else."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    if data.count(b"-----BEGIN CERTIFICATE-----") != 1:
        raise CertificateInvalid("expected exactly one PEM certificate")
    return _load(data).public_bytes(serialization.Encoding.PEM).decode("ascii")


def certificate_fingerprint(pem: bytes | str) -> str:
    """SHA-256 of the certificate's DER encoding, 64 lower-case hex digits (what a node's
    identity carries as `tls_fingerprint`)."""
    der = _load(pem).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def der_fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate as presented in a handshake (`getpeercert(True)`)."""
    return hashlib.sha256(der).hexdigest()


def check_peer_fingerprint(tls: ssl.SSLSocket | ssl.SSLObject, fingerprint: str) -> None:
    """Raise `PeerCertificateRefused` unless the peer of the finished handshake `tls`
    presented the certificate with SHA-256 `fingerprint` (`tls` may also be the low-level
    `_ssl._SSLSocket` httpx's network stream gives as `ssl_object`)."""
    der = tls.getpeercert(True)  # positional: the low-level socket takes no keywords
    if not der or der_fingerprint(der) != fingerprint:
        raise PeerCertificateRefused("the peer did not present its pinned TLS certificate")


def peer_ssl_context(
    own_cert: Path, own_key: Path, peer_cert_fingerprint: str, *, peer_cert: str
) -> ssl.SSLContext:
    """A client context (the courier's) that presents this node's certificate and accepts
    only the peer's pinned certificate.

    `peer_cert` is the peer's certificate as pinned (`cix peer add --cert`); it must have
    `peer_cert_fingerprint` (the one in the peer's identity: checked here, before any
    connection) and is the context's only trust anchor, so the handshake fails for any
    other certificate. Host names are not checked (the node id, not a DNS name, is what is
    pinned). A certificate re-issued for the same key would still chain to the anchor: only
    the key's holder can make one, but for exactness check the handshake afterwards with
    `check_peer_fingerprint` (with httpx:
    `response.extensions["network_stream"].get_extra_info("ssl_object")`).
    """
    if certificate_fingerprint(peer_cert) != peer_cert_fingerprint:
        raise PeerCertificateRefused("the stored peer certificate is not the one pinned")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=certificate_pem(peer_cert))
    context.load_cert_chain(certfile=str(own_cert), keyfile=str(own_key))
    return context


def server_ssl_context(own_cert: Path, own_key: Path, peer_bundle: Path) -> ssl.SSLContext:
    """A server context that presents this node's certificate and requires a client
    certificate that is one of those in `peer_bundle` (the pinned peers' certificates)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(certfile=str(own_cert), keyfile=str(own_key))
    context.load_verify_locations(cafile=str(peer_bundle))
    return context
