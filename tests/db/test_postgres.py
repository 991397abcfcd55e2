"""The same schema, queries and queue on PostgreSQL (the scaled shape's database).

Needs the PostgreSQL that .ci/run starts on 127.0.0.1:5432; each run gets a fresh
database that is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import Connection, Engine, create_engine, insert, inspect, select

from trainset.db.engine import Database
from trainset.db.migrate import upgrade
from trainset.db.tables import files, garbage, jobs
from trainset.domain import accounts
from trainset.domain import datasets as ds_service
from trainset.domain import files as files_domain
from trainset.domain.clock import now
from trainset.errors import DatasetNameTaken
from trainset.worker import queue

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    name = f"trainset_test_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[Database]:
    d = Database(pg_url)
    await upgrade(d)
    yield d
    await d.dispose()


async def test_migrations_are_idempotent(db: Database) -> None:
    await upgrade(db)  # a second run (another process starting) changes nothing
    tables = await db.read(lambda conn: set(inspect(conn).get_table_names()))
    assert {"accounts", "tokens", "datasets", "files", "uploads", "jobs", "garbage"} <= tables


async def test_accounts_and_unique_names(db: Database) -> None:
    acc, token = await accounts.create_account(db, f"pg_{secrets.token_hex(3)}")
    assert await accounts.authenticate(db, token) == acc
    await ds_service.create(db, acc, "same")
    with pytest.raises(DatasetNameTaken):
        await ds_service.create(db, acc, "same")


async def test_concurrent_claims_never_share_a_job(db: Database) -> None:
    acc, _ = await accounts.create_account(db, f"q_{secrets.token_hex(3)}")
    ds = await ds_service.create(db, acc, None)
    at = now()
    file_rows, job_rows = [], []
    for i in range(60):
        fid = str(uuid.uuid4())
        file_rows.append(
            {"id": fid, "dataset_id": ds.id, "filename": f"f{i}.txt", "stem": f"f{i}",
             "size_bytes": 1, "sha256": "0" * 64, "blob_key": secrets.token_hex(16),
             "content_type": "text/plain", "created_at": at, "check_state": "pending"}
        )  # fmt: skip
        job_rows.append(
            {"id": str(uuid.uuid4()), "kind": "check", "file_id": fid, "dataset_id": ds.id,
             "state": "queued", "attempts": 0, "created_at": at}
        )  # fmt: skip

    def seed(conn: object) -> None:
        conn.execute(insert(files), file_rows)  # type: ignore[attr-defined]
        conn.execute(insert(jobs), job_rows)  # type: ignore[attr-defined]

    await db.write(seed)
    claimed: list[str] = []

    async def claimer() -> None:
        while batch := await queue.claim(db, 4):
            claimed.extend(j.id for j in batch)

    await asyncio.gather(*(claimer() for _ in range(6)))
    assert sorted(claimed) == sorted(j["id"] for j in job_rows)


async def checked_image(db: Database) -> tuple[str, str, queue.Outcome]:
    """An account's token, a pending image's file id, and the outcome of its check (its
    thumbnail stored under the key the worker uses)."""
    acc, token = await accounts.create_account(db, f"t_{secrets.token_hex(3)}")
    ds = await ds_service.create(db, acc, None)
    fid, job_id = str(uuid.uuid4()), str(uuid.uuid4())

    def seed(conn: Connection) -> None:
        conn.execute(
            insert(files),
            {"id": fid, "dataset_id": ds.id, "filename": "a.jpg", "stem": "a",
             "size_bytes": 1, "sha256": "0" * 64, "blob_key": secrets.token_hex(16),
             "content_type": "image/jpeg", "created_at": now(), "check_state": "pending"},
        )  # fmt: skip
        conn.execute(
            insert(jobs),
            {"id": job_id, "kind": "check", "file_id": fid, "dataset_id": ds.id,
             "state": "running", "attempts": 1, "created_at": now()},
        )  # fmt: skip

    await db.write(seed)
    job = queue.Job(job_id, fid, ds.id, 1, "a.jpg", "", "0" * 64)
    thumb = ds_service.thumb_key_of(fid)
    return token, fid, queue.Outcome(job, True, None, None, {}, None, thumb_key=thumb)


def owners(conn: Connection, key: str) -> tuple[list[str], list[str]]:
    """The file rows that reference `key`, and `key` if it is scheduled as garbage."""
    owned = conn.execute(select(files.c.id).where(files.c.thumb_key == key)).scalars()
    queued = conn.execute(select(garbage.c.blob_key).where(garbage.c.blob_key == key))
    return list(owned), list(queued.scalars())


@pytest.mark.parametrize("first", ["check", "delete"])
async def test_a_thumbnail_stored_as_its_file_is_deleted_goes_to_garbage(
    pg_url: str, db: Database, first: str
) -> None:
    """A check storing its verdict (and thumbnail) while the same version is deleted,
    in either order, on READ COMMITTED: the thumbnail must end up owned by a row or
    scheduled as garbage, never neither (a blob nobody would ever remove)."""
    token, fid, outcome = await checked_image(db)
    thumb = ds_service.thumb_key_of(fid)
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    holding, release = threading.Event(), threading.Event()

    def hold_open(fn: Callable[[Connection], object]) -> None:
        with engine.begin() as conn:
            fn(conn)
            holding.set()
            release.wait(10)

    def check(conn: Connection) -> None:
        queue._complete(conn, [outcome], timedelta(0))

    def remove(conn: Connection) -> None:
        files_domain._remove(conn, token, outcome.job.dataset_id, "a.jpg", 0)

    def race() -> None:
        with ThreadPoolExecutor(2) as pool:
            a = pool.submit(hold_open, check if first == "check" else remove)
            assert holding.wait(10)
            b = pool.submit(in_transaction, engine, remove if first == "check" else check)
            time.sleep(0.3)  # the second transaction is now waiting on the row lock
            assert not b.done()
            release.set()
            a.result(10)
            b.result(10)

    try:
        await asyncio.to_thread(race)
    finally:
        engine.dispose()

    assert await db.read(owners, thumb) == ([], [thumb])


async def test_a_second_verdict_for_a_checked_version_keeps_its_thumbnail(db: Database) -> None:
    """Two workers finishing the same check (a lease ran out): the second finds the
    version no longer pending, and its thumbnail (the same key) stays the version's."""
    _, fid, outcome = await checked_image(db)
    await queue.complete(db, [outcome])
    await queue.complete(db, [outcome])
    assert await db.read(owners, outcome.thumb_key) == ([fid], [])


async def test_a_thumbnail_stored_by_a_try_that_died_goes_with_its_version(db: Database) -> None:
    """A try stored the thumbnail and died before recording it; the next gave up with no
    thumbnail. The row names none, yet deleting the version schedules it."""
    token, _, outcome = await checked_image(db)
    gave_up = queue.Outcome(outcome.job, False, "check_failed", "gave up", {}, None)
    await queue.complete(db, [gave_up])
    assert await db.read(owners, outcome.thumb_key) == ([], [])
    await db.write(files_domain._remove, token, outcome.job.dataset_id, "a.jpg", 0)
    assert await db.read(owners, outcome.thumb_key) == ([], [outcome.thumb_key])


def in_transaction(engine: Engine, fn: Callable[[Connection], object]) -> None:
    with engine.begin() as conn:
        fn(conn)
