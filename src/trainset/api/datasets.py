"""Routes for datasets: create, list, status, delete (SPEC sections 1 and 6)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from starlette.responses import Response

from trainset.api.deps import BearerToken, Caller, Svc
from trainset.api.responses import json_response
from trainset.api.schemas import (
    CreateDatasetRequest,
    DatasetListOut,
    DatasetOut,
    DeletedOut,
    ErrorResponse,
    Status,
    StatusOut,
    dataset_dict,
    status_dict,
)
from trainset.domain import datasets as ds_service
from trainset.domain.quotas import Quotas
from trainset.domain.uploads import settle

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse},
    401: {"model": ErrorResponse},
    404: {"model": ErrorResponse},
    503: {"model": ErrorResponse},
}
router = APIRouter(prefix="/prod/v1/trainers/datasets", tags=["datasets"], responses=ERRORS)
# No length limit here: any unknown id, however long, is a 404 like every other.
DatasetId = Annotated[str, Path(description="The dataset's id")]


@router.post("", response_model=DatasetOut, responses={409: {"model": ErrorResponse}})
async def create_dataset(
    svc: Svc, caller: Caller, body: Annotated[CreateDatasetRequest | None, Body()] = None
) -> Response:
    """Create an empty dataset (status DRAFT)."""
    ds = await ds_service.create(
        svc.db, caller, body.name if body else None, Quotas.of(svc.settings)
    )
    return json_response(dataset_dict(ds))


@router.get("", response_model=DatasetListOut)
async def list_datasets(
    svc: Svc,
    token: BearerToken,
    name: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[Status | None, Query()] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    after: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """Datasets of this account, oldest first; filters and cursor paging are optional."""
    items, cursor = await ds_service.list_datasets(
        svc.db, token, name=name, status=status, limit=limit, after=after
    )
    return json_response(
        {
            "datasets": [dataset_dict(d, counts=True) for d in items],
            "has_more": cursor is not None,
            "next_cursor": cursor,
        }
    )


@router.get("/{dataset_id}/status", response_model=StatusOut)
async def dataset_status(svc: Svc, token: BearerToken, dataset_id: DatasetId) -> Response:
    """The dataset's status, its completed files, and `error` when FAILED."""
    ds, files = await ds_service.with_files(
        svc.db,
        token,
        dataset_id,
        lambda ds_id: settle(svc, ds_id),
        presigned=svc.storage.presigns_uploads,
    )
    return json_response(status_dict(ds, files))


@router.delete("/{dataset_id}", response_model=DeletedOut)
async def delete_dataset(svc: Svc, caller: Caller, dataset_id: DatasetId) -> Response:
    """Delete the dataset and its files (irreversible); its name is free at once."""
    ds = await ds_service.remove(svc.db, caller, dataset_id, svc.settings.gc_grace_seconds)
    return json_response({"id": ds.id, "name": ds.name, "deleted": True})
