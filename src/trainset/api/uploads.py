"""Routes that receive bytes: the direct upload, signed-URL requests and signed PUTs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from trainset.api.datasets import ERRORS, DatasetId
from trainset.api.deps import BearerToken, Caller, Svc, UrlExpires, UrlSignature
from trainset.api.multipart import FileData, FileStart, MultipartReader, boundary_of, events
from trainset.api.responses import json_response
from trainset.api.schemas import (
    ErrorResponse,
    UploadedFileOut,
    UploadEndpointOut,
    UploadEndpointRequest,
    uploaded_dict,
)
from trainset.domain import uploads
from trainset.domain.receive import receive
from trainset.errors import (
    ClientDisconnected,
    FileTooLarge,
    InvalidRequest,
    RequestTimeout,
    SizeMismatch,
    TrainsetError,
)

router = APIRouter(prefix="/prod/v1/trainers", tags=["uploads"])
# Multipart framing and small text fields around a file at the size limit.
MULTIPART_OVERHEAD = 1 << 20

_MULTIPART_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}
_PUT_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _content_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidRequest("The Content-Length header is not a number.")
    return int(raw)


async def _timed(request: Request, deadline: float) -> AsyncIterator[bytes]:
    """The request body, with a deadline on each read (slow clients are cut off)."""
    stream = request.stream().__aiter__()
    while True:
        try:
            # asyncio.timeout, not wait_for: no task per chunk on the hot path.
            async with asyncio.timeout(deadline):
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise RequestTimeout(
                f"No bytes arrived for {deadline:g} seconds; the upload was stopped."
            ) from None
        except ClientDisconnect:
            raise ClientDisconnected("The client went away before the body was complete.") from None
        if chunk:
            yield chunk


def _too_large_direct(limit: int, signed_limit: int) -> TrainsetError:
    return FileTooLarge(
        f"The file is over the {limit}-byte limit of direct uploads; request a signed URL "
        f"with POST .../get-upload-endpoint (files up to {signed_limit} bytes) and PUT it there."
    )


@router.post(
    "/datasets/{dataset_id}/upload",
    response_model=UploadedFileOut,
    openapi_extra=_MULTIPART_DOC,
    responses={
        **ERRORS,
        408: {"model": ErrorResponse},
        413: {"model": ErrorResponse},
        415: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        507: {"model": ErrorResponse},
    },
)
async def upload_file(
    request: Request, svc: Svc, token: BearerToken, dataset_id: DatasetId
) -> Response:
    """Upload one file (up to 150,000,000 bytes) as multipart field `file`."""
    settings = svc.settings

    def too_large() -> TrainsetError:
        return _too_large_direct(settings.direct_upload_limit, settings.signed_upload_limit)

    declared = _content_length(request)
    if declared is not None and declared > settings.direct_upload_limit + MULTIPART_OVERHEAD:
        raise too_large()
    reader = MultipartReader(boundary_of(request.headers.get("content-type")))
    stream = events(reader, _timed(request, settings.read_timeout_seconds))
    start: FileStart | None = None
    async for event in stream:
        if isinstance(event, FileStart):
            start = event
            break
    if start is None:
        raise InvalidRequest("The upload has no `file` field.")
    ticket = await uploads.start_direct(svc, token, dataset_id, start.filename)

    async def file_bytes() -> AsyncIterator[bytes]:
        # Runs the body to its end so the closing boundary (and no second file) is seen.
        async for ev in stream:
            if isinstance(ev, FileData):
                yield ev.data

    stored = await receive(svc, ticket, file_bytes(), too_large)
    return json_response(uploaded_dict(stored))


@router.post(
    "/datasets/{dataset_id}/get-upload-endpoint",
    response_model=UploadEndpointOut,
    responses={**ERRORS, 413: {"model": ErrorResponse}, 415: {"model": ErrorResponse}},
)
async def get_upload_endpoint(
    svc: Svc, caller: Caller, dataset_id: DatasetId, body: UploadEndpointRequest
) -> Response:
    """Signed PUT URLs for up to 1,000 files; each URL is bound to its exact size."""
    out = await uploads.issue_urls(svc, caller, dataset_id, body.filenameToByteSize)
    return json_response({"uploads": out})


@router.put(
    "/uploads/{upload_id}",
    openapi_extra=_PUT_DOC,
    responses={
        200: {"description": "Stored; the ETag is the file's sha256.", "content": None},
        400: {"model": ErrorResponse},
        403: {"model": ErrorResponse},
        404: {"model": ErrorResponse},
        408: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        507: {"model": ErrorResponse},
    },
)
async def signed_put(
    request: Request,
    svc: Svc,
    upload_id: Annotated[str, Path(max_length=64)],
    expires: UrlExpires,
    signature: UrlSignature,
) -> Response:
    """A signed-URL PUT (no bearer token: the URL is the credential)."""
    declared = _content_length(request)
    ticket = await uploads.start_signed_put(
        svc, upload_id, expires, signature, request.headers.get("content-type"), declared
    )

    def too_large() -> TrainsetError:
        return SizeMismatch(
            f"This URL was signed for exactly {ticket.expected_size} bytes; more arrived. "
            "Nothing was stored."
        )

    stored = await receive(
        svc, ticket, _timed(request, svc.settings.read_timeout_seconds), too_large
    )
    return Response(status_code=200, headers={"ETag": f'"{stored.sha256}"'})
