"""Replaced and deleted blobs are removed after the grace period; live ones never are."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import media
from tests.server import TrainsetServer
from tests.wire import BASE, create, upload, wait_final


@pytest.fixture(scope="module")
def srv() -> Iterator[TrainsetServer]:
    with TrainsetServer(env={"TRAINSET_GC_GRACE_SECONDS": "0", "TRAINSET_WORKERS": "1"}) as s:
        yield s


def blobs(srv: TrainsetServer) -> dict[str, str]:
    """sha256 -> path of every committed blob on disk."""
    root = srv.data_dir / "blobs"
    out = {}
    for p in root.rglob("*"):
        if p.is_file() and ".tmp" not in p.parts:
            out[hashlib.sha256(p.read_bytes()).hexdigest()] = str(p.relative_to(root))
    return out


def wait_until(cond: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
    on_disk = blobs(srv)
    # Everything the surviving dataset references is still there, and nothing else.
    assert set(on_disk) == {sha(b) for b in kept}
    assert wait_final(c, keep)["status"] == "READY"


def test_temp_files_are_not_blobs(srv: TrainsetServer) -> None:
    tmp = Path(srv.data_dir) / "blobs" / ".tmp"
    assert tmp.is_dir()
    assert [p for p in tmp.iterdir() if p.suffix == ".part"] == []
