"""Core trainset benchmarks against a real server and a real SeaweedFS, on loopback.

    .venv/bin/python bench/bench_core.py                 # all: big, small, status
    .venv/bin/python bench/bench_core.py --only big,small
    .venv/bin/python bench/bench_core.py --s3-backend    # trainset stores blobs in SeaweedFS

big     one 150,000,000-byte .mp4 (ftyp header + random bytes, cached on disk, streamed
        from disk) through (i) trainset's direct multipart route, (ii) trainset's
        signed-URL route (get-upload-endpoint + PUT), (iii) a SeaweedFS presigned PUT.
        Median MB/s of N runs (MB = 10^6 bytes; timing includes obtaining the URL for
        (ii) and (iii)), ratio vs SeaweedFS, and the trainset server's peak RSS growth
        (server process tree, sampled every 20 ms, baseline right before each upload).
small   1,000 x 2 KB captions by 8 concurrent clients (threads, one keep-alive httpx
        client each): trainset direct route vs SeaweedFS presigned PUTs, presigning
        inside the timed loop (trainset's route needs no presign).
status  seed the account with 10,000 datasets, then one dataset with 10,000 files (5,000
        distinct 256x256 PNGs + captions) through the API (8 concurrent clients), wait
        for the checks to settle, then time 200 sequential GETs each of /status and of
        the list, next to /healthz as the floor.

Everything is bounded: seeding stops at --seed-seconds and the table says how far it got.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

import _common as C

BIG_NAME = "big.mp4"
MP4_HEADER = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
MB = 1_000_000

Table = tuple[str, list[str], list[list[Any]]]


# ---------------------------------------------------------------------------- data


def big_file(size: int) -> Path:
    """Generate (once) ``size`` bytes: a valid MP4 ftyp box, then random bytes."""
    C.CACHE.mkdir(parents=True, exist_ok=True)
    path = C.CACHE / f"big-{size}.mp4"
    if path.exists() and path.stat().st_size == size:
        return path
    tmp = path.with_suffix(".part")
    with tmp.open("wb") as f:
        f.write(MP4_HEADER)
        left = size - len(MP4_HEADER)
        while left > 0:
            n = min(left, 4 << 20)
            f.write(os.urandom(n))
            left -= n
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------------- helpers


def new_dataset(client: httpx.Client, name: str | None = None) -> str:
    body = {"name": name} if name else {}
    r = C.request_with_retry(lambda: client.post(C.API, json=body))
    return str(C.check(r, "create dataset")["id"])


def settle(client: httpx.Client, dataset_id: str, timeout: float = 120.0) -> str:
    status, _ = C.wait_settled(client, dataset_id, timeout)
    return status


# ---------------------------------------------------------------------------- big


def upload_direct(client: httpx.Client, dataset_id: str, path: Path, filename: str) -> None:
    headers, _length, body = C.multipart_stream(path, filename, "video/mp4")
    r = client.post(f"{C.API}/{dataset_id}/upload", content=body, headers=headers)
    got = C.check(r, "direct upload")
    if got.get("bytes") != path.stat().st_size:
        raise RuntimeError(f"direct upload stored {got.get('bytes')} bytes, not {path.stat()}")


def upload_signed(client: httpx.Client, dataset_id: str, path: Path, filename: str) -> None:
    size = path.stat().st_size
    r = client.post(
        f"{C.API}/{dataset_id}/get-upload-endpoint",
        json={"filenameToByteSize": {filename: size}},
    )
    entry = C.check(r, "get-upload-endpoint")["uploads"][filename]
    headers = {**entry.get("headers", {}), "Content-Length": str(size)}
    # a fresh client: the URL is the credential, no bearer token may be sent
    with httpx.Client(timeout=client.timeout) as plain:
        put = plain.request(
            entry.get("method", "PUT"),
            entry["upload_url"],
            content=C.file_chunks(path),
            headers=headers,
        )
    C.check(put, "signed PUT")


def upload_seaweed(s3: C.SeaweedS3, s3_client: Any, path: Path, key: str) -> None:
    size = path.stat().st_size
    url = s3.presign_put(key, size, "video/mp4", client=s3_client)
    with httpx.Client(timeout=httpx.Timeout(300.0, connect=5.0)) as plain:
        r = plain.put(
            url,
            content=C.file_chunks(path),
            headers={"Content-Type": "video/mp4", "Content-Length": str(size)},
        )
    C.check(r, "SeaweedFS presigned PUT")


def bench_big(srv: C.TrainsetServer | None, s3: C.SeaweedS3, size: int, repeats: int) -> Table:
    path = big_file(size)
    print(f"[big] file {path} ({size:,} bytes)", flush=True)
    s3_client = s3.client()
    results: dict[str, list[float]] = {}
    rss: dict[str, int] = {}
    routes: list[tuple[str, Callable[[], None]]] = [
        ("SeaweedFS presigned PUT", lambda: upload_seaweed(s3, s3_client, path, "bench/big.mp4"))
    ]
    client = None
    if srv is not None:
        client = srv.client(timeout=httpx.Timeout(300.0, connect=5.0))
        ds = new_dataset(client)
        routes += [
            ("trainset direct (multipart)", lambda: upload_direct(client, ds, path, BIG_NAME)),
            ("trainset signed URL (PUT)", lambda: upload_signed(client, ds, path, BIG_NAME)),
        ]
    for rnd in range(repeats):  # round-robin so drift hits every route alike
        for name, run in routes:
            if client is not None and srv is not None:
                settle(client, ds)  # background checks of the previous run are done
            sampler = C.RssSampler(srv.pid) if srv is not None and srv.pid else None
            t0 = time.perf_counter()
            with sampler or contextlib.nullcontext():
                run()
            dt = time.perf_counter() - t0
            results.setdefault(name, []).append(size / MB / dt)
            if sampler is not None and name.startswith("trainset"):
                rss[name] = max(rss.get(name, 0), sampler.growth)
            print(f"[big] round {rnd + 1} {name}: {size / MB / dt:.0f} MB/s", flush=True)
    if client is not None:
        client.close()
    ceiling = [size / MB / C.sink_upload(path) for _ in range(repeats)]
    base = C.median(results["SeaweedFS presigned PUT"])
    rows: list[list[Any]] = []
    for name, _ in routes:
        med = C.median(results[name])
        rows.append(
            [
                name,
                f"{med:.0f}",
                f"{min(results[name]):.0f}–{max(results[name]):.0f}",
                f"{med / base:.2f}x",
                f"{rss[name] / 2**20:.1f} MiB" if name in rss else "—",
            ]
        )
    rows.append(
        [
            "(client ceiling: same PUT into a discard socket)",
            f"{C.median(ceiling):.0f}",
            f"{min(ceiling):.0f}–{max(ceiling):.0f}",
            f"{C.median(ceiling) / base:.2f}x",
            "—",
        ]
    )
    title = (
        f"big: one {size:,}-byte .mp4 streamed from disk, median of {repeats} "
        "(MB = 10^6 B; URL-based routes include getting the URL)"
    )
    headers = ["route", "MB/s", "min–max", "vs SeaweedFS", "peak server RSS growth"]
    return title, headers, rows


# ---------------------------------------------------------------------------- small


def run_pool(n_items: int, workers: int, make_worker: Callable[[], Callable[[int], None]]) -> float:
    """Run ``n_items`` jobs on ``workers`` threads; returns wall seconds. Each thread
    builds its own worker (own client) before the clock starts."""
    q: queue.Queue[int] = queue.Queue()
    for i in range(n_items):
        q.put(i)
    errors: list[BaseException] = []
    ready = threading.Barrier(workers + 1)

    def thread_main() -> None:
        job = make_worker()
        ready.wait()
        while not errors:
            try:
                i = q.get_nowait()
            except queue.Empty:
                return
            try:
                job(i)
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=thread_main, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    ready.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return dt


def caption(i: int, size: int) -> bytes:
    text = f"c_{i:04d}: a photo of sks person, detailed, natural light. ".encode()
    return (text * (size // len(text) + 1))[:size]


def bench_small(
    srv: C.TrainsetServer | None, s3: C.SeaweedS3, count: int, size: int, workers: int
) -> Table:
    title = (
        f"small: {count:,} files of {size:,} B by {workers} concurrent clients "
        "(SeaweedFS: presign inside the timed loop)"
    )
    headers = ["route", "files/s", "wall s", "vs SeaweedFS", "note"]
    rows: list[list[Any]] = []
    retries = [0]

    def seaweed_worker() -> Callable[[int], None]:
        s3_client = s3.client()
        http = httpx.Client(timeout=30.0)

        def job(i: int) -> None:
            url = s3.presign_put(f"small/c_{i:04d}.txt", size, "text/plain", client=s3_client)
            r = http.put(url, content=caption(i, size), headers={"Content-Type": "text/plain"})
            C.check(r, "SeaweedFS presigned PUT")

        return job

    sw = run_pool(count, workers, seaweed_worker)
    print(f"[small] SeaweedFS: {count / sw:.0f} files/s", flush=True)
    rows.append(["SeaweedFS presign + PUT", f"{count / sw:.0f}", f"{sw:.2f}", "1.00x", ""])
    if srv is None:
        return title, headers, rows
    with srv.client() as admin:
        ds = new_dataset(admin)

    def trainset_worker() -> Callable[[int], None]:
        http = srv.client(timeout=30.0)

        def job(i: int) -> None:
            name = f"c_{i:04d}.txt"
            data = caption(i, size)
            r = C.request_with_retry(
                lambda: http.post(
                    f"{C.API}/{ds}/upload", files={"file": (name, data, "text/plain")}
                ),
                counter=retries,
            )
            got = C.check(r, "direct upload")
            if got.get("bytes") != size:
                raise RuntimeError(f"{name}: stored {got.get('bytes')} bytes")

        return job

    ts = run_pool(count, workers, trainset_worker)
    print(f"[small] trainset: {count / ts:.0f} files/s ({retries[0]} retries)", flush=True)
    rows.append(
        [
            "trainset direct (multipart POST)",
            f"{count / ts:.0f}",
            f"{ts:.2f}",
            f"{sw / ts:.2f}x",
            f"{retries[0]} 429/503 retries" if retries[0] else "",
        ]
    )
    return title, headers, rows


# ---------------------------------------------------------------------------- status/list


def tiny_png(i: int) -> bytes:
    """A distinct 256x256 solid-colour PNG (~300 B): valid, not small, no duplicates."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (i % 256, (i // 256) % 256, 128 + i % 97)).save(buf, "PNG")
    return buf.getvalue()


def seed(
    srv: C.TrainsetServer, n_files: int, n_datasets: int, workers: int, budget: float
) -> tuple[str, int, int, dict[str, float]]:
    """Via the API, concurrently, bounded by ``budget`` seconds: first datasets until
    the account has ``n_datasets``, then one dataset with ``n_files`` files (pairs of a
    distinct 256x256 PNG and its caption, so it can become READY without warnings)."""
    deadline = time.monotonic() + budget
    with srv.client() as admin:
        existing = len(C.check(admin.get(C.API), "list")["datasets"])
        big_ds = new_dataset(admin, "bench_status_10k")
    counts = {"files": 0, "datasets": 1}
    last_done: dict[str, float] = {}
    lock = threading.Lock()
    jobs: Iterator[tuple[str, int]] = iter(
        [("dataset", i) for i in range(max(0, n_datasets - existing - 1))]
        + [("file", pair) for pair in range(n_files // 2)]
    )
    jobs_lock = threading.Lock()

    def worker() -> None:
        with srv.client(timeout=60.0) as http:
            while time.monotonic() < deadline:
                with jobs_lock:
                    job = next(jobs, None)
                if job is None:
                    return
                kind, i = job
                if kind == "file":  # a pair, so a stop at the deadline leaves no orphan
                    text = f"a photo of sks object number {i}\n".encode()
                    for part in (
                        (f"img_{i:05d}.png", tiny_png(i), "image/png"),
                        (f"img_{i:05d}.txt", text, "text/plain"),
                    ):
                        r = C.request_with_retry(
                            lambda part=part: http.post(
                                f"{C.API}/{big_ds}/upload", files={"file": part}
                            )
                        )
                        C.check(r, "seed upload")
                else:
                    r = C.request_with_retry(
                        lambda i=i: http.post(C.API, json={"name": f"bench_ds_{i:05d}"})
                    )
                    C.check(r, "seed dataset")
                with lock:
                    counts[kind + "s"] += 2 if kind == "file" else 1
                    last_done[kind] = time.perf_counter()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = time.perf_counter() - t0
    ds_time = last_done.get("dataset", t0) - t0
    file_time = last_done.get("file", t0) - (last_done.get("dataset", t0))
    print(
        f"[status] seeding: {counts['datasets'] - 1} datasets in {ds_time:.0f}s, "
        f"{counts['files']} files in {file_time:.0f}s",
        flush=True,
    )
    timing = {
        "datasets_s": ds_time,
        "files_s": file_time,
        "total_s": total,
        "created": counts["datasets"],
    }
    return big_ds, counts["files"], counts["datasets"] + existing, timing


def timed_gets(http: httpx.Client, path: str, n: int) -> tuple[list[float], int]:
    C.check(http.get(path), f"GET {path}")  # warm-up
    times = []
    size = 0
    for _ in range(n):
        t0 = time.perf_counter()
        r = http.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        C.check(r, f"GET {path}")
        size = len(r.content)
    return times, size


def bench_status(
    srv: C.TrainsetServer,
    n_files: int,
    n_datasets: int,
    n_requests: int,
    workers: int,
    budget: float,
) -> Table:
    ds, files, datasets, timing = seed(srv, n_files, n_datasets, workers, budget)
    dt = timing["total_s"]
    rows: list[list[Any]] = []
    with srv.client(timeout=60.0) as http:
        t0 = time.monotonic()
        state = settle(http, ds, timeout=max(30.0, budget / 2))
        print(f"[status] dataset settled as {state} after {time.monotonic() - t0:.1f}s", flush=True)
        listed = len(C.check(http.get(C.API), "list")["datasets"])
        in_status = len(C.check(http.get(f"{C.API}/{ds}/status"), "status")["files"])
        for label, path in (
            ("GET /healthz (floor)", "/healthz"),
            (f"GET status ({in_status} files, {state})", f"{C.API}/{ds}/status"),
            (f"GET list ({listed} datasets)", C.API),
        ):
            times, size = timed_gets(http, path, n_requests)
            rows.append(
                [
                    label,
                    f"{C.percentile(times, 50):.1f}",
                    f"{C.percentile(times, 99):.1f}",
                    f"{max(times):.1f}",
                    f"{size / 1000:.0f} kB",
                ]
            )
    title = (
        f"status/list: {n_requests} sequential GETs each, one keep-alive client. Seeded via "
        f"the API by {workers} clients in {dt:.0f} s (budget {budget:.0f} s): datasets in "
        f"the account {datasets:,} (created {timing['created']:,.0f}"
        f" in {timing['datasets_s']:.0f} s), then {files:,}/{n_files:,} files in "
        f"{timing['files_s']:.0f} s ({files / max(timing['files_s'], 1e-9):.0f} files/s)"
    )
    return title, ["request", "p50 ms", "p99 ms", "max ms", "body"], rows


# ---------------------------------------------------------------------------- main


def server_ready_or_none(env: dict[str, str]) -> C.TrainsetServer | None:
    srv = C.TrainsetServer(env=env, startup_timeout=60)
    try:
        srv.start()
    except Exception as exc:
        print(f"!! trainset server could not start, trainset rows skipped:\n{exc}", flush=True)
        srv.cleanup()
        return None
    return srv


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", default="big,small,status", help="comma list of big,small,status")
    ap.add_argument("--big-size", type=int, default=150_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--small-count", type=int, default=1000)
    ap.add_argument("--small-size", type=int, default=2048)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--datasets", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--seed-seconds", type=float, default=180.0, help="seeding time budget (s)")
    ap.add_argument("--workers", default=None, help="TRAINSET_WORKERS (default: server's)")
    ap.add_argument("--s3-backend", action="store_true", help="trainset stores blobs in SeaweedFS")
    args = ap.parse_args()
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    unknown = only - {"big", "small", "status"}
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    started = time.monotonic()
    tables: list[Table] = []
    with C.SeaweedS3(bucket="bench") as s3:
        env = {"TRAINSET_WORKERS": args.workers} if args.workers is not None else {}
        if args.s3_backend:
            env.update(s3.env())
        srv = server_ready_or_none(env)
        try:
            if "big" in only:
                tables.append(bench_big(srv, s3, args.big_size, args.repeats))
            if "small" in only:
                tables.append(bench_small(srv, s3, args.small_count, args.small_size, args.clients))
            if "status" in only:
                if srv is None:
                    print("[status] skipped: no server", flush=True)
                else:
                    tables.append(
                        bench_status(
                            srv,
                            args.files,
                            args.datasets,
                            args.requests,
                            args.clients,
                            args.seed_seconds,
                        )
                    )
        finally:
            if srv is not None:
                srv.cleanup()

    C.print_report(
        "trainset bench_core",
        [
            f"- trainset storage: {'SeaweedFS (S3)' if args.s3_backend else 'local (embedded)'}; "
            f"TRAINSET_WORKERS={args.workers or '(server default)'}; "
            f"total bench time {time.monotonic() - started:.0f} s"
        ],
        tables,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
