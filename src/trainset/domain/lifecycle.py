"""Dataset status as a function of its files and uploads (SPEC section 5).

`refresh()` is called inside the same write transaction as every change that can
move a dataset's status, so the stored status is always consistent with its rows.
The full rule evaluation runs only when nothing is in flight any more; while files
stream or wait for checks, two indexed EXISTS queries decide UPLOADING.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, exists, or_, select, update

from trainset.db.tables import datasets, files, uploads
from trainset.domain.rules import FileFacts, evaluate

DRAFT, UPLOADING, READY, FAILED = "DRAFT", "UPLOADING", "READY", "FAILED"
# Upload states that keep a dataset UPLOADING (a `pending` signed URL only until expiry).
RECEIVING, PENDING = "receiving", "pending"


_CURRENT = select(datasets.c.status, datasets.c.error, datasets.c.warnings).where(
    datasets.c.id == bindparam("ds_id")
)
_IN_FLIGHT = select(
    exists().where(
        uploads.c.dataset_id == bindparam("ds_id"),
        or_(
            uploads.c.state == RECEIVING,
            and_(uploads.c.state == PENDING, uploads.c.expires_at > bindparam("at")),
        ),
    )
    | exists().where(files.c.dataset_id == bindparam("ds_id"), files.c.check_state == "pending")
)


def refresh(conn: Connection, dataset_id: str, at: datetime, *, touched: bool = True) -> str | None:
    """Recompute and store the dataset's status; returns it (None if the dataset is gone).

    `touched` says the dataset's content changed, which moves `updated_at` even when
    the status does not.
    """
    current = conn.execute(_CURRENT, {"ds_id": dataset_id}).first()
    if current is None:
        return None

    in_flight = conn.execute(_IN_FLIGHT, {"ds_id": dataset_id, "at": at}).scalar()

    error: dict[str, Any] | None = None
    warnings: list[dict[str, Any]] | None = None
    if in_flight:
        status = UPLOADING
    else:
        rows = (
            conn.execute(
                select(
                    files.c.filename,
                    files.c.sha256,
                    files.c.check_state,
                    files.c.check_code,
                    files.c.check_message,
                    files.c.check_meta,
                ).where(files.c.dataset_id == dataset_id)
            )
        ).all()
        expired = (
            conn.execute(
                select(uploads.c.filename).where(
                    uploads.c.dataset_id == dataset_id, uploads.c.state == "expired"
                )
            )
        ).scalars()
        facts = [
            FileFacts(
                r.filename,
                r.sha256,
                r.check_state,
                r.check_code,
                r.check_message,
                r.check_meta or {},
            )
            for r in rows
        ]
        verdict = evaluate(facts, list(expired))
        error = verdict.error()
        warnings = verdict.warnings
        if error is not None:
            status = FAILED
        elif not facts:
            status = DRAFT
        else:
            status = READY

    changed = (current.status, current.error, current.warnings) != (status, error, warnings)
    if changed or touched:
        conn.execute(
            update(datasets)
            .where(datasets.c.id == dataset_id)
            .values(status=status, error=error, warnings=warnings, updated_at=at)
        )
    return status


_MARK = (
    update(datasets)
    .where(datasets.c.id == bindparam("ds_id"))
    .values(status=UPLOADING, error=None, warnings=None, updated_at=bindparam("at"))
)
_MARK_IF_NOT = _MARK.where(datasets.c.status != UPLOADING)


def due_urls(dataset_id: str | None, at: datetime) -> Any:
    """Signed URLs still `pending` at `at` although their expiry has passed."""
    q = select(
        uploads.c.id,
        uploads.c.dataset_id,
        uploads.c.filename,
        uploads.c.created_at,
        uploads.c.blob_key,
    )
    q = q.where(uploads.c.state == PENDING, uploads.c.expires_at <= at)
    return q if dataset_id is None else q.where(uploads.c.dataset_id == dataset_id)


def mark_uploading(conn: Connection, dataset_id: str, at: datetime, *, touched: bool) -> None:
    """The caller just wrote something in flight (a receiving upload, a pending check)
    in this transaction: the status is UPLOADING with nothing to evaluate."""
    conn.execute(_MARK if touched else _MARK_IF_NOT, {"ds_id": dataset_id, "at": at})
