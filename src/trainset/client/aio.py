"""The asyncio SDK client: the same calls as `Client`, awaited. File reads go through a
thread, so uploading never blocks the caller's event loop."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

from trainset.client import _spec as spec
from trainset.client import models

CHUNK = 1 << 20


def _read(f: IO[bytes], h: Any) -> bytes:
    chunk = f.read(CHUNK)
    if h is not None:
        h.update(chunk)
    return chunk


async def _chunks(source: spec.Source, h: Any = None) -> AsyncIterator[bytes]:
    """The source's bytes (fed to the hash `h` if given); a file or `Stream` is opened,
    read and hashed in a thread."""
    if isinstance(source, bytes):
        if h is not None:
            h.update(source)
        yield source
        return
    f = await asyncio.to_thread(spec.open_source, source)
    try:
        while chunk := await asyncio.to_thread(_read, f, h):
            yield chunk
    finally:
        await asyncio.to_thread(f.close)


def _multipart(name: str, source: spec.Source, h: Any) -> tuple[dict[str, str], Any]:
    headers, head, tail = spec.multipart_frame(name, spec.source_size(source))

    async def body() -> AsyncIterator[bytes]:
        yield head
        async for chunk in _chunks(source, h):
            yield chunk
        yield tail

    return headers, body()


def _sync(f: Any) -> None:
    f.flush()
    os.fsync(f.fileno())


class AsyncClient:
    """trainset's API over httpx, for asyncio callers (see `Client` for the behaviour)."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.base_url, token = spec.config(base_url, token)
        self.retries = retries
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=spec.auth_headers(token),
            timeout=timeout,
            transport=transport,
        )
        self._bare = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._bare.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _send(
        self, send: Callable[[], Awaitable[httpx.Response]], idempotent: bool
    ) -> httpx.Response:
        for attempt in range(self.retries + 1):
            last = attempt == self.retries or not idempotent
            r, exc = None, None
            try:
                r = await send()
            except httpx.TransportError as e:
                exc = e
            delay = spec.retry_delay(attempt, last, r, exc)
            if delay is None:
                assert r is not None
                return r
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _call(self, s: spec.Spec) -> Any:
        r = await self._send(
            lambda: self._http.request(s.method, s.path, params=s.params, json=s.json),
            s.idempotent,
        )
        return s.parse(r.json())

    async def create_dataset(self, name: str | None = None) -> models.Dataset:
        result: models.Dataset = await self._call(spec.create(name))
        return result

    async def list_datasets(
        self,
        *,
        name: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> tuple[list[models.Dataset], str | None]:
        page: tuple[list[models.Dataset], str | None] = await self._call(
            spec.listing(name, status, limit, after)
        )
        return page

    async def iter_datasets(
        self, page_size: int = 500, *, name: str | None = None, status: str | None = None
    ) -> AsyncIterator[models.Dataset]:
        """Every dataset of the account, oldest first, fetched page by page."""
        after = None
        while True:
            items, after = await self.list_datasets(
                name=name, status=status, limit=page_size, after=after
            )
            for d in items:
                yield d
            if after is None:
                return

    async def find_dataset(self, name: str) -> models.Dataset | None:
        items, _ = await self.list_datasets(name=name)
        return items[0] if items else None

    async def status(self, dataset_id: str) -> models.DatasetStatus:
        result: models.DatasetStatus = await self._call(spec.status(dataset_id))
        return result

    async def wait(
        self,
        dataset_id: str,
        *,
        timeout: float = 600.0,  # noqa: ASYNC109 - as Client.wait: a polling deadline
        poll: float = 1.0,
    ) -> models.DatasetStatus:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for delay in spec.poll_intervals(poll):
            st = await self.status(dataset_id)
            if st.settled or loop.time() > deadline:
                return st
            await asyncio.sleep(delay)
        raise AssertionError("unreachable: poll_intervals never ends")

    async def delete_dataset(self, dataset_id: str) -> None:
        await self._call(spec.delete(dataset_id))

    async def upload(
        self, dataset_id: str, source: spec.Source, filename: str | None = None
    ) -> models.UploadedFile:
        name = spec.source_name(source, filename)
        path = spec.ds_path(dataset_id, "/upload")

        h = hashlib.sha256()

        async def send() -> httpx.Response:
            nonlocal h
            h = hashlib.sha256()  # of this attempt's bytes
            headers, body = _multipart(name, source, h)
            return await self._http.post(path, content=body, headers=headers)

        uploaded = models.UploadedFile.parse((await self._send(send, True)).json())
        return spec.verified(uploaded, h.hexdigest())

    async def upload_urls(
        self, dataset_id: str, sizes: dict[str, int]
    ) -> dict[str, models.SignedUpload]:
        result: dict[str, models.SignedUpload] = await self._call(
            spec.upload_urls(dataset_id, sizes)
        )
        return result

    async def put_signed(self, upload: models.SignedUpload, source: spec.Source) -> str:
        headers = {**upload.headers, "Content-Length": str(spec.source_size(source))}

        async def send() -> httpx.Response:
            body: Any = source if isinstance(source, bytes) else _chunks(source)
            return await self._bare.request(
                upload.method, upload.upload_url, content=body, headers=headers
            )

        return str((await self._send(send, True)).headers.get("etag", ""))

    async def download(self, dataset_id: str, filename: str, dest: str | Path) -> Path:
        """Stream a file to `dest` (written to a temp name, then renamed into place)."""
        return await self._save(self._http, spec.file_path(dataset_id, filename), Path(dest), None)

    async def fetch(self, url: str, dest: str | Path, *, sha256: str | None = None) -> Path:
        """Stream a signed download URL (a manifest's) to `dest`, checking its sha256."""
        return await self._save(self._bare, url, Path(dest), sha256)

    async def _save(
        self, http: httpx.AsyncClient, url: str, dest: Path, sha256: str | None
    ) -> Path:
        """As `Client._save`: redirects followed without the token, retries on
        connection errors and 429/503, each try from `url`."""

        async def send() -> httpx.Response:
            target, client, hops = url, http, 0
            while True:
                async with client.stream("GET", target) as r:
                    if r.is_redirect:
                        target, client = spec.next_hop(r, hops, dest.name), self._bare
                        hops += 1
                        continue
                    if r.status_code >= 400:
                        await r.aread()  # the error's body, for the retry policy
                    elif r.status_code >= 300:
                        raise spec.not_a_file(r, dest.name)
                    else:
                        await self._write(r, dest, sha256)
                    return r

        await self._send(send, True)
        return dest

    @staticmethod
    async def _write(r: httpx.Response, dest: Path, sha256: str | None) -> Path:
        # Created and opened here, not in a thread: a task cancelled while a thread made
        # it would never learn its name (and leave it, and its descriptor, behind). It
        # is one small file creation.
        fd, tmp = spec.part_file(dest)
        h = hashlib.sha256()
        try:
            f = os.fdopen(fd, "wb")
            try:
                async for chunk in r.aiter_bytes(CHUNK):
                    h.update(chunk)
                    await asyncio.to_thread(f.write, chunk)
                await asyncio.to_thread(_sync, f)
            finally:
                await asyncio.to_thread(f.close)
            await asyncio.to_thread(spec.finish_part, tmp, dest, h.hexdigest(), sha256)
        except BaseException:
            # Not through a thread: a cancelled task must still remove its temp file.
            tmp.unlink(missing_ok=True)
            raise
        return dest

    async def items(
        self, dataset_id: str, *, limit: int | None = None, after: str | None = None
    ) -> models.ItemPage:
        """One page of the dataset as a gallery; see `Client.items`."""
        result: models.ItemPage = await self._call(spec.items(dataset_id, limit, after))
        return result

    async def iter_items(self, dataset_id: str, page_size: int = 200) -> AsyncIterator[models.Item]:
        after = None
        while True:
            page = await self.items(dataset_id, limit=page_size, after=after)
            for item in page.items:
                yield item
            if (after := page.next_cursor) is None:
                return

    async def delete_file(self, dataset_id: str, filename: str) -> None:
        await self._call(spec.delete_file(dataset_id, filename))

    async def manifest(self, dataset_id: str) -> models.Manifest:
        result: models.Manifest = await self._call(spec.manifest(dataset_id))
        return result
