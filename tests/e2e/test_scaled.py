"""The scaled shape as operators run it: several stateless API processes and separate
workers on one PostgreSQL and one object store, and the faults that shape must survive
(a killed worker, an object store outage, a PostgreSQL restart under load).

Real processes over loopback, real PostgreSQL on 127.0.0.1:5432, real SeaweedFS.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests import media, shapes
from tests.seaweed import SeaweedS3
from tests.server import TrainsetServer, serve_command
from tests.wire import BASE, assert_error, create, signed_urls, sizes, status, upload, wait_final

pytestmark = pytest.mark.skipif(
    "scaled" not in shapes.selected(), reason="TRAINSET_TEST_SHAPES excludes the scaled shape"
)


@pytest.fixture
def scaled(seaweed: SeaweedS3) -> Iterator[shapes.Shape]:
    sh = shapes.Shape("scaled", seaweed)
    yield sh
    sh.cleanup()


class Worker:
    """A `trainset worker` process (checks only) with its own log."""

    def __init__(self, env: dict[str, str], log_dir: Path, concurrency: int = 1):
        exe = serve_command()[0]
        base = {k: v for k, v in os.environ.items() if not k.startswith("TRAINSET_")}
        self.log = log_dir / f"worker-{time.monotonic_ns()}.log"
        self._log_file = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [exe, "worker", "--concurrency", str(concurrency)],
            env={**base, **env, "PYTHONUNBUFFERED": "1"},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the worker and its check processes at once (a machine dying)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log_file.close()


def _db(env: dict[str, str]) -> psycopg.Connection[Any]:
    return psycopg.connect(env["TRAINSET_DATABASE_URL"], autocommit=True)


def test_two_api_processes_and_a_worker(scaled: shapes.Shape, tmp_path: Path) -> None:
    env = {**scaled.env(), "TRAINSET_WORKERS": "0"}
    with TrainsetServer(env=env) as a, TrainsetServer(env=env, token=a.token) as b:
        ca, cb = a.client(), b.client()
        ds = create(ca)["id"]  # created through A
        jpg, caption = media.jpeg(320, 320), media.caption("a red fox")
        upload(cb, ds, "fox.jpg", jpg)  # uploaded through B
        # A signed URL issued by A, used at the store, completed by a poll through B.
        clip = media.video("mp4", frames=3)
        entry = signed_urls(ca, ds, {"clip.mp4": len(clip), "clip.txt": 6})
        assert httpx.put(
            entry["clip.mp4"]["upload_url"], content=clip, headers=entry["clip.mp4"]["headers"]
        ).is_success
        assert httpx.put(
            entry["clip.txt"]["upload_url"], content=b"a clip", headers=entry["clip.txt"]["headers"]
        ).is_success
        upload(ca, ds, "fox.txt", caption)
        # No process runs checks yet (TRAINSET_WORKERS=0 on both API processes).
        time.sleep(1.5)
        assert status(cb, ds)["status"] == "UPLOADING"
        with (
            _db(env) as conn,
            conn.execute("SELECT count(*) FROM files WHERE check_state = 'pending'") as cur,
        ):
            assert cur.fetchone() == (4,)

        worker = Worker(env, tmp_path)
        try:
            body = wait_final(cb, ds)
            assert body["status"] == "READY", body
            assert status(ca, ds) == body  # both processes see the same READY dataset
            assert sizes(body) == {
                "clip.mp4": len(clip), "clip.txt": 6, "fox.jpg": len(jpg), "fox.txt": len(caption)
            }  # fmt: skip
            # The presigned upload's sha256 was computed by the check from the object.
            import hashlib

            m = cb.get(f"{BASE}/{ds}/manifest").json()
            by_name = {f["filename"]: f for f in m["files"]}
            assert by_name["clip.mp4"]["sha256"] == hashlib.sha256(clip).hexdigest()
            assert httpx.get(by_name["fox.jpg"]["download_url"]).content == jpg
            # Any process serves any file.
            r = ca.get(f"{BASE}/{ds}/files/clip.mp4", follow_redirects=True)
            assert r.content == clip
        finally:
            worker.stop()


def test_killed_worker_job_is_finished_by_another(scaled: shapes.Shape, tmp_path: Path) -> None:
    env = {**scaled.env(), "TRAINSET_WORKERS": "0", "TRAINSET_CHECK_LEASE_SECONDS": "3"}
    with TrainsetServer(env=env) as srv:
        c = srv.client()
        ds = create(c)["id"]
        for i in range(6):  # big enough that a check takes a while
            upload(c, ds, f"p{i}.jpg", media.jpeg(4000, 3000))
            upload(c, ds, f"p{i}.txt", media.caption(f"picture {i}"))
        first = Worker(env, tmp_path)
        held: list[str] = []
        deadline = time.monotonic() + 60
        with _db(env) as conn:
            while not held:
                assert time.monotonic() < deadline, "the first worker never claimed a job"
                rows = conn.execute("SELECT id FROM jobs WHERE state = 'running'").fetchall()
                held = [r[0] for r in rows]
                time.sleep(0.02)
        first.kill()  # mid-check: its jobs stay claimed until their lease runs out
        with _db(env) as conn:
            left = {r[0] for r in conn.execute("SELECT id FROM jobs").fetchall()}
        assert set(held) & left, "the killed worker's jobs must still be waiting"
        assert status(c, ds)["status"] == "UPLOADING"

        second = Worker(env, tmp_path)
        try:
            body = wait_final(c, ds, timeout=120)
            assert body["status"] == "READY", body
            with _db(env) as conn:
                assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (0,)
                states = conn.execute("SELECT DISTINCT check_state FROM files").fetchall()
            assert states == [("ok",)]
        finally:
            second.stop()


def test_object_store_outage(tmp_path: Path) -> None:
    """The store stops: clear 503s, metadata still served, nothing lost; it comes back:
    everything works again without a restart of trainset."""
    with SeaweedS3(base_dir=tmp_path / "s3") as s3:
        sh = shapes.Shape("scaled", s3)
        env = {**sh.env(), "TRAINSET_WORKERS": "1"}
        try:
            with TrainsetServer(env=env) as srv:
                c = srv.client()
                ds = create(c)["id"]
                jpg = media.jpeg(300, 300)
                upload(c, ds, "a.jpg", jpg)
                upload(c, ds, "a.txt", media.caption())
                assert wait_final(c, ds)["status"] == "READY"

                s3.stop(keep_dir=True)
                r = c.post(f"{BASE}/{ds}/upload", files={"file": ("b.jpg", media.jpeg(310, 310))})
                err = assert_error(r, 503, "storage_unavailable")
                assert "try again" in err["message"]
                assert int(r.headers["retry-after"]) > 0
                ready = c.get("/readyz")
                assert ready.status_code == 503, ready.text
                # Metadata lives in PostgreSQL: status and listing still answer.
                body = status(c, ds)
                assert body["status"] == "READY" and sizes(body)["a.jpg"] == len(jpg)
                assert c.get(BASE).status_code == 200

                s3.restart()
                deadline = time.monotonic() + 30
                while c.get("/readyz").status_code != 200:
                    assert time.monotonic() < deadline, "never ready again"
                    time.sleep(0.2)
                upload(c, ds, "b.jpg", media.jpeg(310, 310))
                upload(c, ds, "b.txt", media.caption())
                body = wait_final(c, ds)
                assert body["status"] == "READY", body
                assert set(sizes(body)) == {"a.jpg", "a.txt", "b.jpg", "b.txt"}
                got = c.get(f"{BASE}/{ds}/files/a.jpg", follow_redirects=True)
                assert got.content == jpg  # nothing lost
        finally:
            sh.cleanup()


def _pg_cluster() -> tuple[str, str]:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    return version, "main"


def test_postgresql_restart_under_load(scaled: shapes.Shape) -> None:
    """PostgreSQL restarts while clients upload and poll: calls in that window get a
    clear 503 (never a 500), every upload answered 200 is kept, and the service
    recovers by itself. Uploads and check results cut off by the restart hold leases
    (short here) that run out, so the dataset settles without any restart of trainset."""
    env = {
        **scaled.env(),
        "TRAINSET_WORKERS": "1",
        "TRAINSET_UPLOAD_LEASE_SECONDS": "4",
        "TRAINSET_CHECK_LEASE_SECONDS": "4",
    }
    with TrainsetServer(env=env) as srv:
        c = srv.client()
        ds = create(c)["id"]
        stop = threading.Event()
        stored: list[str] = []
        codes: dict[int, int] = {}
        bad: list[str] = []

        def load() -> None:
            with srv.client() as lc:
                i = 0
                while not stop.is_set():
                    name = f"n{i:04}.txt"
                    i += 1
                    try:
                        r = lc.post(
                            f"{BASE}/{ds}/upload", files={"file": (name, b"caption %d" % i)}
                        )
                        s = lc.get(f"{BASE}/{ds}/status")
                    except httpx.TransportError:
                        continue
                    for resp in (r, s):
                        codes[resp.status_code] = codes.get(resp.status_code, 0) + 1
                        if resp.status_code >= 500 and resp.status_code != 503:
                            bad.append(resp.text)
                    if r.status_code == 200:
                        stored.append(name)

        t = threading.Thread(target=load)
        t.start()
        try:
            time.sleep(1.0)
            version, cluster = _pg_cluster()
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "restart"],
                check=True,
                timeout=120,
                capture_output=True,
            )
            time.sleep(2.0)
        finally:
            stop.set()
            t.join(60)
        assert not bad, bad[:3]
        assert stored, codes
        deadline = time.monotonic() + 30
        while True:  # pooled connections from before the restart are replaced
            r = c.get("/readyz")
            if r.status_code == 200:
                break
            assert time.monotonic() < deadline, r.text
            time.sleep(0.2)
        upload(c, ds, "img.jpg", media.jpeg(300, 300))
        upload(c, ds, "img.txt", media.caption())
        try:
            body = wait_final(c, ds, timeout=60)
        except AssertionError:
            with _db(env) as conn:
                up = conn.execute(
                    "SELECT state, count(*), min(expires_at) FROM uploads GROUP BY state"
                ).fetchall()
                fl = conn.execute(
                    "SELECT check_state, count(*) FROM files GROUP BY check_state"
                ).fetchall()
                jb = conn.execute(
                    "SELECT state, attempts, lease_until FROM jobs LIMIT 5"
                ).fetchall()
                st = conn.execute("SELECT status, updated_at FROM datasets").fetchall()
            raise AssertionError(
                f"not settled: uploads {up} files {fl} jobs {jb} ds {st}"
            ) from None
        names = set(sizes(body))
        assert set(stored) <= names, sorted(set(stored) - names)[:5]
        assert body["status"] in ("READY", "FAILED"), body
