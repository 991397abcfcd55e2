"""The S3 blob store against a real SeaweedFS: streaming multipart writes that stay
invisible until commit, presigned uploads sealed into immutable blobs, listing, and
errors translated at the boundary."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.seaweed import SeaweedS3
from trainset.domain.clock import now
from trainset.errors import FileNotFound, StorageUnavailable
from trainset.storage.s3 import PART_SIZE, ChunkReader, S3Storage


@pytest.fixture
def store(seaweed: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Storage]:
    for k, v in seaweed.env().items():
        if k.startswith("AWS_"):
            monkeypatch.setenv(k, v)
    s = S3Storage(
        f"s3://{seaweed.bucket}/unit-{uuid.uuid4().hex[:8]}", endpoint_url=seaweed.endpoint_url
    )
    yield s
    s.close()


async def _put(url: str, data: bytes) -> int:
    def put() -> int:
        return httpx.put(url, content=data, headers={"Content-Type": "image/jpeg"}).status_code

    return await asyncio.to_thread(put)


def _multipart_uploads(seaweed: SeaweedS3, store: S3Storage) -> list[str]:
    r = seaweed.client().list_multipart_uploads(Bucket=seaweed.bucket, Prefix=store.prefix + "/")
    return [u["Key"] for u in r.get("Uploads", [])]


def test_chunk_reader_reads_and_seeks_like_a_file() -> None:
    chunks = [b"abc", b"", b"defgh", b"i"]
    data = b"".join(chunks)
    r = ChunkReader(chunks)
    assert len(r) == len(data) and r.seekable() and r.readable()
    assert r.read() == data and r.read() == b""
    for pos in range(len(data) + 1):
        r.seek(pos)
        assert r.tell() == pos
        assert r.read(2) == data[pos : pos + 2]
    r.seek(-3, io.SEEK_END)
    assert r.read() == data[-3:]
    r.seek(0)
    r.seek(4, io.SEEK_CUR)
    assert r.read(100) == data[4:]
    assert r.seek(-10) == 0  # clamped, like a file's position can never be negative


async def test_multipart_write_is_invisible_until_commit(
    seaweed: SeaweedS3, store: S3Storage
) -> None:
    data = os.urandom(2 * PART_SIZE + 12345)  # three parts
    key = store.new_key()
    w = await store.writer(key)
    for i in range(0, len(data), 1 << 16):
        await w.write(data[i : i + (1 << 16)])
    assert await store.stat(key) is None
    assert _multipart_uploads(seaweed, store)  # parts are on their way
    info = await w.commit()
    assert (info.size, info.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert await store.stat(key) == len(data)
    assert b"".join([c async for c in store.read(key)]) == data
    got = b"".join([c async for c in store.read(key, PART_SIZE - 5, PART_SIZE + 5)])
    assert got == data[PART_SIZE - 5 : PART_SIZE + 5]
    async with store.local_copy(key) as copy:
        path = copy.path
        assert copy.sha256 == hashlib.sha256(data).hexdigest()  # hashed on the way
        assert Path(path).read_bytes() == data  # noqa: ASYNC240 - a test, not the server
    assert not await asyncio.to_thread(Path(path).exists)
    assert _multipart_uploads(seaweed, store) == []


async def test_aborted_write_leaves_nothing(seaweed: SeaweedS3, store: S3Storage) -> None:
    key = store.new_key()
    w = await store.writer(key)
    await w.write(os.urandom(PART_SIZE + 1))  # one part sent
    await w.abort()
    assert await store.stat(key) is None
    assert _multipart_uploads(seaweed, store) == []


async def test_small_write_is_one_put(store: S3Storage) -> None:
    key = store.new_key()
    w = await store.writer(key)
    await w.write(b"tiny")
    assert (await w.commit()).size == 4
    assert b"".join([c async for c in store.read(key)]) == b"tiny"
    await store.delete(key)
    await store.delete(key)  # missing is fine
    with pytest.raises(FileNotFound):
        [c async for c in store.read(key)]


async def test_dead_uploads_partial_parts_are_discarded(
    seaweed: SeaweedS3, store: S3Storage
) -> None:
    key = store.new_key()
    w = await store.writer(key)
    await w.write(os.urandom(PART_SIZE))  # a process that dies here leaves parts behind
    await w.write(b"x")
    assert _multipart_uploads(seaweed, store)
    await store.discard_partial(key)
    assert _multipart_uploads(seaweed, store) == []
    await w.abort()  # (the writer's own process is long dead in real life)


async def test_presigned_upload_is_listed_and_sealed_immutably(store: S3Storage) -> None:
    group = str(uuid.uuid4())
    upload = f"{group}/{store.new_key()}"
    data = b"\xff\xd8\xff" + os.urandom(5000)
    url = store.presign_put(
        upload, size=len(data), content_type="image/jpeg", expires_at=now() + timedelta(minutes=5)
    )
    assert url is not None and "X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost" in url
    assert await store.list_uploads(group) == {}
    bad = await _put(url, data[:-1])
    assert bad == 403  # the store enforces the signed size
    assert await store.list_uploads(group) == {}
    assert await _put(url, data) == 200
    assert await store.list_uploads(group) == {upload: len(data)}

    assert await store.seal(upload, len(data) + 1, store.new_key()) is None  # wrong size
    blob = store.new_key()
    sealed = await store.seal(upload, len(data), blob)
    assert sealed is not None and (sealed.key, sealed.size, sealed.sha256) == (
        blob, len(data), None
    )  # fmt: skip
    # The URL still works until it expires; the sealed blob does not change.
    other = b"\xff\xd8\xff" + os.urandom(5000)
    assert await _put(url, other) == 200
    assert b"".join([c async for c in store.read(blob)]) == data
    await store.delete_upload(upload)
    assert await store.list_uploads(group) == {}


async def test_unreachable_or_refusing_store_is_storage_unavailable(
    seaweed: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-key-0000000000")
    refused = S3Storage(f"s3://{seaweed.bucket}/x", endpoint_url=seaweed.endpoint_url)
    with pytest.raises(StorageUnavailable, match="credentials"):
        await refused.ping()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_key)
    gone = S3Storage(f"s3://{seaweed.bucket}/x", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(StorageUnavailable) as e:
        await gone.ping()
    assert e.value.retry_after
    w = await gone.writer(gone.new_key())
    await w.write(b"abc")
    with pytest.raises(StorageUnavailable):
        await w.commit()


def test_a_missing_bucket_is_not_a_missing_object() -> None:
    """Shaped as AWS answers it (SeaweedFS creates buckets on first write, so this case
    cannot be produced against it): a configuration error, a 503, never a 404 or 500."""
    import botocore.exceptions

    from trainset.storage.s3 import _is_missing, _translate

    def err(code: str) -> botocore.exceptions.ClientError:
        meta = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": 404}}
        return botocore.exceptions.ClientError(meta, "PutObject")  # type: ignore[arg-type]

    assert not _is_missing(err("NoSuchBucket"))
    assert isinstance(_translate(err("NoSuchBucket")), StorageUnavailable)
    assert _is_missing(err("NoSuchKey")) and _is_missing(err("NoSuchUpload"))
