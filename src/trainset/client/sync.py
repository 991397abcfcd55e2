"""The synchronous SDK client."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from trainset.client import _spec as spec
from trainset.client import errors, models


def _chunks(source: spec.Source, stop: threading.Event | None) -> Iterator[bytes]:
    """The source's bytes, 1 MiB at a time, read afresh (each try sends them again);
    `Stopped` once `stop` is set."""
    with spec.open_source(source) as f:
        while chunk := f.read(1 << 20):
            if stop is not None and stop.is_set():
                raise errors.Stopped("stopped")
            yield chunk


class Client:
    """trainset's API over httpx. `base_url`/`token` default to TRAINSET_URL/TRAINSET_TOKEN.

    Idempotent calls are retried with exponential backoff on connection errors and on
    429/503 answers (honouring Retry-After); errors raise `trainset.client.errors`.
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 4,
        transport: httpx.BaseTransport | None = None,
    ):
        self.base_url, token = spec.config(base_url, token)
        self.retries = retries
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=spec.auth_headers(token),
            timeout=timeout,
            transport=transport,
        )
        # Signed URLs are their own credential: never send the token along.
        self._bare = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()
        self._bare.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(
        self,
        send: Callable[[], httpx.Response],
        idempotent: bool,
        stop: threading.Event | None = None,
    ) -> httpx.Response:
        for attempt in range(self.retries + 1):
            last = attempt == self.retries or not idempotent
            r, exc = None, None
            try:
                r = send()
            except httpx.TransportError as e:
                exc = e
            delay = spec.retry_delay(attempt, last, r, exc)
            if delay is None:
                assert r is not None
                return r
            if stop is None:
                time.sleep(delay)
            elif stop.wait(delay):
                raise errors.Stopped("stopped before trying again")
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _call(self, s: spec.Spec) -> Any:
        r = self._send(
            lambda: self._http.request(s.method, s.path, params=s.params, json=s.json),
            s.idempotent,
        )
        return s.parse(r.json())

    # --- datasets -----------------------------------------------------------------

    def create_dataset(self, name: str | None = None) -> models.Dataset:
        """Create an empty dataset (DRAFT); the server generates a name if none is given."""
        result: models.Dataset = self._call(spec.create(name))
        return result

    def list_datasets(
        self,
        *,
        name: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        after: str | None = None,
    ) -> tuple[list[models.Dataset], str | None]:
        """One page (all datasets when `limit` is None) and the cursor of the next."""
        page: tuple[list[models.Dataset], str | None] = self._call(
            spec.listing(name, status, limit, after)
        )
        return page

    def iter_datasets(
        self, page_size: int = 500, *, name: str | None = None, status: str | None = None
    ) -> Iterator[models.Dataset]:
        """Every dataset of the account, oldest first, fetched page by page."""
        after = None
        while True:
            items, after = self.list_datasets(
                name=name, status=status, limit=page_size, after=after
            )
            yield from items
            if after is None:
                return

    def find_dataset(self, name: str) -> models.Dataset | None:
        items, _ = self.list_datasets(name=name)
        return items[0] if items else None

    def status(self, dataset_id: str) -> models.DatasetStatus:
        result: models.DatasetStatus = self._call(spec.status(dataset_id))
        return result

    def wait(
        self, dataset_id: str, *, timeout: float = 600.0, poll: float = 1.0
    ) -> models.DatasetStatus:
        """Poll until the dataset leaves UPLOADING (READY, FAILED or DRAFT): every 0.1 s
        at first, then less often, at most `poll` seconds apart."""
        deadline = time.monotonic() + timeout
        for delay in spec.poll_intervals(poll):
            st = self.status(dataset_id)
            if st.settled or time.monotonic() > deadline:
                return st
            time.sleep(delay)
        raise AssertionError("unreachable: poll_intervals never ends")

    def delete_dataset(self, dataset_id: str) -> None:
        self._call(spec.delete(dataset_id))

    # --- files ----------------------------------------------------------------------

    def upload(
        self,
        dataset_id: str,
        source: spec.Source,
        filename: str | None = None,
        *,
        stop: threading.Event | None = None,
    ) -> models.UploadedFile:
        """Direct upload (up to 150,000,000 bytes), streamed from a path, a `Stream`
        (e.g. a zip member) or given as bytes.

        The bytes are hashed as they are sent and the server's sha256 must match
        (else `IntegrityError`). Retried like an idempotent call: sending the same
        file again replaces it. Once `stop` is set (from another thread) the upload
        gives up at its next chunk or retry and raises `Stopped`."""
        name = spec.source_name(source, filename)
        path = spec.ds_path(dataset_id, "/upload")

        h = hashlib.sha256()

        def send() -> httpx.Response:
            nonlocal h
            h = hashlib.sha256()  # of this attempt's bytes
            headers, head, tail = spec.multipart_frame(name, spec.source_size(source))

            def body() -> Iterator[bytes]:
                yield head
                for chunk in _chunks(source, stop):
                    h.update(chunk)
                    yield chunk
                yield tail

            return self._http.post(path, content=body(), headers=headers)

        uploaded = models.UploadedFile.parse(self._send(send, True, stop).json())
        return spec.verified(uploaded, h.hexdigest())

    def upload_urls(self, dataset_id: str, sizes: dict[str, int]) -> dict[str, models.SignedUpload]:
        """Signed PUT URLs (up to 1,000 per call), each bound to its exact size."""
        result: dict[str, models.SignedUpload] = self._call(spec.upload_urls(dataset_id, sizes))
        return result

    def put_signed(
        self,
        upload: models.SignedUpload,
        source: spec.Source,
        *,
        stop: threading.Event | None = None,
    ) -> str:
        """PUT the bytes to a signed URL; returns the ETag. `stop` as for `upload`."""
        headers = {**upload.headers, "Content-Length": str(spec.source_size(source))}

        def send() -> httpx.Response:
            return self._bare.request(
                upload.method, upload.upload_url, content=_chunks(source, stop), headers=headers
            )

        return str(self._send(send, True, stop).headers.get("etag", ""))

    def download(self, dataset_id: str, filename: str, dest: str | Path) -> Path:
        """Stream a file to `dest` (written to a temp name, then renamed into place)."""
        return self._save(self._http, spec.file_path(dataset_id, filename), Path(dest), None)

    def fetch(
        self,
        url: str,
        dest: str | Path,
        *,
        sha256: str | None = None,
        stop: threading.Event | None = None,
    ) -> Path:
        """Stream a signed download URL (a manifest's) to `dest`, checking its sha256.
        Once `stop` is set (from another thread) the download gives up at its next chunk
        or retry, removes its temp file and raises `Stopped`."""
        return self._save(self._bare, url, Path(dest), sha256, stop)

    def _save(
        self,
        http: httpx.Client,
        url: str,
        dest: Path,
        sha256: str | None,
        stop: threading.Event | None = None,
    ) -> Path:
        """GET `url` into `dest`: redirects followed (without the token: the target is a
        presigned URL), connection errors and 429/503 retried like any idempotent call
        (each try starts again from `url`, so a retry gets a fresh presigned URL)."""

        def send() -> httpx.Response:
            target, client, hops = url, http, 0
            while True:
                with client.stream("GET", target) as r:
                    if r.is_redirect:
                        target, client = spec.next_hop(r, hops, dest.name), self._bare
                        hops += 1
                        continue
                    if r.status_code >= 400:
                        r.read()  # the error's body, for the retry policy
                    elif r.status_code >= 300:
                        raise spec.not_a_file(r, dest.name)
                    else:
                        self._write(r, dest, sha256, stop)
                    return r

        self._send(send, True, stop)
        return dest

    @staticmethod
    def _write(
        r: httpx.Response, dest: Path, sha256: str | None, stop: threading.Event | None = None
    ) -> Path:
        fd, tmp = spec.part_file(dest)
        h = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in r.iter_bytes(1 << 20):
                    if stop is not None and stop.is_set():
                        raise errors.Stopped(f"download of {dest.name} stopped")
                    h.update(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            spec.finish_part(tmp, dest, h.hexdigest(), sha256)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return dest

    def delete_file(self, dataset_id: str, filename: str) -> None:
        self._call(spec.delete_file(dataset_id, filename))

    def items(
        self, dataset_id: str, *, limit: int | None = None, after: str | None = None
    ) -> models.ItemPage:
        """One page of the dataset as a gallery (each image or video with its caption,
        check results, thumbnail URL); pass `after=page.next_cursor` for the next."""
        result: models.ItemPage = self._call(spec.items(dataset_id, limit, after))
        return result

    def iter_items(self, dataset_id: str, page_size: int = 200) -> Iterator[models.Item]:
        after = None
        while True:
            page = self.items(dataset_id, limit=page_size, after=after)
            yield from page.items
            if (after := page.next_cursor) is None:
                return

    def manifest(self, dataset_id: str) -> models.Manifest:
        """Every file of a READY dataset with sha256 and a short-lived download URL."""
        result: models.Manifest = self._call(spec.manifest(dataset_id))
        return result
