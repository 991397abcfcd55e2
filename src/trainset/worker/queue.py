"""The content-check queue, kept in the database so any process can work it.

A job is claimed with a lease; a job whose lease ran out (its worker died) is
claimed again. On PostgreSQL claims use `FOR UPDATE SKIP LOCKED`, so many workers
never take the same job; on SQLite the single writer makes a claim atomic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import JSON, Connection, bindparam, delete, func, or_, select, update

from trainset.db.engine import Database
from trainset.db.tables import files, jobs
from trainset.domain.clock import now
from trainset.domain.datasets import add_garbage
from trainset.domain.lifecycle import refresh

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    file_id: str
    dataset_id: str
    attempts: int
    filename: str
    blob_key: str
    sha256: str | None  # None: the file went straight to S3; the check computes it


def _claim(conn: Connection, n: int, lock_rows: bool, lease: timedelta) -> list[Job]:
    at = now()
    claimable = or_(jobs.c.state == "queued", jobs.c.lease_until < at)
    q = select(jobs.c.id).where(claimable).order_by(jobs.c.created_at).limit(n)
    if lock_rows:
        q = q.with_for_update(skip_locked=True)
    ids = list(conn.execute(q).scalars())
    if not ids:
        return []
    conn.execute(
        update(jobs)
        .where(jobs.c.id.in_(ids))
        .values(state="running", lease_until=at + lease, attempts=jobs.c.attempts + 1)
    )
    rows = conn.execute(
        select(
            jobs.c.id,
            jobs.c.file_id,
            jobs.c.dataset_id,
            jobs.c.attempts,
            files.c.filename,
            files.c.blob_key,
            files.c.sha256,
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
            out.append(
                Job(r.id, r.file_id, r.dataset_id, r.attempts, r.filename, r.blob_key, r.sha256)
            )
    if orphans:
        conn.execute(delete(jobs).where(jobs.c.id.in_(orphans)))
    return out


async def claim(db: Database, n: int, lease: timedelta = LEASE) -> list[Job]:
    """Up to `n` jobs, each leased to the caller for `lease` (renew with `extend`)."""
    return await db.write(_claim, n, not db.is_sqlite, lease)


def _extend(conn: Connection, ids: list[str], lease: timedelta) -> None:
    until = now() + lease
    for i in range(0, len(ids), 500):
        conn.execute(
            update(jobs)
            .where(jobs.c.id.in_(ids[i : i + 500]), jobs.c.state == "running")
            .values(lease_until=until)
        )


async def extend(db: Database, ids: list[str], lease: timedelta) -> None:
    """Renew the leases of jobs still being checked, so no other worker takes them."""
    if ids:
        await db.write(_extend, ids, lease)


@dataclass(frozen=True, slots=True)
class Outcome:
    job: Job
    ok: bool
    code: str | None
    message: str | None
    meta: dict[str, Any]
    sha256: str | None = None  # computed by the check when the job had none
    thumb_key: str | None = None  # the thumbnail blob the check stored
    text: str | None = None  # a caption's text, when short enough to keep


_DELETE_JOB = delete(jobs).where(jobs.c.id == bindparam("job_id"))
_STORE_RESULT = (
    update(files)
    .where(files.c.id == bindparam("file_id"), files.c.check_state == "pending")
    .values(
        check_state=bindparam("state"),
        check_code=bindparam("code"),
        check_message=bindparam("message"),
        check_meta=bindparam("meta", type_=JSON),
        sha256=func.coalesce(files.c.sha256, bindparam("sha")),
        thumb_key=bindparam("thumb"),
        caption_text=bindparam("text"),
    )
)


def _complete(conn: Connection, outcomes: list[Outcome], grace: timedelta) -> None:
    # One executemany per statement for the whole batch, then one status refresh per
    # dataset (a result for a file replaced meanwhile updates nothing: its row is gone).
    at = now()
    thumbs = {o.job.file_id: o.thumb_key for o in outcomes if o.thumb_key}
    if thumbs:
        # A thumbnail of a version replaced or deleted meanwhile is nobody's: garbage.
        # (A delete not yet committed scheduled it already: see datasets.blobs_of.) One
        # whose version is still there is its version's, whoever records the verdict:
        # its key derives from the version, and the version's delete schedules it.
        alive = set(conn.execute(select(files.c.id).where(files.c.id.in_(list(thumbs)))).scalars())
        unowned = [k for fid, k in thumbs.items() if fid not in alive]
        if unowned:
            add_garbage(conn, unowned, at + grace)
    conn.execute(_DELETE_JOB, [{"job_id": o.job.id} for o in outcomes])
    conn.execute(
        _STORE_RESULT,
        [
            {
                "file_id": o.job.file_id,
                "state": "ok" if o.ok else "failed",
                "code": o.code,
                "message": o.message,
                "meta": o.meta,
                "sha": o.sha256,
                "thumb": o.thumb_key,
                "text": o.text,
            }
            for o in outcomes
        ],
    )
    for ds_id in {o.job.dataset_id for o in outcomes}:
        refresh(conn, ds_id, at, touched=False)


async def complete(db: Database, outcomes: list[Outcome], grace: timedelta = timedelta(0)) -> None:
    """Store results on their file versions and refresh each dataset, in one transaction.
    A thumbnail whose file is gone goes to garbage after `grace`."""
    await db.write(_complete, outcomes, grace)


def _release(conn: Connection, job_id: str, refund: bool) -> None:
    values: dict[str, Any] = {"state": "queued", "lease_until": None}
    if refund:
        values["attempts"] = jobs.c.attempts - 1
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


async def release(db: Database, job: Job, *, count_attempt: bool = True) -> None:
    """Put a job back for another try. `count_attempt=False` when the check could not
    run for reasons outside the file (storage down): that try does not count against
    the file's MAX_ATTEMPTS."""
    await db.write(_release, job.id, not count_attempt)


def _requeue(conn: Connection) -> int:
    result = conn.execute(
        update(jobs).where(jobs.c.state == "running").values(state="queued", lease_until=None)
    )
    return int(result.rowcount)


async def requeue_running(db: Database) -> int:
    """After a crash of the only worker process (embedded), its claimed jobs run again."""
    return await db.write(_requeue)
