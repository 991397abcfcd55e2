"""Any S3-compatible object store as blob storage (`s3://bucket/prefix` storage URL).

boto3 (botocore) with its blocking calls run in a dedicated thread pool, never on the
event loop. Chosen over aioboto3 and obstore on measurements (see
`bench/bench_s3_clients.py` and docs/deploy.md): botocore is the one library here
that presigns a PUT with `content-length` and `content-type` among the signed headers,
which the contract requires, and using one client for both signing and transfers keeps
one credential chain and one error vocabulary.

Layout under the prefix: `b/<key>` holds committed, immutable blobs;
`u/<dataset id>/<key>` is where a presigned PUT lands (so one LIST per dataset finds
every arrival, instead of a HEAD per outstanding URL). A presigned URL stays usable
until it expires, so the object it names can be overwritten by a second PUT; trainset
therefore never references an upload object: `seal()` copies it (server-side, pinned
to the ETag it checked) to a fresh blob key first. Direct uploads stream as a
multipart upload (8 MiB parts, two uploading while the next fills), or one PUT when
small; nothing is visible under the key before `commit()`. botocore errors are
translated here into `trainset.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import os
import re
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

import boto3
import botocore.exceptions
from botocore.config import Config

from trainset.errors import FileNotFound, StorageUnavailable
from trainset.storage.base import BlobInfo, LocalCopy

log = logging.getLogger("trainset.storage")
T = TypeVar("T")

_KEY = re.compile(r"^[0-9a-f]{32}$")
_UPLOAD_KEY = re.compile(r"^[0-9a-f-]{36}/[0-9a-f]{32}$")
PART_SIZE = 8 << 20  # S3 needs >= 5 MiB for every part but the last
PARTS_IN_FLIGHT = 2
_READ_CHUNK = 1 << 20
MAX_COPY = 5 * 1024**3  # a single CopyObject copies at most 5 GiB
_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}


def parse_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix")."""
    rest = url[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError(f"{url!r} names no bucket")
    return bucket, prefix.strip("/")


def _code(e: botocore.exceptions.ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


def _status(e: botocore.exceptions.ClientError) -> int:
    return int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _is_missing(e: Exception) -> bool:
    """The object (or multipart upload) is not there; a missing bucket is not that, it
    is a broken configuration (translated to StorageUnavailable like other failures)."""
    return (
        isinstance(e, botocore.exceptions.ClientError)
        and _code(e) != "NoSuchBucket"
        and (_code(e) in _MISSING or _status(e) == 404)
    )


def _translate(e: Exception) -> Exception:
    if isinstance(e, botocore.exceptions.ClientError):
        code, status = _code(e), _status(e)
        if status in (401, 403) or code in ("AccessDenied", "InvalidAccessKeyId"):
            log.error("the object store refused trainset's credentials: %s", e)
            return StorageUnavailable(
                "The object store refused trainset's credentials; an operator must fix them.",
                retry_after=30,
            )
        return StorageUnavailable(
            f"The object store answered {status or ''} {code}; try again shortly.".replace(
                "  ", " "
            ),
            retry_after=5,
        )
    return StorageUnavailable("The object store cannot be reached; try again shortly.",
                              retry_after=5)  # fmt: skip


# A multipart upload that vanished under a live writer: a sweeper took its upload
# for dead (the client stalled longer than the upload lease).
def _interrupted() -> StorageUnavailable:
    return StorageUnavailable("The upload was interrupted; send it again.", retry_after=1)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class ChunkReader(io.RawIOBase):
    """A seekable, read-only file over a list of chunks, so a part is sent without
    first being joined into one more copy (botocore seeks to rewind on a retry)."""

    def __init__(self, chunks: list[bytes]):
        self._chunks = chunks
        self._size = sum(len(c) for c in chunks)
        self._pos = 0
        self._i = 0  # chunk index of _pos
        self._off = 0  # offset of _pos within that chunk

    def __len__(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, min(self._size, base + offset))
        self._i, self._off, left = 0, 0, self._pos
        while self._i < len(self._chunks) and left >= len(self._chunks[self._i]):
            left -= len(self._chunks[self._i])
            self._i += 1
        self._off = left
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = 0
        while n < len(view) and self._i < len(self._chunks):
            chunk = self._chunks[self._i]
            take = min(len(view) - n, len(chunk) - self._off)
            view[n : n + take] = chunk[self._off : self._off + take]
            n += take
            self._off += take
            if self._off == len(chunk):
                self._i, self._off = self._i + 1, 0
        self._pos += n
        return n


class S3BlobWriter:
    """A streaming put: parts go up while the next one fills; sha256 as bytes pass."""

    def __init__(self, storage: S3Storage, key: str):
        self.key = key
        self.size = 0
        self._s = storage
        self._obj = storage.blob_name(key)
        self._sha = hashlib.sha256()
        self._buf: list[bytes] = []
        self._buffered = 0
        self._upload_id: str | None = None
        self._parts: list[asyncio.Task[dict[str, Any]]] = []
        self._done = False

    def _hash(self, chunks: list[bytes]) -> ChunkReader:
        for c in chunks:
            self._sha.update(c)
        return ChunkReader(chunks)

    async def write(self, chunk: bytes) -> None:
        self._buf.append(chunk)
        self._buffered += len(chunk)
        self.size += len(chunk)
        if self._buffered >= PART_SIZE:
            await self._send_part()

    async def _send_part(self) -> None:
        chunks, self._buf, self._buffered = self._buf, [], 0
        body = await self._s.run(self._hash, chunks)
        if self._upload_id is None:
            r = await self._s.call("create_multipart_upload", Key=self._obj)
            self._upload_id = r["UploadId"]
        # Bound memory: at most PARTS_IN_FLIGHT parts upload while the next one fills.
        while sum(not t.done() for t in self._parts) >= PARTS_IN_FLIGHT:
            await asyncio.wait(
                [t for t in self._parts if not t.done()], return_when=asyncio.FIRST_COMPLETED
            )
        for t in self._parts:
            if t.done() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
        number = len(self._parts) + 1
        self._parts.append(asyncio.ensure_future(self._upload_part(number, body)))

    async def _upload_part(self, number: int, body: ChunkReader) -> dict[str, Any]:
        try:
            r = await self._s.call(
                "upload_part", Key=self._obj, UploadId=self._upload_id, PartNumber=number,
                Body=body,
            )  # fmt: skip
        except botocore.exceptions.ClientError as e:  # NoSuchUpload: it was aborted
            raise _interrupted() from e
        return {"PartNumber": number, "ETag": r["ETag"]}

    async def commit(self) -> BlobInfo:
        try:
            if self._upload_id is None:
                body = await self._s.run(self._hash, self._buf)
                self._buf, self._buffered = [], 0
                await self._s.call("put_object", Key=self._obj, Body=body)
            else:
                if self._buf:
                    await self._send_part()
                parts = await asyncio.gather(*self._parts)
                try:
                    await self._s.call(
                        "complete_multipart_upload",
                        Key=self._obj,
                        UploadId=self._upload_id,
                        MultipartUpload={"Parts": list(parts)},
                    )
                except botocore.exceptions.ClientError as e:
                    raise _interrupted() from e
            self._done = True
        except BaseException:
            await self.abort()
            raise
        return BlobInfo(self.key, self.size, self._sha.hexdigest())

    async def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._buf, self._buffered = [], 0
        for t in self._parts:
            t.cancel()
        await asyncio.gather(*self._parts, return_exceptions=True)
        if self._upload_id is not None:
            # Nothing became visible; this frees the parts already stored. If it fails,
            # `sweep_temporary` aborts the upload later.
            with contextlib.suppress(Exception):
                await self._s.call("abort_multipart_upload", Key=self._obj,
                                   UploadId=self._upload_id)  # fmt: skip


class S3Storage:
    """Blobs in an S3-compatible bucket, under a prefix."""

    presigns_uploads = True

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        temp_dir: str | None = None,
        threads: int = 32,
    ):
        self.bucket, self.prefix = parse_url(url)
        self.endpoint_url = endpoint_url
        self.temp_dir = temp_dir
        session = boto3.session.Session()
        # boto3 itself reads only AWS_DEFAULT_REGION; AWS_REGION is the newer name.
        region = (
            session.region_name
            or os.environ.get("AWS_REGION")
            or ("us-east-1" if endpoint_url else None)
        )
        self._client = session.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                signature_version="s3v4",
                # Path style for custom endpoints (MinIO, SeaweedFS, R2 all accept it);
                # AWS itself picks its own style.
                s3={"addressing_style": "path" if endpoint_url else "auto"},
                connect_timeout=3,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=threads,
                # Checksums only where the store requires them: some S3-compatible
                # stores reject the newer default trailing checksums.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="s3")

    # -- plumbing ------------------------------------------------------------------

    def _name(self, kind: str, key: str) -> str:
        if not _KEY.match(key):
            raise ValueError("malformed blob key")
        return f"{self.prefix}/{kind}/{key}" if self.prefix else f"{kind}/{key}"

    def blob_name(self, key: str) -> str:
        return self._name("b", key)

    def upload_name(self, key: str) -> str:
        # Upload keys are "<dataset id>/<random hex>": one LIST finds a dataset's arrivals.
        if not _UPLOAD_KEY.match(key):
            raise ValueError("malformed upload key")
        return f"{self.prefix}/u/{key}" if self.prefix else f"u/{key}"

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, partial(fn, *args))

    async def call(self, op: str, **params: Any) -> Any:
        """One S3 API call in the pool, with the bucket filled in and errors translated."""
        fn = getattr(self._client, op)
        try:
            return await self.run(partial(fn, Bucket=self.bucket, **params))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            if _is_missing(e):
                raise
            raise _translate(e) from e

    async def _head(self, name: str) -> dict[str, Any] | None:
        try:
            r: dict[str, Any] = await self.call("head_object", Key=name)
        except botocore.exceptions.ClientError as e:
            if _is_missing(e):
                return None
            raise _translate(e) from e
        return r

    # -- the Storage protocol --------------------------------------------------------

    def new_key(self) -> str:
        return secrets.token_hex(16)

    async def writer(self, key: str) -> S3BlobWriter:
        return S3BlobWriter(self, key)

    async def stat(self, key: str) -> int | None:
        head = await self._head(self.blob_name(key))
        return None if head is None else int(head["ContentLength"])

    async def list_uploads(self, group: str) -> dict[str, int]:
        base = self.upload_name(f"{group}/{'0' * 32}")[:-32]
        out: dict[str, int] = {}
        params: dict[str, Any] = {"Prefix": base}
        while True:
            r = await self.call("list_objects_v2", **params)
            for o in r.get("Contents", []):
                out[o["Key"][len(base) - len(group) - 1 :]] = int(o["Size"])
            token = r.get("NextContinuationToken")
            if not r.get("IsTruncated") or not token:
                return out
            params = {"Prefix": base, "ContinuationToken": token}

    async def seal(self, upload_key: str, size: int, blob_key: str) -> BlobInfo | None:
        """Copy a presigned upload of exactly `size` bytes to the immutable `blob_key`.

        None when nothing (or something of another size) is there. The copy is pinned
        to the ETag just checked, so a concurrent second PUT cannot slip in."""
        src = self.upload_name(upload_key)
        head = await self._head(src)
        if head is None or int(head["ContentLength"]) != size:
            return None
        if size > MAX_COPY:
            raise StorageUnavailable("Objects over 5 GiB cannot be sealed by a single copy.")
        try:
            await self.call(
                "copy_object",
                Key=self.blob_name(blob_key),
                CopySource={"Bucket": self.bucket, "Key": src},
                CopySourceIfMatch=head["ETag"],
            )
        except botocore.exceptions.ClientError as e:
            if _is_missing(e) or _code(e) == "PreconditionFailed" or _status(e) == 412:
                return None  # replaced or removed meanwhile: look again next time
            raise _translate(e) from e
        return BlobInfo(blob_key, size, None)

    async def delete(self, key: str) -> None:
        await self._delete(self.blob_name(key))

    async def delete_upload(self, key: str) -> None:
        await self._delete(self.upload_name(key))

    async def _delete(self, name: str) -> None:
        try:
            await self.call("delete_object", Key=name)
        except botocore.exceptions.ClientError as e:
            if not _is_missing(e):
                raise _translate(e) from e

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        params: dict[str, Any] = {"Key": self.blob_name(key)}
        if start or end is not None:
            params["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            r = await self.call("get_object", **params)
        except botocore.exceptions.ClientError as e:
            raise FileNotFound("This file is no longer stored.") from e  # only 404s get here
        body = r["Body"]
        try:
            while True:
                try:
                    chunk = await self.run(body.read, _READ_CHUNK)
                except (botocore.exceptions.BotoCoreError, OSError) as e:
                    raise _translate(e) from e
                if not chunk:
                    break
                yield chunk
        finally:
            await self.run(body.close)

    def _spool(self) -> tuple[Any, str]:
        fd, path = tempfile.mkstemp(prefix="trainset-check-", dir=self.temp_dir)
        return os.fdopen(fd, "wb"), path

    @asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[LocalCopy]:
        # Decoders need a seekable file: the object is fetched once into a temp file
        # (streamed, never whole in memory, hashed on the way) and removed after the
        # check. All file work happens in the pool, never on the event loop.
        f, path = await self.run(self._spool)
        try:
            sha = hashlib.sha256()

            def put(chunk: bytes) -> None:
                sha.update(chunk)
                f.write(chunk)

            try:
                async for chunk in self.read(key):
                    await self.run(put, chunk)
            finally:
                await self.run(f.close)
            yield LocalCopy(path, sha.hexdigest())
        finally:
            await self.run(partial(_unlink, path))

    def _expires_in(self, expires_at: datetime) -> int:
        left = expires_at.replace(tzinfo=UTC) - datetime.now(UTC)
        return max(1, int(left.total_seconds() + 0.999))

    def presign_put(
        self, key: str, *, size: int, content_type: str, expires_at: datetime
    ) -> str | None:
        # ContentLength and ContentType become signed headers (X-Amz-SignedHeaders
        # content-length;content-type;host): the store refuses any other size or type.
        return str(
            self._client.generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self.upload_name(key),
                    "ContentLength": size,
                    "ContentType": content_type,
                },
                ExpiresIn=self._expires_in(expires_at),
            )
        )

    def presign_get(
        self, key: str, *, expires_at: datetime, filename: str, content_type: str | None = None
    ) -> str | None:
        disposition = f"attachment; filename*=UTF-8''{quote(filename, safe='')}"
        params = {
            "Bucket": self.bucket,
            "Key": self.blob_name(key),
            "ResponseContentDisposition": disposition,
        }
        if content_type:
            params["ResponseContentType"] = content_type
        return str(
            self._client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=self._expires_in(expires_at)
            )
        )

    async def ping(self) -> None:
        try:
            await self.run(partial(self._client.head_bucket, Bucket=self.bucket))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            raise _translate(e) from e

    async def discard_partial(self, key: str) -> None:
        name = self.blob_name(key)
        r = await self.call("list_multipart_uploads", Prefix=name)
        for u in r.get("Uploads", []):
            if u["Key"] == name:
                with contextlib.suppress(botocore.exceptions.ClientError):
                    await self.call("abort_multipart_upload", Key=name, UploadId=u["UploadId"])

    async def sweep_temporary(self, older_than_seconds: float) -> int:
        """Abort multipart uploads left by a crashed process (their parts cost space)."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
        prefix = self._name("b", "0" * 32).rsplit("/", 1)[0] + "/"
        n = 0
        params: dict[str, Any] = {"Prefix": prefix}
        while True:
            r = await self.call("list_multipart_uploads", **params)
            for u in r.get("Uploads", []):
                initiated = u.get("Initiated")
                if initiated is not None and initiated > cutoff:
                    continue
                with contextlib.suppress(botocore.exceptions.ClientError):
                    await self.call("abort_multipart_upload", Key=u["Key"],
                                    UploadId=u["UploadId"])  # fmt: skip
                    n += 1
            if not r.get("IsTruncated"):
                return n
            params = {
                "Prefix": prefix,
                "KeyMarker": r.get("NextKeyMarker"),
                "UploadIdMarker": r.get("NextUploadIdMarker"),
            }

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
