"""The content-check queue, kept in the database so any process can work it.

A job is claimed with a lease; a job whose lease ran out (its worker died) is
claimed again. On PostgreSQL claims use `FOR UPDATE SKIP LOCKED`, so many workers
never take the same job; on SQLite the single writer makes a claim atomic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update

from trainset.db.engine import Database
from trainset.db.tables import files, jobs
from trainset.domain.clock import now
from trainset.domain.lifecycle import refresh

LEASE = timedelta(seconds=300)
MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    file_id: str
    dataset_id: str
    attempts: int
    filename: str
    blob_key: str


async def claim(db: Database, n: int) -> list[Job]:
    at = now()
    claimable = or_(jobs.c.state == "queued", jobs.c.lease_until < at)
    async with db.write() as conn:
        q = select(jobs.c.id).where(claimable).order_by(jobs.c.created_at).limit(n)
        if not db.is_sqlite:
            q = q.with_for_update(skip_locked=True)
        ids = list((await conn.execute(q)).scalars())
        if not ids:
            return []
        await conn.execute(
            update(jobs)
            .where(jobs.c.id.in_(ids))
            .values(state="running", lease_until=at + LEASE, attempts=jobs.c.attempts + 1)
        )
        rows = await conn.execute(
            select(
                jobs.c.id,
                jobs.c.file_id,
                jobs.c.dataset_id,
                jobs.c.attempts,
                files.c.filename,
                files.c.blob_key,
            )
            .join(files, files.c.id == jobs.c.file_id, isouter=True)
            .where(jobs.c.id.in_(ids))
        )
        out: list[Job] = []
        orphans: list[str] = []
        for r in rows:
            if r.filename is None:
                orphans.append(r.id)  # the file was replaced or deleted meanwhile
            else:
                out.append(Job(r.id, r.file_id, r.dataset_id, r.attempts, r.filename, r.blob_key))
        if orphans:
            await conn.execute(delete(jobs).where(jobs.c.id.in_(orphans)))
    return out


async def complete(
    db: Database,
    job: Job,
    ok: bool,
    code: str | None,
    message: str | None,
    meta: dict[str, Any],
) -> None:
    """Store the result on the file version and refresh the dataset, in one transaction."""
    at = now()
    async with db.write() as conn:
        await conn.execute(delete(jobs).where(jobs.c.id == job.id))
        result = await conn.execute(
            update(files)
            .where(files.c.id == job.file_id, files.c.check_state == "pending")
            .values(
                check_state="ok" if ok else "failed",
                check_code=code,
                check_message=message,
                check_meta=meta,
            )
        )
        if result.rowcount:
            await refresh(conn, job.dataset_id, at, touched=False)


async def release(db: Database, job: Job) -> None:
    """Put a job back for another try (its check could not run, e.g. storage was down)."""
    async with db.write() as conn:
        await conn.execute(
            update(jobs).where(jobs.c.id == job.id).values(state="queued", lease_until=None)
        )


async def requeue_running(db: Database) -> int:
    """After a crash of the only worker process (embedded), its claimed jobs run again."""
    async with db.write() as conn:
        result = await conn.execute(
            update(jobs).where(jobs.c.state == "running").values(state="queued", lease_until=None)
        )
    return int(result.rowcount)
