"""Per-dataset file limit: a clear 400 before any byte is spent; replacing is free."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import media
from tests.server import TrainsetServer
from tests.shapes import Shape
from tests.wire import BASE, assert_error, create, status, upload


@pytest.fixture(scope="module")
def srv(shape: Shape) -> Iterator[TrainsetServer]:
    with shape.server(max_files_per_dataset="3", workers="1") as s:
        yield s


def test_file_limit(srv: TrainsetServer) -> None:
    c = srv.client()
    ds = create(c)["id"]
    for n in ("a.jpg", "a.txt", "b.txt"):
        upload(c, ds, n, media.jpeg(300, 300) if n.endswith(".jpg") else media.caption())
    r = c.post(f"{BASE}/{ds}/upload", files={"file": ("c.txt", media.caption())})
    err = assert_error(r, 400, "too_many_files")
    assert "3" in err["message"]
    upload(c, ds, "b.txt", media.caption("replaced"))  # replacing adds no file
    r = c.post(
        f"{BASE}/{ds}/get-upload-endpoint", json={"filenameToByteSize": {"a.txt": 5, "d.txt": 5}}
    )
    assert_error(r, 400, "too_many_files")
    r = c.post(f"{BASE}/{ds}/get-upload-endpoint", json={"filenameToByteSize": {"a.txt": 5}})
    assert r.status_code == 200, r.text
    assert sorted(f["filename"] for f in status(c, ds)["files"]) == ["a.jpg", "a.txt", "b.txt"]
