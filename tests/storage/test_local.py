"""The local blob store: streaming writes, atomic commit, ranges, and confinement."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from trainset.storage.local import LocalStorage


@pytest.fixture
def store(tmp_path: Path) -> LocalStorage:
    s = LocalStorage(tmp_path / "blobs")
    s.open()
    return s


async def test_write_commit_read_ranges(store: LocalStorage) -> None:
    data = os.urandom(3 * (1 << 20) + 123)  # crosses the 1 MiB flush boundary
    key = store.new_key()
    w = await store.writer(key)
    for i in range(0, len(data), 65536):
        await w.write(data[i : i + 65536])
    assert await store.stat(key) is None  # not visible before commit
    info = await w.commit()
    assert (info.size, info.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert await store.stat(key) == len(data)
    assert b"".join([c async for c in store.read(key)]) == data
    assert b"".join([c async for c in store.read(key, 10, 2_000_000)]) == data[10:2_000_000]
    assert list(store.tmp.iterdir()) == []
    async with store.local_copy(key) as copy:
        path = copy.path
        assert Path(path).read_bytes() == data  # noqa: ASYNC240 - a test, not the server
    await store.delete(key)
    await store.delete(key)  # missing is fine
    assert await store.stat(key) is None


async def test_abort_leaves_nothing(store: LocalStorage) -> None:
    key = store.new_key()
    w = await store.writer(key)
    await w.write(b"x" * (2 << 20))  # spilled to a temp file
    await w.abort()
    assert await store.stat(key) is None
    assert list(store.tmp.iterdir()) == []
    w = await store.writer(store.new_key())
    await w.write(b"tiny")  # never reached the disk
    await w.abort()
    assert list(store.tmp.iterdir()) == []


async def test_many_tiny_chunks(store: LocalStorage) -> None:
    key = store.new_key()
    w = await store.writer(key)
    for _ in range(5000):  # more than IOV_MAX chunks in all
        await w.write(b"ab")
    info = await w.commit()
    assert info.size == 10000
    assert b"".join([c async for c in store.read(key)]) == b"ab" * 5000


@pytest.mark.parametrize(
    "key",
    ["../../etc/passwd", "a" * 32 + "/..", "ZZ" * 16, "", "a/b", "a" * 32 + "\n", "A" * 32],
)
def test_keys_never_escape_the_root(store: LocalStorage, key: str) -> None:
    with pytest.raises(ValueError):
        store.path(key)


def test_a_key_is_a_path_inside_the_root(store: LocalStorage) -> None:
    key = store.new_key()
    p = store.path(key)
    assert p.parent.parent.parent == store.root and p.name == key


async def test_sweep_temporary(store: LocalStorage) -> None:
    stale = store.tmp / "dead.part"
    stale.write_bytes(b"partial")
    os.utime(stale, (0, 0))
    fresh = store.tmp / "live.part"
    fresh.write_bytes(b"streaming")
    assert await store.sweep_temporary(3600) == 1
    assert not stale.exists() and fresh.exists()
    await store.ping()
