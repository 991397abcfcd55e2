"""Schema migrations (Alembic), run programmatically on SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from trainset.db.engine import Database

_HERE = Path(__file__).parent
# Any constant works; it only has to be the same in every process.
_PG_LOCK = 7_344_001


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE / "migrations"))
    return cfg


def _upgrade(conn: Connection, revision: str, is_sqlite: bool) -> None:
    if not is_sqlite:
        # Several processes starting at once queue here instead of racing.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision`."""
    await db.write(_upgrade, revision, db.is_sqlite)
