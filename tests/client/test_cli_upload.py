"""`trainset upload DIR` end to end: local refusal, upload to READY, resume, FAILED."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
import zipfile
from pathlib import Path

from tests import media
from tests.client.test_cli_user import TRAINSET, cli
from tests.server import TrainsetServer
from trainset.client import Client


def folder_of_pairs(root: Path, n: int) -> Path:
    d = root / f"set_{uuid.uuid4().hex[:8]}"
    d.mkdir()
    for i in range(n):
        (d / f"img_{i:03}.jpg").write_bytes(media.jpeg(260 + i, 300))
        (d / f"img_{i:03}.txt").write_bytes(media.caption(f"picture {i}"))
    (d / ".DS_Store").write_bytes(b"\0\0")  # hidden files are never part of a dataset
    return d


def test_missing_caption_refused_before_any_byte(server: TrainsetServer, tmp_path: Path) -> None:
    d = folder_of_pairs(tmp_path, 3)
    (d / "img_001.txt").unlink()
    (d / "notes.pdf").write_bytes(b"%PDF")
    r = cli(server, "upload", str(d))
    assert r.returncode == 2, r.stderr
    assert "img_001.jpg has no caption file img_001.txt" in r.stderr
    assert "notes.pdf" in r.stderr
    assert Client(server.base_url, server.token).find_dataset(d.name) is None  # nothing sent


def test_upload_resume_and_unchanged_rerun(server: TrainsetServer, tmp_path: Path) -> None:
    d = folder_of_pairs(tmp_path, 50)
    c = Client(server.base_url, server.token)
    # An earlier, interrupted run got some files across.
    ds = c.create_dataset(d.name)
    for p in sorted(d.glob("img_00*"))[:8]:
        c.upload(ds.id, p)
    r = cli(server, "upload", str(d))
    assert r.returncode == 0, r.stderr
    assert "92 to send, 8 already there" in r.stderr
    assert "READY" in r.stdout and "100 files" in r.stdout
    assert "\r" not in r.stderr  # not a terminal: plain lines
    before = c.status(ds.id)

    again = cli(server, "upload", str(d))
    assert again.returncode == 0, again.stderr
    assert "0 to send, 100 already there" in again.stderr
    after = c.status(ds.id)
    assert after.updated_at == before.updated_at and after.status == "READY"

    (d / "img_007.txt").write_bytes(media.caption("a better caption"))
    changed = cli(server, "upload", str(d), "--json")
    assert "1 to send, 99 already there" in changed.stderr
    assert '"status": "READY"' in changed.stdout

    # Same name and size, other bytes: only the hash tells, and it is sent.
    old = (d / "img_008.txt").read_bytes()
    (d / "img_008.txt").write_bytes(old[::-1])
    assert len(old) == len(old[::-1]) and old != old[::-1]
    same_size = cli(server, "upload", str(d))
    assert "1 to send, 99 already there" in same_size.stderr
    assert c.download(ds.id, "img_008.txt", tmp_path / "got.txt").read_bytes() == old[::-1]


def test_failed_dataset_exits_1_with_reasons(server: TrainsetServer, tmp_path: Path) -> None:
    d = folder_of_pairs(tmp_path, 2)
    (d / "img_001.jpg").write_bytes(media.truncated_jpeg())
    r = cli(server, "upload", str(d), "--name", f"bad_{uuid.uuid4().hex[:6]}")
    assert r.returncode == 1, r.stderr
    assert "FAILED" in r.stdout and "img_001.jpg" in r.stdout and "truncated" in r.stdout


def test_zip_source(server: TrainsetServer, tmp_path: Path) -> None:
    d = folder_of_pairs(tmp_path, 5)
    z = tmp_path / "my_dogs.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted(d.iterdir()):
            zf.write(p, f"my_dogs/{p.name}")  # one top folder, as zipping a folder makes
        zf.writestr("__MACOSX/my_dogs/._img_000.jpg", b"resource fork")
    name = f"zip_{uuid.uuid4().hex[:6]}"
    r = cli(server, "upload", str(z), "--name", name)
    assert r.returncode == 0, r.stderr
    assert "10 to send" in r.stderr and "READY" in r.stdout
    c = Client(server.base_url, server.token)
    ds = c.find_dataset(name)
    assert ds is not None
    got = {f.filename: f.size_bytes for f in c.status(ds.id).files}
    assert got == {p.name: p.stat().st_size for p in d.iterdir() if not p.name.startswith(".")}
    assert "0 to send" in cli(server, "upload", str(z), "--name", name).stderr

    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(nested, "w") as zf:
        zf.writestr("a/b/c.jpg", media.jpeg())
        zf.writestr("a/c.txt", b"x")
        zf.writestr("top.txt", b"y")
    bad = cli(server, "upload", str(nested))
    assert bad.returncode == 2 and "a/: a dataset is one flat folder" in bad.stderr


def test_upload_killed_midway_resumes(server: TrainsetServer, tmp_path: Path) -> None:
    d = folder_of_pairs(tmp_path, 60)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINSET_")}
    env |= {"TRAINSET_URL": server.base_url, "TRAINSET_TOKEN": server.token}
    proc = subprocess.Popen(
        [TRAINSET, "upload", str(d), "--concurrency", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    c = Client(server.base_url, server.token)
    deadline = time.monotonic() + 60
    sent = 0
    while sent < 15:
        assert time.monotonic() < deadline and proc.poll() is None
        ds = c.find_dataset(d.name)
        sent = len(c.status(ds.id).files) if ds else 0
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert ds is not None
    # The upload in flight at the kill still ends on the server (stored or dropped):
    # count once nothing is in flight any more.
    while c.status(ds.id).status == "UPLOADING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    there = len(c.status(ds.id).files)
    assert 15 <= there < 120
    r = cli(server, "upload", str(d))
    assert r.returncode == 0, r.stderr
    assert f"{120 - there} to send, {there} already there" in r.stderr
    assert len(c.status(ds.id).files) == 120
