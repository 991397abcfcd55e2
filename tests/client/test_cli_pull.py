"""`trainset pull NAME DIR`: the folder that went up comes back byte for byte."""

from __future__ import annotations

import filecmp
import os
import signal
import subprocess
import time
from pathlib import Path

from tests import media
from tests.client.proxy import SLOW_FIRST, Proxy
from tests.client.test_cli_upload import folder_of_pairs
from tests.client.test_cli_user import TRAINSET, cli
from tests.server import TrainsetServer, free_port
from trainset.client import Client


def test_round_trip_and_incremental_pull(server: TrainsetServer, tmp_path: Path) -> None:
    src = folder_of_pairs(tmp_path, 12)
    (src / "clip.mp4").write_bytes(media.video("mp4"))
    (src / "clip.txt").write_bytes(media.caption("a clip"))
    assert cli(server, "upload", str(src)).returncode == 0
    (src / ".DS_Store").unlink()

    out = tmp_path / "datasets"
    r = cli(server, "pull", src.name, str(out))
    assert r.returncode == 0, r.stderr
    got = out / src.name
    cmp = filecmp.dircmp(src, got)
    assert sorted(p.name for p in got.iterdir()) == sorted(p.name for p in src.iterdir())
    assert not cmp.diff_files and not cmp.left_only and not cmp.right_only
    assert all(filecmp.cmp(src / n, got / n, shallow=False) for n in cmp.common_files)

    again = cli(server, "pull", src.name, str(out))
    assert "0 to fetch, 26 unchanged" in again.stderr

    (got / "img_003.txt").write_bytes(b"edited locally")
    (got / "stray.txt").write_bytes(b"not in the dataset")
    fixed = cli(server, "pull", src.name, str(out))
    assert "1 to fetch, 25 unchanged" in fixed.stderr
    assert (got / "img_003.txt").read_bytes() == (src / "img_003.txt").read_bytes()
    assert (got / "stray.txt").exists()  # kept without --delete
    cli(server, "pull", src.name, str(out), "--delete")
    assert not (got / "stray.txt").exists()
    assert sorted(p.name for p in got.iterdir()) == sorted(p.name for p in src.iterdir())


def test_pull_of_a_dataset_that_is_not_ready(server: TrainsetServer, tmp_path: Path) -> None:
    ds = Client(server.base_url, server.token).create_dataset()
    r = cli(server, "pull", ds.name, str(tmp_path))
    assert r.returncode == 2 and "only given for READY" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_a_stalled_pull_exits_130_at_once(tmp_path: Path) -> None:
    """A download stuck in a read (the proxy stops mid-file for 30 s) must not hold the
    exit: Ctrl-C ends the pull with 130 well before, and no partial file is visible
    under a dataset file's name."""
    port = free_port()
    with (
        Proxy(f"http://127.0.0.1:{port}") as proxy,
        TrainsetServer(port=port, env={"TRAINSET_PUBLIC_URL": proxy.url + "/slow"}) as srv,
    ):
        src = folder_of_pairs(tmp_path, 2)
        (src / ".DS_Store").unlink()
        big = b"a long caption " * (SLOW_FIRST // 7)  # longer than the proxy lets by
        (src / "img_000.txt").write_bytes(big)
        assert cli(srv, "upload", str(src)).returncode == 0
        out = tmp_path / "out"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINSET_")}
        env |= {"TRAINSET_URL": srv.base_url, "TRAINSET_TOKEN": srv.token,
                "TRAINSET_CONFIG": "/nonexistent/trainset-config.toml"}  # fmt: skip
        proc = subprocess.Popen(
            [TRAINSET, "pull", src.name, str(out), "--concurrency", "4"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not list((out / src.name).glob(".img_000.txt.*")):
            assert time.monotonic() < deadline and proc.poll() is None, "no download started"
            time.sleep(0.05)
        time.sleep(0.3)  # the stalled download is now waiting in its read
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)  # the stall lasts 30 s
        assert proc.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err
        assert not (out / src.name / "img_000.txt").exists()
