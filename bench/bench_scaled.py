"""The scaled shape (PostgreSQL + SeaweedFS) measured side by side, on loopback.

    .venv/bin/python bench/bench_scaled.py                   # all: big, checks, small
    .venv/bin/python bench/bench_scaled.py --only checks

big     one 150,000,000-byte file through trainset's direct route on the scaled shape
        (streamed through trainset into a multipart upload) and through its signed-URL
        route (a SigV4 presigned PUT straight to the store), against a plain SeaweedFS
        presigned PUT of the same bytes. Median MB/s of N rounds, and trainset's peak
        RSS growth.
checks  a queue of JPEG checks (N 24-megapixel images + captions, uploaded while
        the warm workers are frozen; the API runs TRAINSET_WORKERS=0) drained by one
        `trainset worker --concurrency 1` process, then by two: wall time from
        thawing the worker(s) to READY, and the speed-up.
small   1,000 x 2 KB direct uploads by 8 clients: SQLite vs PostgreSQL metadata (both
        with local blob storage, so only the database differs), and PostgreSQL +
        SeaweedFS (the whole scaled shape).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

import _common as C
import bench_core as core

# After _common has put the repository root on sys.path:
media = importlib.import_module("tests.media")
_shapes = importlib.import_module("tests.shapes")
create_database, drop_database = _shapes.create_database, _shapes.drop_database

Table = tuple[str, list[str], list[list[Any]]]
WARM_SECONDS = 6.0


def pg_env(db: str) -> dict[str, str]:
    return {"TRAINSET_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{db}"}


def scaled_env(s3: C.SeaweedS3, db: str) -> dict[str, str]:
    env = {**s3.env(), **pg_env(db)}
    env["TRAINSET_STORAGE_URL"] = f"s3://{s3.bucket}/{db}"
    env["TRAINSET_SIGNING_SECRET"] = "bench-" + db
    return env


def multipart_row(s3: C.SeaweedS3, size: int, repeats: int, base: str) -> list[Any]:
    """The store's own multipart ceiling: boto3 upload_file of the same file in 8 MiB
    parts, two at a time (what trainset's direct route does on the scaled shape)."""
    from boto3.s3.transfer import TransferConfig

    path = core.big_file(size)
    client = s3.client()
    cfg = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20,
                         max_concurrency=2, use_threads=True)  # fmt: skip
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        client.upload_file(str(path), s3.bucket, "bench/multipart.mp4", Config=cfg)
        rates.append(size / 1e6 / (time.perf_counter() - t0))
    med = C.median(rates)
    return [
        "SeaweedFS multipart by boto3 (8 MiB parts, 2 at a time)",
        f"{med:.0f}",
        f"{min(rates):.0f}–{max(rates):.0f}",
        f"{med / float(base):.2f}x",
        "—",
    ]


def start_workers(env: dict[str, str], n: int, log_dir: Path) -> list[subprocess.Popen[bytes]]:
    exe = str(Path(sys.executable).parent / "trainset")
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRAINSET_")}
    procs = []
    for i in range(n):
        log = open(log_dir / f"worker-{i}.log", "ab")  # noqa: SIM115 - lives with the process
        procs.append(
            subprocess.Popen(
                [exe, "worker", "--concurrency", "1"],
                env={**base, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


def wait_ready(client: httpx.Client, ds: str, timeout: float = 600.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        body = C.check(client.get(f"{C.API}/{ds}/status"), "status")
        if body["status"] not in ("UPLOADING", "DRAFT"):
            return str(body["status"])
        if time.monotonic() > deadline:
            raise RuntimeError(f"still {body['status']} after {timeout}s")
        time.sleep(0.05)


def bench_checks(s3: C.SeaweedS3, images: int, repeats: int, log_dir: Path) -> Table:
    """Workers are started and warmed (pool spawned, decoders imported) first, then
    frozen (SIGSTOP) while the queue fills, then thawed: the clock measures draining."""
    jpegs = [media.jpeg(6000, 4000) for _ in range(4)]  # 24 MP, like a camera photo
    rows: list[list[Any]] = []
    times: dict[int, list[float]] = {1: [], 2: []}
    db = create_database()
    try:
        env = {**scaled_env(s3, db), "TRAINSET_WORKERS": "0"}
        with C.TrainsetServer(env=env) as srv, srv.client(timeout=60) as c:
            for rnd in range(repeats):
                for n in (1, 2):
                    procs = start_workers(env, n, log_dir)
                    try:
                        time.sleep(WARM_SECONDS)
                        for p in procs:
                            os.killpg(p.pid, signal.SIGSTOP)
                        ds = core.new_dataset(c)
                        for i in range(images):
                            name = f"img_{i:04d}"
                            files = {"file": (f"{name}.jpg", jpegs[i % 4], "image/jpeg")}
                            C.check(c.post(f"{C.API}/{ds}/upload", files=files), "upload")
                            files = {"file": (f"{name}.txt", b"a photo", "text/plain")}
                            C.check(c.post(f"{C.API}/{ds}/upload", files=files), "upload")
                        t0 = time.perf_counter()
                        for p in procs:
                            os.killpg(p.pid, signal.SIGCONT)
                        status = wait_ready(c, ds)
                        dt = time.perf_counter() - t0
                    finally:
                        for p in procs:
                            os.killpg(p.pid, signal.SIGCONT)
                        stop_workers(procs)
                    if status != "READY":
                        raise RuntimeError(f"checks ended {status}")
                    times[n].append(dt)
                    print(f"[checks] round {rnd + 1}: {n} worker(s) {dt:.2f} s", flush=True)
    finally:
        drop_database(db)
    one, two = C.median(times[1]), C.median(times[2])
    rows.append(["1 worker process", f"{one:.2f}", f"{images / one:.1f}", "1.00x"])
    rows.append(["2 worker processes", f"{two:.2f}", f"{images / two:.1f}", f"{one / two:.2f}x"])
    title = (
        f"checks: {images} JPEGs of 24 MP + {images} captions queued, drained by warm "
        f"`trainset worker --concurrency 1` processes, median of {repeats}"
    )
    return title, ["workers", "wall s", "images/s", "speed-up"], rows


def bench_small_dbs(s3: C.SeaweedS3, count: int, size: int, clients: int) -> Table:
    rows: list[list[Any]] = []
    base_rate = None
    for label, kind in (
        ("SQLite + local disk (embedded)", "sqlite"),
        ("PostgreSQL + local disk", "pg"),
        ("PostgreSQL + SeaweedFS (scaled)", "scaled"),
    ):
        db = create_database() if kind != "sqlite" else None
        try:
            env: dict[str, str] = {"TRAINSET_WORKERS": "1"}
            if kind == "pg" and db:
                env |= pg_env(db)
            if kind == "scaled" and db:
                env |= scaled_env(s3, db)
            with C.TrainsetServer(env=env) as srv:
                _, _, r = core.bench_small(srv, s3, count, size, clients)
        finally:
            if db:
                drop_database(db)
        rate = float(r[1][1])
        base_rate = base_rate or rate
        rows.append([label, f"{rate:.0f}", f"{rate / base_rate:.2f}x", f"SeaweedFS {r[0][1]}/s"])
        print(f"[small] {label}: {rate:.0f} files/s", flush=True)
    title = f"small: {count:,} direct uploads of {size:,} B by {clients} clients"
    return title, ["metadata + storage", "files/s", "vs SQLite", "same-run SeaweedFS PUT"], rows


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", default="big,checks,small")
    ap.add_argument("--big-size", type=int, default=150_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--small-count", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    started = time.monotonic()
    tables: list[Table] = []
    log_dir = Path(C.CACHE) / "bench-scaled-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with C.SeaweedS3(bucket="bench") as s3:
        if "big" in only:
            db = create_database()
            try:
                env = {**scaled_env(s3, db), "TRAINSET_WORKERS": "1"}
                with C.TrainsetServer(env=env) as srv:
                    title, headers, rows = core.bench_big(srv, s3, args.big_size, args.repeats)
                rows.insert(1, multipart_row(s3, args.big_size, args.repeats, rows[0][1]))
                tables.append((title, headers, rows))
            finally:
                drop_database(db)
        if "checks" in only:
            tables.append(bench_checks(s3, args.images, max(1, args.repeats - 1), log_dir))
        if "small" in only:
            tables.append(bench_small_dbs(s3, args.small_count, 2048, args.clients))
    C.print_report(
        "trainset bench_scaled (PostgreSQL + SeaweedFS)",
        [f"- total bench time {time.monotonic() - started:.0f} s"],
        tables,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
