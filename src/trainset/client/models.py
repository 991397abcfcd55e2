"""Typed results of the SDK's calls (the wire's field names, Python types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.rstrip("Z"))


@dataclass(frozen=True, slots=True)
class Dataset:
    id: str
    name: str
    status: str
    created_at: datetime
    updated_at: datetime
    # trainset's extras in listings (None where a reference server answers)
    file_count: int | None = None
    total_bytes: int | None = None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Dataset:
        return cls(
            d["id"], d["name"], d["status"], _ts(d["created_at"]), _ts(d["updated_at"]),
            d.get("file_count"), d.get("total_bytes"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class FileEntry:
    filename: str
    size_bytes: int
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """One failing file (or a warning) of a dataset."""

    filename: str | None
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class DatasetStatus:
    id: str
    name: str
    status: str
    created_at: datetime
    updated_at: datetime
    files: list[FileEntry]
    error_message: str | None = None
    failures: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        return self.status != "UPLOADING"

    @classmethod
    def parse(cls, d: dict[str, Any]) -> DatasetStatus:
        err = d.get("error") or {}
        return cls(
            d["id"], d["name"], d["status"], _ts(d["created_at"]), _ts(d["updated_at"]),
            [FileEntry(f["filename"], f["size_bytes"], f.get("sha256"))
             for f in d.get("files", [])],
            err.get("message"),
            [Problem(p.get("filename"), p["code"], p["message"]) for p in err.get("details") or []],
            [Problem(p.get("filename"), p["code"], p["message"]) for p in d.get("warnings") or []],
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class UploadedFile:
    dataset_id: str
    dataset_name: str
    filename: str
    bytes: int
    created_at: datetime
    sha256: str | None = None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> UploadedFile:
        return cls(
            d["id"], d["name"], d["filename"], d["bytes"], _ts(d["created_at"]), d.get("sha256")
        )


@dataclass(frozen=True, slots=True)
class SignedUpload:
    filename: str
    upload_url: str
    method: str
    headers: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ManifestFile:
    filename: str
    size_bytes: int
    sha256: str
    download_url: str


@dataclass(frozen=True, slots=True)
class Manifest:
    id: str
    name: str
    expires_at: datetime
    files: list[ManifestFile]

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Manifest:
        return cls(
            d["id"], d["name"], _ts(d["expires_at"]),
            [ManifestFile(f["filename"], f["size_bytes"], f["sha256"], f["download_url"])
             for f in d["files"]],
        )  # fmt: skip


def signed_uploads(d: dict[str, Any]) -> dict[str, SignedUpload]:
    return {
        name: SignedUpload(name, u["upload_url"], u["method"], u["headers"], _ts(u["expires_at"]))
        for name, u in d["uploads"].items()
    }


@dataclass(frozen=True, slots=True)
class ItemFile:
    """One file of a gallery item, with its content check's result."""

    filename: str
    kind: str  # image | video | caption
    size_bytes: int
    check_state: str  # pending | ok | failed
    check_code: str | None = None
    check_message: str | None = None
    width: int | None = None
    height: int | None = None
    thumbnail_url: str | None = None  # images and videos, once checked
    text: str | None = None  # captions short enough to keep

    @classmethod
    def parse(cls, d: dict[str, Any]) -> ItemFile:
        c = d.get("check") or {}
        return cls(
            d["filename"], d["kind"], d["size_bytes"], c.get("state", "pending"),
            c.get("code"), c.get("message"), d.get("width"), d.get("height"),
            d.get("thumbnail_url"), d.get("text"),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Item:
    """Every file sharing a stem: an image or video with its caption, usually."""

    stem: str
    media: list[ItemFile]
    captions: list[ItemFile]
    problems: list[Problem]
    warnings: list[Problem]

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Item:
        def probs(xs: list[dict[str, Any]]) -> list[Problem]:
            return [Problem(x.get("filename"), x["code"], x["message"]) for x in xs]

        return cls(
            d["stem"],
            [ItemFile.parse(x) for x in d["media"]],
            [ItemFile.parse(x) for x in d["captions"]],
            probs(d["problems"]),
            probs(d["warnings"]),
        )


@dataclass(frozen=True, slots=True)
class ItemPage:
    status: str
    items: list[Item]
    next_cursor: str | None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> ItemPage:
        return cls(d["status"], [Item.parse(x) for x in d["items"]], d.get("next_cursor"))
