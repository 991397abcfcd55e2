"""Uploads: the direct route, signed URLs, and committing a received file (SPEC 3-5).

Order of work, always: bytes go to a fresh immutable blob key first; then one
transaction records the file, retires the previous version's blob to garbage,
queues its content check and refreshes the dataset status. A `receiving` upload row
exists while bytes stream, holding the blob key, so a crash at any moment leaves
either a committed file or a row that recovery turns into garbage.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    and_,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from trainset.db.tables import datasets, files, garbage, jobs, uploads
from trainset.domain import datasets as ds_service
from trainset.domain.accounts import Account, check_token
from trainset.domain.clock import expiry, now, wire_expiry
from trainset.domain.filetypes import BY_EXT, base_name, extension
from trainset.domain.lifecycle import PENDING, RECEIVING, due_urls, mark_uploading, refresh
from trainset.domain.names import check_filename
from trainset.domain.quotas import Quotas, check_files_and_bytes
from trainset.errors import (
    ContentTypeMismatch,
    DatasetNotFound,
    FileTooLarge,
    InvalidFilename,
    InvalidRequest,
    Overloaded,
    SizeMismatch,
    StorageUnavailable,
    TooManyFiles,
    UnsupportedFileType,
    UrlExpired,
    UrlSuperseded,
)
from trainset.services import Services
from trainset.storage.base import BlobInfo

# How long a `receiving` row lives without renewal (TRAINSET_UPLOAD_LEASE_SECONDS); a
# streaming upload renews it every quarter of that. When its process dies, the
# sweeper of any other process aborts it once the lease ran out.
MAX_URLS_PER_CALL = 1000
log = logging.getLogger("trainset.uploads")


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
    lease_seconds: float = 120.0


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: str
    dataset_id: str
    dataset_name: str
    filename: str
    size_bytes: int
    sha256: str | None
    created_at: datetime


def _present(conn: Connection, ds_id: str, names: list[str]) -> set[str]:
    """Which of `names` the dataset already holds."""
    out: set[str] = set()
    for i in range(0, len(names), 500):
        out.update(
            conn.execute(
                select(files.c.filename).where(
                    files.c.dataset_id == ds_id, files.c.filename.in_(names[i : i + 500])
                )
            ).scalars()
        )
    return out


def _check_room(conn: Connection, ds: ds_service.Dataset, names: list[str], limit: int) -> None:
    """Refuse files beyond the per-dataset limit (replacing a file adds none)."""
    if ds.file_count + len(names) <= limit:
        return
    present = len(_present(conn, ds.id, names))
    if ds.file_count + len(names) - present > limit:
        raise TooManyFiles(f"A dataset holds at most {limit} files.")


# Hot-path statements, built once (SQLAlchemy reuses their cache keys and compiled SQL).
_INSERT_UPLOAD = insert(uploads)
_INSERT_FILE = insert(files)
_INSERT_JOB = insert(jobs)
_CLOSE_ATTEMPT = (
    update(uploads)
    .where(uploads.c.id == bindparam("upload_id"), uploads.c.state == RECEIVING)
    .values(state=bindparam("b_state"), expires_at=bindparam("at"))
)
_DATASET_ALIVE = select(datasets.c.id).where(datasets.c.id == bindparam("ds_id"))
_UPLOAD_STATE = select(uploads.c.state).where(uploads.c.id == bindparam("upload_id"))
_CURRENT_FILE = select(*ds_service.FILE_BLOBS, files.c.size_bytes).where(
    files.c.dataset_id == bindparam("ds_id"), files.c.filename == bindparam("filename")
)
_SIGNED_DONE = (
    update(uploads)
    .where(uploads.c.id == bindparam("upload_id"), uploads.c.state == PENDING)
    .values(state="done")
)
_CLEAR_EXPIRED = (
    update(uploads)
    .where(
        uploads.c.dataset_id == bindparam("ds_id"),
        uploads.c.filename == bindparam("b_filename"),
        uploads.c.state == "expired",
    )
    .values(state="cleared")
)
_COUNTS = (
    update(datasets)
    .where(datasets.c.id == bindparam("ds_id"))
    .values(
        file_count=datasets.c.file_count + bindparam("n", type_=Integer),
        total_bytes=datasets.c.total_bytes + bindparam("b", type_=BigInteger),
    )
)


def _insert_receiving(conn: Connection, t: Ticket, route: str, at: datetime) -> None:
    conn.execute(
        _INSERT_UPLOAD,
        {
            "id": t.id,
            "dataset_id": t.dataset_id,
            "filename": t.filename,
            "route": route,
            "state": RECEIVING,
            "size_bytes": t.expected_size,
            "content_type": t.content_type,
            "blob_key": t.blob_key,
            "created_at": at,
            "expires_at": at + timedelta(seconds=t.lease_seconds),
        },
    )


def _start_direct(
    conn: Connection,
    token: str,
    dataset_id: str,
    raw_name: str,
    key: str,
    limits: tuple[int, int, float],
    quotas: Quotas,
) -> Ticket:
    at = now()
    account = check_token(conn, token)
    ds = ds_service.fetch(conn, account, dataset_id)
    filename = check_filename(raw_name)  # after auth: strangers learn nothing
    _check_room(conn, ds, [filename], limits[0])
    if quotas.files or quotas.bytes:
        new = conn.execute(_CURRENT_FILE, {"ds_id": ds.id, "filename": filename}).first() is None
        check_files_and_bytes(conn, quotas, account.id, int(new), None)
    ticket = Ticket(
        id=str(uuid.uuid4()),
        dataset_id=ds.id,
        dataset_name=ds.name,
        filename=filename,
        blob_key=key,
        content_type=BY_EXT[extension(filename)].content_type,
        size_limit=limits[1],
        lease_seconds=limits[2],
    )
    _insert_receiving(conn, ticket, "direct", at)
    mark_uploading(conn, ds.id, at, touched=False)
    return ticket


async def start_direct(svc: Services, token: str, dataset_id: str, raw_name: str) -> Ticket:
    """Check the token and the name, then record the upload as streaming (the dataset is
    UPLOADING), all in one transaction."""
    limits = (
        svc.settings.max_files_per_dataset,
        svc.settings.direct_upload_limit,
        float(svc.settings.upload_lease_seconds),
    )
    return await svc.db.write(
        _start_direct, token, dataset_id, raw_name, svc.storage.new_key(), limits,
        Quotas.of(svc.settings),
    )  # fmt: skip


def _renew(conn: Connection, upload_id: str, lease: timedelta) -> None:
    conn.execute(
        update(uploads)
        .where(uploads.c.id == upload_id, uploads.c.state == RECEIVING)
        .values(expires_at=now() + lease)
    )


async def renew(svc: Services, ticket: Ticket) -> None:
    """Extend a streaming upload's lease so the sweeper leaves it alone."""
    await svc.db.write(_renew, ticket.id, timedelta(seconds=ticket.lease_seconds))


def _abort(conn: Connection, ticket: Ticket, garbage_key: str | None, grace: timedelta) -> None:
    at = now()
    if garbage_key is not None:
        ds_service.add_garbage(conn, [garbage_key], at + grace)
    conn.execute(
        update(uploads)
        .where(uploads.c.id == ticket.id, uploads.c.state == RECEIVING)
        .values(state="aborted", expires_at=at)
    )
    refresh(conn, ticket.dataset_id, at, touched=False)


async def abort(svc: Services, ticket: Ticket, *, blob_committed: bool = False) -> None:
    """The attempt failed. Its bytes were discarded, or (`blob_committed`) they reached
    their key but the file was never recorded: then the blob is garbage."""
    grace = timedelta(seconds=svc.settings.gc_grace_seconds)
    await svc.db.write(_abort, ticket, ticket.blob_key if blob_committed else None, grace)


def _close_attempt(conn: Connection, upload_id: str, state: str, at: datetime) -> bool:
    """Move a receiving attempt to `state`; False when it was no longer receiving."""
    result = conn.execute(_CLOSE_ATTEMPT, {"upload_id": upload_id, "b_state": state, "at": at})
    return bool(result.rowcount)


def _record_file(
    conn: Connection,
    ds_id: str,
    dataset_name: str,
    filename: str,
    content_type: str,
    blob: BlobInfo,
    upload_id: str,
    at: datetime,
    grace: timedelta,
) -> StoredFile:
    """Make `blob` the current version of `filename`: retire the old version's blob,
    queue the check, clear an earlier expiry failure, update counts and status."""
    old = conn.execute(_CURRENT_FILE, {"ds_id": ds_id, "filename": filename}).first()
    count_delta, bytes_delta = 1, blob.size
    if old is not None:
        ds_service.add_garbage(conn, ds_service.blobs_of(old), at + grace)
        conn.execute(delete(jobs).where(jobs.c.file_id == old.id))
        conn.execute(delete(files).where(files.c.id == old.id))
        count_delta, bytes_delta = 0, blob.size - old.size_bytes
    file_id = str(uuid.uuid4())
    conn.execute(
        _INSERT_FILE,
        {
            "id": file_id,
            "dataset_id": ds_id,
            "filename": filename,
            "stem": base_name(filename),
            "size_bytes": blob.size,
            "sha256": blob.sha256,
            "blob_key": blob.key,
            "content_type": content_type,
            "created_at": at,
            "check_state": "pending",
            "upload_id": upload_id,
        },
    )
    conn.execute(
        _INSERT_JOB,
        {
            "id": str(uuid.uuid4()),
            "kind": "check",
            "file_id": file_id,
            "dataset_id": ds_id,
            "state": "queued",
            "attempts": 0,
            "created_at": at,
        },
    )
    # The file arrived: an earlier expired URL for this name no longer fails the dataset.
    conn.execute(_CLEAR_EXPIRED, {"ds_id": ds_id, "b_filename": filename})
    conn.execute(_COUNTS, {"ds_id": ds_id, "n": count_delta, "b": bytes_delta})
    # The new version waits for its check, so the dataset is UPLOADING.
    mark_uploading(conn, ds_id, at, touched=True)
    return StoredFile(file_id, ds_id, dataset_name, filename, blob.size, blob.sha256, at)


def _check_bytes(conn: Connection, quotas: Quotas, ds_id: str, filename: str, size: int) -> None:
    """The exact byte quota check before a file is recorded (replacing frees the old)."""
    if not quotas.bytes:
        return
    account_id = conn.execute(select(datasets.c.account_id).where(datasets.c.id == ds_id)).scalar()
    if account_id is None:
        return  # the dataset is gone: the caller refuses that
    old = conn.execute(_CURRENT_FILE, {"ds_id": ds_id, "filename": filename}).first()
    delta = size - (old.size_bytes if old is not None else 0)
    check_files_and_bytes(conn, quotas, account_id, 0, delta)


def _finish(
    conn: Connection, ticket: Ticket, blob: BlobInfo, grace: timedelta, quotas: Quotas
) -> StoredFile:
    at = now()
    ds_id, filename = ticket.dataset_id, ticket.filename
    _check_bytes(conn, quotas, ds_id, filename, blob.size)
    # Raising here rolls this transaction back; the caller's abort() then records the
    # committed blob as garbage in a transaction of its own.
    if conn.execute(_DATASET_ALIVE, {"ds_id": ds_id}).first() is None:
        raise DatasetNotFound("The dataset was deleted while the file was uploading.")
    if ticket.signed_id is not None:
        state = conn.execute(_UPLOAD_STATE, {"upload_id": ticket.signed_id}).scalar()
        if state not in (PENDING, "done", "expired", "lapsed"):
            raise UrlSuperseded(f"A newer upload URL was issued for {filename}; use that one.")
    if not _close_attempt(conn, ticket.id, "done", at):
        # The sweeper gave this attempt up (its lease ran out) and scheduled its blob
        # for removal: recording the file now would reference a doomed blob.
        raise Overloaded("The upload stalled too long and was dropped; send it again.")
    stored = _record_file(
        conn, ds_id, ticket.dataset_name, filename, ticket.content_type, blob,
        ticket.signed_id or ticket.id, at, grace,
    )  # fmt: skip
    if ticket.signed_id is not None:
        conn.execute(_SIGNED_DONE, {"upload_id": ticket.signed_id})
    return stored


async def finish(svc: Services, ticket: Ticket, blob: BlobInfo) -> StoredFile:
    """Record the committed blob as the current version of its filename, in one
    transaction with retiring the old version, queueing the check and the status."""
    grace = timedelta(seconds=svc.settings.gc_grace_seconds)
    stored = await svc.db.write(_finish, ticket, blob, grace, Quotas.of(svc.settings))
    svc.jobs_queued.set()
    return stored


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


def _issue(
    conn: Connection,
    account: Account,
    dataset_id: str,
    sizes: dict[str, tuple[int, str]],
    svc: Services,
) -> dict[str, dict[str, Any]]:
    at = now()
    expires_at = expiry(svc.settings.signed_url_ttl_seconds)
    expires_unix = int((expires_at - datetime(1970, 1, 1)).total_seconds())
    ds = ds_service.fetch(conn, account, dataset_id)
    names = list(sizes)
    _check_room(conn, ds, names, svc.settings.max_files_per_dataset)
    quotas = Quotas.of(svc.settings)
    if quotas.files or quotas.bytes:
        present = _present(conn, ds.id, names)
        check_files_and_bytes(
            conn, quotas, account.id, len(names) - len(present),
            sum(size for name, (size, _) in sizes.items() if name not in present),
        )  # fmt: skip
    # Requesting a URL again for a filename supersedes the earlier one, and a new
    # URL lifts a past upload_expired failure for that name.
    grace = timedelta(seconds=svc.settings.gc_grace_seconds)
    for i in range(0, len(names), 500):
        part = names[i : i + 500]
        # A superseded URL still works at an object store until it expires: what it
        # may still upload is removed after that.
        for key, until in conn.execute(
            select(uploads.c.blob_key, uploads.c.expires_at).where(
                uploads.c.dataset_id == ds.id,
                uploads.c.filename.in_(part),
                uploads.c.route == "signed",
                uploads.c.state == PENDING,
            )
        ):
            ds_service.add_garbage(conn, [upload_garbage(key)], max(at, until) + grace)
        conn.execute(
            update(uploads)
            .where(
                uploads.c.dataset_id == ds.id,
                uploads.c.filename.in_(part),
                uploads.c.route == "signed",
                uploads.c.state.in_((PENDING, "done")),
            )
            .values(state="superseded")
        )
        conn.execute(
            update(uploads)
            .where(
                uploads.c.dataset_id == ds.id,
                uploads.c.filename.in_(part),
                uploads.c.state == "expired",
            )
            .values(state="cleared")
        )
    rows = []
    out: dict[str, dict[str, Any]] = {}
    for name, (size, raw_name) in sizes.items():
        ft = BY_EXT[extension(name)]
        upload_id = str(uuid.uuid4())
        key = f"{ds.id}/{svc.storage.new_key()}"  # an upload key: grouped by dataset
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
    conn.execute(insert(uploads), rows)
    mark_uploading(conn, ds.id, now(), touched=True)
    return out


async def issue_urls(
    svc: Services, account: Account, dataset_id: str, requested: dict[str, int]
) -> dict[str, dict[str, Any]]:
    sizes = validate_url_request(requested, svc.settings.signed_upload_limit)
    return await svc.db.write(_issue, account, dataset_id, sizes, svc)


def _start_signed(
    conn: Connection,
    upload_id: str,
    content_type: str | None,
    content_length: int | None,
    key: str,
    lease_seconds: float,
) -> Ticket:
    row = conn.execute(
        select(uploads, datasets.c.name.label("dataset_name"))
        .join(datasets, datasets.c.id == uploads.c.dataset_id)
        .where(uploads.c.id == upload_id)
    ).first()
    if row is None:
        raise DatasetNotFound("The dataset this upload URL belongs to no longer exists.")
    if row.state == "superseded":
        raise UrlSuperseded(f"A newer upload URL was issued for {row.filename}; use that one.")
    if row.state == "done":
        current = conn.execute(
            select(files.c.upload_id).where(
                files.c.dataset_id == row.dataset_id, files.c.filename == row.filename
            )
        ).scalar()
        if current != row.id:
            raise UrlSuperseded(
                f"{row.filename} was replaced after this URL was used; request a new URL."
            )
    got_type = (content_type or "").split(";")[0].strip().lower()
    if got_type != (row.content_type or "").lower():
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
        blob_key=key,
        content_type=row.content_type,
        size_limit=row.size_bytes,
        expected_size=row.size_bytes,
        signed_id=row.id,
        lease_seconds=lease_seconds,
    )
    _insert_receiving(conn, ticket, "put", now())
    return ticket


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
    if datetime(1970, 1, 1) + timedelta(seconds=expires_unix) <= now():
        raise UrlExpired("This upload URL has expired; request a new one (get-upload-endpoint).")
    return await svc.db.write(
        _start_signed,
        upload_id,
        content_type,
        content_length,
        svc.storage.new_key(),
        float(svc.settings.upload_lease_seconds),
    )


def _expire(conn: Connection, dataset_id: str | None, grace: timedelta) -> int:
    at = now()
    due = conn.execute(due_urls(dataset_id, at)).all()
    for u in due:
        arrived = conn.execute(
            select(files.c.id).where(
                and_(
                    files.c.dataset_id == u.dataset_id,
                    files.c.filename == u.filename,
                    files.c.created_at >= u.created_at,
                )
            )
        ).first()
        conn.execute(
            update(uploads)
            .where(uploads.c.id == u.id)
            .values(state="lapsed" if arrived else "expired")
        )
        # Nothing usable arrived through this URL; anything a PUT still in progress
        # at the expiry leaves behind is removed after the grace period.
        ds_service.add_garbage(conn, [upload_garbage(u.blob_key)], at + grace)
    for ds_id in {u.dataset_id for u in due}:
        refresh(conn, ds_id, at)
    return len(due)


async def expire_due(svc: Services, dataset_id: str | None = None) -> int:
    """Signed URLs past expiry with no upload: `expired` (a failure) unless the file
    arrived by another route since the URL was issued (`lapsed`). Returns the count."""
    found = await svc.db.read(
        lambda conn: conn.execute(due_urls(dataset_id, now()).limit(1)).first() is not None
    )
    if not found:
        return 0
    grace = timedelta(seconds=svc.settings.gc_grace_seconds)
    return await svc.db.write(_expire, dataset_id, grace)


# --- presigned uploads straight to an object store (S3) ------------------------------


# Presigned arrivals sealed (copied server-side) at once by one reconcile.
SEALS_AT_ONCE = 8
# The soonest a sealing copy's intent row may come due (see _complete_arrival).
INTENT_MIN = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Arrival:
    """A presigned upload that may have reached the object store."""

    id: str
    dataset_id: str
    dataset_name: str
    filename: str
    size_bytes: int
    content_type: str
    upload_key: str
    expires_at: datetime


def upload_garbage(key: str) -> str:
    """The garbage entry for a presigned PUT's object (not a blob: `delete_upload`)."""
    return f"u:{key}"


_PENDING_SIGNED = (
    select(
        uploads.c.id,
        uploads.c.dataset_id,
        datasets.c.name,
        uploads.c.filename,
        uploads.c.size_bytes,
        uploads.c.content_type,
        uploads.c.blob_key,
        uploads.c.expires_at,
    )
    .join(datasets, datasets.c.id == uploads.c.dataset_id)
    .where(uploads.c.route == "signed", uploads.c.state == PENDING)
)


def pending_signed(dataset_id: str | None) -> Any:
    q = _PENDING_SIGNED
    if dataset_id is not None:
        q = q.where(uploads.c.dataset_id == dataset_id)
    return q


def _record_arrival(
    conn: Connection, u: Arrival, blob: BlobInfo, grace: timedelta
) -> StoredFile | None:
    at = now()
    claimed = conn.execute(_SIGNED_DONE, {"upload_id": u.id}).rowcount
    if not claimed:
        # Superseded, its dataset deleted, or another process recorded it first: the
        # copy stays scheduled as garbage.
        return None
    conn.execute(delete(garbage).where(garbage.c.blob_key == blob.key))
    # The upload object goes once its URL can no longer be used to write it again.
    ds_service.add_garbage(conn, [upload_garbage(u.upload_key)], max(at, u.expires_at) + grace)
    return _record_file(
        conn, u.dataset_id, u.dataset_name, u.filename, u.content_type, blob, u.id, at, grace
    )


async def _complete_arrival(svc: Services, u: Arrival) -> bool:
    grace = timedelta(seconds=svc.settings.gc_grace_seconds)
    key = svc.storage.new_key()
    # Intent first: should this process die after the copy, the copy is garbage. Never
    # due before the copy and its record are long done, whatever the grace period (a
    # due row could otherwise remove the copy between the copy and its record).
    await svc.db.write(ds_service.add_garbage, [key], now() + max(grace, INTENT_MIN))
    blob = await svc.storage.seal(u.upload_key, u.size_bytes, key)
    if blob is None:
        return False
    stored = await svc.db.write(_record_arrival, u, blob, grace)
    if stored is None:
        return False
    svc.jobs_queued.set()
    return True


async def reconcile(svc: Services, dataset_id: str | None = None, limit: int = 2000) -> int:
    """Presigned PUTs that reached the object store with their signed size become files.

    Called on status polls (one dataset) and by the sweeper (all). One LIST per dataset
    with outstanding URLs finds what arrived; each arrival is copied to an immutable
    blob key and recorded. Returns how many were recorded. A no-op for storage that
    receives signed uploads itself."""
    if not svc.storage.presigns_uploads:
        return 0
    rows = await svc.db.read(
        lambda conn: conn.execute(
            pending_signed(dataset_id).order_by(uploads.c.created_at).limit(limit)
        ).all()
    )
    by_dataset: dict[str, list[Any]] = {}
    for r in rows:
        by_dataset.setdefault(r.dataset_id, []).append(r)
    gate = asyncio.Semaphore(SEALS_AT_ONCE)

    async def complete(r: Any) -> bool:
        async with gate:
            return await _complete_arrival(svc, Arrival(*r))

    done = 0
    for ds_id, pending in by_dataset.items():
        arrived = await svc.storage.list_uploads(ds_id)
        # The store enforces the signed Content-Length, so another size never arrives;
        # if a store did not, the object is ignored and the URL runs out as usual.
        ready = [r for r in pending if arrived.get(r.blob_key) == r.size_bytes]
        # Server-side copies run side by side: a poll that finds many arrivals waits
        # for the slowest copy, not for their sum.
        done += sum(await asyncio.gather(*(complete(r) for r in ready)))
    return done


async def settle(svc: Services, dataset_id: str | None = None) -> None:
    """Bring in presigned uploads that arrived, then expire URLs that ran out unused.

    While the object store cannot be asked, nothing is expired (an upload may have
    arrived) and the status is answered as stored."""
    try:
        await reconcile(svc, dataset_id)
    except StorageUnavailable:
        log.warning("object store unavailable: presigned uploads not reconciled this time")
        return
    await expire_due(svc, dataset_id)
