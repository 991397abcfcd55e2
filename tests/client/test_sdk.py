"""The SDK against the real server over loopback (sync and async)."""

from __future__ import annotations

import hashlib
import threading
import uuid
from pathlib import Path

import httpx
import pytest

from tests import media
from tests.client.proxy import Proxy
from tests.server import TrainsetServer, free_port
from tests.shapes import Shape
from trainset.client import AsyncClient, Client, errors


@pytest.fixture
def sdk(server: TrainsetServer) -> Client:
    return Client(server.base_url, server.token, retries=1)


def test_round_trip(shape: Shape, sdk: Client, tmp_path: Path) -> None:
    name = f"sdk_{uuid.uuid4().hex[:8]}"
    ds = sdk.create_dataset(name)
    assert ds.name == name and ds.status == "DRAFT"
    img = tmp_path / "dog.jpg"
    img.write_bytes(media.jpeg(300, 300))
    up = sdk.upload(ds.id, img)
    assert (up.filename, up.bytes) == ("dog.jpg", img.stat().st_size)
    assert up.sha256 == hashlib.sha256(img.read_bytes()).hexdigest()
    sdk.upload(ds.id, media.caption("a dog"), filename="dog.txt")

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(media.video("mp4"))
    urls = sdk.upload_urls(ds.id, {"clip.mp4": clip.stat().st_size, "clip.txt": 6})
    etag = sdk.put_signed(urls["clip.mp4"], clip).strip('"')
    if not shape.scaled:  # trainset's ETag is the sha256; an object store has its own
        assert etag == hashlib.sha256(clip.read_bytes()).hexdigest()
    sdk.put_signed(urls["clip.txt"], b"a clip")

    st = sdk.wait(ds.id, timeout=60, poll=0.05)
    assert st.status == "READY", st
    assert [f.filename for f in st.files] == ["clip.mp4", "clip.txt", "dog.jpg", "dog.txt"]
    assert sdk.find_dataset(name) == sdk.list_datasets(name=name)[0][0]
    assert ds.id in {d.id for d in sdk.iter_datasets(page_size=2)}

    m = sdk.manifest(ds.id)
    assert {f.filename: f.size_bytes for f in m.files} == {
        f.filename: f.size_bytes for f in st.files
    }
    out = sdk.download(ds.id, "dog.jpg", tmp_path / "copy.jpg")
    assert out.read_bytes() == img.read_bytes()

    sdk.delete_file(ds.id, "dog.txt")
    failed = sdk.wait(ds.id, timeout=60, poll=0.05)
    assert failed.status == "FAILED"
    assert [(p.filename, p.code) for p in failed.failures] == [("dog.jpg", "missing_caption")]
    assert failed.error_message == "1 of 3 files failed validation"

    sdk.delete_dataset(ds.id)
    with pytest.raises(errors.DatasetNotFound) as e:
        sdk.status(ds.id)
    assert isinstance(e.value, LookupError) and e.value.status == 404 and e.value.request_id


def test_errors_are_typed(sdk: Client, server: TrainsetServer) -> None:
    ds = sdk.create_dataset()
    with pytest.raises(errors.DatasetNameTaken):
        sdk.create_dataset(ds.name)
    with pytest.raises(errors.InvalidFilename) as bad:
        sdk.upload(ds.id, b"x", filename="../x.jpg")
    assert isinstance(bad.value, ValueError)
    with pytest.raises(errors.UnsupportedFileType):
        sdk.upload(ds.id, b"GIF89a", filename="x.gif")
    with pytest.raises(errors.InvalidFileContent):
        sdk.upload(ds.id, media.png(), filename="x.jpg")
    with pytest.raises(errors.DatasetNotReady):
        sdk.manifest(ds.id)
    with pytest.raises(errors.FileNotFound):
        sdk.download(ds.id, "nope.jpg", Path("/nonexistent/never-written"))
    with pytest.raises(errors.Unauthorized) as unauth:
        Client(server.base_url, "ts_wrong_token_000000000000").list_datasets()
    assert isinstance(unauth.value, PermissionError)


@pytest.mark.parametrize("name", ['say "hi".txt', "café ünïcode.txt", "100% real.txt"])
async def test_names_arrive_exactly_as_given(
    sdk: Client, server: TrainsetServer, name: str
) -> None:
    ds = sdk.create_dataset()
    assert sdk.upload(ds.id, b"caption", filename=name).filename == name
    async with AsyncClient(server.base_url, server.token) as c:
        assert (
            await c.upload(ds.id, b"other", filename="async " + name)
        ).filename == "async " + name
    assert sorted(f.filename for f in sdk.status(ds.id).files) == sorted([name, "async " + name])


def test_unreachable_server_raises_after_retries() -> None:
    c = Client(f"http://127.0.0.1:{free_port()}", "t", retries=2)
    with pytest.raises(errors.TransportError) as e:
        c.list_datasets()
    assert isinstance(e.value, ConnectionError)


def test_retry_after_503_for_idempotent_calls_only() -> None:
    # A fake transport stands in for an overloaded server: the real one cannot be made
    # to answer 503 on demand. It fails the first call of each kind, then answers.
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if calls.count(request.method) == 1:
            body = {"error": {"code": "overloaded", "message": "busy"}}
            return httpx.Response(503, json=body, headers={"Retry-After": "0"})
        if request.method == "GET":
            return httpx.Response(200, json={"datasets": [], "next_cursor": None})
        raise AssertionError("a create must not be retried")

    c = Client("http://trainset.test", "t", transport=httpx.MockTransport(handler))
    assert c.list_datasets() == ([], None)
    assert calls == ["GET", "GET"]
    with pytest.raises(errors.RetryableError):
        c.create_dataset("x")  # POST create is not idempotent: one try
    assert calls == ["GET", "GET", "POST"]


@pytest.mark.parametrize("client_class", [Client, AsyncClient])
async def test_an_upload_stored_with_other_bytes_raises(client_class: type) -> None:
    """The SDK hashes what it sends and compares the server's sha256. A fake transport
    plays a server that stored something else (bytes changed on the way), which the
    real one cannot be made to do."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = {"id": "d", "name": "n", "object": "file", "bytes": 5, "filename": "a.txt",
                "created_at": "2026-01-31T10:20:30.143086", "sha256": "0" * 64}  # fmt: skip
        return httpx.Response(200, json=body)

    with pytest.raises(errors.IntegrityError, match="upload it again"):
        if client_class is Client:
            Client("http://t.test", "t", transport=httpx.MockTransport(handler)).upload(
                "d", b"hello", filename="a.txt"
            )
        else:
            async with AsyncClient(
                "http://t.test", "t", transport=httpx.MockTransport(handler)
            ) as c:
                await c.upload("d", b"hello", filename="a.txt")


def test_status_polls_start_fast_and_slow_down() -> None:
    from itertools import islice

    from trainset.client._spec import poll_intervals

    assert list(islice(poll_intervals(1.0), 8)) == pytest.approx(
        [0.1, 0.15, 0.225, 0.3375, 0.50625, 0.759375, 1.0, 1.0]
    )
    assert list(islice(poll_intervals(0.05), 3)) == [0.05, 0.05, 0.05]


async def test_async_client_streams_a_zip_member(server: TrainsetServer, tmp_path: Path) -> None:
    import zipfile

    from trainset.client import Stream

    z = tmp_path / "d.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("b.jpg", media.jpeg(120, 120))
        zf.writestr("b.txt", "b caption")
    zf = zipfile.ZipFile(z)
    async with AsyncClient(server.base_url, server.token) as c:
        ds = await c.create_dataset()
        for info in zf.infolist():
            member = Stream(lambda info=info: zf.open(info), info.file_size)
            if info.filename.endswith(".txt"):
                urls = await c.upload_urls(ds.id, {info.filename: info.file_size})
                await c.put_signed(urls[info.filename], member)
            else:
                await c.upload(ds.id, member, filename=info.filename)
        st = await c.wait(ds.id, timeout=60, poll=0.05)
        assert st.status == "READY", st
        page = await c.items(ds.id)
        assert [it.stem for it in page.items] == ["b"] and page.next_cursor is None
        await c.delete_dataset(ds.id)


async def test_async_client(server: TrainsetServer, tmp_path: Path) -> None:
    img = tmp_path / "a.jpg"
    img.write_bytes(media.jpeg(300, 300))
    async with AsyncClient(server.base_url, server.token) as c:
        ds = await c.create_dataset()
        up = await c.upload(ds.id, img)
        assert up.bytes == img.stat().st_size
        urls = await c.upload_urls(ds.id, {"a.txt": 5})
        await c.put_signed(urls["a.txt"], b"a dog")
        st = await c.wait(ds.id, timeout=60, poll=0.05)
        assert st.status == "READY" and [f.filename for f in st.files] == ["a.jpg", "a.txt"]
        m = await c.manifest(ds.id)
        assert m.files[0].sha256 == hashlib.sha256(img.read_bytes()).hexdigest()
        # Downloads: by name (a 307 to the store on S3, followed without the token)
        # and by a manifest's signed URL, sha256-checked.
        got = await c.download(ds.id, "a.jpg", tmp_path / "copy.jpg")
        assert got.read_bytes() == img.read_bytes()
        fetched = await c.fetch(
            m.files[0].download_url, tmp_path / "f.jpg", sha256=m.files[0].sha256
        )
        assert fetched.read_bytes() == img.read_bytes()
        with pytest.raises(errors.IntegrityError):
            await c.fetch(m.files[0].download_url, tmp_path / "bad.jpg", sha256="0" * 64)
        assert not (tmp_path / "bad.jpg").exists()
        assert _no_part_files(tmp_path)
        assert await c.find_dataset(ds.name) == (await c.list_datasets(name=ds.name))[0][0]
        assert ds.id in {d.id async for d in c.iter_datasets(page_size=2)}
        (item,) = [it async for it in c.iter_items(ds.id, page_size=1)]
        assert item.stem == "a" and item.captions[0].text == "a dog"
        assert item.media[0].width == 300 and item.media[0].thumbnail_url
        await c.delete_dataset(ds.id)
        with pytest.raises(errors.DatasetNotFound):
            await c.status(ds.id)


def _ready_with(sdk: Client, caption: bytes) -> tuple[str, str, str]:
    """A READY dataset with a.jpg and the caption a.txt; (dataset id, origin, path and
    query) of a.txt's manifest download URL."""
    ds = sdk.create_dataset()
    sdk.upload(ds.id, media.jpeg(300, 300), filename="a.jpg")
    sdk.upload(ds.id, caption, filename="a.txt")
    assert sdk.wait(ds.id, timeout=60, poll=0.05).status == "READY"
    (f,) = [f for f in sdk.manifest(ds.id).files if f.filename == "a.txt"]
    u = httpx.URL(f.download_url)
    origin = f"{u.scheme}://{u.netloc.decode()}"
    return ds.id, origin, u.raw_path.decode()


def _no_part_files(d: Path) -> bool:
    return not [p for p in d.iterdir() if p.name.endswith(".trainset-part")]


@pytest.mark.parametrize("client_class", [Client, AsyncClient])
async def test_downloads_follow_redirects_and_retry(
    sdk: Client, server: TrainsetServer, tmp_path: Path, client_class: type
) -> None:
    """Relative Location headers, chains of redirects (a limited number), 503 and dropped
    connections. A loopback proxy in front of the real server plays the redirects and
    the failures; the bytes are the real server's."""
    caption = media.caption("a redirected dog")
    sha = hashlib.sha256(caption).hexdigest()
    ds_id, origin, pathq = _ready_with(sdk, caption)
    with Proxy(origin) as p, Proxy(server.base_url) as api:

        async def fetch(url: str, dest: Path) -> Path:
            if client_class is Client:
                return Client(server.base_url, server.token).fetch(url, dest, sha256=sha)
            async with AsyncClient(server.base_url, server.token) as c:
                return await c.fetch(url, dest, sha256=sha)

        async def download(dest: Path) -> Path:
            if client_class is Client:
                return Client(api.url, server.token).download(ds_id, "a.txt", dest)
            async with AsyncClient(api.url, server.token) as c:
                return await c.download(ds_id, "a.txt", dest)

        got = await fetch(f"{p.url}/hops/3{pathq}", tmp_path / "hops.txt")
        assert got.read_bytes() == caption
        with pytest.raises(errors.TrainsetError, match="redirects"):
            await fetch(f"{p.url}/hops/6{pathq}", tmp_path / "too_many.txt")
        assert not (tmp_path / "too_many.txt").exists()

        p.fail_gets = 2
        assert (await fetch(p.url + pathq, tmp_path / "busy.txt")).read_bytes() == caption
        assert p.fail_gets == 0
        p.drop = 1
        assert (await fetch(p.url + pathq, tmp_path / "drop.txt")).read_bytes() == caption
        assert p.drop == 0

        api.fail_gets = 1
        assert (await download(tmp_path / "api.txt")).read_bytes() == caption
        assert api.fail_gets == 0
    assert _no_part_files(tmp_path)


def test_concurrent_fetches_of_one_file_use_their_own_temp_files(
    sdk: Client, server: TrainsetServer, tmp_path: Path
) -> None:
    """One fetch stalls halfway (a loopback proxy holds the rest of the real server's
    answer) while a second one of the same file to the same place completes: each must
    write its own temp file, and the file ends up whole, with a normal file's mode."""
    import os
    import threading
    import time

    caption = b"a long caption " * 300_000  # > 2 MiB: the proxy stalls after 2 MiB
    sha = hashlib.sha256(caption).hexdigest()
    _, origin, pathq = _ready_with(sdk, caption)
    dest = tmp_path / "a.txt"
    failures: list[BaseException] = []
    with Proxy(origin) as p:

        def slow() -> None:
            try:
                Client(server.base_url, server.token).fetch(p.url + "/slow" + pathq, dest,
                                                             sha256=sha)  # fmt: skip
            except BaseException as e:
                failures.append(e)

        t = threading.Thread(target=slow)
        t.start()
        deadline = time.monotonic() + 30
        while not [q for q in tmp_path.iterdir() if q.stat().st_size > 0]:
            assert time.monotonic() < deadline and t.is_alive()
            time.sleep(0.02)
        sdk.fetch(origin + pathq, dest, sha256=sha)  # the second, concurrent fetch
        assert dest.read_bytes() == caption
        p.gate.set()
        t.join(30)
    assert not failures, failures
    assert dest.read_bytes() == caption
    umask = os.umask(0o022)
    os.umask(umask)
    assert dest.stat().st_mode & 0o777 == 0o666 & ~umask
    assert _no_part_files(tmp_path)


def test_a_set_stop_event_stops_every_transfer(sdk: Client, tmp_path: Path) -> None:
    """`stop` (set from another thread on Ctrl-C) ends uploads, signed PUTs and
    downloads at their next chunk with `Stopped`: nothing stored, no temp file left."""
    stop = threading.Event()
    stop.set()
    caption = media.caption("stopped")
    ds_id, origin, pathq = _ready_with(sdk, caption)
    with pytest.raises(errors.Stopped):
        sdk.upload(ds_id, b"never sent", filename="b.txt", stop=stop)
    (url,) = sdk.upload_urls(ds_id, {"c.txt": 10}).values()
    with pytest.raises(errors.Stopped):
        sdk.put_signed(url, b"never sent", stop=stop)
    with pytest.raises(errors.Stopped):
        sdk.fetch(origin + pathq, tmp_path / "a.txt", stop=stop)
    assert sorted(f.filename for f in sdk.status(ds_id).files) == ["a.jpg", "a.txt"]
    assert list(tmp_path.iterdir()) == []
