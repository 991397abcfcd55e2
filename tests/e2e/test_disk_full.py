"""The storage volume fills up: a clear 507 insufficient_storage, nothing partial or
corrupt left behind, the previous version intact, and uploads work again once space
returns. A real small tmpfs is mounted as the blob directory (needs root; the test
says so and skips otherwise). Embedded shape: a full local disk is its failure mode
(an object store's quota errors are the store's own)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import media
from tests.server import TrainsetServer
from tests.wire import BASE, assert_error, create, sizes, status, upload, wait_final

MIB = 1 << 20


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "volume"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_is_507_and_recovers(small_volume: Path, tmp_path: Path) -> None:
    env = {
        "TRAINSET_STORAGE_URL": f"file://{small_volume}/blobs",
        "TRAINSET_WORKERS": "1",
        "TRAINSET_GC_GRACE_SECONDS": "0",
    }
    with TrainsetServer(env=env, data_dir=tmp_path / "data") as srv:
        c = srv.client()
        ds = create(c)["id"]
        v1 = media.jpeg(300, 300)
        upload(c, ds, "a.jpg", v1)
        upload(c, ds, "a.txt", media.caption())
        upload(c, ds, "big.txt", media.noise("big", 5 * MIB))
        assert wait_final(c, ds)["status"] in ("READY", "FAILED")

        # Replacing a.jpg with something that cannot fit: refused, v1 kept.
        huge = media.jpeg(300, 300) + media.noise("huge", 4 * MIB)
        r = c.post(f"{BASE}/{ds}/upload", files={"file": ("a.jpg", huge)})
        err = assert_error(r, 507, "insufficient_storage")
        assert "nothing was stored" in err["message"].lower()
        assert sizes(status(c, ds))["a.jpg"] == len(v1)
        got = c.get(f"{BASE}/{ds}/files/a.jpg")
        assert got.content == v1
        assert list((small_volume / "blobs" / ".tmp").iterdir()) == []  # no partial file
        assert c.get("/healthz").status_code == 200

        # Space returns (the big file is deleted and collected): uploads work again.
        assert c.delete(f"{BASE}/{ds}/files/big.txt").status_code == 200
        deadline = time.monotonic() + 20
        while True:
            st = os.statvfs(small_volume)
            if st.f_bavail * st.f_frsize > 6 * MIB:
                break
            assert time.monotonic() < deadline, "the deleted blob was never collected"
            time.sleep(0.2)
        upload(c, ds, "a.jpg", huge)
        body = wait_final(c, ds)
        assert sizes(body)["a.jpg"] == len(huge)
        with contextlib.suppress(Exception):
            c.close()
