"""The asyncio SDK client: the same calls as `Client`, awaited. File reads go through a
thread, so uploading never blocks the caller's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from trainset.client import _spec as spec
from trainset.client import models

CHUNK = 1 << 20


async def _file_chunks(path: str | Path) -> AsyncIterator[bytes]:
    f = await asyncio.to_thread(open, path, "rb")
    try:
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(f.close)


def _multipart(name: str, source: str | Path | bytes) -> tuple[dict[str, str], Any]:
    headers, head, tail = spec.multipart_frame(name, spec.source_size(source))

    async def body() -> AsyncIterator[bytes]:
        yield head
        if isinstance(source, bytes):
            yield source
        else:
            async for chunk in _file_chunks(source):
                yield chunk
        yield tail

    return headers, body()


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
            headers={"Authorization": f"Bearer {token}"},
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
        while True:
            st = await self.status(dataset_id)
            if st.settled or loop.time() > deadline:
                return st
            await asyncio.sleep(poll)

    async def delete_dataset(self, dataset_id: str) -> None:
        await self._call(spec.delete(dataset_id))

    async def upload(
        self, dataset_id: str, source: str | Path | bytes, filename: str | None = None
    ) -> models.UploadedFile:
        name = spec.source_name(source, filename)
        path = spec.ds_path(dataset_id, "/upload")

        async def send() -> httpx.Response:
            headers, body = _multipart(name, source)
            return await self._http.post(path, content=body, headers=headers)

        return models.UploadedFile.parse((await self._send(send, True)).json())

    async def upload_urls(
        self, dataset_id: str, sizes: dict[str, int]
    ) -> dict[str, models.SignedUpload]:
        result: dict[str, models.SignedUpload] = await self._call(
            spec.upload_urls(dataset_id, sizes)
        )
        return result

    async def put_signed(self, upload: models.SignedUpload, source: str | Path | bytes) -> str:
        headers = {**upload.headers, "Content-Length": str(spec.source_size(source))}

        async def send() -> httpx.Response:
            body: Any = source if isinstance(source, bytes) else _file_chunks(source)
            return await self._bare.request(
                upload.method, upload.upload_url, content=body, headers=headers
            )

        return str((await self._send(send, True)).headers.get("etag", ""))

    async def delete_file(self, dataset_id: str, filename: str) -> None:
        await self._call(spec.delete_file(dataset_id, filename))

    async def manifest(self, dataset_id: str) -> models.Manifest:
        result: models.Manifest = await self._call(spec.manifest(dataset_id))
        return result
