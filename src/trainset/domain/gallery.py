"""A dataset as the web UI shows it: items (an image or video with its caption), a
page at a time, each with its thumbnail URL, caption text, and the dataset's failures
and warnings that name its files.

An item is every file sharing a stem (the name before the last dot): normally one
medium and its caption, sometimes a caption alone (an orphan) or two media sharing a
caption (ambiguous). Paging is by stem, so a pair is never split across pages, and a
page costs two indexed queries however large the dataset is.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from trainset.db.tables import files
from trainset.domain import datasets as ds_service
from trainset.domain.accounts import check_token
from trainset.domain.clock import now, wire
from trainset.domain.filetypes import CAPTION_TEXT_MAX, Kind, file_type
from trainset.errors import InvalidRequest, TrainsetError, UrlExpired
from trainset.services import Services

log = logging.getLogger(__name__)

# Thumbnail URLs are signed for whole windows of this many seconds, so the same
# thumbnail keeps the same URL for a while and the browser's cache answers reloads.
THUMB_WINDOW = 600
# The page carries the first this-many failures and warnings of the whole dataset (and
# their counts): enough to show why it is not ready, without a first page that grows
# with the dataset. GET …/status has them all.
SUMMARY_LIMIT = 100
_EPOCH = datetime(1970, 1, 1)
_COLS = (
    files.c.id,
    files.c.blob_key,
    files.c.stem,
    files.c.filename,
    files.c.size_bytes,
    files.c.content_type,
    files.c.created_at,
    files.c.check_state,
    files.c.check_code,
    files.c.check_message,
    files.c.check_meta,
    files.c.thumb_key,
    files.c.caption_text,
)


@dataclass(frozen=True, slots=True)
class Page:
    dataset: ds_service.Dataset
    rows: list[Any]
    next_stem: str | None


def encode_cursor(stem: str) -> str:
    return base64.urlsafe_b64encode(stem.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = (cursor + "=" * (-len(cursor) % 4)).encode()
        return base64.b64decode(raw, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidRequest("The `after` cursor is not one this service gave out.") from None


def _page(conn: Connection, token: str, dataset_id: str, limit: int, after: str | None) -> Page:
    ds = ds_service.fetch(conn, check_token(conn, token), dataset_id)
    q = select(files.c.stem).where(files.c.dataset_id == ds.id).distinct()
    if after is not None:
        q = q.where(files.c.stem > after)
    stems = list(conn.execute(q.order_by(files.c.stem).limit(limit + 1)).scalars())
    more = len(stems) > limit
    stems = stems[:limit]
    rows: list[Any] = []
    if stems:
        rows = list(
            conn.execute(
                select(*_COLS)
                .where(files.c.dataset_id == ds.id, files.c.stem.in_(stems))
                .order_by(files.c.stem, files.c.filename)
            )
        )
    return Page(ds, rows, stems[-1] if more else None)


def thumb_expiry(ttl: int) -> int:
    """Unix seconds: at least `ttl` from now, on a THUMB_WINDOW boundary."""
    return math.ceil((time.time() + ttl) / THUMB_WINDOW) * THUMB_WINDOW


# An object store's presigned URL differs at every signing (it carries the time it was
# signed): the one made first is handed out for the key's whole window, so a reload of
# the gallery is answered by the browser's cache, not by the store. Bounded: cleared
# when full (a miss costs one signing).
_PRESIGNED: dict[tuple[int, str, int], str] = {}
_PRESIGNED_MAX = 20_000


def thumbnail_url(svc: Services, key: str, stem: str, expires: int) -> str:
    cache_key = (id(svc.storage), key, expires)
    if (cached := _PRESIGNED.get(cache_key)) is not None:
        return cached
    at = _EPOCH + timedelta(seconds=expires)
    url = svc.storage.presign_get(
        key, expires_at=at, filename=f"{stem}.webp", content_type="image/webp"
    )
    if url is not None:
        if len(_PRESIGNED) >= _PRESIGNED_MAX:
            _PRESIGNED.clear()
        _PRESIGNED[cache_key] = url
        return url
    sig = svc.signer.sign(key, expires, "thumbnail")
    base = f"{svc.settings.base_url}/prod/v1/trainers/thumbnails/{key}"
    return f"{base}?expires={expires}&signature={sig}"


def check_thumbnail(svc: Services, key: str, expires: str, signature: str) -> int:
    """A thumbnail URL is genuine and unexpired (else a 403); its expiry, unix seconds."""
    expires_unix = svc.signer.verify(key, expires, signature, "thumbnail")
    if _EPOCH + timedelta(seconds=expires_unix) <= now():
        raise UrlExpired("This thumbnail URL has expired; load the gallery again.")
    return expires_unix


def _entry(svc: Services, r: Any, expires: int, text: str | None) -> dict[str, Any]:
    ft = file_type(r.filename)
    meta = r.check_meta or {}
    out: dict[str, Any] = {
        "filename": r.filename,
        "kind": ft.kind.value if ft else "unknown",
        "size_bytes": r.size_bytes,
        "content_type": r.content_type,
        "created_at": wire(r.created_at),
        "check": {"state": r.check_state, "code": r.check_code, "message": r.check_message},
    }
    if ft is not None and ft.kind is Kind.CAPTION:
        out["text"] = text
        # A caption that passed its check but is too long to keep is shown as such.
        out["text_truncated"] = r.check_state == "ok" and text is None and _too_long(meta)
    else:
        for k in ("width", "height", "duration"):
            if meta.get(k) is not None:
                out[k] = meta[k]
        out["thumbnail_url"] = (
            thumbnail_url(svc, r.thumb_key, r.stem, expires) if r.thumb_key else None
        )
    return out


def _by_filename(entries: list[dict[str, Any]] | None) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in entries or []:
        if e.get("filename"):
            out[e["filename"]].append({"code": e["code"], "message": e["message"]})
    return out


def _too_long(meta: dict[str, Any]) -> bool:
    return int(meta.get("chars") or 0) > CAPTION_TEXT_MAX


def _textless(r: Any) -> bool:
    """A caption that passed its check before the check kept captions' text (migration
    0003), and is short enough to keep."""
    ft = file_type(r.filename)
    return (
        ft is not None
        and ft.kind is Kind.CAPTION
        and r.check_state == "ok"
        and r.caption_text is None
        and not _too_long(r.check_meta or {})
        and r.size_bytes <= 4 * CAPTION_TEXT_MAX + 3  # UTF-8: at most 4 bytes a character
    )


async def _read_caption(svc: Services, key: str) -> str | None:
    """A short caption's text (its check passed: UTF-8, no NUL), as the check keeps it."""
    parts = [chunk async for chunk in svc.storage.read(key)]
    try:
        return b"".join(parts).decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:  # not the bytes that passed the check: show none
        return None


_STORE_TEXT = (
    update(files)
    .where(files.c.id == bindparam("file_id"), files.c.caption_text.is_(None))
    .values(caption_text=bindparam("text"))
)


def _store_texts(conn: Connection, texts: dict[str, str]) -> None:
    conn.execute(_STORE_TEXT, [{"file_id": k, "text": t} for k, t in texts.items()])


async def _backfill_texts(svc: Services, rows: list[Any]) -> dict[str, str]:
    """Read the text of captions checked before it was kept, and keep it now, so the
    page shows them and later pages need no reads. Best effort: a caption whose blob
    cannot be read now is shown without text, and tried again on the next load."""
    gate = asyncio.Semaphore(8)

    async def one(r: Any) -> tuple[str, str | None]:
        async with gate:
            try:
                return r.id, await _read_caption(svc, r.blob_key)
            except (TrainsetError, OSError):
                return r.id, None

    got = await asyncio.gather(*(one(r) for r in rows))
    texts = {fid: t for fid, t in got if t is not None}
    if texts:
        try:
            await svc.db.write(_store_texts, texts)
        except TrainsetError:
            log.warning("keeping %d caption texts failed; they are read again", len(texts))
    return texts


async def page(
    svc: Services, token: str, dataset_id: str, limit: int, after: str | None
) -> dict[str, Any]:
    """One page of the dataset's items, in stem order."""
    stem_after = decode_cursor(after) if after else None
    first = stem_after is None
    p = await svc.db.read(_page, token, dataset_id, limit, stem_after)
    legacy = [r for r in p.rows if _textless(r)]
    texts = await _backfill_texts(svc, legacy) if legacy else {}
    ds = p.dataset
    error = ds.error if ds.status == "FAILED" else None
    details: list[dict[str, Any]] = (error or {}).get("details") or []
    all_warnings = ds.warnings or []
    failures = _by_filename(details)
    warnings = _by_filename(all_warnings)
    expires = thumb_expiry(svc.settings.signed_url_ttl_seconds)

    def build() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for r in p.rows:
            if not items or items[-1]["stem"] != r.stem:
                items.append(
                    {"stem": r.stem, "media": [], "captions": [], "problems": [], "warnings": []}
                )
            item = items[-1]
            e = _entry(svc, r, expires, texts.get(r.id, r.caption_text))
            item["captions" if e["kind"] == "caption" else "media"].append(e)
            for src, dst in ((failures, "problems"), (warnings, "warnings")):
                item[dst].extend({"filename": r.filename, **x} for x in src.get(r.filename, []))
        return items

    # Presigning (object store) costs botocore ~0.3 ms a URL: off the event loop.
    items = await asyncio.to_thread(build) if svc.storage.presigns_uploads else build()
    return {
        "id": ds.id,
        "name": ds.name,
        "status": ds.status,
        "updated_at": wire(ds.updated_at),
        "file_count": ds.file_count,
        "total_bytes": ds.total_bytes,
        # Why the dataset is not READY, whichever pages the failing files are on: the
        # first page lists them; later ones say why in `error` and give the counts
        # (their own items carry their problems).
        "error": {**error, "details": details[:SUMMARY_LIMIT] if first else []} if error else None,
        "problem_count": len(details),
        "warnings": all_warnings[:SUMMARY_LIMIT] if first else [],
        "warning_count": len(all_warnings),
        "items": items,
        "has_more": p.next_stem is not None,
        "next_cursor": encode_cursor(p.next_stem) if p.next_stem is not None else None,
    }
