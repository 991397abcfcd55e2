"""Database engines for SQLite (embedded) and PostgreSQL (scaled), behind one small API.

`db.read()` yields a connection in a read transaction; `db.write()` yields one in a
write transaction that commits on success. On SQLite, writes are serialised inside
the process (a one-connection writer pool) and start with `BEGIN IMMEDIATE`, so two
writers never deadlock on a lock upgrade; readers run concurrently under WAL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from trainset.errors import Overloaded


def async_url(url: str) -> str:
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif u.drivername in ("postgresql", "postgresql+psycopg2", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def _sqlite_engine(url: str, *, begin: str, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=0, pool_timeout=120, pool_pre_ping=False
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a crash never corrupts; a power cut may drop the last commits,
        # which then leave only unreferenced (fsynced) blobs for the sweeper.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


class Database:
    """Engines plus the read/write transaction helpers every query module uses."""

    def __init__(self, url: str):
        self.url = async_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        if self.dialect == "sqlite":
            self._reader = _sqlite_engine(self.url, begin="BEGIN", pool_size=8)
            self._writer = _sqlite_engine(self.url, begin="BEGIN IMMEDIATE", pool_size=1)
        else:
            self._reader = create_async_engine(
                self.url, pool_size=10, max_overflow=10, pool_pre_ping=True
            )
            self._writer = self._reader

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._reader.begin() as conn:
                yield conn
        except (OperationalError, DBAPIError) as e:
            if (t := _transient(e)) is not None:
                raise t from e
            raise

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._writer.begin() as conn:
                yield conn
        except (OperationalError, DBAPIError) as e:
            if (t := _transient(e)) is not None:
                raise t from e
            raise

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self._reader.dispose()
        if self._writer is not self._reader:
            await self._writer.dispose()


def _transient(e: DBAPIError) -> Overloaded | None:
    """Driver errors that mean 'try again later' become 503s; the rest stay bugs."""
    msg = str(e.orig).lower() if e.orig is not None else str(e).lower()
    transient = (
        "database is locked",
        "database is busy",
        "could not connect",
        "connection refused",
        "connection was closed",
        "the database system is",
        "terminating connection",
        "server closed the connection",
        "connection is closed",
        "deadlock detected",
        "could not serialize",
    )
    if e.connection_invalidated or any(t in msg for t in transient):
        return Overloaded("The database is busy; retry shortly.", retry_after=1)
    return None
