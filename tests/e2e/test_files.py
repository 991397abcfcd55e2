"""Single-file download (with Range) and delete, and the training manifest."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import httpx
import pytest

from tests import media
from tests.server import TrainsetServer
from tests.shapes import Shape
from tests.wire import BASE, assert_error, create, status, upload, wait_final


def ready_dataset(client: httpx.Client) -> tuple[str, dict[str, bytes]]:
    ds = create(client)["id"]
    content = {"a.jpg": media.jpeg(300, 300), "a.txt": media.caption("a dog"),
               "é b.png": media.png(300, 300), "é b.txt": media.caption("a cat")}  # fmt: skip
    for name, data in content.items():
        upload(client, ds, name, data)
    assert wait_final(client, ds)["status"] == "READY"
    return ds, content


def file_url(ds: str, name: str) -> str:
    return f"{BASE}/{ds}/files/{quote(name)}"


def test_download_whole_and_ranges(
    shape: Shape, client: httpx.Client, other_client: httpx.Client
) -> None:
    """Embedded: trainset serves the bytes. Scaled: a redirect to a presigned GET, and
    the object store serves them (ranges included)."""
    ds, content = ready_dataset(client)
    data = content["a.jpg"]
    first = client.get(file_url(ds, "a.jpg"))
    if shape.scaled:
        assert first.status_code == 307, first.text
        assert "X-Amz-Signature=" in first.headers["location"]
        assert urlsplit(first.headers["location"]).netloc != urlsplit(str(client.base_url)).netloc
    r = client.get(file_url(ds, "a.jpg"), follow_redirects=True)
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-type"] == "image/jpeg"
    if not shape.scaled:  # a store's ETag is its own
        assert r.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert r.headers["accept-ranges"] == "bytes"
    client.follow_redirects = True
    try:
        _ranges(shape, client, other_client, ds, content)
    finally:
        client.follow_redirects = False


def _ranges(
    shape: Shape,
    client: httpx.Client,
    other_client: httpx.Client,
    ds: str,
    content: dict[str, bytes],
) -> None:
    data = content["a.jpg"]
    assert client.get(file_url(ds, "é b.png")).content == content["é b.png"]

    r = client.get(file_url(ds, "a.jpg"), headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"
    r = client.get(file_url(ds, "a.jpg"), headers={"Range": "bytes=-7"})
    assert r.status_code == 206 and r.content == data[-7:]
    r = client.get(file_url(ds, "a.jpg"), headers={"Range": f"bytes=100-{10 * len(data)}"})
    assert r.status_code == 206 and r.content == data[100:]
    r = client.get(file_url(ds, "a.jpg"), headers={"Range": "bytes=0-1,5-6"})
    assert r.status_code == 200 and r.content == data  # several ranges: the whole file
    r = client.get(file_url(ds, "a.jpg"), headers={"Range": f"bytes={len(data)}-"})
    if shape.scaled:
        assert r.status_code == 416  # the store's own answer
    else:
        err = assert_error(r, 416, "range_not_satisfiable")
        assert err["details"] == {"size": len(data)}

    assert_error(client.get(file_url(ds, "nope.jpg")), 404, "file_not_found")
    assert_error(other_client.get(file_url(ds, "a.jpg")), 404, "dataset_not_found")


def test_delete_one_file(client: httpx.Client, other_client: httpx.Client) -> None:
    ds, content = ready_dataset(client)
    assert_error(other_client.delete(file_url(ds, "a.txt")), 404, "dataset_not_found")
    r = client.delete(file_url(ds, "a.txt"))
    assert r.status_code == 200, r.text
    assert r.json()["deleted"] is True and r.json()["filename"] == "a.txt"
    body = wait_final(client, ds)
    assert body["status"] == "FAILED"
    assert {(d["filename"], d["code"]) for d in body["error"]["details"]} == {
        ("a.jpg", "missing_caption")
    }
    assert "a.txt" not in [f["filename"] for f in body["files"]]
    assert body["file_count"] == 3
    assert body["total_bytes"] == sum(len(v) for k, v in content.items() if k != "a.txt")
    assert_error(client.delete(file_url(ds, "a.txt")), 404, "file_not_found")
    assert_error(client.get(file_url(ds, "a.txt")), 404, "file_not_found")


def test_manifest(shape: Shape, client: httpx.Client) -> None:
    draft = create(client)["id"]
    assert_error(client.get(f"{BASE}/{draft}/manifest"), 409, "dataset_not_ready")

    ds, content = ready_dataset(client)
    m = client.get(f"{BASE}/{ds}/manifest").json()
    assert m["id"] == ds and m["status"] == "READY" and m["expires_at"].endswith("Z")
    assert [f["filename"] for f in m["files"]] == sorted(content)
    for f in m["files"]:
        data = content[f["filename"]]
        assert f["size_bytes"] == len(data)
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
        r = httpx.get(f["download_url"])  # no token: the URL is the credential
        assert r.status_code == 200 and r.content == data
    url = m["files"][0]["download_url"]
    r = httpx.get(url, headers={"Range": "bytes=0-3"})
    assert r.status_code == 206 and r.content == content[m["files"][0]["filename"]][:4]

    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    if shape.scaled:
        assert httpx.get(tampered).status_code == 403  # refused by the store
    else:
        assert_error(httpx.get(tampered), 403, "signature_invalid")
    # A download signature is not an upload signature for the same id, or the reverse.
    assert httpx.put(url.replace("/blobs/", "/uploads/"), content=b"x").status_code in (403, 404)

    # The blobs a manifest names stay readable until its URLs expire, even if the
    # dataset is deleted meanwhile.
    assert client.delete(f"{BASE}/{ds}").status_code == 200
    r = httpx.get(url)
    assert r.status_code == 200 and r.content == content[m["files"][0]["filename"]]


@pytest.fixture(scope="module")
def short_grace(shape: Shape) -> Iterator[TrainsetServer]:
    with shape.server(gc_grace_seconds="3", workers="1") as s:
        yield s


def test_download_urls_expire_before_their_blobs_go(
    shape: Shape, short_grace: TrainsetServer
) -> None:
    c = short_grace.client()
    ds, _ = ready_dataset(c)
    m = c.get(f"{BASE}/{ds}/manifest").json()
    url = m["files"][0]["download_url"]
    assert httpx.get(url).status_code == 200  # valid for at least 2 s (grace 3 s - 1)
    time.sleep(3.5)
    if shape.scaled:
        assert httpx.get(url).status_code == 403  # the store refuses an expired URL
    else:
        assert_error(httpx.get(url), 403, "url_expired")
    assert status(c, ds)["status"] == "READY"
