"""Database access for SQLite (embedded) and PostgreSQL (scaled), behind one small API.

Each transaction is a plain synchronous function run whole in a worker thread:
`await db.read(fn, *args)` / `await db.write(fn, *args)` call `fn(conn, *args)`
inside a transaction and return its result. The event loop never blocks on the
database, and a transaction costs one thread hand-off instead of one per statement,
which keeps SQLite's single writer lock held only for the work itself.

On SQLite, writes run on one dedicated thread (so they queue in-process instead of
contending for the file lock) and start with `BEGIN IMMEDIATE`, so a write never
deadlocks upgrading a read lock; reads run concurrently under WAL on other threads.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from trainset.errors import InvalidRequest, Overloaded

P = ParamSpec("P")
T = TypeVar("T")


def sync_url(url: str) -> str:
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+aiosqlite"):
        u = u.set(drivername="sqlite+pysqlite")
    elif u.drivername in ("postgresql", "postgresql+asyncpg", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def _sqlite_engine(url: str, *, begin: str, pool_size: int) -> Engine:
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=120,
        connect_args={"check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
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

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


class Database:
    """Engines, thread pools and the read/write transaction runners."""

    def __init__(self, url: str, *, readers: int = 8):
        self.url = sync_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        if self.dialect == "sqlite":
            # check_same_thread=False: pooled connections move between pool threads,
            # never used by two threads at once.
            self._reader = _sqlite_engine(self.url, begin="BEGIN", pool_size=readers)
            self._writer = _sqlite_engine(self.url, begin="BEGIN IMMEDIATE", pool_size=1)
            self._read_pool = ThreadPoolExecutor(readers, thread_name_prefix="db-read")
            self._write_pool = ThreadPoolExecutor(1, thread_name_prefix="db-write")
        else:
            self._reader = create_engine(
                self.url, pool_size=readers, max_overflow=readers, pool_pre_ping=True
            )
            self._writer = self._reader
            self._read_pool = ThreadPoolExecutor(readers * 2, thread_name_prefix="db")
            self._write_pool = self._read_pool

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kw: P.kwargs
    ) -> T:
        """Run `fn(conn, ...)` in a read transaction in a worker thread."""
        call = functools.partial(_in_transaction, self._reader, fn, *args, **kw)
        return await asyncio.get_running_loop().run_in_executor(self._read_pool, call)

    async def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kw: P.kwargs
    ) -> T:
        """Run `fn(conn, ...)` in a write transaction (committed if it returns)."""
        call = functools.partial(_in_transaction, self._writer, fn, *args, **kw)
        return await asyncio.get_running_loop().run_in_executor(self._write_pool, call)

    async def ping(self) -> None:
        await self.read(lambda conn: conn.execute(text("SELECT 1")).scalar())

    async def dispose(self) -> None:
        self._read_pool.shutdown(wait=True)
        if self._write_pool is not self._read_pool:
            self._write_pool.shutdown(wait=True)
        self._reader.dispose()
        if self._writer is not self._reader:
            self._writer.dispose()


def _in_transaction(engine: Engine, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    try:
        with engine.begin() as conn:
            return fn(conn, *args, **kw)
    except DBAPIError as e:
        if (t := _transient(e)) is not None:
            raise t from e
        if "cannot contain nul" in str(e.orig or e).lower():
            # PostgreSQL text cannot hold U+0000; SQLite can. The domain refuses NULs in
            # what it knows of; this keeps any other such input a 400, never a 500.
            raise InvalidRequest("A value in the request contains a NUL character.") from e
        raise


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
