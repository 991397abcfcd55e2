"""A directory as blob storage. Runs in production: every path is confirmed inside the root.

Layout under the root: `ab/cd/<key>` for committed blobs (keys are random hex), and
`.tmp/<random>` for writes in progress. A write is hashed while it streams to its
temp file, fsynced, then renamed into place and the directory fsynced, so a crash
leaves either the whole blob or only a temp file that `sweep_temporary` removes.
Disk and hashing work happens in threads, never on the event loop; a write pipelines
one buffer in a thread while the next one fills.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from trainset.errors import InsufficientStorage, StorageUnavailable
from trainset.storage.base import BlobInfo, LocalCopy

_KEY = re.compile(r"^[0-9a-f]{32}$")
_FLUSH_AT = 1 << 20
_WRITEBACK_EVERY = 16 << 20
_READ_CHUNK = 1 << 20


def _translate(e: OSError) -> Exception:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage("The storage volume is full; nothing was stored.")
    return StorageUnavailable(f"Storage is unavailable ({e.strerror}).", retry_after=5)


class LocalBlobWriter:
    def __init__(self, storage: LocalStorage, key: str, tmp: Path, final: Path):
        self.key = key
        self.size = 0
        self._storage = storage
        self._tmp = tmp
        self._final = final
        # Opened by the first flush, in its thread: a small file then costs one thread
        # hand-off in all (open, write, fsync and rename at commit).
        self._fd: int | None = None
        self._written = 0
        self._kicked = 0
        self._hash = hashlib.sha256()
        # Chunks are collected, not concatenated, on the event loop: the thread hashes
        # them and hands them to the kernel with one writev.
        self._buf: list[bytes] = []
        self._buffered = 0
        self._inflight: asyncio.Future[None] | None = None
        self._closed = False

    def _flush_sync(self, chunks: list[bytes]) -> None:
        if self._fd is None:
            self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        total = 0
        for c in chunks:
            self._hash.update(c)
            total += len(c)
        done = os.writev(self._fd, chunks) if chunks else 0
        if done < total:  # a short write: finish it the slow way
            rest = memoryview(b"".join(chunks))[done:]
            while rest:
                rest = rest[os.write(self._fd, rest) :]
        self._written += total
        if self._written - self._kicked >= _WRITEBACK_EVERY:
            # Start writing back what is already on its way (Linux begins writeback on
            # DONTNEED without waiting), so the fsync at commit has little left to do
            # and a large upload does not fill the page cache.
            os.posix_fadvise(self._fd, self._kicked, self._written - self._kicked,
                             os.POSIX_FADV_DONTNEED)  # fmt: skip
            self._kicked = self._written

    async def _drain(self) -> None:
        if self._inflight is not None:
            fut, self._inflight = self._inflight, None
            try:
                await fut
            except OSError as e:
                raise _translate(e) from e

    async def write(self, chunk: bytes) -> None:
        self._buf.append(chunk)
        self._buffered += len(chunk)
        self.size += len(chunk)
        # Also flush on many tiny chunks: writev takes at most IOV_MAX (1024) of them.
        if self._buffered >= _FLUSH_AT or len(self._buf) >= 512:
            await self._drain()
            data, self._buf, self._buffered = self._buf, [], 0
            loop = asyncio.get_running_loop()
            self._inflight = loop.run_in_executor(None, self._flush_sync, data)

    def _commit_sync(self, data: list[bytes]) -> None:
        self._flush_sync(data)
        assert self._fd is not None
        os.fsync(self._fd)
        os.close(self._fd)
        self._closed = True
        self._final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._tmp, self._final)
        dfd = os.open(self._final.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    async def commit(self) -> BlobInfo:
        try:
            await self._drain()
            data, self._buf, self._buffered = self._buf, [], 0
            await asyncio.to_thread(self._commit_sync, data)
        except OSError as e:
            await self.abort()
            raise _translate(e) from e
        except BaseException:
            await self.abort()
            raise
        return BlobInfo(self.key, self.size, self._hash.hexdigest())

    def _abort_sync(self) -> None:
        if not self._closed and self._fd is not None:
            os.close(self._fd)
        self._closed = True
        self._tmp.unlink(missing_ok=True)

    async def abort(self) -> None:
        if self._fd is None and self._inflight is None:
            self._closed = True  # nothing reached the disk
            return
        if self._inflight is not None:
            # Let the in-flight write finish before the descriptor is closed under it.
            with contextlib.suppress(Exception):  # the write is being discarded anyway
                await asyncio.shield(self._inflight)
            self._inflight = None
        self._buf, self._buffered = [], 0
        await asyncio.to_thread(self._abort_sync)


class LocalStorage:
    """Blobs in a local directory (`file://` storage URL)."""

    presigns_uploads = False

    def __init__(self, root: Path):
        self.root = root.resolve()
        self.tmp = self.root / ".tmp"

    def open(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)

    def new_key(self) -> str:
        return secrets.token_hex(16)

    def path(self, key: str) -> Path:
        """The blob's path: `ab/cd/<key>` under the (resolved) root. A key is 32 hex
        digits, generated by `new_key`, never a user's name; anything else is refused,
        so the path is inside the root by construction. It is not resolved again on
        every call: that is a filesystem walk (an lstat per component) on the event
        loop, and nothing trainset writes under the root is a symlink."""
        if not _KEY.fullmatch(key):
            raise ValueError("malformed blob key")
        return self.root / key[:2] / key[2:4] / key

    async def writer(self, key: str) -> LocalBlobWriter:
        tmp = self.tmp / f"{key}.{secrets.token_hex(4)}.part"
        return LocalBlobWriter(self, key, tmp, self.path(key))

    async def stat(self, key: str) -> int | None:
        try:
            st = await asyncio.to_thread(os.stat, self.path(key))
        except FileNotFoundError:
            return None
        except OSError as e:
            raise _translate(e) from e
        return st.st_size

    async def delete(self, key: str) -> None:
        try:
            await asyncio.to_thread(self.path(key).unlink, True)
        except OSError as e:
            raise _translate(e) from e

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = self.path(key)
        try:
            f = await asyncio.to_thread(path.open, "rb")
        except OSError as e:
            raise _translate(e) from e
        try:
            await asyncio.to_thread(f.seek, start)
            remaining = None if end is None else end - start
            while remaining is None or remaining > 0:
                n = _READ_CHUNK if remaining is None else min(_READ_CHUNK, remaining)
                chunk = await asyncio.to_thread(f.read, n)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            await asyncio.to_thread(f.close)

    @asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[LocalCopy]:
        # Blobs are immutable and only removed after a grace period: the path is stable.
        yield LocalCopy(str(self.path(key)))

    def presign_put(
        self, key: str, *, size: int, content_type: str, expires_at: datetime
    ) -> str | None:
        return None  # trainset receives the bytes itself (a locally signed URL)

    def presign_get(
        self, key: str, *, expires_at: datetime, filename: str, content_type: str | None = None
    ) -> str | None:
        return None  # trainset serves the bytes itself (a locally signed URL)

    async def list_uploads(self, group: str) -> dict[str, int]:
        return {}  # signed uploads arrive through trainset, never at the store

    async def seal(self, upload_key: str, size: int, blob_key: str) -> BlobInfo | None:
        return None

    async def delete_upload(self, key: str) -> None:
        return None

    async def ping(self) -> None:
        def _probe() -> None:
            probe = self.tmp / f"ping.{secrets.token_hex(4)}"
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            probe.unlink()

        try:
            await asyncio.to_thread(_probe)
        except OSError as e:
            raise _translate(e) from e

    async def discard_partial(self, key: str) -> None:
        if not _KEY.fullmatch(key):
            raise ValueError("malformed blob key")

        def _discard() -> None:
            for p in self.tmp.glob(f"{key}.*.part"):
                p.unlink(missing_ok=True)

        await asyncio.to_thread(_discard)

    async def sweep_temporary(self, older_than_seconds: float) -> int:
        def _sweep() -> int:
            cutoff = time.time() - older_than_seconds
            n = 0
            for entry in os.scandir(self.tmp):
                try:
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                        n += 1
                except FileNotFoundError:
                    continue
            return n

        return await asyncio.to_thread(_sweep)
