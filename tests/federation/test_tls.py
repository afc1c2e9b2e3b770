"""Mutual TLS pinned to a peer's certificate: real handshakes on loopback (a small TLS
server in a thread), the pinned peer connecting and every other certificate refused."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from cix.keys import (
    CertificateInvalid,
    PeerCertificateRefused,
    TlsFiles,
    certificate_fingerprint,
    check_peer_fingerprint,
    generate_tls_certificate,
    peer_ssl_context,
    server_ssl_context,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class NodeTls:
    """One node's TLS files, and its certificate's PEM and fingerprint."""

    files: TlsFiles
    pem: str
    fingerprint: str


def _node(directory: Path, node_id: str) -> NodeTls:
    files = generate_tls_certificate(
        TlsFiles(key=directory / "tls.key", cert=directory / "tls.crt"), node_id=node_id, now=NOW
    )
    pem = files.cert.read_text(encoding="ascii")
    return NodeTls(files, pem, certificate_fingerprint(pem))


@pytest.fixture
def kor(tmp_path: Path) -> NodeTls:
    return _node(tmp_path / "kor", "cix-kor")


@pytest.fixture
def can(tmp_path: Path) -> NodeTls:
    return _node(tmp_path / "can", "cix-can")


@pytest.fixture
def impostor(tmp_path: Path) -> NodeTls:
    # Another self-signed certificate with the same name as KOR's: what a man in the middle
    # (or a node that took KOR's address) presents.
    return _node(tmp_path / "impostor", "cix-kor")


class Server:
    """A TLS server on a loopback port: completes one handshake per connection and answers
    `ok` with the fingerprint of the client certificate it got, or records its failure."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.listener.settimeout(0.1)
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                raw, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            raw.settimeout(10)
            try:
                with self.context.wrap_socket(raw, server_side=True) as tls:
                    der = tls.getpeercert(binary_form=True) or b""
                    tls.sendall(b"ok " + certificate_der_fingerprint(der).encode())
            except (ssl.SSLError, OSError) as exc:
                self.errors.append(exc)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.listener.close()


def certificate_der_fingerprint(der: bytes) -> str:
    from cix.keys import der_fingerprint

    return der_fingerprint(der)


@pytest.fixture
def serve() -> Iterator[list[Server]]:
    servers: list[Server] = []
    yield servers
    for server in servers:
        server.close()


def _server(serve: list[Server], presents: NodeTls, trusts: list[NodeTls], tmp: Path) -> Server:
    bundle = tmp / f"bundle-{len(serve)}.pem"
    bundle.write_text("".join(t.pem for t in trusts), encoding="ascii")
    server = Server(server_ssl_context(presents.files.cert, presents.files.key, bundle))
    serve.append(server)
    return server


def _connect(server: Server, context: ssl.SSLContext, expected: str | None = None) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        context.wrap_socket(raw) as tls,
    ):
        if expected is not None:
            check_peer_fingerprint(tls, expected)
        return tls.recv(200)


def _refused(server: Server, context: ssl.SSLContext) -> bool:
    """Whether the server refused the client: in TLS 1.3 the client may finish its side of
    the handshake before the server's alert arrives, and see the refusal at its first read
    (an error, or the connection closed with no answer)."""
    try:
        return _connect(server, context) == b""
    except (ssl.SSLError, ConnectionError):
        return True


def test_pinned_peer_connects_both_ways(
    kor: NodeTls, can: NodeTls, serve: list[Server], tmp_path: Path
) -> None:
    server = _server(serve, kor, [can], tmp_path)
    client = peer_ssl_context(can.files.cert, can.files.key, kor.fingerprint, peer_cert=kor.pem)
    answer = _connect(server, client, kor.fingerprint)
    # The server saw CAN's pinned certificate; CAN saw KOR's.
    assert answer == b"ok " + can.fingerprint.encode()


def test_peer_presenting_another_certificate_is_refused(
    kor: NodeTls, can: NodeTls, impostor: NodeTls, serve: list[Server], tmp_path: Path
) -> None:
    server = _server(serve, impostor, [can], tmp_path)
    client = peer_ssl_context(can.files.cert, can.files.key, kor.fingerprint, peer_cert=kor.pem)
    with pytest.raises(ssl.SSLCertVerificationError):
        _connect(server, client)


def test_client_presenting_an_unpinned_certificate_is_refused(
    kor: NodeTls, can: NodeTls, impostor: NodeTls, serve: list[Server], tmp_path: Path
) -> None:
    server = _server(serve, kor, [can], tmp_path)
    # The impostor pins KOR correctly but presents its own certificate, not CAN's.
    client = peer_ssl_context(
        impostor.files.cert, impostor.files.key, kor.fingerprint, peer_cert=kor.pem
    )
    assert _refused(server, client)
    server.close()
    assert any(isinstance(e, ssl.SSLError) for e in server.errors)


def test_client_presenting_no_certificate_is_refused(
    kor: NodeTls, can: NodeTls, serve: list[Server], tmp_path: Path
) -> None:
    server = _server(serve, kor, [can], tmp_path)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.load_verify_locations(cadata=kor.pem)
    assert _refused(server, client)


def test_stored_certificate_not_matching_the_pinned_fingerprint_is_refused(
    kor: NodeTls, can: NodeTls, impostor: NodeTls
) -> None:
    # A stored certificate swapped on disk: the context is never built.
    with pytest.raises(PeerCertificateRefused):
        peer_ssl_context(can.files.cert, can.files.key, kor.fingerprint, peer_cert=impostor.pem)


def test_certificate_reissued_for_the_same_key_is_refused_by_its_fingerprint(
    kor: NodeTls, can: NodeTls, serve: list[Server], tmp_path: Path
) -> None:
    # Another certificate for KOR's key and name (which only KOR's key could sign): OpenSSL
    # refuses a self-signed certificate that is not the anchor itself, and the fingerprint
    # check after the handshake would refuse it anyway; either refusal will do.
    key = serialization.load_pem_private_key(kor.files.key.read_bytes(), None)
    original = x509.load_pem_x509_certificate(kor.pem.encode())
    reissued = (
        x509.CertificateBuilder()
        .subject_name(original.subject)
        .issuer_name(original.issuer)
        .public_key(original.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=3650))
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    other = tmp_path / "reissued.crt"
    other.write_bytes(reissued.public_bytes(serialization.Encoding.PEM))
    bundle = tmp_path / "can.pem"
    bundle.write_text(can.pem, encoding="ascii")
    server = Server(server_ssl_context(other, kor.files.key, bundle))
    serve.append(server)
    client = peer_ssl_context(can.files.cert, can.files.key, kor.fingerprint, peer_cert=kor.pem)
    with pytest.raises((ssl.SSLCertVerificationError, PeerCertificateRefused)):
        _connect(server, client, kor.fingerprint)


def test_generated_key_is_private_and_never_overwritten(kor: NodeTls) -> None:
    assert kor.files.key.stat().st_mode & 0o077 == 0
    with pytest.raises(Exception, match="refusing to overwrite"):
        generate_tls_certificate(kor.files, node_id="cix-kor", now=NOW)


def test_generated_certificate_names_the_node_and_loopback(kor: NodeTls) -> None:
    cert = x509.load_pem_x509_certificate(kor.pem.encode())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["cix-kor", "localhost"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc >= timedelta(days=730)
    assert len(kor.fingerprint) == 64


@pytest.mark.parametrize(
    "text",
    ["", "not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"],
)
def test_garbage_instead_of_a_certificate_is_refused(text: str) -> None:
    with pytest.raises(CertificateInvalid):
        certificate_fingerprint(text)
