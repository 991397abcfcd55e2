"""Routes the web UI's gallery uses: a dataset's items a page at a time, and their
thumbnails (trainset's own API; same auth and error shape)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from starlette.responses import Response, StreamingResponse

from trainset.api.datasets import ERRORS, DatasetId
from trainset.api.deps import BearerToken, Svc, UrlExpires, UrlSignature
from trainset.api.responses import json_response
from trainset.api.schemas import ErrorDetail, ErrorResponse, Status
from trainset.domain import gallery
from trainset.errors import FileNotFound

router = APIRouter(prefix="/prod/v1/trainers", tags=["gallery"])


class CheckOut(BaseModel):
    state: str
    code: str | None = None
    message: str | None = None


class ItemFileOut(BaseModel):
    filename: str
    kind: str
    size_bytes: int
    content_type: str
    created_at: str
    check: CheckOut
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    thumbnail_url: str | None = None
    text: str | None = None
    text_truncated: bool | None = None


class ItemProblem(BaseModel):
    filename: str
    code: str
    message: str


class ItemOut(BaseModel):
    stem: str
    media: list[ItemFileOut]
    captions: list[ItemFileOut]
    problems: list[ItemProblem]
    warnings: list[ItemProblem]


class ItemPageOut(BaseModel):
    id: str
    name: str
    status: Status
    updated_at: str
    file_count: int
    total_bytes: int
    # The first page (no `after`) lists the first 100 failures (error.details) and
    # warnings; later pages leave both lists empty. The counts are of all.
    error: ErrorDetail | None = None
    problem_count: int = 0
    warnings: list[dict[str, Any]] = []
    warning_count: int = 0
    items: list[ItemOut]
    has_more: bool
    next_cursor: str | None = None


@router.get("/datasets/{dataset_id}/items", response_model=ItemPageOut, responses=ERRORS)
async def list_items(
    svc: Svc,
    token: BearerToken,
    dataset_id: DatasetId,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response:
    """The dataset as a gallery: each image or video with its caption (grouped by the
    name before the last dot), its check result, a thumbnail URL, and the dataset's
    failures and warnings naming its files; paged by `after=next_cursor`."""
    return json_response(await gallery.page(svc, token, dataset_id, limit, after))


_WEBP_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/webp": {}}, "description": "A 256 px WebP"},
    403: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
}


@router.get("/thumbnails/{key}", responses=_WEBP_DOC)
async def get_thumbnail(
    svc: Svc,
    key: Annotated[str, Path(max_length=64)],
    expires: UrlExpires,
    signature: UrlSignature,
) -> Response:
    """A gallery thumbnail (no bearer token: the URL from `items` is the credential, so
    an `<img>` can load it)."""
    until = gallery.check_thumbnail(svc, key, expires, signature)
    size = await svc.storage.stat(key)
    if size is None:
        raise FileNotFound("This thumbnail is no longer stored (its file was replaced).")
    # The key is immutable: the browser may keep it as long as the URL is valid.
    max_age = max(0, until - int(time.time()))
    return StreamingResponse(
        svc.storage.read(key),
        media_type="image/webp",
        headers={
            "Content-Length": str(size),
            "Cache-Control": f"private, max-age={max_age}, immutable",
        },
    )
