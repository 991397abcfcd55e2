"""One file of a dataset: download, delete, and the training manifest (SPEC section 6)."""

from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from trainset.db.tables import datasets, files, jobs, uploads
from trainset.domain import datasets as ds_service
from trainset.domain.accounts import check_token
from trainset.domain.clock import expiry, now, wire_expiry
from trainset.domain.lifecycle import PENDING, READY, refresh
from trainset.domain.uploads import settle
from trainset.errors import DatasetNotReady, FileNotFound, UrlExpired
from trainset.services import Services

_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class FileRef:
    dataset_id: str
    dataset_name: str
    filename: str
    size_bytes: int
    sha256: str
    blob_key: str
    content_type: str


_REF_COLS = (
    files.c.filename, files.c.size_bytes, files.c.sha256, files.c.blob_key, files.c.content_type
)  # fmt: skip
_FILE = select(*_REF_COLS).where(
    files.c.dataset_id == bindparam("ds_id"), files.c.filename == bindparam("b_filename")
)


def _find(conn: Connection, token: str, dataset_id: str, filename: str) -> FileRef:
    ds = ds_service.fetch(conn, check_token(conn, token), dataset_id)
    # Names are stored NFC (SPEC section 3): an NFD spelling names the same file.
    filename = unicodedata.normalize("NFC", filename)
    if "\x00" in filename:  # no file can have it (and PostgreSQL text cannot hold it)
        raise FileNotFound(f"The dataset {ds.name} has no file named {filename!r}.")
    row = conn.execute(_FILE, {"ds_id": ds.id, "b_filename": filename}).first()
    if row is None:
        raise FileNotFound(f"The dataset {ds.name} has no file named {filename!r}.")
    return FileRef(ds.id, ds.name, *row)


def _awaiting_arrival(conn: Connection, token: str, dataset_id: str, filename: str) -> bool:
    """Whether the caller's dataset has an unused presigned URL for `filename` (which
    may have been PUT to the object store and not yet recorded)."""
    ds = ds_service.fetch(conn, check_token(conn, token), dataset_id)
    filename = unicodedata.normalize("NFC", filename)
    q = select(uploads.c.id).where(
        uploads.c.dataset_id == ds.id,
        uploads.c.filename == filename,
        uploads.c.route == "signed",
        uploads.c.state == PENDING,
    )
    return "\x00" not in filename and conn.execute(q.limit(1)).first() is not None


async def _settle_name(svc: Services, token: str, dataset_id: str, filename: str) -> None:
    """Read after write for presigned uploads: a file PUT to the object store is
    recorded before it is read or deleted by name (the status poll and the sweeper
    would record it a moment later). Local storage receives signed PUTs itself."""
    if not svc.storage.presigns_uploads:
        return
    if await svc.db.read(_awaiting_arrival, token, dataset_id, filename):
        await settle(svc, dataset_id)


async def find(svc: Services, token: str, dataset_id: str, filename: str) -> FileRef:
    """The caller's file, or DatasetNotFound / FileNotFound."""
    await _settle_name(svc, token, dataset_id, filename)
    return await svc.db.read(_find, token, dataset_id, filename)


def _remove(conn: Connection, token: str, dataset_id: str, filename: str, grace: int) -> FileRef:
    ref = _find(conn, token, dataset_id, filename)
    at = now()
    row = conn.execute(
        select(*ds_service.FILE_BLOBS).where(
            files.c.dataset_id == ref.dataset_id, files.c.filename == ref.filename
        )
    ).one()
    file_id = row.id
    ds_service.add_garbage(conn, ds_service.blobs_of(row), at + timedelta(seconds=grace))
    conn.execute(delete(jobs).where(jobs.c.file_id == file_id))
    conn.execute(delete(files).where(files.c.id == file_id))
    conn.execute(
        update(datasets)
        .where(datasets.c.id == ref.dataset_id)
        .values(
            file_count=datasets.c.file_count - 1,
            total_bytes=datasets.c.total_bytes - ref.size_bytes,
        )
    )
    refresh(conn, ref.dataset_id, at)
    return ref


async def remove(svc: Services, token: str, dataset_id: str, filename: str) -> FileRef:
    """Delete one file now; its blob stays readable for the garbage grace period."""
    # A version PUT to a presigned URL but not yet recorded would otherwise come back
    # after the delete (or be what the caller meant to delete).
    await _settle_name(svc, token, dataset_id, filename)
    return await svc.db.write(_remove, token, dataset_id, filename, svc.settings.gc_grace_seconds)


def download_ttl(svc: Services) -> int:
    """Download URLs never outlive the garbage grace period, so the blob a URL names is
    still there until the URL expires, even if the file is replaced or deleted."""
    # One second less than the grace: expiries are rounded up to the whole second.
    return max(1, min(svc.settings.signed_url_ttl_seconds, svc.settings.gc_grace_seconds - 1))


def download_expiry(svc: Services) -> datetime:
    return expiry(download_ttl(svc))


def download_url(svc: Services, ref: FileRef, expires_at: datetime) -> str:
    url = svc.storage.presign_get(
        ref.blob_key, expires_at=expires_at, filename=ref.filename, content_type=ref.content_type
    )
    if url is not None:
        return url
    expires = int((expires_at - _EPOCH).total_seconds())
    sig = svc.signer.sign(ref.blob_key, expires, "download")
    return (
        f"{svc.settings.base_url}/prod/v1/trainers/blobs/{ref.blob_key}"
        f"?expires={expires}&signature={sig}"
    )


def check_download(svc: Services, key: str, expires: str, signature: str) -> None:
    """A locally signed download URL is genuine and unexpired (else a 403)."""
    expires_unix = svc.signer.verify(key, expires, signature, "download")
    if _EPOCH + timedelta(seconds=expires_unix) <= now():
        raise UrlExpired("This download URL has expired; fetch the manifest again.")


def _manifest_rows(
    conn: Connection, token: str, dataset_id: str
) -> tuple[ds_service.Dataset, list[FileRef]]:
    ds = ds_service.fetch(conn, check_token(conn, token), dataset_id)
    if ds.status != READY:
        raise DatasetNotReady(
            f"The dataset {ds.name} is {ds.status}; a manifest is only given for READY datasets."
        )
    rows = conn.execute(
        select(*_REF_COLS).where(files.c.dataset_id == ds.id).order_by(files.c.filename)
    )
    return ds, [FileRef(ds.id, ds.name, *r) for r in rows]


async def manifest(svc: Services, token: str, dataset_id: str) -> dict[str, Any]:
    """Every file of a READY dataset with size, sha256 and a short-lived download URL."""
    ds, refs = await svc.db.read(_manifest_rows, token, dataset_id)
    expires_at = download_expiry(svc)

    def entries() -> list[dict[str, Any]]:
        return [
            {
                "filename": r.filename,
                "size_bytes": r.size_bytes,
                "sha256": r.sha256,
                "download_url": download_url(svc, r, expires_at),
            }
            for r in refs
        ]

    # Signing is CPU work (a presigned GET costs botocore about 0.3 ms): a dataset of
    # 10,000 files is signed in a thread, not on the event loop.
    return {
        "id": ds.id,
        "name": ds.name,
        "status": READY,
        "expires_at": wire_expiry(expires_at),
        "files": await asyncio.to_thread(entries),
    }
