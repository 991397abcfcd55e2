"""`trainset upload DIR` end to end: local refusal, upload to READY, resume, FAILED."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

from tests import media
from tests.client.proxy import Proxy
from tests.client.test_cli_user import TRAINSET, cli
from tests.server import TrainsetServer, free_port
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


def upload_until(
    server: TrainsetServer, d: Path, files: int, *args: str
) -> tuple[subprocess.Popen[str], Client, Any]:
    """Start `trainset upload d` in the background; return once the server has `files`
    of its files (the process, a client, and the dataset)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINSET_")}
    env |= {"TRAINSET_URL": server.base_url, "TRAINSET_TOKEN": server.token,
            "TRAINSET_CONFIG": "/nonexistent/trainset-config.toml"}  # fmt: skip
    proc = subprocess.Popen(
        [TRAINSET, "upload", str(d), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    c = Client(server.base_url, server.token)
    deadline = time.monotonic() + 60
    sent, ds = 0, None
    while sent < files:
        assert time.monotonic() < deadline and proc.poll() is None
        ds = c.find_dataset(d.name)
        sent = len(c.status(ds.id).files) if ds else 0
        time.sleep(0.05)
    return proc, c, ds


def test_upload_killed_midway_resumes(server: TrainsetServer, tmp_path: Path) -> None:
    d = folder_of_pairs(tmp_path, 60)
    proc, c, ds = upload_until(server, d, 15, "--concurrency", "1")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    deadline = time.monotonic() + 60
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


def test_ctrl_c_stops_promptly_with_130(server: TrainsetServer, tmp_path: Path) -> None:
    d = folder_of_pairs(tmp_path, 60)
    for i in range(0, 60, 6):  # some larger files, so uploads are in flight at the signal
        (d / f"img_{i:03}.jpg").write_bytes(media.jpeg(260 + i, 300) + os.urandom(3 << 20))
    proc, _, _ = upload_until(server, d, 10, "--concurrency", "2")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=15)  # generous: it must not finish the upload
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err and "Aborted" not in err


def test_a_direct_upload_stored_with_other_bytes_is_sent_again_then_removed(
    server: TrainsetServer, tmp_path: Path
) -> None:
    """A proxy on loopback in front of the real server changes bytes on the way (what
    the server cannot be made to do): once, the CLI sends the file again and succeeds;
    every time, it deletes the bad copy and exits 3 naming the file."""
    d = folder_of_pairs(tmp_path, 2)
    (d / "img_001.txt").write_bytes(b"a CORRUPTME caption")
    with Proxy(server.base_url) as p:
        p.corrupt = (b"CORRUPTME", b"corrupted", 1)
        once = cli(server, "upload", str(d), env={"TRAINSET_URL": p.url})
        assert once.returncode == 0, once.stderr
        assert p.corrupt is None and "img_001.txt" in once.stderr
        c = Client(server.base_url, server.token)
        ds = c.find_dataset(d.name)
        assert ds is not None
        got = c.download(ds.id, "img_001.txt", tmp_path / "got.txt").read_bytes()
        assert got == b"a CORRUPTME caption"

        (d / "img_001.txt").write_bytes(b"another CORRUPTME caption")
        p.corrupt = (b"CORRUPTME", b"corrupted", 100)
        always = cli(server, "upload", str(d), env={"TRAINSET_URL": p.url})
    assert always.returncode == 3, always.stderr
    assert "img_001.txt" in always.stderr and "removed" in always.stderr
    assert "Traceback" not in always.stderr
    assert "img_001.txt" not in {f.filename for f in c.status(ds.id).files}


def test_signed_uploads_are_checked_against_the_servers_sha256(tmp_path: Path) -> None:
    """Signed URLs point at a loopback proxy in front of a real (embedded) server, which
    changes one file's bytes on the way: the CLI finds it from the status's sha256,
    deletes it and exits 3 naming it. Files go by signed URL above --direct-limit."""
    port = free_port()
    with Proxy(f"http://127.0.0.1:{port}") as p, TrainsetServer(
        port=port, env={"TRAINSET_PUBLIC_URL": p.url, "TRAINSET_WORKERS": "1"}
    ) as srv:  # fmt: skip
        d = folder_of_pairs(tmp_path, 3)
        ok = cli(srv, "upload", str(d), "--direct-limit", "0")
        assert ok.returncode == 0, ok.stderr
        assert len([s for s in p.seen if s[0] == "PUT"]) == 6  # all by signed URL

        (d / "img_002.txt").write_bytes(b"a CORRUPTME caption")
        p.corrupt = (b"CORRUPTME", b"corrupted", 1)
        bad = cli(srv, "upload", str(d), "--direct-limit", "0")
        assert bad.returncode == 3, bad.stderr
        assert "img_002.txt" in bad.stderr and "Traceback" not in bad.stderr
        c = Client(srv.base_url, srv.token)
        ds = c.find_dataset(d.name)
        assert ds is not None
        assert "img_002.txt" not in {f.filename for f in c.status(ds.id).files}


def test_unreadable_sources_are_one_line_errors(server: TrainsetServer, tmp_path: Path) -> None:
    d = folder_of_pairs(tmp_path, 2)
    (d / "img_009.jpg").symlink_to(tmp_path / "gone.jpg")  # a file that vanished
    gone = cli(server, "upload", str(d))
    assert gone.returncode == 2, gone.stderr
    assert "img_009.jpg" in gone.stderr and "Traceback" not in gone.stderr

    z = tmp_path / "crc.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.jpg", media.jpeg())
        zf.writestr("a.txt", b"CRCMARKER caption")
    z.write_bytes(z.read_bytes().replace(b"CRCMARKER", b"XRCMARKER"))  # data != its CRC
    bad = cli(server, "upload", str(z), "--name", f"crc_{uuid.uuid4().hex[:6]}")
    assert bad.returncode == 2, bad.stderr
    assert "zip" in bad.stderr and "a.txt" in bad.stderr and "Traceback" not in bad.stderr
