"""What each call sends and how its answer is read, shared by Client and AsyncClient."""

from __future__ import annotations

import io
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx

from trainset.client import models
from trainset.client.errors import (
    IntegrityError,
    RetryableError,
    ServerError,
    TrainsetError,
    TransportError,
    from_response,
)

API = "/prod/v1/trainers"
# The reference service's direct-upload limit; larger files go by signed URL.
DIRECT_UPLOAD_LIMIT = 150_000_000
DATASETS = f"{API}/datasets"
DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True, slots=True)
class Spec:
    method: str
    path: str
    parse: Callable[[Any], Any]
    params: dict[str, Any] | None = None
    json: Any = None
    # Safe to send again after a connection error or a 429/503 answer.
    idempotent: bool = True
    headers: dict[str, str] = field(default_factory=dict)


BACKOFF = 0.5
# Downloads follow at most this many redirects (the API's to a presigned GET is one).
MAX_REDIRECTS = 5
# Status polls start this often and slow down by POLL_GROWTH each time, up to the
# caller's `poll`: a dataset that settles quickly is seen at once, a long one costs
# few calls.
FIRST_POLL = 0.1
POLL_GROWTH = 1.5


def poll_intervals(longest: float) -> Iterator[float]:
    delay = min(FIRST_POLL, longest)
    while True:
        yield delay
        delay = min(longest, delay * POLL_GROWTH)


def error_of(r: httpx.Response) -> TrainsetError:
    try:
        body: Any = r.json()
    except ValueError:
        body = None
    return from_response(
        r.status_code, body, r.headers.get("x-request-id"), r.headers.get("retry-after")
    )


def retry_delay(
    attempt: int, last: bool, r: httpx.Response | None, exc: httpx.TransportError | None
) -> float | None:
    """The retry policy of both clients, for one attempt's outcome: None means `r` is
    the answer; a number means wait that long and send again; else the error raises.
    Connection errors and 429/503 are retried (idempotent calls only: `last` is then
    set from the first try), with exponential backoff or the server's Retry-After."""
    if exc is not None:
        if last:
            raise TransportError(f"could not reach trainset: {exc}") from exc
        return float(BACKOFF * 2**attempt)
    assert r is not None
    if r.status_code < 400:
        return None
    err = error_of(r)
    if isinstance(err, RetryableError) and not last:
        return err.retry_after or float(BACKOFF * 2**attempt)
    raise err


def config(base_url: str | None, token: str | None) -> tuple[str, str]:
    url = (base_url or os.environ.get("TRAINSET_URL") or DEFAULT_URL).rstrip("/")
    tok = token or os.environ.get("TRAINSET_TOKEN") or ""
    return url, tok


def auth_headers(token: str) -> dict[str, str]:
    """No token, no Authorization header (an empty "Bearer " tells nobody anything)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


def next_hop(r: httpx.Response, hops: int, name: str) -> str:
    """Where a download's redirect leads: Location resolved against the request's URL
    (it may be relative), after at most MAX_REDIRECTS hops."""
    if hops >= MAX_REDIRECTS:
        raise ServerError(f"download of {name}: more than {MAX_REDIRECTS} redirects; not followed")
    return str(r.url.join(r.headers["location"]))


def not_a_file(r: httpx.Response, name: str) -> TrainsetError:
    """An answer that is neither the file, an error nor a redirect to follow (e.g. a 3xx
    without Location): never saved as if it were the file."""
    return ServerError(f"download of {name}: unexpected HTTP {r.status_code}", status=r.status_code)


def _read_umask() -> int:
    try:  # Linux says it without changing it
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere it can only be read by setting it
    os.umask(mask)
    return mask


# Read once, at import.
UMASK = _read_umask()


def part_file(dest: Path) -> tuple[int, Path]:
    """A new, uniquely named temp file beside `dest` (so concurrent downloads of the same
    file never share one), as (fd, path). The name is cut short enough for any `dest`."""
    stem = dest.name.encode()[:100].decode(errors="ignore")
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{stem}.", suffix=".trainset-part")
    return fd, Path(tmp)


def finish_part(tmp: Path, dest: Path, got_sha256: str, sha256: str | None) -> None:
    """Check the bytes, give the file the mode a newly created file gets (mkstemp's is
    0600), and move it into place."""
    if sha256 is not None and got_sha256 != sha256:
        raise IntegrityError(f"{dest.name} arrived with the wrong sha256; not kept.")
    os.chmod(tmp, 0o666 & ~UMASK)
    os.replace(tmp, dest)


def ds_path(dataset_id: str, tail: str = "") -> str:
    return f"{DATASETS}/{quote(dataset_id, safe='')}{tail}"


def file_path(dataset_id: str, filename: str) -> str:
    return ds_path(dataset_id, f"/files/{quote(filename, safe='')}")


def create(name: str | None) -> Spec:
    body = {"name": name} if name is not None else {}
    # Not idempotent: a retried create whose first try succeeded would answer 409.
    return Spec("POST", DATASETS, lambda d: models.Dataset.parse(d), json=body, idempotent=False)


def listing(name: str | None, status: str | None, limit: int | None, after: str | None) -> Spec:
    params = {k: v for k, v in {"name": name, "status": status, "limit": limit,
                                "after": after}.items() if v is not None}  # fmt: skip
    return Spec(
        "GET",
        DATASETS,
        lambda d: ([models.Dataset.parse(x) for x in d["datasets"]], d.get("next_cursor")),
        params=params,
    )


def status(dataset_id: str) -> Spec:
    return Spec("GET", ds_path(dataset_id, "/status"), models.DatasetStatus.parse)


def delete(dataset_id: str) -> Spec:
    return Spec("DELETE", ds_path(dataset_id), lambda d: None)


def upload_urls(dataset_id: str, sizes: dict[str, int]) -> Spec:
    return Spec(
        "POST",
        ds_path(dataset_id, "/get-upload-endpoint"),
        models.signed_uploads,
        json={"filenameToByteSize": sizes},
    )


def delete_file(dataset_id: str, filename: str) -> Spec:
    return Spec("DELETE", file_path(dataset_id, filename), lambda d: None)


def manifest(dataset_id: str) -> Spec:
    return Spec("GET", ds_path(dataset_id, "/manifest"), models.Manifest.parse)


def items(dataset_id: str, limit: int | None, after: str | None) -> Spec:
    params = {k: v for k, v in {"limit": limit, "after": after}.items() if v is not None}
    return Spec("GET", ds_path(dataset_id, "/items"), models.ItemPage.parse, params=params)


def multipart_frame(name: str, size: int) -> tuple[dict[str, str], bytes, bytes]:
    """Headers, head and tail of a one-file multipart body around `size` bytes.

    Built here rather than by httpx, which percent-encodes a `"` in a file name: the
    server keeps names exactly as sent, so the SDK sends them exactly as given
    (a `"` is backslash-escaped inside the quoted string, the one escape it reads).
    """
    boundary = "trainset" + secrets.token_hex(16)
    quoted = name.replace('"', '\\"')
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + size + len(tail)),
    }
    return headers, head, tail


@dataclass(frozen=True, slots=True)
class Stream:
    """Bytes that are neither a file on disk nor in memory (e.g. a zip member):
    `open()` gives a fresh binary reader each time (a retry reads again)."""

    open: Callable[[], IO[bytes]]
    size: int


Source = str | Path | bytes | Stream


def source_size(source: Source) -> int:
    if isinstance(source, bytes):
        return len(source)
    if isinstance(source, Stream):
        return source.size
    return os.stat(source).st_size


def open_source(source: Source) -> IO[bytes]:
    if isinstance(source, bytes):
        return io.BytesIO(source)
    if isinstance(source, Stream):
        return source.open()
    return open(source, "rb")


def verified(uploaded: models.UploadedFile, sent_sha256: str) -> models.UploadedFile:
    """The server's record of a direct upload, checked against the sha256 of the bytes
    the client sent: a difference means they changed on the way (or the local file
    changed while it was read), and the caller should send the file again."""
    if uploaded.sha256 is not None and uploaded.sha256 != sent_sha256:
        raise IntegrityError(
            f"{uploaded.filename} was stored with sha256 {uploaded.sha256}, but the bytes "
            f"sent hash to {sent_sha256}; upload it again."
        )
    return uploaded


def source_name(source: Source, filename: str | None) -> str:
    if filename:
        return filename
    if isinstance(source, bytes | Stream):
        raise ValueError("pass filename= when uploading bytes or a stream")
    return Path(source).name
