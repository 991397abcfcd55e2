"""Replaced and deleted blobs are removed after the grace period; live ones never are."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import httpx
import pytest

from tests import media
from tests.server import TrainsetServer
from tests.shapes import Shape, blob_hashes, partial_writes, stored_blob_names
from tests.wire import BASE, create, signed_urls, upload, wait_final


@pytest.fixture(scope="module")
def srv(shape: Shape) -> Iterator[TrainsetServer]:
    with shape.server(gc_grace_seconds="0", workers="1") as s:
        yield s


def blobs(srv: TrainsetServer) -> dict[str, str]:
    """sha256 -> name of every committed blob (file on disk, or object in the bucket)."""
    return blob_hashes(srv.env, str(srv.data_dir))


def wait_until(cond: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def thumbnails(c: httpx.Client, ds: str) -> set[str]:
    """sha256 of each thumbnail the dataset's gallery shows."""
    page = c.get(f"{BASE}/{ds}/items").json()
    urls = [m["thumbnail_url"] for it in page["items"] for m in it["media"]]
    return {sha(httpx.get(u, follow_redirects=True).content) for u in urls if u}


def test_replaced_and_deleted_blobs_are_collected(srv: TrainsetServer) -> None:
    c = srv.client()
    keep = create(c)["id"]
    kept = [media.jpeg(300, 300), media.caption("kept")]
    upload(c, keep, "k.jpg", kept[0])
    upload(c, keep, "k.txt", kept[1])

    ds = create(c)["id"]
    v1, v2 = media.jpeg(320, 320), media.jpeg(330, 330)
    upload(c, ds, "a.jpg", v1)
    upload(c, ds, "a.txt", media.caption("a"))
    wait_final(c, ds)
    assert sha(v1) in blobs(srv)
    upload(c, ds, "a.jpg", v2)  # replaces v1
    wait_final(c, ds)
    wait_until(lambda: sha(v1) not in blobs(srv))
    assert sha(v2) in blobs(srv)

    assert c.delete(f"{BASE}/{ds}").status_code == 200
    wait_until(lambda: sha(v2) not in blobs(srv))
    assert wait_final(c, keep)["status"] == "READY"
    on_disk = blobs(srv)
    # Everything the surviving dataset references is still there (its files and the
    # thumbnail its check made), and nothing else.
    assert set(on_disk) == {sha(b) for b in kept} | thumbnails(c, keep)


def test_temp_files_are_not_blobs(srv: TrainsetServer) -> None:
    assert partial_writes(srv.env, str(srv.data_dir)) == []


def test_objects_put_to_urls_of_a_deleted_dataset_are_collected(shape: Shape) -> None:
    """Scaled: a presigned URL still works at the store after its dataset is deleted
    (or the URL superseded); what it uploaded is removed once the URL has expired (and
    the grace period, here 0, is over). Two-second URLs, so the test can see it."""
    if not shape.scaled:
        pytest.skip("embedded: such a PUT is refused by trainset itself (test_signed_urls)")
    with shape.server(signed_url_ttl_seconds="2", gc_grace_seconds="0", workers="1") as srv:
        c = srv.client()
        ds = create(c)["id"]
        data = media.jpeg(310, 310)
        first = signed_urls(c, ds, {"a.jpg": len(data)})["a.jpg"]
        second = signed_urls(c, ds, {"a.jpg": len(data)})["a.jpg"]  # supersedes the first
        assert c.delete(f"{BASE}/{ds}").status_code == 200
        for entry in (first, second):
            r = httpx.put(entry["upload_url"], content=data, headers=entry["headers"])
            assert r.status_code == 200, r.text

        def uploaded() -> list[str]:
            return [n for n in stored_blob_names(srv.env, str(srv.data_dir)) if "/u/" in n]

        assert len(uploaded()) == 2  # nothing removes them while the URLs still work
        wait_until(lambda: uploaded() == [])


def test_thumbnails_go_with_their_file_version(srv: TrainsetServer) -> None:
    """A thumbnail is a derived blob: replaced or deleted with the version it shows."""
    c = srv.client()
    ds = create(c)["id"]

    def thumb_sha() -> str:
        (one,) = thumbnails(c, ds)
        return one

    upload(c, ds, "a.jpg", media.jpeg(303, 303))
    upload(c, ds, "a.txt", media.caption("a"))
    wait_final(c, ds)
    first = thumb_sha()
    assert first in blobs(srv)
    upload(c, ds, "a.jpg", media.jpeg(313, 313))  # a new version, a new thumbnail
    wait_final(c, ds)
    second = thumb_sha()
    assert second != first
    wait_until(lambda: first not in blobs(srv))
    assert c.delete(f"{BASE}/{ds}/files/a.jpg").status_code == 200
    wait_until(lambda: second not in blobs(srv))
