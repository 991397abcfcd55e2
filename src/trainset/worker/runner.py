"""Runs content checks: claims jobs from the queue, checks files in a process pool.

Used in two ways: inside `trainset serve` (TRAINSET_WORKERS processes) and as the
`trainset worker` process. Image and video decoding is CPU work, so it runs in
worker processes (both cores busy, the event loop free); the loop only moves jobs.
Jobs are claimed in batches and results written in batches (one transaction and
one status refresh per dataset per batch), so the database work per file stays
small next to the decoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import timedelta

from trainset.domain.datasets import thumb_key_of
from trainset.domain.filetypes import Kind, file_type
from trainset.errors import StorageUnavailable
from trainset.services import Services
from trainset.worker import queue
from trainset.worker.checks import check_file

log = logging.getLogger("trainset.worker")
IDLE_POLL = 1.0
# A check taking longer than this is a hostile or broken file: its process is killed.
CHECK_TIMEOUT = 120.0
MAX_BATCH = 64
BATCH_PAUSE = 0.05
STORE_TRIES = 10


def _warm() -> None:
    """Import the decoders in each pool process before the first job arrives."""
    import av  # noqa: F401
    import PIL.Image  # noqa: F401


def _give_up(job: queue.Job) -> queue.Outcome:
    ft = file_type(job.filename)
    kind = ft.kind if ft else Kind.IMAGE
    code = {Kind.VIDEO: "corrupt_video", Kind.CAPTION: "invalid_caption"}.get(kind, "corrupt_image")
    message = f"{job.filename} could not be checked: its check crashed or hung repeatedly"
    return queue.Outcome(job, False, code, message, {})


class CheckWorker:
    def __init__(self, svc: Services, concurrency: int):
        self.svc = svc
        self.concurrency = max(1, concurrency)
        # Jobs claimed ahead of the pool: a process never waits for the database, and
        # claims and results move in batches (one transaction for many files). Not
        # much deeper than that: with several workers, jobs one worker holds ahead are
        # jobs an idle one cannot take (a 16-deep single-process worker left a second
        # worker idle at the end of a queue; bench_scaled.py "checks").
        self.depth = max(4, self.concurrency * 4)
        self._pool: ProcessPoolExecutor | None = None
        self._stopping = asyncio.Event()
        self._results: asyncio.Queue[queue.Outcome] = asyncio.Queue()
        self._running: set[asyncio.Task[None]] = set()
        # Jobs claimed and not yet stored: their leases are renewed while they run, so
        # a long check is never taken over, and a dead worker's jobs free up quickly.
        self._held: set[str] = set()
        self.lease = timedelta(seconds=svc.settings.check_lease_seconds)
        self.grace = timedelta(seconds=svc.settings.gc_grace_seconds)

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn: forking a process that runs threads and an event loop is unsafe.
        return ProcessPoolExecutor(
            max_workers=self.concurrency,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_warm,
        )

    async def run(self) -> None:
        self._pool = self._new_pool()
        # Start every process (and its decoder imports) now, not on the first upload.
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self._pool, _warm) for _ in range(self.concurrency))
        )
        helpers = [
            asyncio.create_task(self._write_results(), name="check-results"),
            asyncio.create_task(self._renew_leases(), name="check-leases"),
        ]
        try:
            await self._dispatch()
        finally:
            for t in list(self._running):
                t.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)
            for t in helpers:
                t.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            pool, self._pool = self._pool, None
            pool.shutdown(wait=False, cancel_futures=True)

    def stop(self) -> None:
        self._stopping.set()
        self.svc.jobs_queued.set()

    async def _dispatch(self) -> None:
        slots = asyncio.Semaphore(self.depth)
        while not self._stopping.is_set():
            await slots.acquire()
            free = 1
            while free < MAX_BATCH and not slots.locked():
                await slots.acquire()
                free += 1
            try:
                jobs = await queue.claim(self.svc.db, free, self.lease)
            except Exception:
                log.exception("claiming check jobs failed; retrying")
                jobs = []
            for _ in range(free - len(jobs)):
                slots.release()
            if not jobs:
                self.svc.jobs_queued.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.svc.jobs_queued.wait(), IDLE_POLL)
                continue
            for job in jobs:
                self._held.add(job.id)
                task = asyncio.create_task(self._process(job, slots))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            if len(jobs) < free:
                # The queue ran dry: let a few more uploads land so the next claim is a
                # batch (one transaction for many jobs) rather than one job at a time.
                await asyncio.sleep(BATCH_PAUSE)

    async def _process(self, job: queue.Job, slots: asyncio.Semaphore) -> None:
        try:
            if job.attempts > queue.MAX_ATTEMPTS:
                await self._results.put(_give_up(job))
                return
            pool = self._pool
            try:
                await self._results.put(await self._check(job))
            except StorageUnavailable:
                log.warning("storage unavailable while checking %s; will retry", job.file_id)
                await asyncio.sleep(IDLE_POLL)  # no hot loop while the store is down
                await queue.release(self.svc.db, job, count_attempt=False)
                self._held.discard(job.id)
            except (BrokenProcessPool, TimeoutError):
                log.error("check of %s crashed or timed out; restarting the pool", job.file_id)
                if self._pool is pool:  # only the first job to notice replaces the pool
                    self._restart_pool()
                await queue.release(self.svc.db, job)  # tried again; attempts are counted
                self._held.discard(job.id)
        except Exception:
            # The lease is no longer renewed: another claim retries the job after it.
            self._held.discard(job.id)
            log.exception("check of %s failed unexpectedly; it will be retried", job.file_id)
        finally:
            slots.release()

    async def _check(self, job: queue.Job) -> queue.Outcome:
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        ft = file_type(job.filename)
        # Captions are a streamed UTF-8 read: a thread does it without the process
        # round trip. Decoders (images, videos) always run in the pool's processes.
        executor = None if ft is not None and ft.kind is Kind.CAPTION else self._pool
        async with self.svc.storage.local_copy(job.blob_key) as copy:
            fut = loop.run_in_executor(executor, check_file, copy.path, job.filename)
            r = await asyncio.wait_for(fut, CHECK_TIMEOUT)
        thumb_key = await self._store_thumbnail(job, r.thumbnail) if r.thumbnail else None
        # A file that arrived straight at the object store gets the sha256 its download
        # computed (stored only where the file has none yet).
        return queue.Outcome(
            job, r.ok, r.code, r.message, r.meta, copy.sha256, thumb_key=thumb_key, text=r.text
        )

    async def _store_thumbnail(self, job: queue.Job, data: bytes) -> str | None:
        """Keep a check's thumbnail as a derived blob; None if it cannot be stored (the
        verdict matters more than a picture of it: the gallery shows a placeholder)."""
        storage = self.svc.storage
        key = thumb_key_of(job.file_id)
        try:
            writer = await storage.writer(key)
            try:
                await writer.write(data)
                await writer.commit()
            except BaseException:
                await writer.abort()
                raise
        except Exception:
            log.warning("storing the thumbnail of %s failed", job.file_id, exc_info=True)
            return None
        return key

    async def _write_results(self) -> None:
        while True:
            batch = [await self._results.get()]
            while len(batch) < MAX_BATCH and not self._results.empty():
                batch.append(self._results.get_nowait())
            for attempt in range(STORE_TRIES):
                try:
                    await queue.complete(self.svc.db, batch, self.grace)
                    break
                except Exception:
                    # E.g. the database restarting: the verdicts are kept and stored
                    # again shortly (the leases are renewed meanwhile).
                    log.warning("storing %d check results failed (try %d)", len(batch),
                                attempt + 1, exc_info=True)  # fmt: skip
                    await asyncio.sleep(IDLE_POLL * (attempt + 1))
            # Stored, or given up: either way the leases are no longer renewed, so a
            # job whose verdict was lost is claimed again once its lease runs out.
            for o in batch:
                self._held.discard(o.job.id)

    async def _renew_leases(self) -> None:
        every = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                await queue.extend(self.svc.db, list(self._held), self.lease)
            except Exception:
                log.warning("renewing check leases failed; will retry", exc_info=True)

    def _restart_pool(self) -> None:
        old, self._pool = self._pool, self._new_pool()
        if old is not None:
            # Kill the stuck or broken processes; their jobs are released for a retry.
            for p in list(getattr(old, "_processes", {}).values()):
                p.kill()
            old.shutdown(wait=False, cancel_futures=True)
