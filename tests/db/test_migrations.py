"""Migrations build exactly the schema `tables.py` describes, on SQLite and PostgreSQL,
and 0003 fills the new `stem` column of files recorded before it."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select, text

from tests.shapes import create_database, drop_database
from trainset.db.engine import Database
from trainset.db.migrate import upgrade
from trainset.db.tables import accounts, datasets, files, metadata
from trainset.domain.clock import now


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    name = create_database()
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        drop_database(name)


async def test_migrated_schema_matches_the_tables(url: str) -> None:
    db = Database(url)
    try:
        await upgrade(db)

        def diff(conn: object) -> list[object]:
            ctx = MigrationContext.configure(conn)  # type: ignore[arg-type]
            return list(compare_metadata(ctx, metadata))

        assert await db.read(diff) == []
    finally:
        await db.dispose()


async def test_0003_gives_existing_files_their_stem(url: str) -> None:
    db = Database(url)
    try:
        await upgrade(db, "0002")
        at = now()
        names = ["a.jpg", "a.txt", "archive.tar.txt", "noext", "b.c.d.png"]

        def seed(conn: object) -> None:
            c = conn  # type: ignore[assignment]
            c.execute(insert(accounts), {"id": "acc", "name": "acc", "created_at": at})  # type: ignore[attr-defined]
            c.execute(  # type: ignore[attr-defined]
                insert(datasets),
                {"id": "ds", "account_id": "acc", "name": "d", "status": "READY",
                 "file_count": len(names), "total_bytes": 0, "created_at": at, "updated_at": at},
            )  # fmt: skip
            for n in names:
                c.execute(  # type: ignore[attr-defined]
                    text(
                        "INSERT INTO files (id, dataset_id, filename, size_bytes, sha256, blob_key,"
                        " content_type, created_at, check_state) VALUES (:id, 'ds', :n, 1, NULL,"
                        " :k, 'text/plain', :at, 'ok')"
                    ),
                    {"id": str(uuid.uuid4()), "n": n, "k": secrets.token_hex(16), "at": at},
                )

        await db.write(seed)
        await upgrade(db)
        rows = await db.read(
            lambda conn: dict(conn.execute(select(files.c.filename, files.c.stem)).all())
        )
        assert rows == {
            "a.jpg": "a",
            "a.txt": "a",
            "archive.tar.txt": "archive.tar",
            "noext": "noext",
            "b.c.d.png": "b.c.d",
        }
    finally:
        await db.dispose()
