"""`trainset pull NAME DIR`: the folder that went up comes back byte for byte."""

from __future__ import annotations

import filecmp
from pathlib import Path

from tests import media
from tests.client.test_cli_upload import folder_of_pairs
from tests.client.test_cli_user import cli
from tests.server import TrainsetServer
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
