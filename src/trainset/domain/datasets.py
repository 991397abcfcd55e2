"""Datasets: create, look up, list, delete. Every lookup is scoped to the account."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, or_, select
from sqlalchemy.exc import IntegrityError

from trainset.db.engine import Database
from trainset.db.tables import datasets, files, garbage, jobs, uploads
from trainset.domain.accounts import Account, check_token
from trainset.domain.clock import now
from trainset.domain.filetypes import Kind, file_type
from trainset.domain.lifecycle import DRAFT, FAILED, PENDING, READY, UPLOADING, due_urls
from trainset.domain.names import check_dataset_name, generate_dataset_name
from trainset.domain.quotas import Quotas, check_datasets
from trainset.errors import DatasetNameTaken, DatasetNotFound, InvalidRequest

STATUSES = (DRAFT, UPLOADING, READY, FAILED)


@dataclass(frozen=True, slots=True)
class Dataset:
    id: str
    name: str
    status: str
    created_at: datetime
    updated_at: datetime
    error: dict[str, Any] | None = None
    warnings: list[dict[str, Any]] | None = None
    file_count: int = 0
    total_bytes: int = 0

    @classmethod
    def from_row(cls, r: Any) -> Dataset:
        return cls(
            r.id,
            r.name,
            r.status,
            r.created_at,
            r.updated_at,
            r.error,
            r.warnings,
            r.file_count,
            r.total_bytes,
        )


_COLS = (
    datasets.c.id,
    datasets.c.name,
    datasets.c.status,
    datasets.c.created_at,
    datasets.c.updated_at,
    datasets.c.error,
    datasets.c.warnings,
    datasets.c.file_count,
    datasets.c.total_bytes,
)


async def create(
    db: Database, account: Account, name: str | None, quotas: Quotas | None = None
) -> Dataset:
    name = check_dataset_name(name) if name is not None else generate_dataset_name()
    at = now()
    ds = Dataset(str(uuid.uuid4()), name, DRAFT, at, at)
    row = {
        "id": ds.id, "account_id": account.id, "name": ds.name, "status": DRAFT,
        "created_at": at, "updated_at": at,
    }  # fmt: skip
    try:

        def insert_row(conn: Connection) -> None:
            if quotas is not None:
                check_datasets(conn, quotas, account.id)
            conn.execute(insert(datasets).values(**row))

        await db.write(insert_row)
    except IntegrityError:
        raise DatasetNameTaken(
            f"A dataset named {name!r} already exists in this account; pick another name "
            "or delete that dataset first."
        ) from None
    return ds


_SUMMARY = (*_COLS[:5], datasets.c.file_count, datasets.c.total_bytes)

# Hot-path statements are built once: SQLAlchemy then reuses their cache keys and
# compiled forms instead of rebuilding them on every request.
_FETCH = select(*_COLS).where(
    datasets.c.id == bindparam("ds_id"), datasets.c.account_id == bindparam("account_id")
)


def fetch(conn: Connection, account: Account, dataset_id: str) -> Dataset:
    """The account's dataset, or DatasetNotFound (also for another account's)."""
    if "\x00" in dataset_id:  # never an id (and PostgreSQL text cannot hold it)
        raise DatasetNotFound(f"No dataset with id {dataset_id!r} in this account.")
    row = conn.execute(_FETCH, {"ds_id": dataset_id, "account_id": account.id}).first()
    if row is None:
        raise DatasetNotFound(f"No dataset with id {dataset_id!r} in this account.")
    return Dataset.from_row(row)


def _with_files(
    conn: Connection, token: str, dataset_id: str, presigned: bool
) -> tuple[Dataset, list[tuple[str, int, str | None]]]:
    ds = fetch(conn, check_token(conn, token), dataset_id)
    if ds.status == UPLOADING:
        # A signed URL may have run out since the sweeper last looked, or (object
        # store) a presigned PUT may have arrived: the caller settles that (HEADs and
        # writes) before answering, so a poll never sees a stale UPLOADING.
        at = now()
        due = conn.execute(due_urls(ds.id, at).limit(1)).first()
        if due is None and presigned:
            due = conn.execute(
                select(uploads.c.id)
                .where(
                    uploads.c.dataset_id == ds.id,
                    uploads.c.route == "signed",
                    uploads.c.state == PENDING,
                )
                .limit(1)
            ).first()
        if due is not None:
            raise _SettleDue
    rows = conn.execute(
        select(files.c.filename, files.c.size_bytes, files.c.sha256)
        .where(files.c.dataset_id == dataset_id)
        .order_by(files.c.filename)
    )
    return ds, [(r.filename, r.size_bytes, r.sha256) for r in rows]


class _SettleDue(Exception):
    pass


async def with_files(
    db: Database,
    token: str,
    dataset_id: str,
    settle: Callable[[str], Awaitable[object]],
    *,
    presigned: bool = False,
) -> tuple[Dataset, list[tuple[str, int, str | None]]]:
    """The dataset and its completed files (name, size, sha256), from one snapshot.

    Takes the bearer token: it is checked in the same read (one thread hand-off for a
    status poll, the call clients make most). `settle(dataset_id)` is awaited first
    when the UPLOADING dataset has a signed URL that ran out, or (`presigned`: the
    store receives signed uploads) any presigned upload outstanding."""
    try:
        return await db.read(_with_files, token, dataset_id, presigned)
    except _SettleDue:
        await settle(dataset_id)
        return await db.read(_with_files, token, dataset_id, False)


def _encode_cursor(ds: Dataset) -> str:
    raw = json.dumps([ds.created_at.isoformat(), ds.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        ts, ds_id = json.loads(raw)
        return datetime.fromisoformat(ts), str(ds_id)
    except (ValueError, TypeError) as e:
        raise InvalidRequest("The `after` cursor is malformed; pass next_cursor back as is.") from e


async def list_datasets(
    db: Database,
    token: str,
    *,
    name: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    after: str | None = None,
) -> tuple[list[Dataset], str | None]:
    """Oldest first; with `limit`, one page and the cursor of the next (None at the end).

    Takes the bearer token, checked in the same read. Only the listed fields are read
    (not the error and warning documents): an account may hold many datasets."""
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}.")
    q = select(*_SUMMARY).where(datasets.c.account_id == bindparam("account_id"))
    if name is not None:
        q = q.where(datasets.c.name == name)
    if status is not None:
        q = q.where(datasets.c.status == status)
    if after is not None:
        ts, ds_id = _decode_cursor(after)
        q = q.where(
            or_(
                datasets.c.created_at > ts,
                and_(datasets.c.created_at == ts, datasets.c.id > ds_id),
            )
        )
    q = q.order_by(datasets.c.created_at, datasets.c.id)
    if limit is not None:
        q = q.limit(limit + 1)

    def run(conn: Connection) -> list[Dataset]:
        account = check_token(conn, token)
        return [
            Dataset(*r[:5], file_count=r.file_count, total_bytes=r.total_bytes)
            for r in conn.execute(q, {"account_id": account.id})
        ]

    items = await db.read(run)
    if limit is not None and len(items) > limit:
        items = items[:limit]
        return items, _encode_cursor(items[-1])
    return items, None


def _remove(conn: Connection, account: Account, dataset_id: str, grace_seconds: int) -> Dataset:
    ds = fetch(conn, account, dataset_id)
    at = now()
    grace = timedelta(seconds=grace_seconds)
    keys = [
        k
        for r in conn.execute(select(*FILE_BLOBS).where(files.c.dataset_id == ds.id))
        for k in blobs_of(r)
    ]
    # Streaming attempts hold blob keys; signed URLs name upload objects, which a
    # presigned PUT can still create until the URL expires: those go after that.
    late: list[tuple[str, datetime]] = []
    for u in conn.execute(
        select(uploads.c.route, uploads.c.blob_key, uploads.c.expires_at).where(
            uploads.c.dataset_id == ds.id, uploads.c.blob_key.is_not(None)
        )
    ):
        if u.route == "signed":
            late.append((f"u:{u.blob_key}", max(at, u.expires_at) + grace))
        else:
            keys.append(u.blob_key)
    add_garbage(conn, keys, at + grace)
    for key, after in late:
        add_garbage(conn, [key], after)
    conn.execute(delete(jobs).where(jobs.c.dataset_id == ds.id))
    conn.execute(delete(files).where(files.c.dataset_id == ds.id))
    conn.execute(delete(uploads).where(uploads.c.dataset_id == ds.id))
    conn.execute(delete(datasets).where(datasets.c.id == ds.id))
    return ds


async def remove(db: Database, account: Account, dataset_id: str, grace_seconds: int) -> Dataset:
    """Delete the dataset and its rows now; its blobs go to garbage for later removal."""
    return await db.write(_remove, account, dataset_id, grace_seconds)


def thumb_key_of(file_id: str) -> str:
    """The key of a file version's thumbnail: derived from the version, not drawn at
    random, so a check run again after a crash overwrites the one it stored before,
    and whoever retires a version can name its thumbnail before the check has recorded
    it (on PostgreSQL that check may be storing it in a transaction running now)."""
    return hashlib.sha256(f"thumbnail:{file_id}".encode()).hexdigest()[:32]


# The columns `blobs_of` needs.
FILE_BLOBS = (files.c.id, files.c.filename, files.c.blob_key, files.c.thumb_key)


def blobs_of(row: Any) -> list[str]:
    """The blobs a file row owns: its bytes, and for an image or video its thumbnail,
    recorded or not: a check may still be storing it, or may have stored it and died
    before recording it, with the try after that giving up or making none. (Scheduling
    a key that was never stored costs a no-op delete; missing one would leak the blob.)
    A check that stores its thumbnail after the version is gone sends it to garbage
    itself (queue._complete)."""
    if row.thumb_key:
        return [row.blob_key, row.thumb_key]
    ft = file_type(row.filename)
    if ft is not None and ft.kind is not Kind.CAPTION:
        return [row.blob_key, thumb_key_of(row.id)]
    return [row.blob_key]


def add_garbage(conn: Connection, keys: list[str], delete_after: datetime) -> None:
    """Schedule blobs for removal (idempotent: a key already scheduled keeps its time)."""
    if not keys:
        return
    keys = list(dict.fromkeys(keys))
    for i in range(0, len(keys), 500):  # stay far below SQLite's bound-parameter limit
        part = keys[i : i + 500]
        existing = set(
            conn.execute(select(garbage.c.blob_key).where(garbage.c.blob_key.in_(part))).scalars()
        )
        fresh = [{"blob_key": k, "delete_after": delete_after} for k in part if k not in existing]
        if fresh:
            conn.execute(insert(garbage), fresh)
