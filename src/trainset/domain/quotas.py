"""Per-account quotas (TRAINSET_QUOTA_*): datasets, files and bytes an account may hold.

Checked inside the same write transaction as the change that would exceed them, so
concurrent requests cannot overshoot together (writes are serialised per dataset row
on PostgreSQL and globally on SQLite). A quota of 0 is no limit, and costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from trainset.config import Settings
from trainset.db.tables import datasets
from trainset.errors import QuotaExceeded


@dataclass(frozen=True, slots=True)
class Quotas:
    datasets: int = 0
    files: int = 0
    bytes: int = 0

    @classmethod
    def of(cls, settings: Settings) -> Quotas:
        return cls(settings.quota_datasets, settings.quota_files, settings.quota_bytes)


def _usage(conn: Connection, account_id: str) -> tuple[int, int]:
    row = conn.execute(
        select(
            func.coalesce(func.sum(datasets.c.file_count), 0),
            func.coalesce(func.sum(datasets.c.total_bytes), 0),
        ).where(datasets.c.account_id == account_id)
    ).one()
    return int(row[0]), int(row[1])


def check_datasets(conn: Connection, quotas: Quotas, account_id: str) -> None:
    if not quotas.datasets:
        return
    n = conn.execute(
        select(func.count()).select_from(datasets).where(datasets.c.account_id == account_id)
    ).scalar_one()
    if n + 1 > quotas.datasets:
        raise QuotaExceeded(
            f"This account may hold at most {quotas.datasets} datasets; delete one first.",
            details={"quota": "datasets", "limit": quotas.datasets, "used": n},
        )


def check_files_and_bytes(
    conn: Connection, quotas: Quotas, account_id: str, add_files: int, add_bytes: int | None
) -> None:
    """Refuse a change that would take the account past its file or byte quota.
    `add_bytes` is None when the size is not known yet (a direct upload starting): then
    only an account already at its byte quota is refused, and the bytes are checked
    again, exactly, before the file is recorded."""
    if not (quotas.files or quotas.bytes):
        return
    files, used = _usage(conn, account_id)
    if quotas.files and add_files > 0 and files + add_files > quotas.files:
        raise QuotaExceeded(
            f"This account may hold at most {quotas.files} files ({files} now); delete some first.",
            details={"quota": "files", "limit": quotas.files, "used": files},
        )
    over = (
        used >= quotas.bytes
        if add_bytes is None
        else add_bytes > 0 and (used + add_bytes > quotas.bytes)
    )
    if quotas.bytes and over:
        raise QuotaExceeded(
            f"This account may hold at most {quotas.bytes} bytes ({used} now); "
            "delete files or datasets first. Nothing was stored.",
            details={"quota": "bytes", "limit": quotas.bytes, "used": used},
        )
