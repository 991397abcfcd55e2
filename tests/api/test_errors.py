"""Every error of SPEC section 2 over real HTTP, with its body shape and X-Request-ID.

The size-limit tests stream their bodies from generators (nothing large is built in
memory here) and watch the server's resident memory while it refuses them.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from tests import media
from tests.conftest import admin
from tests.server import TrainsetServer
from tests.shapes import Shape
from tests.wire import (
    BASE,
    DATASET_CALLS,
    assert_error,
    call_dataset_endpoint,
    create,
    signed_urls,
    status,
    upload,
)

ALLOWED = [
    ".jpg",
    ".jpeg",
    ".png",
    ".webp",
    ".mp4",
    ".mov",
    ".webm",
    ".mkv",
    ".avi",
    ".m4v",
    ".txt",
]
LIMIT = 150_000_000
SIGNED_LIMIT = 5 * 1024**3
BIG_SIGNED_LIMIT = 200_000_000  # big_server's configured signed-upload limit
MIB = 1 << 20
MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


# --- helpers ----------------------------------------------------------------------------


def files_of(client: httpx.Client, ds_id: str) -> dict[str, int]:
    return {f["filename"]: f["size_bytes"] for f in status(client, ds_id)["files"]}


def assert_nothing_stored(client: httpx.Client, ds_id: str, filename: str) -> None:
    """The failed upload left no file of that name, and the server still answers."""
    assert filename not in files_of(client, ds_id)
    assert client.get("/healthz").status_code == 200


def wait_status(client: httpx.Client, ds_id: str, want: str, timeout: float = 10.0) -> None:
    """Poll (bounded) until the dataset shows `want`; for cleanups that follow a
    dropped connection, which no response waits for."""
    deadline = time.monotonic() + timeout
    while (got := status(client, ds_id)["status"]) != want:
        assert time.monotonic() < deadline, f"status still {got}, expected {want}"
        time.sleep(0.05)


def form(boundary: str, *fields: tuple[str, str | None, bytes], close: bool = True) -> bytes:
    """A multipart/form-data body built by hand: (field name, filename or None, data)."""
    out = bytearray()
    for name, filename, data in fields:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        out += b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    if close:
        out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def post_form(client: httpx.Client, ds_id: str, body: bytes, boundary: str) -> httpx.Response:
    return client.post(
        f"{BASE}/{ds_id}/upload",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


def new_boundary() -> str:
    return "trainset-test-" + uuid.uuid4().hex


class BigForm:
    """A multipart body with one `file` part of `size` bytes (an MP4 header, then
    zeros), produced chunk by chunk; each iteration starts over."""

    def __init__(self, size: int, filename: str = "big.mp4"):
        self.size = size
        self.boundary = new_boundary()
        self.head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def length(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        yield MP4_HEAD
        zeros = bytes(MIB)
        left = self.size - len(MP4_HEAD)
        while left > 0:
            n = min(left, MIB)
            yield zeros if n == MIB else zeros[:n]
            left -= n
        yield self.tail


def chunked(body: Iterable[bytes]) -> Iterator[bytes]:
    """HTTP/1.1 chunked transfer coding, by hand (for the raw client)."""
    for piece in body:
        if piece:
            yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


class RawResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, sent: int):
        self.status_code = status
        self.headers = headers
        self.body = body
        self.sent = sent  # request bytes written before the response was complete

    def json(self) -> Any:
        return json.loads(self.body)


def raw_exchange(
    srv: TrainsetServer, head: bytes, body: Iterable[bytes], timeout: float = 60.0
) -> RawResponse:
    """Send one request over a plain socket while a thread reads the answer.

    Unlike a client that first writes the whole body, this sees an early answer
    (a 413 after the first 150 MB) and stops sending as soon as it is complete.
    """
    sock = socket.create_connection((srv.host, srv.port), timeout=timeout)
    buf = bytearray()
    done = threading.Event()
    parsed: dict[str, Any] = {}

    def read() -> None:
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                buf.extend(data)
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    continue
                lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
                need = int(headers.get("content-length", "0"))
                if len(buf) - end - 4 >= need:
                    parsed.update(
                        status=int(lines[0].split()[1]),
                        headers=headers,
                        body=bytes(buf[end + 4 : end + 4 + need]),
                    )
                    return
        except OSError:
            return
        finally:
            done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sent = 0
    try:
        sock.sendall(head)
        for piece in body:
            if done.is_set():
                break
            sock.sendall(piece)
            sent += len(piece)
    except OSError:
        pass  # the server stopped reading: its answer (if any) is what counts
    done.wait(timeout)
    sock.close()
    reader.join(5)
    assert parsed, f"no complete response (got {bytes(buf[:300])!r})"
    return RawResponse(parsed["status"], parsed["headers"], parsed["body"], sent)


def send_and_hang_up(srv: TrainsetServer, data: bytes) -> None:
    """Send `data` (a request cut short), close our side, and drain whatever comes back."""
    with socket.create_connection((srv.host, srv.port), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(10)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass


def request_head(srv: TrainsetServer, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {srv.host}:{srv.port}"]
    lines += [f"{k}: {v}" for k, v in {**srv.headers, **headers}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class PeakRss:
    """Samples a process's resident memory every 20 ms in a thread."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)
        self.baseline: int = self.proc.memory_info().rss
        self.peak: int = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


# --- 400 invalid_request ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b'{"name": ', b"{name: 'x'}", b'{"name": "x"', b"\xff\xfe", b"[1, 2"],
    ids=["unterminated", "not-json", "unclosed", "binary", "array"],
)
def test_malformed_json_on_create(client: httpx.Client, body: bytes) -> None:
    r = client.post(BASE, content=body, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_request")


def test_malformed_json_on_get_upload_endpoint(client: httpx.Client) -> None:
    ds = create(client)
    r = client.post(
        f"{BASE}/{ds['id']}/get-upload-endpoint",
        content=b'{"filenameToByteSize": {"a.jpg": 1',
        headers={"Content-Type": "application/json"},
    )
    err = assert_error(r, 400, "invalid_request")
    assert "json" in err["message"].lower()
    assert status(client, ds["id"])["status"] == "DRAFT"


@pytest.mark.parametrize(
    "body",
    [{"name": 5}, {"name": ["a"]}, {"name": {"x": 1}}, {"name": True}, [1], "name"],
    ids=["int", "list", "object", "bool", "array-body", "string-body"],
)
def test_wrong_types_on_create(client: httpx.Client, body: Any) -> None:
    r = client.post(BASE, json=body)
    err = assert_error(r, 400, "invalid_request")
    assert not err["message"].startswith("[")  # a sentence, not FastAPI's raw error list
    assert "detail" not in r.json()


@pytest.mark.parametrize(
    "body",
    [
        {"filenameToByteSize": {"a.jpg": "12"}},
        {"filenameToByteSize": {"a.jpg": 12.0}},
        {"filenameToByteSize": {"a.jpg": True}},
        {"filenameToByteSize": {"a.jpg": None}},
        {"filenameToByteSize": {"a.jpg": -1}},
        {"filenameToByteSize": {}},
        {"filenameToByteSize": ["a.jpg"]},
        {"filenameToByteSize": "a.jpg"},
        {"filenameToByteSize": None},
        {},
        {"files": {"a.jpg": 12}},
        [{"a.jpg": 12}],
        {"filenameToByteSize": {f"f{i}.jpg": 10 for i in range(1001)}},
    ],
    ids=[
        "string-size",
        "float-size",
        "bool-size",
        "null-size",
        "negative-size",
        "empty-map",
        "list",
        "string",
        "null",
        "missing",
        "wrong-key",
        "array-body",
        "1001-entries",
    ],
)
def test_wrong_types_on_get_upload_endpoint(client: httpx.Client, body: Any) -> None:
    ds = create(client)
    r = client.post(f"{BASE}/{ds['id']}/get-upload-endpoint", json=body)
    assert_error(r, 400, "invalid_request")
    # Nothing was issued: the dataset is not waiting for any upload.
    assert status(client, ds["id"])["status"] == "DRAFT"


def test_1000_entries_is_the_limit(client: httpx.Client) -> None:
    ds = create(client)
    out = signed_urls(client, ds["id"], {f"f{i}.jpg": 10 for i in range(1000)})
    assert len(out) == 1000
    assert client.delete(f"{BASE}/{ds['id']}").status_code == 200


def test_upload_without_file_field(client: httpx.Client) -> None:
    ds = create(client)
    b = new_boundary()
    r = post_form(client, ds["id"], form(b, ("caption", None, b"hello")), b)
    err = assert_error(r, 400, "invalid_request")
    assert "file" in err["message"]
    # a field named `file` that is not a file (no filename) is no file either
    r = post_form(client, ds["id"], form(b, ("file", None, media.jpeg())), b)
    assert_error(r, 400, "invalid_request")
    # a form with nothing in it
    r = post_form(client, ds["id"], f"--{b}--\r\n".encode(), b)
    assert_error(r, 400, "invalid_request")
    assert files_of(client, ds["id"]) == {}
    assert status(client, ds["id"])["status"] == "DRAFT"


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/octet-stream"},
        {"Content-Type": "application/json"},
        {"Content-Type": "image/jpeg"},
        {"Content-Type": "multipart/form-data"},  # no boundary
        {"Content-Type": "multipart/mixed; boundary=abc"},
        {},
    ],
    ids=["octet-stream", "json", "image", "no-boundary", "mixed", "none"],
)
def test_non_multipart_upload_body(client: httpx.Client, headers: dict[str, str]) -> None:
    ds = create(client)
    r = client.post(f"{BASE}/{ds['id']}/upload", content=media.jpeg(), headers=headers)
    err = assert_error(r, 400, "invalid_request")
    assert "multipart" in err["message"]
    assert files_of(client, ds["id"]) == {}


def test_second_file_part(client: httpx.Client) -> None:
    ds = create(client)
    b = new_boundary()
    body = form(b, ("file", "one.jpg", media.jpeg()), ("file", "two.jpg", media.jpeg(32, 32)))
    assert_error(post_form(client, ds["id"], body, b), 400, "invalid_request")
    assert_nothing_stored(client, ds["id"], "one.jpg")
    assert_nothing_stored(client, ds["id"], "two.jpg")
    assert status(client, ds["id"])["status"] == "DRAFT"


@pytest.mark.parametrize(
    "cut",
    ["no-closing-boundary", "mid-data", "mid-headers"],
)
def test_truncated_multipart(client: httpx.Client, cut: str) -> None:
    ds = create(client)
    b = new_boundary()
    full = form(b, ("file", "cut.jpg", media.jpeg()))
    body = {
        "no-closing-boundary": form(b, ("file", "cut.jpg", media.jpeg()), close=False),
        "mid-data": full[: len(full) // 2],
        "mid-headers": full[:40],
    }[cut]
    assert_error(post_form(client, ds["id"], body, b), 400, "invalid_request")
    assert_nothing_stored(client, ds["id"], "cut.jpg")
    assert status(client, ds["id"])["status"] == "DRAFT"


def test_aborted_upload_leaves_nothing(server: TrainsetServer, client: httpx.Client) -> None:
    """The client goes away mid-body: no file, and the dataset is not stuck UPLOADING."""
    ds = create(client)
    b = new_boundary()
    part = form(b, ("file", "gone.jpg", media.jpeg(256, 256)), close=False)[:2000]
    head = request_head(
        server,
        f"{BASE}/{ds['id']}/upload",
        {"Content-Type": f"multipart/form-data; boundary={b}", "Content-Length": "100000"},
    )
    send_and_hang_up(server, head + part)
    wait_status(client, ds["id"], "DRAFT")
    assert_nothing_stored(client, ds["id"], "gone.jpg")


# --- 400 invalid_name / invalid_filename -----------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["a/b", "a b", "x" * 129, "", "..", ".hidden", "a\\b", "a\x00b", "a\nb", "../etc"],
    ids=[
        "slash",
        "space",
        "129-chars",
        "empty",
        "dotdot",
        "leading-dot",
        "backslash",
        "nul",
        "newline",
        "traversal",
    ],
)
def test_invalid_dataset_name(client: httpx.Client, name: str) -> None:
    before = {d["id"] for d in client.get(BASE).json()["datasets"]}
    r = client.post(BASE, json={"name": name})
    assert_error(r, 400, "invalid_name")
    after = {d["id"] for d in client.get(BASE).json()["datasets"]}
    assert after == before


def test_dataset_name_of_128_chars_is_allowed(client: httpx.Client) -> None:
    name = "n" + uuid.uuid4().hex + "x" * (128 - 33)
    assert len(name) == 128
    assert create(client, name)["name"] == name


def test_invalid_filename_on_both_routes(client: httpx.Client) -> None:
    ds = create(client)
    b = new_boundary()
    r = post_form(client, ds["id"], form(b, ("file", "../a.jpg", media.jpeg())), b)
    err = assert_error(r, 400, "invalid_filename")
    assert "../a.jpg" in err["message"]
    r = client.post(
        f"{BASE}/{ds['id']}/get-upload-endpoint",
        json={"filenameToByteSize": {"ok.jpg": 10, "a/b.jpg": 10}},
    )
    err = assert_error(r, 400, "invalid_filename")
    assert "a/b.jpg" in err["message"]
    # one bad name refuses the whole call: no URL for ok.jpg either
    assert status(client, ds["id"])["status"] == "DRAFT"
    assert_nothing_stored(client, ds["id"], "a.jpg")


# --- 401 ---------------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", BASE),
    ("POST", BASE),
    ("GET", f"{BASE}/{UNKNOWN_ID}/status"),
    ("POST", f"{BASE}/{UNKNOWN_ID}/upload"),
    ("POST", f"{BASE}/{UNKNOWN_ID}/get-upload-endpoint"),
    ("DELETE", f"{BASE}/{UNKNOWN_ID}"),
]


def assert_unauthorized(r: httpx.Response) -> None:
    assert_error(r, 401, "unauthorized")
    assert r.headers.get("www-authenticate", "").split()[0].lower() == "bearer", r.headers


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    "auth",
    [
        None,
        "Bearer ts_unknown_" + "x" * 32,
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "bearer-token-without-scheme",
        "Bearer " + "x" * 5000,
    ],
    ids=["missing", "unknown", "basic", "scheme-only", "no-scheme", "huge"],
)
def test_unauthorized(server: TrainsetServer, method: str, path: str, auth: str | None) -> None:
    headers = {} if auth is None else {"Authorization": auth}
    kwargs: dict[str, Any] = {}
    if path.endswith("get-upload-endpoint"):
        kwargs["json"] = {"filenameToByteSize": {"a.jpg": 1}}
    elif path.endswith("upload"):
        kwargs["files"] = {"file": ("a.jpg", media.jpeg())}
    elif method == "POST":
        kwargs["json"] = {"name": "x" + uuid.uuid4().hex}
    with httpx.Client(base_url=server.base_url, timeout=30) as anon:
        assert_unauthorized(anon.request(method, path, headers=headers, **kwargs))


def test_revoked_token(server: TrainsetServer, client: httpx.Client) -> None:
    token = admin(server, "create-token", "default").strip().splitlines()[-1]
    ds = create(client)
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as c:
        # the new token belongs to the same account: it sees the dataset
        assert c.get(f"{BASE}/{ds['id']}/status").status_code == 200
        out = admin(server, "revoke-token", token)
        assert "1" in out, out
        assert_unauthorized(c.get(BASE))
        assert_unauthorized(c.get(f"{BASE}/{ds['id']}/status"))
        assert_unauthorized(c.delete(f"{BASE}/{ds['id']}"))
    # the account's other token is unaffected, and the failed delete did nothing
    assert status(client, ds["id"])["id"] == ds["id"]


# --- 404 ---------------------------------------------------------------------------------


CALLS = DATASET_CALLS


@pytest.mark.parametrize("what", CALLS)
@pytest.mark.parametrize(
    "ds_id",
    [UNKNOWN_ID, "nope", "ds_abc", "-", "x" * 64],
    ids=["uuid", "word", "ds-name", "dash", "64-chars"],
)
def test_unknown_dataset(client: httpx.Client, what: str, ds_id: str) -> None:
    assert_error(call_dataset_endpoint(client, what, ds_id), 404, "dataset_not_found")


@pytest.mark.parametrize("what", CALLS)
def test_overlong_unknown_id_is_not_found(client: httpx.Client, what: str) -> None:
    assert_error(call_dataset_endpoint(client, what, "x" * 100), 404, "dataset_not_found")


def test_dataset_name_is_not_an_id(client: httpx.Client) -> None:
    ds = create(client)
    assert_error(client.get(f"{BASE}/{ds['name']}/status"), 404, "dataset_not_found")


@pytest.mark.parametrize("what", CALLS)
def test_deleted_dataset(client: httpx.Client, what: str) -> None:
    ds = create(client)
    upload(client, ds["id"], "a.jpg", media.jpeg())
    r = client.delete(f"{BASE}/{ds['id']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"id": ds["id"], "name": ds["name"], "deleted": True}
    assert_error(call_dataset_endpoint(client, what, ds["id"]), 404, "dataset_not_found")
    assert ds["id"] not in {d["id"] for d in client.get(BASE).json()["datasets"]}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("GET", "/prod/v1/trainers"),
        ("GET", f"{BASE}/{UNKNOWN_ID}/whatever"),
        ("POST", f"{BASE}/{UNKNOWN_ID}/status/extra"),
        ("GET", "/prod/v2/trainers/datasets"),
    ],
)
def test_unknown_route_is_json_404(client: httpx.Client, method: str, path: str) -> None:
    err = assert_error(client.request(method, path), 404, "not_found")
    assert "<html" not in err["message"].lower()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", BASE),
        ("PUT", BASE),
        ("DELETE", BASE),
        ("POST", f"{BASE}/{UNKNOWN_ID}/status"),
        ("GET", f"{BASE}/{UNKNOWN_ID}/upload"),
        ("GET", f"{BASE}/{UNKNOWN_ID}/get-upload-endpoint"),
        ("PUT", f"{BASE}/{UNKNOWN_ID}"),
    ],
)
def test_wrong_method_is_json_405(client: httpx.Client, method: str, path: str) -> None:
    r = client.request(method, path)
    assert_error(r, 405, "method_not_allowed")
    assert r.headers.get("allow"), r.headers


# --- 409 ---------------------------------------------------------------------------------


def test_dataset_name_taken(client: httpx.Client) -> None:
    ds = create(client)
    err = assert_error(client.post(BASE, json={"name": ds["name"]}), 409, "dataset_name_taken")
    assert ds["name"] in err["message"]
    names = [d["name"] for d in client.get(BASE).json()["datasets"]]
    assert names.count(ds["name"]) == 1


# --- 413 ---------------------------------------------------------------------------------


def test_json_body_over_1_mib(client: httpx.Client) -> None:
    body = json.dumps({"name": "a" * MIB}).encode()
    r = client.post(BASE, content=body, headers={"Content-Type": "application/json"})
    assert_error(r, 413, "request_too_large")


def test_chunked_json_body_over_1_mib(client: httpx.Client) -> None:
    ds = create(client)
    sizes = {f"{'n' * 200}{i}.jpg": 1 for i in range(900)}
    body = json.dumps({"filenameToByteSize": sizes, "pad": "x" * MIB}).encode()

    def pieces() -> Iterator[bytes]:  # a generator: httpx sends it chunked
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    r = client.post(
        f"{BASE}/{ds['id']}/get-upload-endpoint",
        content=pieces(),
        headers={"Content-Type": "application/json"},
    )
    assert_error(r, 413, "request_too_large")
    assert status(client, ds["id"])["status"] == "DRAFT"


def test_signed_url_over_the_limit(client: httpx.Client) -> None:
    ds = create(client)
    r = client.post(
        f"{BASE}/{ds['id']}/get-upload-endpoint",
        json={"filenameToByteSize": {"ok.mp4": 10, "huge.mp4": SIGNED_LIMIT + 1}},
    )
    err = assert_error(r, 413, "file_too_large")
    assert "huge.mp4" in err["message"]
    assert status(client, ds["id"])["status"] == "DRAFT"
    # exactly the limit is fine (only a URL is issued; no bytes are sent)
    out = signed_urls(client, ds["id"], {"huge.mp4": SIGNED_LIMIT})
    assert set(out) == {"huge.mp4"}


@pytest.fixture(scope="module")
def big_server(shape: Shape) -> Iterator[TrainsetServer]:
    """A server of its own for the 150 MB transfers: no worker, so nothing else moves
    its memory while it is measured."""
    with shape.server(workers="0", signed_upload_limit=str(BIG_SIGNED_LIMIT)) as srv:
        yield srv


@pytest.fixture
def big_client(big_server: TrainsetServer) -> Iterator[httpx.Client]:
    with big_server.client(timeout=120) as c:
        yield c


def send_big(srv: TrainsetServer, path: str, body: BigForm, *, length: bool) -> tuple[int, Any]:
    """POST a big streamed body with httpx; if httpx fails to write it (the server
    answered early and closed), resend with the raw client that reads while sending."""
    headers = {"Content-Type": body.content_type}
    if length:
        headers["Content-Length"] = str(body.length)
    try:
        with srv.client(timeout=120) as c:
            r = c.post(path, content=iter(body), headers=headers)
            return r.status_code, r.json()
    except httpx.TransportError:
        pieces: Iterable[bytes] = body
        if not length:
            headers["Transfer-Encoding"] = "chunked"
            pieces = chunked(body)
        raw = raw_exchange(srv, request_head(srv, path, headers), pieces)
        return raw.status_code, raw.json()


def assert_too_large_direct(code: int, body: Any) -> None:
    assert code == 413, body
    assert body["error"]["code"] == "file_too_large", body
    assert "get-upload-endpoint" in body["error"]["message"]


def test_signed_url_limit_is_configurable(big_client: httpx.Client) -> None:
    ds = create(big_client)
    r = big_client.post(
        f"{BASE}/{ds['id']}/get-upload-endpoint",
        json={"filenameToByteSize": {"a.mp4": BIG_SIGNED_LIMIT + 1}},
    )
    assert_error(r, 413, "file_too_large")
    assert set(signed_urls(big_client, ds["id"], {"a.mp4": BIG_SIGNED_LIMIT})) == {"a.mp4"}
    assert big_client.delete(f"{BASE}/{ds['id']}").status_code == 200


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
def test_direct_upload_one_byte_over_the_limit(
    big_server: TrainsetServer, big_client: httpx.Client, length: bool
) -> None:
    ds = create(big_client)
    path = f"{BASE}/{ds['id']}/upload"
    assert big_server.pid is not None
    with PeakRss(big_server.pid) as rss:
        code, body = send_big(big_server, path, BigForm(LIMIT + 1), length=length)
    assert_too_large_direct(code, body)
    assert rss.growth < 64 * MIB, f"server RSS grew by {rss.growth / MIB:.1f} MiB"
    assert_nothing_stored(big_client, ds["id"], "big.mp4")
    assert status(big_client, ds["id"])["status"] == "DRAFT"


def test_413_arrives_while_the_client_is_still_sending(
    big_server: TrainsetServer, big_client: httpx.Client
) -> None:
    """A 400 MB chunked body: the answer comes once the limit is passed, long before
    the client would have finished (counted in bytes sent, not in seconds)."""
    ds = create(big_client)
    path = f"{BASE}/{ds['id']}/upload"
    body = BigForm(400_000_000)
    head = request_head(
        big_server, path, {"Content-Type": body.content_type, "Transfer-Encoding": "chunked"}
    )
    r = raw_exchange(big_server, head, chunked(body))
    assert_too_large_direct(r.status_code, r.json())
    assert r.headers.get("x-request-id")
    assert LIMIT - 4 * MIB < r.sent < LIMIT + 64 * MIB, r.sent
    assert_nothing_stored(big_client, ds["id"], "big.mp4")


def test_declared_length_over_the_limit_is_refused_before_the_body(
    big_server: TrainsetServer, big_client: httpx.Client
) -> None:
    ds = create(big_client)
    path = f"{BASE}/{ds['id']}/upload"
    body = BigForm(LIMIT + 10 * MIB)
    head = request_head(
        big_server,
        path,
        {"Content-Type": body.content_type, "Content-Length": str(body.length)},
    )
    r = raw_exchange(big_server, head, body)
    assert_too_large_direct(r.status_code, r.json())
    # answered from the headers: far less than the limit had been sent
    assert r.sent < LIMIT // 2, r.sent
    assert_nothing_stored(big_client, ds["id"], "big.mp4")


def test_lying_content_length(big_server: TrainsetServer, big_client: httpx.Client) -> None:
    """Content-Length says 1000 but 150 MB follow. HTTP framing makes the body those
    1000 bytes (a cut-off form: 400); the rest is not a request (the server drops
    the connection). Either way nothing beyond the declared length is taken as file."""
    ds = create(big_client)
    path = f"{BASE}/{ds['id']}/upload"
    body = BigForm(LIMIT + 1)
    head = request_head(
        big_server, path, {"Content-Type": body.content_type, "Content-Length": "1000"}
    )
    r = raw_exchange(big_server, head, body)
    assert r.status_code in (400, 413), (r.status_code, r.body[:300])
    assert r.sent < LIMIT // 2, r.sent
    wait_status(big_client, ds["id"], "DRAFT")
    assert_nothing_stored(big_client, ds["id"], "big.mp4")


def test_direct_upload_of_exactly_the_limit(
    big_server: TrainsetServer, big_client: httpx.Client
) -> None:
    ds = create(big_client)
    path = f"{BASE}/{ds['id']}/upload"
    body = BigForm(LIMIT)
    assert big_server.pid is not None
    with PeakRss(big_server.pid) as rss:
        r = big_client.post(
            path,
            content=iter(body),
            headers={"Content-Type": body.content_type, "Content-Length": str(body.length)},
        )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["filename"] == "big.mp4" and out["bytes"] == LIMIT and out["object"] == "file"
    assert rss.growth < 64 * MIB, f"server RSS grew by {rss.growth / MIB:.1f} MiB"
    assert files_of(big_client, ds["id"]) == {"big.mp4": LIMIT}
    r = big_client.delete(f"{BASE}/{ds['id']}")
    assert r.status_code == 200, r.text


# --- 415 / 422 -------------------------------------------------------------------------


def assert_lists_allowed(message: str) -> None:
    for ext in ALLOWED:
        assert ext in message, (ext, message)


@pytest.mark.parametrize("name", ["a.gif", "a.exe", "a.jpg.exe", "noext", "a.tar.gz", "a.JPG2"])
def test_unsupported_type_on_upload(client: httpx.Client, name: str) -> None:
    ds = create(client)
    r = client.post(f"{BASE}/{ds['id']}/upload", files={"file": (name, media.jpeg())})
    err = assert_error(r, 415, "unsupported_file_type")
    assert_lists_allowed(err["message"])
    assert_nothing_stored(client, ds["id"], name)
    assert status(client, ds["id"])["status"] == "DRAFT"


@pytest.mark.parametrize("name", ["a.gif", "a.exe", "noext", "a.heic"])
def test_unsupported_type_on_get_upload_endpoint(client: httpx.Client, name: str) -> None:
    ds = create(client)
    r = client.post(
        f"{BASE}/{ds['id']}/get-upload-endpoint",
        json={"filenameToByteSize": {"fine.jpg": 10, name: 10}},
    )
    err = assert_error(r, 415, "unsupported_file_type")
    assert_lists_allowed(err["message"])
    assert name in err["message"]
    assert status(client, ds["id"])["status"] == "DRAFT"


def test_unsupported_type_is_refused_before_the_bytes(
    server: TrainsetServer, client: httpx.Client
) -> None:
    """415 comes from the part headers: a 64 MB body is not read to the end first."""
    ds = create(client)
    path = f"{BASE}/{ds['id']}/upload"
    body = BigForm(64 * MIB, filename="movie.gif")
    head = request_head(
        server, path, {"Content-Type": body.content_type, "Transfer-Encoding": "chunked"}
    )
    r = raw_exchange(server, head, chunked(body))
    assert r.status_code == 415, r.body
    assert r.json()["error"]["code"] == "unsupported_file_type"
    assert r.sent < 48 * MIB, r.sent
    assert_nothing_stored(client, ds["id"], "movie.gif")


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("png-bytes.jpg", media.png),
        ("jpeg-bytes.mp4", media.jpeg),
        ("text.png", lambda: b"this is plain text, not an image at all\n" * 4),
        ("tiny.png", lambda: b"\x89PNG"),
        ("empty.jpg", lambda: b""),
        ("webp-bytes.png", media.webp),
        ("jpeg-bytes.webm", media.jpeg),
    ],
)
def test_invalid_file_content(client: httpx.Client, name: str, make: Any) -> None:
    ds = create(client)
    r = client.post(f"{BASE}/{ds['id']}/upload", files={"file": (name, make())})
    err = assert_error(r, 422, "invalid_file_content")
    assert name in err["message"]
    assert_nothing_stored(client, ds["id"], name)
    assert status(client, ds["id"])["status"] == "DRAFT"


def test_bad_upload_keeps_previous_version(client: httpx.Client) -> None:
    ds = create(client)
    good = media.jpeg()
    upload(client, ds["id"], "keep.jpg", good)
    r = client.post(f"{BASE}/{ds['id']}/upload", files={"file": ("keep.jpg", media.png())})
    assert_error(r, 422, "invalid_file_content")
    assert files_of(client, ds["id"]) == {"keep.jpg": len(good)}


# --- X-Request-ID ------------------------------------------------------------------------


def test_every_response_has_a_request_id(server: TrainsetServer, client: httpx.Client) -> None:
    ds = create(client)
    responses = [
        client.get(BASE),
        client.get(f"{BASE}/{ds['id']}/status"),
        client.get("/healthz"),
        client.get(f"{BASE}/{UNKNOWN_ID}/status"),
        client.get("/nope"),
        client.patch(BASE),
        client.post(BASE, content=b"{", headers={"Content-Type": "application/json"}),
        httpx.get(server.base_url + BASE),
        client.post(BASE, content=b"x" * (MIB + 1), headers={"Content-Type": "application/json"}),
        httpx.put(
            f"{server.base_url}/prod/v1/trainers/uploads/{UNKNOWN_ID}",
            params={"expires": "1", "signature": "0"},
        ),
    ]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(ids), [(r.request.url, r.status_code) for r in responses]
    assert len(set(ids)) == len(ids), ids


@pytest.mark.parametrize("rid", ["abc-123", "req.2026_01_31", "A" * 128])
def test_sane_request_id_is_echoed(client: httpx.Client, rid: str) -> None:
    assert client.get(BASE, headers={"X-Request-ID": rid}).headers["x-request-id"] == rid
    r = client.get(f"{BASE}/{UNKNOWN_ID}/status", headers={"X-Request-ID": rid})
    assert_error(r, 404, "dataset_not_found")
    assert r.headers["x-request-id"] == rid


@pytest.mark.parametrize(
    "rid",
    ["has space", "<script>", "a" * 129, "new\tline", "ü"],
    ids=["space", "markup", "129-chars", "tab", "non-ascii"],
)
def test_insane_request_id_is_replaced(client: httpx.Client, rid: str) -> None:
    headers = {b"X-Request-ID": rid.encode("utf-8")}
    got = client.get(BASE, headers=headers).headers["x-request-id"]
    assert got and got != rid
