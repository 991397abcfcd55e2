"""The storage interface. Backends: `local.LocalStorage` (a directory) and, later, S3.

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
    sha256: str


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

    def local_copy(self, key: str) -> AbstractAsyncContextManager[str]:
        """A local filesystem path holding the blob's bytes for the duration (for checks)."""
        ...

    def presign_put(
        self, key: str, *, size: int, content_type: str, expires_at: datetime
    ) -> str | None:
        """A URL the client PUTs to directly, or None when trainset must receive the bytes."""
        ...

    def presign_get(self, key: str, *, expires_at: datetime, filename: str) -> str | None:
        """A URL to GET the blob directly, or None when trainset serves the bytes."""
        ...

    async def ping(self) -> None:
        """Raise StorageUnavailable when the store cannot be used."""
        ...

    async def sweep_temporary(self, older_than_seconds: float) -> int:
        """Remove partial writes left by a crash; returns how many were removed."""
        ...
