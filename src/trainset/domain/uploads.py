"""Uploads: the direct route, signed URLs, and committing a received file (SPEC 3-5).

Order of work, always: bytes go to a fresh immutable blob key first; then one
transaction records the file, retires the previous version's blob to garbage,
queues its content check and refreshes the dataset status. A `receiving` upload row
exists while bytes stream, holding the blob key, so a crash at any moment leaves
either a committed file or a row that recovery turns into garbage.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from trainset.db.tables import datasets, files, jobs, uploads
from trainset.domain import datasets as ds_service
from trainset.domain.accounts import Account
from trainset.domain.clock import now, wire_expiry
from trainset.domain.filetypes import BY_EXT, extension
from trainset.domain.lifecycle import PENDING, RECEIVING, refresh
from trainset.domain.names import check_filename
from trainset.errors import (
    ContentTypeMismatch,
    DatasetNotFound,
    FileTooLarge,
    InvalidFilename,
    InvalidRequest,
    SizeMismatch,
    TooManyFiles,
    UnsupportedFileType,
    UrlExpired,
    UrlSuperseded,
)
from trainset.services import Services
from trainset.storage.base import BlobInfo

# How long a `receiving` row lives without renewal; a streaming upload renews it.
LEASE = timedelta(seconds=120)
RENEW_EVERY = timedelta(seconds=30)
MAX_URLS_PER_CALL = 1000


@dataclass(frozen=True, slots=True)
class Ticket:
    """One upload attempt in progress: where its bytes go and what they must be."""

    id: str
    dataset_id: str
    dataset_name: str
    filename: str
    blob_key: str
    content_type: str
    size_limit: int
    expected_size: int | None = None  # signed PUTs: the size bound into the URL
    signed_id: str | None = None  # signed PUTs: the URL's upload row


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: str
    dataset_id: str
    dataset_name: str
    filename: str
    size_bytes: int
    sha256: str
    created_at: datetime


async def _count_files(conn: AsyncConnection, dataset_id: str) -> int:
    return int(
        (
            await conn.execute(
                select(func.count()).select_from(files).where(files.c.dataset_id == dataset_id)
            )
        ).scalar_one()
    )


async def _check_room(svc: Services, conn: AsyncConnection, dataset_id: str, new: int) -> None:
    limit = svc.settings.max_files_per_dataset
    if new and await _count_files(conn, dataset_id) + new > limit:
        raise TooManyFiles(f"A dataset holds at most {limit} files.")


async def start_direct(svc: Services, account: Account, dataset_id: str, raw_name: str) -> Ticket:
    filename = check_filename(raw_name)
    ft = BY_EXT[extension(filename)]
    at = now()
    async with svc.db.write() as conn:
        ds = await ds_service.fetch(conn, account, dataset_id)
        exists_already = (
            await conn.execute(
                select(files.c.id).where(files.c.dataset_id == ds.id, files.c.filename == filename)
            )
        ).first()
        await _check_room(svc, conn, ds.id, 0 if exists_already else 1)
        ticket = Ticket(
            id=str(uuid.uuid4()),
            dataset_id=ds.id,
            dataset_name=ds.name,
            filename=filename,
            blob_key=svc.storage.new_key(),
            content_type=ft.content_type,
            size_limit=svc.settings.direct_upload_limit,
        )
        await _insert_receiving(conn, ticket, "direct", at)
        await refresh(conn, ds.id, at, touched=False)
    return ticket


async def _insert_receiving(conn: AsyncConnection, t: Ticket, route: str, at: datetime) -> None:
    await conn.execute(
        insert(uploads).values(
            id=t.id,
            dataset_id=t.dataset_id,
            filename=t.filename,
            route=route,
            state=RECEIVING,
            size_bytes=t.expected_size,
            content_type=t.content_type,
            blob_key=t.blob_key,
            created_at=at,
            expires_at=at + LEASE,
        )
    )


async def renew(svc: Services, ticket: Ticket) -> None:
    """Extend a streaming upload's lease so the sweeper leaves it alone."""
    async with svc.db.write() as conn:
        await conn.execute(
            update(uploads)
            .where(uploads.c.id == ticket.id, uploads.c.state == RECEIVING)
            .values(expires_at=now() + LEASE)
        )


async def abort(svc: Services, ticket: Ticket, *, blob_committed: bool = False) -> None:
    """The attempt failed. Its bytes were discarded, or (`blob_committed`) they reached
    their key but the file was never recorded: then the blob is garbage."""
    at = now()
    async with svc.db.write() as conn:
        if blob_committed:
            grace = timedelta(seconds=svc.settings.gc_grace_seconds)
            await ds_service.add_garbage(conn, [ticket.blob_key], at + grace)
        await conn.execute(
            update(uploads)
            .where(uploads.c.id == ticket.id, uploads.c.state == RECEIVING)
            .values(state="aborted", expires_at=at)
        )
        await refresh(conn, ticket.dataset_id, at, touched=False)


async def finish(svc: Services, ticket: Ticket, blob: BlobInfo) -> StoredFile:
    """Record the committed blob as the current version of its filename."""
    at = now()
    grace = timedelta(seconds=svc.settings.gc_grace_seconds)
    async with svc.db.write() as conn:
        alive = (
            await conn.execute(select(datasets.c.id).where(datasets.c.id == ticket.dataset_id))
        ).first()
        if alive is None:
            await ds_service.add_garbage(conn, [blob.key], at + grace)
            raise DatasetNotFound("The dataset was deleted while the file was uploading.")
        if ticket.signed_id is not None:
            state = (
                await conn.execute(select(uploads.c.state).where(uploads.c.id == ticket.signed_id))
            ).scalar()
            if state not in (PENDING, "done", "expired", "lapsed"):
                await ds_service.add_garbage(conn, [blob.key], at + grace)
                await _close_attempt(conn, ticket.id, "aborted", at)
                raise UrlSuperseded(
                    f"A newer upload URL was issued for {ticket.filename}; use that one."
                )
        old = (
            await conn.execute(
                select(files.c.id, files.c.blob_key, files.c.size_bytes).where(
                    files.c.dataset_id == ticket.dataset_id, files.c.filename == ticket.filename
                )
            )
        ).first()
        count_delta, bytes_delta = 1, blob.size
        if old is not None:
            await ds_service.add_garbage(conn, [old.blob_key], at + grace)
            await conn.execute(delete(jobs).where(jobs.c.file_id == old.id))
            await conn.execute(delete(files).where(files.c.id == old.id))
            count_delta, bytes_delta = 0, blob.size - old.size_bytes
        file_id = str(uuid.uuid4())
        await conn.execute(
            insert(files).values(
                id=file_id,
                dataset_id=ticket.dataset_id,
                filename=ticket.filename,
                size_bytes=blob.size,
                sha256=blob.sha256,
                blob_key=blob.key,
                content_type=ticket.content_type,
                created_at=at,
                check_state="pending",
                upload_id=ticket.signed_id or ticket.id,
            )
        )
        await conn.execute(
            insert(jobs).values(
                id=str(uuid.uuid4()),
                kind="check",
                file_id=file_id,
                dataset_id=ticket.dataset_id,
                state="queued",
                attempts=0,
                created_at=at,
            )
        )
        await _close_attempt(conn, ticket.id, "done", at)
        if ticket.signed_id is not None:
            await conn.execute(
                update(uploads)
                .where(uploads.c.id == ticket.signed_id, uploads.c.state == PENDING)
                .values(state="done")
            )
        # The file arrived: an earlier expired URL for this name no longer fails the dataset.
        await conn.execute(
            update(uploads)
            .where(
                uploads.c.dataset_id == ticket.dataset_id,
                uploads.c.filename == ticket.filename,
                uploads.c.state == "expired",
            )
            .values(state="cleared")
        )
        await conn.execute(
            update(datasets)
            .where(datasets.c.id == ticket.dataset_id)
            .values(
                file_count=datasets.c.file_count + count_delta,
                total_bytes=datasets.c.total_bytes + bytes_delta,
            )
        )
        await refresh(conn, ticket.dataset_id, at)
    svc.jobs_queued.set()
    return StoredFile(
        file_id,
        ticket.dataset_id,
        ticket.dataset_name,
        ticket.filename,
        blob.size,
        blob.sha256,
        at,
    )


async def _close_attempt(conn: AsyncConnection, upload_id: str, state: str, at: datetime) -> None:
    await conn.execute(
        update(uploads)
        .where(uploads.c.id == upload_id, uploads.c.state == RECEIVING)
        .values(state=state, expires_at=at)
    )


# --- signed URLs -------------------------------------------------------------------


def validate_url_request(sizes: dict[str, int], limit: int) -> dict[str, tuple[int, str]]:
    """Check every entry; one error lists every bad filename.

    Returns NFC name -> (size, the name as the client sent it): files are stored under
    the NFC name, and the response answers under the client's own key."""
    if not sizes:
        raise InvalidRequest("filenameToByteSize must name at least one file.")
    if len(sizes) > MAX_URLS_PER_CALL:
        raise InvalidRequest(
            f"At most {MAX_URLS_PER_CALL} files per get-upload-endpoint call; split the request."
        )
    bad_names: list[dict[str, Any]] = []
    bad_types: list[dict[str, Any]] = []
    too_large: list[dict[str, Any]] = []
    out: dict[str, tuple[int, str]] = {}
    for raw, size in sizes.items():
        try:
            name = check_filename(raw)
        except InvalidFilename as e:
            bad_names.extend(e.details)
            continue
        except UnsupportedFileType as e:
            bad_types.extend(e.details)
            continue
        if size > limit:
            too_large.append({"filename": name, "size_in_bytes": size, "limit": limit})
            continue
        if name in out:
            bad_names.append({"filename": raw, "reason": "appears twice after NFC normalisation"})
            continue
        out[name] = (size, raw)
    if bad_names:
        names = ", ".join(repr(b["filename"]) for b in bad_names)
        raise InvalidFilename(f"Invalid file names: {names}.", details=bad_names)
    if bad_types:
        allowed = bad_types[0]["allowed"]
        names = ", ".join(repr(b["filename"]) for b in bad_types)
        raise UnsupportedFileType(
            f"Unsupported file types: {names}; allowed: {', '.join(allowed)}.", details=bad_types
        )
    if too_large:
        names = ", ".join(repr(b["filename"]) for b in too_large)
        raise FileTooLarge(
            f"Files over the {limit}-byte signed-upload limit: {names}.", details=too_large
        )
    return out


async def issue_urls(
    svc: Services, account: Account, dataset_id: str, requested: dict[str, int]
) -> dict[str, dict[str, Any]]:
    sizes = validate_url_request(requested, svc.settings.signed_upload_limit)
    at = now().replace(microsecond=0)
    expires_at = at + timedelta(seconds=svc.settings.signed_url_ttl_seconds)
    expires_unix = int((expires_at - datetime(1970, 1, 1)).total_seconds())
    out: dict[str, dict[str, Any]] = {}
    async with svc.db.write() as conn:
        ds = await ds_service.fetch(conn, account, dataset_id)
        present = set(
            (
                await conn.execute(
                    select(files.c.filename).where(
                        files.c.dataset_id == ds.id, files.c.filename.in_(list(sizes))
                    )
                )
            ).scalars()
        )
        await _check_room(svc, conn, ds.id, len(set(sizes) - present))
        names = list(sizes)
        # Requesting a URL again for a filename supersedes the earlier one, and a new
        # URL lifts a past upload_expired failure for that name.
        for i in range(0, len(names), 500):
            part = names[i : i + 500]
            await conn.execute(
                update(uploads)
                .where(
                    uploads.c.dataset_id == ds.id,
                    uploads.c.filename.in_(part),
                    uploads.c.route == "signed",
                    uploads.c.state.in_((PENDING, "done")),
                )
                .values(state="superseded")
            )
            await conn.execute(
                update(uploads)
                .where(
                    uploads.c.dataset_id == ds.id,
                    uploads.c.filename.in_(part),
                    uploads.c.state == "expired",
                )
                .values(state="cleared")
            )
        rows = []
        for name, (size, raw_name) in sizes.items():
            ft = BY_EXT[extension(name)]
            upload_id = str(uuid.uuid4())
            key = svc.storage.new_key()
            url = svc.storage.presign_put(
                key, size=size, content_type=ft.content_type, expires_at=expires_at
            )
            if url is None:
                sig = svc.signer.sign(upload_id, expires_unix)
                url = (
                    f"{svc.settings.base_url}/prod/v1/trainers/uploads/{upload_id}"
                    f"?expires={expires_unix}&signature={sig}"
                )
            rows.append(
                {
                    "id": upload_id,
                    "dataset_id": ds.id,
                    "filename": name,
                    "route": "signed",
                    "state": PENDING,
                    "size_bytes": size,
                    "content_type": ft.content_type,
                    "blob_key": key,
                    "created_at": at,
                    "expires_at": expires_at,
                }
            )
            out[raw_name] = {
                "upload_url": url,
                "method": "PUT",
                "headers": {"Content-Type": ft.content_type},
                "expires_at": wire_expiry(expires_at),
            }
        await conn.execute(insert(uploads), rows)
        await refresh(conn, ds.id, now())
    return out


async def start_signed_put(
    svc: Services,
    upload_id: str,
    expires: str,
    signature: str,
    content_type: str | None,
    content_length: int | None,
) -> Ticket:
    """Check a PUT to a locally signed URL before any byte is read."""
    expires_unix = svc.signer.verify(upload_id, expires, signature)
    at = now()
    if datetime(1970, 1, 1) + timedelta(seconds=expires_unix) <= at:
        raise UrlExpired("This upload URL has expired; request a new one (get-upload-endpoint).")
    async with svc.db.write() as conn:
        row = (
            await conn.execute(
                select(uploads, datasets.c.name.label("dataset_name"))
                .join(datasets, datasets.c.id == uploads.c.dataset_id)
                .where(uploads.c.id == upload_id)
            )
        ).first()
        if row is None:
            raise DatasetNotFound("The dataset this upload URL belongs to no longer exists.")
        if row.state == "superseded":
            raise UrlSuperseded(f"A newer upload URL was issued for {row.filename}; use that one.")
        if row.state == "done":
            current = (
                await conn.execute(
                    select(files.c.upload_id).where(
                        files.c.dataset_id == row.dataset_id, files.c.filename == row.filename
                    )
                )
            ).scalar()
            if current != row.id:
                raise UrlSuperseded(
                    f"{row.filename} was replaced after this URL was used; request a new URL."
                )
        expected_type = (row.content_type or "").lower()
        got_type = (content_type or "").split(";")[0].strip().lower()
        if got_type != expected_type:
            raise ContentTypeMismatch(
                f"This URL was signed for Content-Type {row.content_type}; the PUT sent "
                f"{content_type or 'none'}."
            )
        if content_length is not None and content_length != row.size_bytes:
            raise SizeMismatch(
                f"This URL was signed for exactly {row.size_bytes} bytes; the PUT declares "
                f"{content_length}. Request a new URL with the right size."
            )
        ticket = Ticket(
            id=str(uuid.uuid4()),
            dataset_id=row.dataset_id,
            dataset_name=row.dataset_name,
            filename=row.filename,
            blob_key=svc.storage.new_key(),
            content_type=row.content_type,
            size_limit=row.size_bytes,
            expected_size=row.size_bytes,
            signed_id=row.id,
        )
        await _insert_receiving(conn, ticket, "put", at)
    return ticket


async def expire_due(svc: Services, dataset_id: str | None = None) -> int:
    """Signed URLs past expiry with no upload: `expired` (a failure) unless the file
    arrived by another route since the URL was issued (`lapsed`). Returns the count."""
    at = now()
    async with svc.db.read() as conn:
        q = select(uploads.c.id).where(uploads.c.state == PENDING, uploads.c.expires_at <= at)
        if dataset_id is not None:
            q = q.where(uploads.c.dataset_id == dataset_id)
        if (await conn.execute(q.limit(1))).first() is None:
            return 0
    async with svc.db.write() as conn:
        q = select(uploads.c.id, uploads.c.dataset_id, uploads.c.filename, uploads.c.created_at)
        q = q.where(uploads.c.state == PENDING, uploads.c.expires_at <= at)
        if dataset_id is not None:
            q = q.where(uploads.c.dataset_id == dataset_id)
        due = (await conn.execute(q)).all()
        for u in due:
            arrived = (
                await conn.execute(
                    select(files.c.id).where(
                        and_(
                            files.c.dataset_id == u.dataset_id,
                            files.c.filename == u.filename,
                            files.c.created_at >= u.created_at,
                        )
                    )
                )
            ).first()
            await conn.execute(
                update(uploads)
                .where(uploads.c.id == u.id)
                .values(state="lapsed" if arrived else "expired")
            )
        for ds_id in {u.dataset_id for u in due}:
            await refresh(conn, ds_id, at)
    return len(due)
