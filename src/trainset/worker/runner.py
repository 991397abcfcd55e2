"""Runs content checks: claims jobs from the queue, checks files in a process pool.

Used in two ways: inside `trainset serve` (TRAINSET_WORKERS slots) and as the
`trainset worker` process. Image and video decoding is CPU work, so it runs in
worker processes (both cores busy, the event loop free); the loop only moves jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from trainset.domain.filetypes import Kind, file_type
from trainset.errors import StorageUnavailable
from trainset.services import Services
from trainset.worker import queue
from trainset.worker.checks import CheckResult, check_file

log = logging.getLogger("trainset.worker")
IDLE_POLL = 1.0
# A check taking longer than this is a hostile or broken file: its process is killed.
CHECK_TIMEOUT = 120.0


def _warm() -> None:
    """Import the decoders in each pool process before the first job arrives."""
    import av  # noqa: F401
    import PIL.Image  # noqa: F401


class CheckWorker:
    def __init__(self, svc: Services, concurrency: int):
        self.svc = svc
        self.concurrency = max(1, concurrency)
        self._pool: ProcessPoolExecutor | None = None
        self._stopping = asyncio.Event()

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn: forking a process that runs threads and an event loop is unsafe.
        return ProcessPoolExecutor(
            max_workers=self.concurrency,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_warm,
        )

    async def run(self) -> None:
        self._pool = self._new_pool()
        try:
            await asyncio.gather(*(self._slot(i) for i in range(self.concurrency)))
        finally:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=False, cancel_futures=True)

    def stop(self) -> None:
        self._stopping.set()
        self.svc.jobs_queued.set()

    async def _slot(self, n: int) -> None:
        while not self._stopping.is_set():
            try:
                jobs = await queue.claim(self.svc.db, 1)
            except Exception:
                log.exception("claiming a check job failed; retrying")
                await asyncio.sleep(IDLE_POLL)
                continue
            if not jobs:
                self.svc.jobs_queued.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.svc.jobs_queued.wait(), IDLE_POLL)
                continue
            for job in jobs:
                await self._process(job)

    async def _process(self, job: queue.Job) -> None:
        if job.attempts > queue.MAX_ATTEMPTS:
            kind = file_type(job.filename)
            code = "corrupt_video" if kind and kind.kind is Kind.VIDEO else "corrupt_image"
            if kind and kind.kind is Kind.CAPTION:
                code = "invalid_caption"
            await queue.complete(
                self.svc.db,
                job,
                False,
                code,
                f"{job.filename} could not be checked: its check crashed or hung repeatedly",
                {},
            )
            return
        pool = self._pool
        try:
            result = await self._check(job)
        except StorageUnavailable:
            log.warning("storage unavailable while checking %s; will retry", job.file_id)
            await queue.release(self.svc.db, job)
            await asyncio.sleep(IDLE_POLL)
            return
        except (BrokenProcessPool, TimeoutError):
            log.error("check of %s crashed or timed out; restarting the pool", job.file_id)
            if self._pool is pool:  # only the first slot to notice replaces the pool
                self._restart_pool()
            await queue.release(self.svc.db, job)  # tried again; attempts are counted
            return
        await queue.complete(self.svc.db, job, result.ok, result.code, result.message, result.meta)

    async def _check(self, job: queue.Job) -> CheckResult:
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        async with self.svc.storage.local_copy(job.blob_key) as path:
            fut = loop.run_in_executor(self._pool, check_file, path, job.filename)
            return await asyncio.wait_for(fut, CHECK_TIMEOUT)

    def _restart_pool(self) -> None:
        old, self._pool = self._pool, self._new_pool()
        if old is not None:
            # Kill the stuck or broken processes; their jobs' leases will run out.
            for p in list(getattr(old, "_processes", {}).values()):
                p.kill()
            old.shutdown(wait=False, cancel_futures=True)
