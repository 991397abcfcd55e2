"""The CLI's round trip against boto3 and SeaweedFS, side by side in one run.

upload  a folder of 200 one-megabyte JPEGs + 200 captions: `trainset upload DIR` (local
        checks, hashing, upload, waiting for READY, i.e. validated) against boto3
        `upload_file` with 8 threads putting the same 400 files into SeaweedFS; and
        the same with --no-wait to a server with TRAINSET_WORKERS=0 (the bytes stored
        and recorded, no checks run): the transport's share.
pull    `trainset pull NAME DIR` of that dataset (sha256-verified) against boto3
        `download_file` of the same 400 objects with 8 threads.

    .venv/bin/python bench/bench_cli.py [--count 200]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

import _common as C

TRAINSET = str(Path(sys.executable).parent / "trainset")


def make_folder(root: Path, count: int) -> Path:
    """`count` JPEGs of about 1 MB (noisy content, so they do not compress away)."""
    d = root / "dogs"
    d.mkdir()
    for i in range(count):
        noise = os.urandom(1100 * 800 * 3)
        im = Image.frombytes("RGB", (1100, 800), noise)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=92)
        (d / f"img_{i:04}.jpg").write_bytes(buf.getvalue())
        (d / f"img_{i:04}.txt").write_text(f"a photo of sks dog, number {i}")
    return d


def run_cli(srv: C.TrainsetServer, *args: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINSET_")}
    env |= {"TRAINSET_URL": srv.base_url, "TRAINSET_TOKEN": srv.token}
    t = time.perf_counter()
    r = subprocess.run([TRAINSET, *args], env=env, capture_output=True, text=True, timeout=900)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"trainset {' '.join(args)} exited {r.returncode}: {r.stderr[-2000:]}")
    return dt


def boto_upload(s3: C.SeaweedS3, files: list[Path], prefix: str) -> float:
    client = s3.client()
    t = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: client.upload_file(str(p), s3.bucket, prefix + p.name), files))
    return time.perf_counter() - t


def boto_download(s3: C.SeaweedS3, files: list[Path], prefix: str, dest: Path) -> float:
    client = s3.client()
    dest.mkdir()
    t = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda p: client.download_file(s3.bucket, prefix + p.name, str(dest / p.name)),
                files,
            )
        )
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=200)
    args = ap.parse_args()
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="trainset-bench-cli-"))
    try:
        folder = make_folder(tmp, args.count)
        (tmp / "w").mkdir()
        warmup = make_folder(tmp / "w", 2)
        files = sorted(folder.iterdir())
        total = sum(p.stat().st_size for p in files)
        jpeg_bytes = sum(p.stat().st_size for p in files if p.suffix == ".jpg")
        with C.SeaweedS3() as s3, C.TrainsetServer(startup_timeout=60) as srv:
            t_boto_up = boto_upload(s3, files, "dogs/")
            run_cli(srv, "upload", str(warmup), "--name", "warmup")  # first-request costs
            t_up = run_cli(srv, "upload", str(folder), "--name", "bench_dogs", "--concurrency", "8")
            t_boto_down = boto_download(s3, files, "dogs/", tmp / "boto")
            t_pull = run_cli(srv, "pull", "bench_dogs", str(tmp / "pulled"), "--concurrency", "8")
            t_rerun = run_cli(srv, "upload", str(folder), "--name", "bench_dogs")
        # The transport's share: the same upload to a server with no checks running.
        with C.TrainsetServer(startup_timeout=60, env={"TRAINSET_WORKERS": "0"}) as bare:
            run_cli(bare, "upload", str(warmup), "--name", "warmup", "--no-wait")
            t_sent = run_cli(bare, "upload", str(folder), "--name", "bench_sent", "--no-wait",
                             "--concurrency", "8")  # fmt: skip
        rows = [
            ["boto3 upload_file, 8 threads → SeaweedFS", f"{t_boto_up:.2f} s", "1.00x"],
            ["same, --no-wait, to a server running no checks (transport)", f"{t_sent:.2f} s",
             f"{t_sent / t_boto_up:.2f}x"],
            ["trainset upload DIR → READY (validated)", f"{t_up:.2f} s",
             f"{t_up / t_boto_up:.2f}x"],
            ["trainset upload DIR again (unchanged: sends nothing)", f"{t_rerun:.2f} s",
             f"{t_rerun / t_boto_up:.2f}x"],
            ["boto3 download_file, 8 threads ← SeaweedFS", f"{t_boto_down:.2f} s", "1.00x"],
            ["trainset pull NAME DIR (sha256-verified)", f"{t_pull:.2f} s",
             f"{t_pull / t_boto_down:.2f}x"],
        ]  # fmt: skip
        print()
        print("## trainset bench_cli")
        print()
        print("\n".join(C.environment_lines()))
        print(
            f"- {args.count} JPEGs (~{jpeg_bytes / args.count / 1e6:.2f} MB each) + {args.count} "
            f"captions, {total / 1e6:.0f} MB; the CLI with --concurrency 8; "
            f"total bench time {time.monotonic() - started:.0f} s"
        )
        print()
        print(C.markdown_table(["run", "wall time", "vs boto3"], rows))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
