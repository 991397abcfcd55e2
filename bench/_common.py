"""Shared helpers for the benchmark scripts in this folder (not a package).

Scripts run as ``.venv/bin/python bench/NAME.py``; Python puts ``bench/`` on sys.path,
so ``import _common`` works, and ``_common`` puts the repository root on sys.path so
``tests.seaweed`` / ``tests.server`` import too.
"""

from __future__ import annotations

import contextlib
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.seaweed import SeaweedS3, find_weed  # noqa: E402
from tests.server import TrainsetServer  # noqa: E402

__all__ = [
    "API",
    "CACHE",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "REPO",
    "RssSampler",
    "SeaweedS3",
    "TrainsetServer",
    "check",
    "environment_lines",
    "file_chunks",
    "markdown_table",
    "multipart_stream",
    "percentile",
    "print_report",
    "request_with_retry",
    "sink_upload",
    "wait_settled",
]

API = "/prod/v1/trainers/datasets"
CACHE = Path(
    os.environ.get("TRAINSET_BENCH_CACHE") or Path(tempfile.gettempdir()) / "trainset-bench-cache"
)
CHUNK = 1 << 20


def check(r: httpx.Response, what: str, expected: int = 200) -> Any:
    """Fail loudly (status + body) unless ``r`` has the expected status; return JSON."""
    if r.status_code != expected:
        raise RuntimeError(f"{what}: HTTP {r.status_code}: {r.text[:500]}")
    if not r.content:
        return None
    with contextlib.suppress(ValueError):
        return r.json()
    return None


def request_with_retry(
    send: Callable[[], httpx.Response], *, attempts: int = 20, counter: list[int] | None = None
) -> httpx.Response:
    """Call ``send`` again on 429/503 after ``Retry-After`` (capped at 2 s)."""
    for _ in range(attempts - 1):
        r = send()
        if r.status_code not in (429, 503):
            return r
        if counter is not None:
            counter[0] += 1
        try:
            delay = float(r.headers.get("retry-after", "0.2"))
        except ValueError:
            delay = 0.2
        time.sleep(min(max(delay, 0.05), 2.0))
    return send()


def file_chunks(path: Path, size: int | None = None, chunk: int = CHUNK) -> Iterator[bytes]:
    """Stream a file from disk in ``chunk``-sized pieces (never whole in memory)."""
    left = path.stat().st_size if size is None else size
    with path.open("rb") as f:
        while left > 0:
            data = f.read(min(chunk, left))
            if not data:
                raise RuntimeError(f"{path} shorter than expected")
            left -= len(data)
            yield data


def multipart_stream(
    path: Path, filename: str, content_type: str, field: str = "file"
) -> tuple[dict[str, str], int, Iterator[bytes]]:
    """A hand-built streaming multipart/form-data body for one file.

    Returns (headers incl. Content-Type with boundary and Content-Length, length,
    chunk iterator). Preamble + file chunks + epilogue; nothing is buffered.
    """
    boundary = "----trainsetbench" + secrets.token_hex(12)
    preamble = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    epilogue = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size
    length = len(preamble) + size + len(epilogue)

    def body() -> Iterator[bytes]:
        yield preamble
        yield from file_chunks(path, size)
        yield epilogue

    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(length),
    }
    return headers, length, body()


class RssSampler:
    """Sample the RSS of a process tree every ``interval`` s in a thread; report the
    peak growth over the baseline taken at construction (bytes)."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.baseline = self._rss()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        total = 0
        with contextlib.suppress(psutil.Error):
            total += self.proc.memory_info().rss
            for child in self.proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


_SINK = r"""
import socket, sys
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
print(srv.getsockname()[1], flush=True)
while True:
    conn, _ = srv.accept()
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += conn.recv(65536)
    head, rest = buf.split(b"\r\n\r\n", 1)
    length = next(int(v) for k, _, v in (ln.partition(b":") for ln in head.split(b"\r\n"))
                  if k.strip().lower() == b"content-length")
    got = len(rest)
    while got < length:
        got += len(conn.recv(1 << 20))
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    conn.close()
"""


def sink_upload(path: Path) -> float:
    """Seconds to PUT ``path`` (streamed, like the real routes) into a loopback socket
    that only discards: the ceiling of this client on this machine."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SINK], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        size = path.stat().st_size
        t0 = time.perf_counter()
        r = httpx.put(
            f"http://127.0.0.1:{port}/sink",
            content=file_chunks(path),
            headers={"Content-Length": str(size)},
            timeout=120.0,
        )
        dt = time.perf_counter() - t0
        check(r, "sink PUT")
        return dt
    finally:
        proc.kill()
        proc.wait()


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def wait_settled(
    client: httpx.Client, dataset_id: str, timeout: float, poll: float = 0.1
) -> tuple[str, dict[str, Any]]:
    """Poll the dataset status until it leaves UPLOADING (bounded); return it."""
    deadline = time.monotonic() + timeout
    while True:
        body = check(client.get(f"{API}/{dataset_id}/status"), "status")
        if body["status"] != "UPLOADING" or time.monotonic() > deadline:
            return body["status"], body
        time.sleep(poll)


def _cmd_version(args: list[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    if out.returncode != 0:
        return "?"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"


def environment_lines() -> list[str]:
    vm = psutil.virtual_memory()
    try:
        weed = _cmd_version([find_weed(), "version"])
    except Exception:
        weed = "not installed"
    rev = _cmd_version(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    freq = psutil.cpu_freq()
    return [
        f"- cpus: {os.cpu_count()} logical / {psutil.cpu_count(logical=False)} physical"
        + (f" @ {freq.max or freq.current:.0f} MHz" if freq else ""),
        f"- cpu: {platform.processor() or platform.machine()}; {_cpu_model()}",
        f"- memory: {vm.total / 2**30:.1f} GiB",
        f"- python: {platform.python_implementation()} {platform.python_version()} "
        f"({sys.executable})",
        f"- os: {platform.platform()}",
        f"- httpx {httpx.__version__}; weed: {weed}; trainset git: {rev}",
    ]


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def print_report(
    heading: str, notes: Sequence[str], tables: Sequence[tuple[str, Sequence[str], Any]]
) -> None:
    """The closing Markdown report of a benchmark: environment, notes, one table each."""
    print()
    print(f"## {heading}")
    print()
    print("\n".join([*environment_lines(), *notes]))
    for title, headers, rows in tables:
        print()
        print(f"### {title}")
        print()
        print(markdown_table(headers, rows))
