"""kill -9 at awkward moments, then restart: nothing partial, statuses consistent."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests import media
from tests.server import TrainsetServer
from tests.shapes import Shape, blob_count, partial_writes
from tests.wire import BASE, create, signed_urls, sizes, status, upload, wait_final


@pytest.fixture
def srv(shape: Shape) -> Iterator[TrainsetServer]:
    # A short upload lease: on the scaled shape a restarted process cannot tell a dead
    # process's upload from a live one's, so the lease running out is what ends it.
    with shape.server(workers="1", upload_lease_seconds="4") as s:
        yield s


def _temp_files(srv: TrainsetServer) -> list[str]:
    return partial_writes(srv.env, str(srv.data_dir))


def _wait_for(cond: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def _slow_body(head: bytes, stop: threading.Event) -> Iterator[bytes]:
    """Sends `head`, then trickles filler until the server dies."""
    yield head
    while not stop.is_set():
        yield b"\0" * 65536
        time.sleep(0.05)


def _send_in_thread(fn: object) -> threading.Thread:
    def run() -> None:
        with contextlib.suppress(Exception):  # the server is killed under it: expected
            fn()  # type: ignore[operator]

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _blob_count(srv: TrainsetServer) -> int:
    return blob_count(srv.env, str(srv.data_dir))


def test_kill_during_direct_upload(srv: TrainsetServer) -> None:
    c = srv.client()
    ds = create(c)["id"]
    v1 = media.jpeg(300, 300)
    upload(c, ds, "a.jpg", v1)
    upload(c, ds, "a.txt", media.caption())
    assert wait_final(c, ds)["status"] == "READY"

    stop = threading.Event()
    boundary = "crashboundary"
    head = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + media.jpeg(300, 300)[:1000]
        + b"\0" * (9 << 20)
    )  # past one 8 MiB S3 part
    t = _send_in_thread(
        lambda: httpx.post(
            f"{srv.base_url}{BASE}/{ds}/upload",
            headers={**srv.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            content=_slow_body(head, stop),
            timeout=30,
        )
    )
    _wait_for(lambda: _temp_files(srv) and status(c, ds)["status"] == "UPLOADING")
    srv.kill(signal.SIGKILL)
    stop.set()
    t.join(10)
    assert _temp_files(srv), "the partial upload should have been on disk at the crash"

    srv.restart()
    c = srv.client()
    body = wait_final(c, ds)
    assert body["status"] == "READY", body
    assert sizes(body)["a.jpg"] == len(v1)
    _wait_for(lambda: _temp_files(srv) == [])  # scaled: once the lease ran out
    assert _blob_count(srv) == 3  # v1, its caption and its thumbnail; nothing else


def test_kill_during_signed_put_then_retry_same_url(shape: Shape, srv: TrainsetServer) -> None:
    if shape.scaled:
        pytest.skip("scaled: a presigned PUT goes to the object store, not through trainset")
    c = srv.client()
    ds = create(c)["id"]
    upload(c, ds, "a.txt", media.caption())
    body_bytes = media.video("mp4", frames=3)
    size = len(body_bytes) + 48 * 65536  # over 1 MiB: the server spills to disk
    entry = signed_urls(c, ds, {"a.mp4": size})["a.mp4"]

    stop = threading.Event()
    t = _send_in_thread(
        lambda: httpx.put(
            entry["upload_url"],
            headers={**entry["headers"], "Content-Length": str(size)},
            content=_slow_body(body_bytes, stop),
            timeout=30,
        )
    )
    _wait_for(lambda: bool(_temp_files(srv)))
    srv.kill(signal.SIGKILL)
    stop.set()
    t.join(10)

    srv.restart()
    c = srv.client()
    after = status(c, ds)
    # The URL is still outstanding (not expired), so the dataset waits for it.
    assert after["status"] == "UPLOADING"
    assert [f["filename"] for f in after["files"]] == ["a.txt"]
    assert _temp_files(srv) == []

    # Retrying the same URL with the whole body succeeds.
    full = body_bytes + b"\0" * (size - len(body_bytes))
    r = httpx.put(entry["upload_url"], headers=entry["headers"], content=full, timeout=30)
    assert r.status_code == 200, r.text
    final = wait_final(c, ds)
    assert final["status"] == "READY", final
    assert sizes(final)["a.mp4"] == size


def test_kill_during_checks_then_checks_finish(srv: TrainsetServer) -> None:
    c = srv.client()
    ds = create(c)["id"]
    for i in range(12):
        upload(c, ds, f"p{i:02}.jpg", media.jpeg(800, 600))
        upload(c, ds, f"p{i:02}.txt", media.caption(f"picture {i}"))
    srv.kill(signal.SIGKILL)
    srv.restart()
    c = srv.client()
    body = wait_final(c, ds)
    assert body["status"] == "READY", body
    assert len(body["files"]) == 24
