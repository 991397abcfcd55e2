"""Recovery after a crash and the periodic sweeper.

- `recover()` at startup of an embedded instance (the only process): uploads that
  were streaming when the process died are aborted and their blob keys scheduled
  for removal; claimed check jobs are queued again; partial temp files are removed.
- `sweep()` periodically, in every serving process: signed URLs past expiry,
  direct uploads whose lease ran out (their process died), and garbage blobs whose
  grace period is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy import Connection, delete, select, update

from trainset.db.tables import files, garbage, uploads
from trainset.domain.clock import now
from trainset.domain.datasets import add_garbage
from trainset.domain.lifecycle import RECEIVING, refresh
from trainset.domain.uploads import expire_due, settle
from trainset.errors import TrainsetError
from trainset.services import Services
from trainset.worker import queue

log = logging.getLogger("trainset.maintenance")
SWEEP_EVERY = 2.0
TEMP_SWEEP_EVERY = 600.0
# A temp file untouched this long belongs to no live upload (leases renew far sooner).
TEMP_MAX_AGE = 3600.0


def _abort_receiving_tx(conn: Connection, only_lapsed: bool, grace: timedelta) -> list[str]:
    at = now()
    q = select(uploads.c.id, uploads.c.dataset_id, uploads.c.blob_key).where(
        uploads.c.state == RECEIVING
    )
    if only_lapsed:
        q = q.where(uploads.c.expires_at < at)
    dead = conn.execute(q).all()
    if not dead:
        return []
    # The blob may have been renamed into place just before the crash: remove it later.
    add_garbage(conn, [d.blob_key for d in dead if d.blob_key], at + grace)
    ids = [d.id for d in dead]
    for i in range(0, len(ids), 500):
        conn.execute(
            update(uploads).where(uploads.c.id.in_(ids[i : i + 500])).values(state="aborted")
        )
    for ds_id in {d.dataset_id for d in dead}:
        refresh(conn, ds_id, at, touched=False)
    return [d.blob_key for d in dead if d.blob_key]


def _any_lapsed(conn: Connection) -> bool:
    q = select(uploads.c.id).where(uploads.c.state == RECEIVING, uploads.c.expires_at < now())
    return conn.execute(q.limit(1)).first() is not None


async def _abort_receiving(svc: Services, *, only_lapsed: bool) -> int:
    # The periodic sweep looks first with a read, so an idle instance takes no write lock.
    if only_lapsed and not await svc.db.read(_any_lapsed):
        return 0
    grace = timedelta(seconds=svc.settings.gc_grace_seconds)
    keys: list[str] = await svc.db.write(_abort_receiving_tx, only_lapsed, grace)
    for key in keys:  # the dead process's partial bytes (a temp file, a multipart upload)
        await svc.storage.discard_partial(key)
    return len(keys)


async def recover(svc: Services) -> dict[str, int]:
    """Startup recovery for the embedded shape (one process owns everything)."""
    aborted = await _abort_receiving(svc, only_lapsed=False)
    requeued = await queue.requeue_running(svc.db)
    temp = await svc.storage.sweep_temporary(0)
    expired = await expire_due(svc)
    if aborted or requeued or temp or expired:
        log.warning(
            "recovered after an unclean stop: %d uploads aborted, %d checks re-queued, "
            "%d partial files removed, %d signed URLs expired",
            aborted,
            requeued,
            temp,
            expired,
        )
    return {"aborted": aborted, "requeued": requeued, "temp": temp, "expired": expired}


def _due_garbage(conn: Connection, batch: int) -> list[str]:
    keys = list(
        conn.execute(
            select(garbage.c.blob_key).where(garbage.c.delete_after <= now()).limit(batch)
        ).scalars()
    )
    if not keys:
        return keys
    # Belt and braces: a key some file still references is never removed. (A key is
    # never given to another version: blob keys are random, a thumbnail's derives from
    # its version; so this finds nothing unless a bug scheduled a live blob.)
    live = set(conn.execute(select(files.c.blob_key).where(files.c.blob_key.in_(keys))).scalars())
    live.update(
        conn.execute(select(files.c.thumb_key).where(files.c.thumb_key.in_(keys))).scalars()
    )
    if live:
        log.error("garbage names %d blobs still referenced; keeping them", len(live))
        conn.execute(delete(garbage).where(garbage.c.blob_key.in_(live)))
    return [k for k in keys if k not in live]


async def collect_garbage(svc: Services, batch: int = 200) -> int:
    """Remove blobs whose grace period is over; the row goes only once the blob is gone."""
    keys: list[str] = await svc.db.read(_due_garbage, batch)
    gate = asyncio.Semaphore(16)

    async def remove(key: str) -> None:
        async with gate:
            if key.startswith("u:"):
                await svc.storage.delete_upload(key[2:])
            else:
                await svc.storage.delete(key)

    await asyncio.gather(*(remove(k) for k in keys))
    if keys:
        await svc.db.write(
            lambda conn: conn.execute(delete(garbage).where(garbage.c.blob_key.in_(keys)))
        )
    return len(keys)


async def sweep(svc: Services) -> None:
    await settle(svc)
    await _abort_receiving(svc, only_lapsed=True)
    await collect_garbage(svc)


async def run_sweeper(svc: Services, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    last_temp = loop.time()
    while not stop.is_set():
        try:
            await sweep(svc)
            if loop.time() - last_temp > TEMP_SWEEP_EVERY:
                last_temp = loop.time()
                await svc.storage.sweep_temporary(TEMP_MAX_AGE)
        except (TrainsetError, OSError):
            log.warning("sweep failed; will retry", exc_info=True)
        except Exception:
            log.exception("sweep failed unexpectedly; will retry")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SWEEP_EVERY)
