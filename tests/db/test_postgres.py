"""The same schema, queries and queue on PostgreSQL (the scaled shape's database).

Needs the PostgreSQL that .ci/run starts on 127.0.0.1:5432; each run gets a fresh
database that is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from sqlalchemy import insert, inspect

from trainset.db.engine import Database
from trainset.db.migrate import upgrade
from trainset.db.tables import files, jobs
from trainset.domain import accounts
from trainset.domain import datasets as ds_service
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
