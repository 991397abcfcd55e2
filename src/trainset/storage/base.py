"""The storage interface. Backends: `local.LocalStorage` (a directory) and `s3.S3Storage`.

Blobs are immutable and live under keys the server generates (`new_key()`); a
user-supplied name never becomes part of a key or a path. Writers stream: bytes are
hashed as they are written and become visible under their key only on `commit()`.
Backends translate their own errors into `trainset.errors` at this boundary.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: str
    size: int
    # None only for a sealed presigned upload: its content check computes it.
    sha256: str | None


@dataclass(frozen=True, slots=True)
class LocalCopy:
    """A blob's bytes at a local path, for the duration of a check. `sha256` is set when
    the bytes were hashed on the way there (a download), else None."""

    path: str
    sha256: str | None = None


class BlobWriter(Protocol):
    """A streaming put. Either `commit()` or `abort()` must be called exactly once."""

    key: str
    size: int

    async def write(self, chunk: bytes) -> None: ...

    async def commit(self) -> BlobInfo:
        """Make the bytes durable and visible under `key`; returns size and sha256."""
        ...

    async def abort(self) -> None:
        """Discard everything written; nothing becomes visible."""
        ...


class Storage(Protocol):
    """Where file bytes live."""

    # True when signed-URL uploads go straight to the store (S3), not through trainset.
    presigns_uploads: bool

    def new_key(self) -> str:
        """A fresh, unguessable, never-reused key."""
        ...

    async def writer(self, key: str) -> BlobWriter: ...

    async def stat(self, key: str) -> int | None:
        """The blob's size, or None when it does not exist."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob; a missing blob is not an error."""
        ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes of [start, end) (end exclusive, None = to the end), streamed."""
        ...

    def local_copy(self, key: str) -> AbstractAsyncContextManager[LocalCopy]:
        """A local file holding the blob's bytes for the duration (for checks)."""
        ...

    def presign_put(
        self, key: str, *, size: int, content_type: str, expires_at: datetime
    ) -> str | None:
        """A URL the client PUTs to directly, or None when trainset must receive the bytes."""
        ...

    def presign_get(
        self, key: str, *, expires_at: datetime, filename: str, content_type: str | None = None
    ) -> str | None:
        """A URL to GET the blob directly, or None when trainset serves the bytes."""
        ...

    async def list_uploads(self, group: str) -> dict[str, int]:
        """What presigned PUTs stored under `group` (a dataset id): upload key -> size.
        One listing, however many uploads are outstanding."""
        ...

    async def seal(self, upload_key: str, size: int, blob_key: str) -> BlobInfo | None:
        """Make a presigned upload of exactly `size` bytes the immutable blob `blob_key`;
        None when it has not (or not correctly) arrived."""
        ...

    async def delete_upload(self, key: str) -> None:
        """Remove what a presigned PUT stored for upload `key` (missing is fine)."""
        ...

    async def ping(self) -> None:
        """Raise StorageUnavailable when the store cannot be used."""
        ...

    async def discard_partial(self, key: str) -> None:
        """Remove the partial write of `key` left by a process that died mid-upload."""
        ...

    async def sweep_temporary(self, older_than_seconds: float) -> int:
        """Remove partial writes left by a crash; returns how many were removed."""
        ...
