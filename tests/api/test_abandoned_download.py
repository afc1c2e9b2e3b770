"""A client that goes away in the middle of a large download does not leave the node's
decrypting thread behind (a thread per abandoned download would exhaust the server)."""

from __future__ import annotations

import os
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from cix.api.app import create_app
from tests.api.test_documents_api import _cast, _label, _upload
from tests.api.test_open_hot_path import _api_token
from tests.live_node import free_port
from tests.node_support import SQLITE_ONLY, ApiClient

pytestmark = pytest.mark.slow


def _producers(doc_id: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"open-{doc_id}" and t.is_alive()]


@SQLITE_ONLY
def test_abandoned_large_download_stops_its_decrypting_thread(api: ApiClient) -> None:
    _cast(api.node)
    # 24 segments of 2 MiB: more than the bounded queue (16) and the socket buffers hold,
    # so a producer nobody drains would block for good.
    doc = _upload(api, _label("S"), "big", os.urandom(48 << 20))
    token, _ = _api_token(api, "alice")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(api.node), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(
                f"GET /api/v1/documents/{doc['id']}/content HTTP/1.1\r\n"
                f"Host: node\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
            )
            received = b""
            while len(received) < 1 << 20:  # the answer has begun: headers and a first MiB
                chunk = client.recv(1 << 16)
                assert chunk, received[:200]
                received += chunk
            assert received.startswith(b"HTTP/1.1 200"), received[:200]
            assert _producers(doc["id"])  # decrypting, ahead of the reader
        # The client is gone without reading the rest.
        deadline = time.monotonic() + 15
        while _producers(doc["id"]):
            assert time.monotonic() < deadline, "the decrypting thread outlived its client"
            time.sleep(0.1)
    finally:
        server.should_exit = True
        serving.join(30)


@SQLITE_ONLY
def test_stream_cut_by_a_damaged_late_segment_logs_no_traceback(
    api: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.api.test_blob_swap import _blob

    _cast(api.node)
    size = 7 << 20  # four segments of 2 MiB: the first ones verify and stream before the last
    doc = _upload(api, _label("S"), "sonar", os.urandom(size))
    path = api.node.blobs.path(_blob(api.node, doc["id"]))
    damaged = bytearray(path.read_bytes())
    damaged[size - 1000] ^= 1  # inside the payload's last segment
    path.write_bytes(bytes(damaged))
    token, _ = _api_token(api, "alice")
    port = free_port()
    # log_config=None: uvicorn's records reach the root logger, where caplog sees them.
    server = uvicorn.Server(
        uvicorn.Config(create_app(api.node), host="127.0.0.1", port=port, log_config=None)
    )
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        received: list[int] = []

        def download() -> None:
            url = f"http://127.0.0.1:{port}/api/v1/documents/{doc['id']}/content"
            auth = {"Authorization": f"Bearer {token}"}
            with httpx.stream("GET", url, headers=auth, timeout=30) as response:
                assert response.status_code == 200
                received.extend(len(chunk) for chunk in response.iter_bytes())

        with pytest.raises(httpx.HTTPError):  # a download short of its Content-Length
            download()
        assert 0 < sum(received) < size
    finally:
        server.should_exit = True
        serving.join(30)
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    assert any("cut short" in r.getMessage() for r in caplog.records)
