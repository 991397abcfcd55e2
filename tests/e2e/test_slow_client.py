"""A client that stops sending is cut off (408) without holding up anyone else."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests import media
from tests.server import TrainsetServer
from tests.shapes import Shape
from tests.wire import BASE, create, status, upload, wait_final


@pytest.fixture(scope="module")
def srv(shape: Shape) -> Iterator[TrainsetServer]:
    with shape.server(read_timeout_seconds="1", workers="1") as s:
        yield s


def test_stalled_upload_gets_408_and_stores_nothing(srv: TrainsetServer) -> None:
    c = srv.client()
    ds = create(c)["id"]
    body_head = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
        + media.jpeg(300, 300)[:2000]
    )
    request = (
        f"POST {BASE}/{ds}/upload HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {srv.token}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {len(body_head) + 50_000}\r\n\r\n"
    ).encode() + body_head
    with socket.create_connection((srv.host, srv.port), timeout=10) as sock:
        sock.sendall(request)  # ...and then nothing more
        started = time.monotonic()
        # Meanwhile the server serves others at full speed.
        upload(c, ds, "b.jpg", media.jpeg(300, 300))
        upload(c, ds, "b.txt", media.caption())
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            part = sock.recv(65536)
            if not part:
                break
            reply += part
        waited = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b'"code":"request_timeout"' in reply
    assert waited < 8
    body = wait_final(c, ds)
    assert [f["filename"] for f in body["files"]] == ["b.jpg", "b.txt"]
    assert body["status"] == "READY"


def test_stalled_signed_put_gets_408(shape: Shape, srv: TrainsetServer) -> None:
    if shape.scaled:
        pytest.skip("scaled: a presigned PUT goes to the object store, not through trainset")
    c = srv.client()
    ds = create(c)["id"]
    r = c.post(f"{BASE}/{ds}/get-upload-endpoint", json={"filenameToByteSize": {"a.txt": 100}})
    url = httpx.URL(r.json()["uploads"]["a.txt"]["upload_url"])
    request = (
        f"PUT {url.raw_path.decode()} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        "Content-Length: 100\r\n\r\nhalf a caption"
    ).encode()
    with socket.create_connection((srv.host, srv.port), timeout=10) as sock:
        sock.sendall(request)
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert status(c, ds)["files"] == []
