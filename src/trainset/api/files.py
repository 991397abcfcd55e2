"""Routes for single files and the training manifest (SPEC section 6)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import Response, StreamingResponse

from trainset.api.datasets import ERRORS, DatasetId
from trainset.api.deps import BearerToken, Svc, UrlExpires, UrlSignature
from trainset.api.responses import json_response
from trainset.api.schemas import ErrorResponse
from trainset.domain import files as file_service
from trainset.errors import FileNotFound, RangeNotSatisfiable
from trainset.storage.base import Storage

router = APIRouter(prefix="/prod/v1/trainers", tags=["files"])
Filename = Annotated[str, Path(description="The file's name in the dataset")]
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_BYTES_DOC = {"content": {"application/octet-stream": {}}, "description": "The file's bytes"}


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """[start, end) of a single `Range: bytes=` header; None = the whole file.

    Several ranges, or a header that is not a byte range, are ignored (RFC 9110 lets a
    server answer 200 with everything); a range outside the file is a 416.
    """
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:  # bytes=-N: the last N bytes
        n = int(last)
        if n == 0:
            raise RangeNotSatisfiable("The requested range is empty.")
        return max(0, size - n), size
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        raise RangeNotSatisfiable(f"The requested range is outside the file ({size} bytes).")
    return start, end


def serve_blob(
    storage: Storage,
    key: str,
    size: int,
    content_type: str,
    sha256: str | None,
    range_header: str | None,
) -> Response:
    try:
        span = byte_range(range_header, size)
    except RangeNotSatisfiable as e:
        e.details = {"size": size}
        raise
    headers = {"Accept-Ranges": "bytes"}
    if sha256:
        headers["ETag"] = f'"{sha256}"'
    if span is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(storage.read(key), media_type=content_type, headers=headers)
    start, end = span
    headers["Content-Length"] = str(end - start)
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    return StreamingResponse(
        storage.read(key, start, end), status_code=206, media_type=content_type, headers=headers
    )


@router.get(
    "/datasets/{dataset_id}/files/{filename}",
    responses={**ERRORS, 200: _BYTES_DOC, 206: _BYTES_DOC, 416: {"model": ErrorResponse}},
)
async def download_file(
    request: Request, svc: Svc, token: BearerToken, dataset_id: DatasetId, filename: Filename
) -> Response:
    """The file's bytes (Range supported)."""
    ref = await file_service.find(svc, token, dataset_id, filename)
    expires_at = file_service.download_expiry(svc)
    url = svc.storage.presign_get(
        ref.blob_key, expires_at=expires_at, filename=ref.filename, content_type=ref.content_type
    )
    if url is not None:  # an object store serves the bytes itself
        return Response(status_code=307, headers={"Location": url})
    return serve_blob(
        svc.storage, ref.blob_key, ref.size_bytes, ref.content_type, ref.sha256,
        request.headers.get("range"),
    )  # fmt: skip


@router.delete("/datasets/{dataset_id}/files/{filename}", responses=ERRORS)
async def delete_file(
    svc: Svc, token: BearerToken, dataset_id: DatasetId, filename: Filename
) -> Response:
    """Remove one file from the dataset (its status is evaluated again)."""
    ref = await file_service.remove(svc, token, dataset_id, filename)
    return json_response(
        {"id": ref.dataset_id, "name": ref.dataset_name, "filename": ref.filename, "deleted": True}
    )


@router.get("/datasets/{dataset_id}/manifest", responses={**ERRORS, 409: {"model": ErrorResponse}})
async def get_manifest(svc: Svc, token: BearerToken, dataset_id: DatasetId) -> Response:
    """For training jobs: every file of a READY dataset with its size, sha256 and a
    short-lived download URL (409 dataset_not_ready otherwise)."""
    return json_response(await file_service.manifest(svc, token, dataset_id))


@router.get(
    "/blobs/{key}",
    responses={200: _BYTES_DOC, 206: _BYTES_DOC, 403: {"model": ErrorResponse}},
)
async def signed_download(
    request: Request,
    svc: Svc,
    key: Annotated[str, Path(max_length=64)],
    expires: UrlExpires,
    signature: UrlSignature,
) -> Response:
    """A manifest's download URL (no bearer token: the URL is the credential)."""
    file_service.check_download(svc, key, expires, signature)
    size = await svc.storage.stat(key)
    if size is None:
        raise FileNotFound("This file is no longer stored.")
    return serve_blob(
        svc.storage, key, size, "application/octet-stream", None, request.headers.get("range")
    )
