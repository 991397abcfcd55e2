"""A bounded load run against a real trainset server on loopback (issue: reliability).

    .venv/bin/python bench/load.py                      # embedded shape, 50 clients, 60 s
    .venv/bin/python bench/load.py --shape scaled       # PostgreSQL + SeaweedFS
    .venv/bin/python bench/load.py --clients 20 --seconds 20

Each of --clients concurrent clients (asyncio + one httpx.AsyncClient each) owns a
dataset and loops over a mix of calls for --seconds: direct uploads of images and
captions (some replacing earlier versions), signed-URL uploads (get-upload-endpoint
+ PUT), status polls, lists, single-file downloads. Every call's latency is recorded
per kind. Afterwards every dataset is polled until it settles, and every file the
server lists is downloaded and its sha256 compared with the last version the client
was told was stored: a lost or corrupted file, or any 5xx, fails the run (exit 1).

Printed: per call kind count, p50/p99 and errors; server RSS (process tree) before
and after; files verified.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import importlib
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil

import _common as C

media = importlib.import_module("tests.media")
_shapes = importlib.import_module("tests.shapes")


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    codes: dict[str, dict[int, int]] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)

    def record(self, kind: str, seconds: float, r: httpx.Response) -> None:
        self.latencies.setdefault(kind, []).append(seconds)
        by_code = self.codes.setdefault(kind, {})
        by_code[r.status_code] = by_code.get(r.status_code, 0) + 1
        if r.status_code >= 500:
            self.server_errors.append(f"{kind} {r.status_code} {r.text[:200]}")


@dataclass
class Client:
    http: httpx.AsyncClient
    plain: httpx.AsyncClient
    dataset: str
    stats: Stats
    rng: random.Random
    expected: dict[str, str] = field(default_factory=dict)  # filename -> sha256

    async def call(self, kind: str, method: str, url: str, **kw: Any) -> httpx.Response:
        t0 = time.perf_counter()
        r = await self.http.request(method, url, **kw)
        self.stats.record(kind, time.perf_counter() - t0, r)
        return r

    async def upload(self, pictures: list[bytes]) -> None:
        i = self.rng.randrange(12)  # a small name space: replacements happen
        data = self.rng.choice(pictures)
        for name, body in ((f"p{i:02}.jpg", data), (f"p{i:02}.txt", b"a photo %d" % i)):
            r = await self.call(
                "upload (direct)",
                "POST",
                f"{C.API}/{self.dataset}/upload",
                files={"file": (name, body)},
            )
            if r.status_code == 200:
                self.expected[name] = hashlib.sha256(body).hexdigest()

    async def signed(self, pictures: list[bytes]) -> None:
        i = self.rng.randrange(4)
        name, data = f"s{i}.jpg", self.rng.choice(pictures)
        r = await self.call(
            "get-upload-endpoint",
            "POST",
            f"{C.API}/{self.dataset}/get-upload-endpoint",
            json={"filenameToByteSize": {name: len(data), f"s{i}.txt": 5}},
        )
        if r.status_code != 200:
            return
        urls = r.json()["uploads"]
        for fname, body in ((name, data), (f"s{i}.txt", b"s-cap")):
            entry = urls[fname]
            t0 = time.perf_counter()
            put = await self.plain.put(entry["upload_url"], content=body, headers=entry["headers"])
            self.stats.record("signed PUT", time.perf_counter() - t0, put)
            if put.status_code == 200:
                self.expected[fname] = hashlib.sha256(body).hexdigest()

    async def run(self, deadline: float, pictures: list[bytes]) -> None:
        while time.monotonic() < deadline:
            roll = self.rng.random()
            try:
                if roll < 0.35:
                    await self.upload(pictures)
                elif roll < 0.45:
                    await self.signed(pictures)
                elif roll < 0.80:
                    await self.call("status", "GET", f"{C.API}/{self.dataset}/status")
                elif roll < 0.95:
                    await self.call("list", "GET", C.API)
                elif self.expected:
                    name = self.rng.choice(sorted(self.expected))
                    url = f"{C.API}/{self.dataset}/files/{name}"
                    await self.call("download", "GET", url, follow_redirects=True)
            except httpx.TransportError as e:
                self.stats.server_errors.append(f"transport: {type(e).__name__}: {e}")


def tree_rss(pid: int) -> int:
    p = psutil.Process(pid)
    procs = [p, *p.children(recursive=True)]
    total = 0
    for q in procs:
        with contextlib.suppress(psutil.Error):
            total += q.memory_info().rss
    return total


async def settle_and_verify(clients: list[Client]) -> tuple[int, list[str]]:
    problems: list[str] = []
    verified = 0
    for c in clients:
        deadline = time.monotonic() + 180
        while True:
            r = await c.http.get(f"{C.API}/{c.dataset}/status")
            if r.status_code != 200:
                problems.append(f"{c.dataset}: status answered {r.status_code}: {r.text[:200]}")
                body = {}
                break
            body = r.json()
            if body["status"] != "UPLOADING":
                break
            if time.monotonic() > deadline:
                problems.append(f"{c.dataset}: still UPLOADING")
                break
            await asyncio.sleep(0.2)
        listed = {f["filename"]: f for f in body.get("files", [])}
        for name, sha in c.expected.items():
            if name not in listed:
                problems.append(f"{c.dataset}/{name}: lost (stored, then missing)")
                continue
            r = await c.http.get(f"{C.API}/{c.dataset}/files/{name}", follow_redirects=True)
            got = hashlib.sha256(r.content).hexdigest()
            # A later version may have replaced the one this client last saw stored only
            # if the client itself sent it; the client records every stored version, so
            # the bytes must be exactly the last one.
            if got != sha or (listed[name]["sha256"] not in (None, sha)):
                problems.append(f"{c.dataset}/{name}: bytes differ from the last stored version")
            verified += 1
    return verified, problems


async def main_async(args: argparse.Namespace) -> int:
    s3 = C.SeaweedS3(bucket="load") if args.shape == "scaled" else None
    if s3 is not None:
        s3.start()
    shape = _shapes.Shape(args.shape, s3)
    try:
        env = {**shape.env(), "TRAINSET_WORKERS": str(args.workers)}
        with C.TrainsetServer(env=env, startup_timeout=60) as srv:
            return await run(srv, args)
    finally:
        shape.cleanup()
        if s3 is not None:
            s3.stop()


async def run(srv: C.TrainsetServer, args: argparse.Namespace) -> int:
    pictures = [media.jpeg(320 + i * 8, 320) for i in range(6)]
    stats = Stats()
    limits = httpx.Limits(max_connections=4)
    clients: list[Client] = []
    for i in range(args.clients):
        http = httpx.AsyncClient(
            base_url=srv.base_url, headers=srv.headers, timeout=60, limits=limits
        )
        r = await http.post(C.API, json={"name": f"load_{i:03}"})
        C.check(r, "create")
        clients.append(
            Client(http, httpx.AsyncClient(timeout=60), r.json()["id"], stats, random.Random(i))
        )
    assert srv.pid is not None
    rss_before = tree_rss(srv.pid)
    t0 = time.monotonic()
    await asyncio.gather(*(c.run(t0 + args.seconds, pictures) for c in clients))
    wall = time.monotonic() - t0
    rss_after = tree_rss(srv.pid)
    verified, problems = await settle_and_verify(clients)
    for c in clients:
        await c.http.aclose()
        await c.plain.aclose()

    rows = []
    for kind in sorted(stats.latencies):
        lat = stats.latencies[kind]
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(stats.codes[kind].items()))
        rows.append(
            [
                kind,
                len(lat),
                f"{C.percentile(lat, 50) * 1000:.1f}",
                f"{C.percentile(lat, 99) * 1000:.1f}",
                codes,
            ]
        )
    total = sum(len(v) for v in stats.latencies.values())
    outcome = [
        ["calls", f"{total:,} in {wall:.0f} s ({total / wall:.0f}/s)"],
        ["5xx / transport errors", str(len(stats.server_errors))],
        ["files verified by sha256 after the run", str(verified)],
        ["lost or corrupted files", str(len(problems))],
        [
            "server RSS (process tree) before -> after",
            f"{rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB",
        ],
    ]
    C.print_report(
        f"trainset load run ({args.shape} shape)",
        [f"- {args.clients} clients for {args.seconds:.0f} s, TRAINSET_WORKERS={args.workers}"],
        [
            ("per call kind (ms)", ["call", "count", "p50", "p99", "status codes"], rows),
            ("outcome", ["measure", "value"], outcome),
        ],
    )
    for line in (stats.server_errors + problems)[:20]:
        print("!!", line)
    return 1 if stats.server_errors or problems else 0


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--shape", choices=("embedded", "scaled"), default="embedded")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    return asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
