"""How long do trainset's content checks take, next to a bare Pillow decode loop?

    .venv/bin/python bench/bench_checks.py [--count 200] [--workers 2] [--clients 4]

Generates (once, cached under $TMPDIR/trainset-bench-cache/jpegs-*) 200 photo-like
2448x1632 JPEGs (gradients + coarse and fine noise, quality 90, ~1.8 MB each), then
times:

(i)   a bare single-process loop ``Image.open(p); im.load()`` over them (and, for
      context, the same loop split over ``--workers`` processes);
(ii)  trainset end to end: a server with TRAINSET_WORKERS=2; the JPEGs and a caption
      each are uploaded through the direct route by ``--clients`` concurrent clients;
      reported: last upload finished -> status READY, and first upload started -> READY
      (status polled every 50 ms), plus the server's peak RSS growth meanwhile.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops

import _common as C

W, H = 2448, 1632


def make_jpeg(args: tuple[int, str]) -> str:
    i, out = args
    g = Image.linear_gradient("L").rotate(i * 37 % 360).resize((W, H), Image.Resampling.BILINEAR)
    radial = Image.radial_gradient("L").resize((W, H), Image.Resampling.BILINEAR)
    fine = Image.effect_noise((W, H), 30 + i % 30)
    coarse = Image.effect_noise((W // 8, H // 8), 80).resize((W, H), Image.Resampling.BICUBIC)
    red = ImageChops.add(ImageChops.multiply(g, coarse), fine, scale=1.6, offset=-40)
    green = ImageChops.blend(radial, coarse, 0.5)
    blue = ImageChops.blend(g.transpose(Image.Transpose.FLIP_LEFT_RIGHT), fine, 0.3)
    tmp = out + ".part"
    Image.merge("RGB", (red, green, blue)).save(tmp, "JPEG", quality=90)
    os.replace(tmp, out)
    return out


def jpegs(count: int, procs: int) -> list[Path]:
    folder = C.CACHE / f"jpegs-{W}x{H}-q90"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"img_{i:04d}.jpg" for i in range(count)]
    missing = [(i, str(p)) for i, p in enumerate(paths) if not p.exists()]
    if missing:
        print(f"[gen] generating {len(missing)} JPEGs into {folder} ...", flush=True)
        t0 = time.perf_counter()
        with ProcessPoolExecutor(procs) as pool:
            list(pool.map(make_jpeg, missing, chunksize=4))
        print(f"[gen] done in {time.perf_counter() - t0:.1f}s", flush=True)
    return paths


def decode(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        im.load()
        return im.size


def bare_loop(paths: list[Path]) -> float:
    t0 = time.perf_counter()
    for p in paths:
        decode(p)
    return time.perf_counter() - t0


def bare_pool(paths: list[Path], procs: int) -> float:
    with ProcessPoolExecutor(procs) as pool:
        list(pool.map(decode, paths[:procs]))  # warm the workers (imports) first
        t0 = time.perf_counter()
        list(pool.map(decode, paths, chunksize=4))
        return time.perf_counter() - t0


def caption_for(path: Path) -> bytes:
    return f"a photo of sks landscape, {path.stem}, soft light".encode()


def wait_settled(srv: C.TrainsetServer, ds: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with srv.client() as http:
        while True:
            body: dict[str, Any] = C.check(http.get(f"{C.API}/{ds}/status"), "status")
            if body["status"] in ("READY", "FAILED") or time.monotonic() > deadline:
                return body
            time.sleep(0.05)


def trainset_run(
    srv: C.TrainsetServer, paths: list[Path], clients: int, timeout: float, *, wait: bool = True
) -> dict[str, Any]:
    with srv.client() as http:
        ds = C.check(http.post(C.API, json={"name": "bench_checks"}), "create")["id"]
    jobs = [(p, True) for p in paths] + [(p, False) for p in paths]
    jobs_lock = threading.Lock()
    errors: list[BaseException] = []
    sampler = C.RssSampler(srv.pid) if srv.pid else None

    def worker() -> None:
        with srv.client(timeout=120.0) as http:
            while not errors:
                with jobs_lock:
                    if not jobs:
                        return
                    path, is_image = jobs.pop(0)
                try:
                    if is_image:
                        headers, _n, body = C.multipart_stream(path, path.name, "image/jpeg")
                        r = C.request_with_retry(
                            lambda h=headers, b=body: http.post(
                                f"{C.API}/{ds}/upload", content=b, headers=h
                            ),
                            attempts=1,  # a streamed body cannot be replayed
                        )
                    else:
                        name = path.with_suffix(".txt").name
                        data = caption_for(path)
                        r = C.request_with_retry(
                            lambda n=name, d=data: http.post(
                                f"{C.API}/{ds}/upload", files={"file": (n, d, "text/plain")}
                            )
                        )
                    C.check(r, f"upload {path.name}")
                except BaseException as exc:
                    errors.append(exc)
                    return

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    if sampler:
        sampler.__enter__()
    try:
        t_first = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        t_last = time.perf_counter()
        if errors:
            raise errors[0]
        print(f"[trainset] uploads done in {t_last - t_first:.1f}s", flush=True)
        body = wait_settled(srv, ds, timeout) if wait else {"status": "UPLOADING"}
        t_ready = time.perf_counter()
    finally:
        if sampler:
            sampler.__exit__(None, None, None)
    return {
        "dataset": ds,
        "status": body["status"],
        "error": body.get("error"),
        "files": len(body.get("files", [])),
        "uploads": t_last - t_first,
        "after_last": t_ready - t_last,
        "total": t_ready - t_first,
        "rss": sampler.growth if sampler else 0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2, help="TRAINSET_WORKERS")
    ap.add_argument("--clients", type=int, default=4, help="concurrent upload clients")
    ap.add_argument("--timeout", type=float, default=240.0, help="max wait for READY (s)")
    args = ap.parse_args()
    started = time.monotonic()

    paths = jpegs(args.count, max(1, os.cpu_count() or 1))
    total_bytes = sum(p.stat().st_size for p in paths)
    bare_loop(paths[:5])  # warm the page cache and Pillow's imports
    bare = bare_loop(paths)
    print(f"[bare] {args.count} decodes in {bare:.2f}s", flush=True)
    pooled = bare_pool(paths, args.workers)
    print(f"[bare] {args.workers} processes: {pooled:.2f}s", flush=True)

    rows: list[list[Any]] = [
        [
            f"bare loop: Image.open + load, 1 process ({args.count} files)",
            f"{bare:.2f} s",
            f"{bare / args.count * 1000:.1f} ms/img",
            "1.00x",
        ],
        [
            f"bare loop, {args.workers} processes (context)",
            f"{pooled:.2f} s",
            f"{pooled / args.count * 1000:.1f} ms/img",
            f"{pooled / bare:.2f}x",
        ],
    ]
    srv = C.TrainsetServer(env={"TRAINSET_WORKERS": str(args.workers)}, startup_timeout=60)
    try:
        srv.start()
    except Exception as exc:
        print(f"!! trainset server could not start; trainset rows skipped:\n{exc}", flush=True)
        srv.cleanup()
        srv = None
    if srv is not None:
        try:
            res = trainset_run(srv, paths, args.clients, args.timeout)
        finally:
            srv.cleanup()
        state = res["status"] if res["status"] in ("READY", "FAILED") else "TIMEOUT"
        if res["error"]:
            print(f"[trainset] dataset error: {res['error']}", flush=True)
        rows += [
            [
                f"trainset checks: last upload done → {state}",
                f"{res['after_last']:.2f} s",
                f"{res['files']} files in status",
                f"{res['after_last'] / bare:.2f}x",
            ],
            [
                f"trainset: first upload start → {state}",
                f"{res['total']:.2f} s",
                f"uploads alone {res['uploads']:.2f} s "
                f"({total_bytes / 1e6 / res['uploads']:.0f} MB/s, {args.clients} clients)",
                f"{res['total'] / bare:.2f}x",
            ],
            [
                "trainset server peak RSS growth",
                f"{res['rss'] / 2**20:.0f} MiB",
                "whole run, process tree",
                "",
            ],
        ]

    # The checks alone: the same files uploaded with no worker, then the queue kept in
    # the database is drained by a restarted server with the workers on.
    drain = C.TrainsetServer(env={"TRAINSET_WORKERS": "0"}, startup_timeout=60)
    try:
        drain.start()
        queued = trainset_run(drain, paths, args.clients, args.timeout, wait=False)
        drain.stop()
        drain.restart(env={"TRAINSET_WORKERS": str(args.workers)})  # returns once ready
        t0 = time.perf_counter()
        body = wait_settled(drain, queued["dataset"], args.timeout)
        drained = time.perf_counter() - t0
        print(f"[trainset] queue of {2 * args.count} checks drained in {drained:.2f}s", flush=True)
        rows.insert(
            2,
            [
                f"trainset checks alone: {2 * args.count} queued checks → {body['status']}",
                f"{drained:.2f} s",
                f"{args.count} JPEGs + {args.count} captions, {args.workers} worker processes",
                f"{drained / bare:.2f}x",
            ],
        )
    finally:
        drain.cleanup()

    print()
    print("## trainset bench_checks")
    print()
    print("\n".join(C.environment_lines()))
    print(
        f"- {args.count} JPEGs {W}x{H} q90, {total_bytes / 1e6:.0f} MB total; "
        f"TRAINSET_WORKERS={args.workers}; total bench time {time.monotonic() - started:.0f} s"
    )
    print()
    print(C.markdown_table(["measurement", "time", "detail", "vs bare loop"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
