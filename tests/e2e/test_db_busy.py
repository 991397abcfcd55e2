"""The database busy or locked by someone else (issue 6 faults).

Another process takes the database's strongest lock (SQLite `BEGIN EXCLUSIVE`;
PostgreSQL `LOCK TABLE … ACCESS EXCLUSIVE`) while clients keep working. Calls wait
for it; a SQLite lock held longer than the busy timeout is a clear 503 `overloaded`
with `Retry-After`, never a 500; nothing answered 200 is lost, nothing half-written
appears, and the server is fine once the lock goes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import psycopg
import pytest

from tests import media
from tests.server import TrainsetServer
from tests.shapes import Shape
from tests.wire import BASE, create, sizes, wait_final


@pytest.fixture(scope="module")
def srv(shape: Shape) -> Iterator[TrainsetServer]:
    with shape.server(workers="1") as s:
        yield s


@contextmanager
def locked(srv: TrainsetServer) -> Iterator[None]:
    """Hold the whole database locked by another client for the duration."""
    url = srv.env.get("TRAINSET_DATABASE_URL")
    if url is None:
        conn = sqlite3.connect(srv.data_dir / "trainset.db", isolation_level=None, timeout=30)
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("LOCK TABLE datasets, files, uploads, jobs IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            conn.rollback()


def test_calls_wait_out_a_short_lock(srv: TrainsetServer) -> None:
    c = srv.client(timeout=60)
    ds = create(c)["id"]
    data = {f"p{i}.jpg": media.jpeg(100 + i, 100) for i in range(6)}
    data |= {f"p{i}.txt": media.caption(f"p{i}") for i in range(6)}

    def put(item: tuple[str, bytes]) -> tuple[str, int, float]:
        t = time.monotonic()
        with srv.client(timeout=60) as cc:
            r = cc.post(f"{BASE}/{ds}/upload", files={"file": item})
        return item[0], r.status_code, time.monotonic() - t

    with ThreadPoolExecutor(6) as pool:
        with locked(srv):
            futures = [pool.submit(put, item) for item in data.items()]
            time.sleep(3)  # the lock is held this long while the uploads wait
        results = [f.result() for f in futures]
    assert max(took for _, _, took in results) >= 2.5  # they did wait
    codes = {name: code for name, code, _ in results}
    assert set(codes.values()) <= {200, 503}, results
    kept = {n for n, code in codes.items() if code == 200}
    assert kept, results  # they waited for the lock rather than failing at once
    body = wait_final(c, ds)
    assert set(sizes(body)) == kept  # every 200 is there; nothing else is
    for name in kept:
        assert sizes(body)[name] == len(data[name])
    assert c.get("/healthz").status_code == 200


def test_a_lock_past_the_busy_timeout_is_a_503(srv: TrainsetServer, shape: Shape) -> None:
    if shape.scaled:
        pytest.skip("PostgreSQL waits for a lock as long as it is held (no busy timeout)")
    c = srv.client(timeout=60)
    ds = create(c)["id"]
    out: dict[str, httpx.Response] = {}

    def call() -> None:
        with srv.client(timeout=60) as cc:
            out["upload"] = cc.post(
                f"{BASE}/{ds}/upload", files={"file": ("late.jpg", media.jpeg(90, 90))}
            )

    with locked(srv):
        t = threading.Thread(target=call)
        t.start()
        t.join(40)  # SQLite's busy timeout is 15 s
    r = out["upload"]
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "overloaded" and r.headers["retry-after"] == "1"
    # Refused whole: no file, no attempt left UPLOADING, and the next call works.
    body = wait_final(c, ds)
    assert body["files"] == [] and body["status"] == "DRAFT"
    again = c.post(f"{BASE}/{ds}/upload", files={"file": ("late.jpg", media.jpeg(90, 90))})
    assert again.status_code == 200
