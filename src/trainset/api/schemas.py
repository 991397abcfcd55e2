"""Wire models: the reference service's field names live here and nowhere else.

Routes build response dicts with the functions below (fast, exact field order);
the pydantic models document the same shapes in /openapi.json.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from trainset.domain.clock import wire
from trainset.domain.datasets import Dataset
from trainset.domain.names import DATASET_NAME_PATTERN, MAX_DATASET_NAME
from trainset.domain.uploads import StoredFile

Status = Literal["DRAFT", "UPLOADING", "READY", "FAILED"]


class CreateDatasetRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    # The rule is documented here and enforced by the domain (its `invalid_name` error
    # names the rule; a schema violation would only say "invalid_request").
    name: str | None = Field(
        None,
        description="Unique in the account; generated (ds_...) if omitted.",
        json_schema_extra={"pattern": DATASET_NAME_PATTERN, "maxLength": MAX_DATASET_NAME},
    )


class UploadEndpointRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    filenameToByteSize: dict[str, Annotated[StrictInt, Field(ge=0)]] = Field(
        ..., description="filename -> exact size in bytes"
    )


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class DatasetOut(BaseModel):
    id: str
    name: str
    status: Status
    created_at: str = Field(examples=["2026-01-31T10:20:30.143086"])
    updated_at: str = Field(examples=["2026-01-31T10:20:30.143086"])


class DatasetSummaryOut(DatasetOut):
    # trainset's extra fields: completed files and their total size.
    file_count: int = 0
    total_bytes: int = 0


class DatasetListOut(BaseModel):
    datasets: list[DatasetSummaryOut]
    has_more: bool = False
    next_cursor: str | None = None


class FileOut(BaseModel):
    filename: str
    size_bytes: int
    sha256: str | None = None


class StatusOut(DatasetSummaryOut):
    files: list[FileOut]
    error: ErrorDetail | None = None
    warnings: list[dict[str, Any]] = []


class UploadedFileOut(BaseModel):
    id: str
    name: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: str
    filename: str
    sha256: str | None = None


class SignedUpload(BaseModel):
    upload_url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str]
    expires_at: str = Field(examples=["2026-01-31T10:40:30Z"])


class UploadEndpointOut(BaseModel):
    uploads: dict[str, SignedUpload]


class DeletedOut(BaseModel):
    id: str
    name: str
    deleted: Literal[True] = True


def dataset_dict(ds: Dataset, *, counts: bool = False) -> dict[str, Any]:
    """The reference's five fields; `counts` adds trainset's file count and size (the
    list has them; create answers exactly as the reference does)."""
    out: dict[str, Any] = {
        "id": ds.id,
        "name": ds.name,
        "status": ds.status,
        "created_at": wire(ds.created_at),
        "updated_at": wire(ds.updated_at),
    }
    if counts:
        out["file_count"] = ds.file_count
        out["total_bytes"] = ds.total_bytes
    return out


def status_dict(ds: Dataset, files: list[tuple[str, int, str | None]]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": ds.id,
        "name": ds.name,
        "status": ds.status,
        # sha256 is an extra field: it lets a client skip files already uploaded.
        "files": [{"filename": f, "size_bytes": s, "sha256": h} for f, s, h in files],
        "created_at": wire(ds.created_at),
        "updated_at": wire(ds.updated_at),
    }
    if ds.status == "FAILED" and ds.error is not None:
        out["error"] = ds.error
    out["warnings"] = ds.warnings or []
    out["file_count"] = ds.file_count
    out["total_bytes"] = ds.total_bytes
    return out


def uploaded_dict(f: StoredFile) -> dict[str, Any]:
    return {
        "id": f.dataset_id,
        "name": f.dataset_name,
        "object": "file",
        "bytes": f.size_bytes,
        "created_at": wire(f.created_at),
        "filename": f.filename,
        "sha256": f.sha256,
    }
