"""Limits that protect the service: per-account quotas (403 quota_exceeded, nothing
stored), a request rate per token (429 rate_limited with Retry-After) and a cap on
uploads streaming at once (503 overloaded with Retry-After). Both shapes."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests import media
from tests.conftest import admin
from tests.server import TrainsetServer
from tests.shapes import Shape
from tests.wire import BASE, assert_error, create, signed_urls, sizes, status, upload


@pytest.fixture(scope="module")
def quota_srv(shape: Shape) -> Iterator[TrainsetServer]:
    with shape.server(workers="1", quota_datasets="2", quota_files="4", quota_bytes="60000") as s:
        yield s


def test_quotas(quota_srv: TrainsetServer) -> None:
    c = quota_srv.client()
    a = create(c)["id"]
    b = create(c)["id"]
    err = assert_error(c.post(BASE, json={"name": "third"}), 403, "quota_exceeded")
    assert err["details"] == {"quota": "datasets", "limit": 2, "used": 2}
    assert "at most 2 datasets" in err["message"]

    big = media.noise("q", 40_000)  # a caption of 40 KB: bytes count, whatever the type
    upload(c, a, "a.txt", big)
    # 40,000 + 30,000 > 60,000: refused after the bytes arrived; nothing is stored.
    r = c.post(f"{BASE}/{b}/upload", files={"file": ("b.txt", media.noise("r", 30_000))})
    err = assert_error(r, 403, "quota_exceeded")
    assert err["details"]["quota"] == "bytes" and "Nothing was stored" in err["message"]
    assert sizes(status(c, b)) == {}
    # Signed URLs: sizes are known up front, so the request itself is refused.
    r = c.post(f"{BASE}/{b}/get-upload-endpoint", json={"filenameToByteSize": {"c.txt": 30_000}})
    assert_error(r, 403, "quota_exceeded")
    # Replacing a file with a smaller one frees bytes; then more fits.
    upload(c, a, "a.txt", media.noise("q", 10_000))
    upload(c, b, "b.txt", media.noise("r", 30_000))

    upload(c, a, "x.txt", b"x")
    upload(c, b, "y.txt", b"y")  # 4 files in the account now
    err = assert_error(
        c.post(f"{BASE}/{a}/upload", files={"file": ("z.txt", b"z")}), 403, "quota_exceeded"
    )
    assert err["details"]["quota"] == "files"
    upload(c, a, "x.txt", b"replaced")  # replacing adds no file
    assert_error(
        c.post(f"{BASE}/{a}/get-upload-endpoint", json={"filenameToByteSize": {"z.txt": 1}}),
        403,
        "quota_exceeded",
    )
    # Deleting frees the quota at once.
    assert c.delete(f"{BASE}/{b}").status_code == 200
    create(c, "third")


@pytest.fixture(scope="module")
def limited_srv(shape: Shape) -> Iterator[TrainsetServer]:
    with shape.server(workers="1", rate_limit="5") as s:
        yield s


def test_rate_limit_per_token(limited_srv: TrainsetServer) -> None:
    c = limited_srv.client()
    codes = [c.get(BASE).status_code for _ in range(30)]
    assert codes[:10].count(200) >= 9  # the burst (twice the rate) goes through
    assert 429 in codes
    r = c.get(BASE)
    while r.status_code != 429:
        r = c.get(BASE)
    err = assert_error(r, 429, "rate_limited")
    assert "5 per second" in err["message"]
    wait = int(r.headers["retry-after"])
    assert 1 <= wait <= 2
    # Health checks are never limited, and another token has its own budget.
    assert all(c.get("/healthz").status_code == 200 for _ in range(20))
    other = admin(limited_srv, "create-account", "rate-other").strip().splitlines()[-1]
    with httpx.Client(
        base_url=limited_srv.base_url, headers={"Authorization": f"Bearer {other}"}
    ) as o:
        assert o.get(BASE).status_code == 200
    time.sleep(wait)
    assert c.get(BASE).status_code == 200


def test_signed_reads_are_not_rate_limited(limited_srv: TrainsetServer, shape: Shape) -> None:
    # A gallery loads every thumbnail at once from one address: those reads (and signed
    # downloads) carry their own credential, issued by a call that was counted.
    c = limited_srv.client()
    time.sleep(2)  # the bucket refills after the test before
    ds = create(c)["id"]
    upload(c, ds, "a.jpg", media.jpeg(300, 200))
    deadline = time.monotonic() + 30
    url = None
    while url is None:
        assert time.monotonic() < deadline, "no thumbnail made"
        time.sleep(0.5)
        r = c.get(f"{BASE}/{ds}/items")
        if r.status_code == 200:
            url = r.json()["items"][0]["media"][0].get("thumbnail_url")
    with httpx.Client(base_url=limited_srv.base_url) as anon:
        codes = [anon.get(url).status_code for _ in range(30)]
        assert codes == [200] * 30
        if not shape.scaled:  # (there the URLs are the object store's)
            # Refused ones are counted: a client presenting bad URLs runs out.
            forged = url.replace("signature=", "signature=0", 1)
            codes = [anon.get(forged).status_code for _ in range(30)]
            assert codes[0] == 403 and codes[-1] == 429, codes
    # Token calls are still limited meanwhile.
    assert 429 in [c.get(BASE).status_code for _ in range(30)]


@pytest.fixture(scope="module")
def one_upload_srv(shape: Shape) -> Iterator[TrainsetServer]:
    with shape.server(workers="1", max_concurrent_uploads="1", read_timeout_seconds="30") as s:
        yield s


def test_concurrent_upload_cap(one_upload_srv: TrainsetServer) -> None:
    srv = one_upload_srv
    c = srv.client()
    ds = create(c)["id"]
    head = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="slow.jpg"\r\n\r\n'
        + media.jpeg(300, 300)[:2000]
    )
    request = (
        f"POST {BASE}/{ds}/upload HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {srv.token}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {len(head) + 50_000}\r\n\r\n"
    ).encode() + head
    with socket.create_connection((srv.host, srv.port), timeout=10) as slow:
        slow.sendall(request)  # streaming, and not finished
        deadline = time.monotonic() + 10
        while status(c, ds)["status"] != "UPLOADING":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        r = c.post(f"{BASE}/{ds}/upload", files={"file": ("b.txt", b"b")})
        err = assert_error(r, 503, "overloaded")
        assert r.headers["retry-after"] == "1" and "retry" in err["message"]
        # Other calls are served meanwhile, signed URLs included.
        assert signed_urls(c, ds, {"c.txt": 1})
    # The slow client went away: its slot is free again.
    deadline = time.monotonic() + 10
    while True:
        r = c.post(f"{BASE}/{ds}/upload", files={"file": ("b.txt", b"b")})
        if r.status_code == 200:
            break
        assert r.status_code == 503 and time.monotonic() < deadline, r.text
        time.sleep(0.1)
