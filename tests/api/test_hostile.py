"""Hostile inputs, organised by threat, one table each (issue 6), on both shapes.

- filenames: every name a path, a device, a display trick or an extension game could
  hide behind, sent through every way a filename enters the API. The ways are read
  from the app's own OpenAPI document (a `{filename}` path parameter, a multipart
  `file` part, the keys of `filenameToByteSize`), so a new route is covered without
  touching this file.
- content spoofing: for every allowed media extension, the bytes of every other
  family (and of things that are not media at all), by the direct route (refused at
  upload) and by the signed route (bytes the API never sees: the check refuses them).
- decompression bombs: in every allowed image format, above twice Pillow's limit and
  in the band between the limit and twice it.
- lying lengths: Content-Length shorter or longer than the body, or over the limit
  before any byte, and a signed PUT longer than the size it was signed for.

Every case ends in a clear JSON error (or the documented verdict), stores nothing it
should not, and leaves the server answering. Multipart framing abuse has its own table
in test_multipart_abuse.py; slow clients, oversize chunked bodies and replayed signed
URLs are in test_slow_client.py, test_errors.py and test_signed_urls.py.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests import media
from tests.api.test_errors import (
    files_of,
    raw_exchange,
    request_head,
    send_and_hang_up,
    wait_status,
)
from tests.server import TrainsetServer
from tests.shapes import Shape
from tests.wire import BASE, create, signed_urls, status, upload, wait_final
from trainset.domain.filetypes import BY_EXT, Kind

JPEG = media.jpeg(64, 64)

# --- filenames ------------------------------------------------------------------------

INVALID = "invalid_filename"
TYPE = "unsupported_file_type"

# (case id, name, what the API must answer: INVALID or TYPE)
NAMES: list[tuple[str, str, str]] = [
    ("traversal", "../a.jpg", INVALID),
    ("deep-traversal", "../../../../etc/passwd.jpg", INVALID),
    ("absolute", "/etc/a.jpg", INVALID),
    ("backslash-traversal", "..\\a.jpg", INVALID),
    ("windows-absolute", "C:\\Users\\a.jpg", INVALID),
    ("unc-path", "\\\\server\\share\\a.jpg", INVALID),
    ("nul", "a\x00.jpg", INVALID),
    ("nul-before-extension", "a.jpg\x00.txt", INVALID),
    ("newline", "a\n.jpg", INVALID),
    ("carriage-return", "a\r.jpg", INVALID),
    ("escape-sequence", "\x1b[31ma.jpg", INVALID),
    ("del", "a\x7f.jpg", INVALID),
    ("bidi-override", "photo\u202egpj.txt", INVALID),
    ("bidi-isolate", "a\u2066b.jpg", INVALID),
    ("dot", ".", INVALID),
    ("dot-dot", "..", INVALID),
    ("hidden", ".a.jpg", INVALID),
    ("leading-space", " a.jpg", INVALID),
    ("trailing-space", "a.jpg ", INVALID),
    ("trailing-dot", "a.jpg.", INVALID),
    ("over-long", "a" * 252 + ".jpg", INVALID),  # 256 bytes
    ("over-long-multibyte", "é" * 126 + ".jpg", INVALID),  # 256 bytes, 130 characters
    ("reserved-device", "CON.jpg", INVALID),
    ("reserved-device-lower", "nul.txt", INVALID),
    ("reserved-port", "com1.png", INVALID),
    ("reserved-with-more-dots", "aux.tar.txt", INVALID),
    ("double-extension", "a.jpg.exe", TYPE),
    ("executable", "a.exe", TYPE),
    ("no-extension", "jpg", TYPE),
    ("html", "a.html", TYPE),
    ("svg", "a.svg", TYPE),
]


@dataclass(frozen=True)
class Entry:
    """One way a filename enters the API."""

    id: str
    send: Callable[[httpx.Client, str, str], httpx.Response]
    takes_bodies: bool  # True: the name is refused by its rules (400/415)


def _path_entry(method: str, path: str) -> Entry:
    def send(c: httpx.Client, ds: str, name: str) -> httpx.Response:
        segment = quote(name, safe="")
        if set(name) <= {"."}:
            # A literal "." or ".." segment is resolved by the client (RFC 3986) before
            # it is sent, so `DELETE …/files/..` would go out as `DELETE …/{id}`. Sent
            # encoded, the server sees the name itself.
            segment = segment.replace(".", "%2E")
        concrete = path.replace("{dataset_id}", ds).replace("{filename}", segment)
        return c.request(method, concrete)

    return Entry(f"{method} {path}", send, takes_bodies=False)


def _multipart(c: httpx.Client, ds: str, name: str) -> httpx.Response:
    # Built by hand so the name's bytes arrive as they are (a client library would
    # escape some); `"` is percent-encoded as browsers do (RFC 7578).
    b = "hostileboundary"
    disp = f'form-data; name="file"; filename="{name.replace(chr(34), "%22")}"'
    body = (
        (
            f"--{b}\r\nContent-Disposition: {disp}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + JPEG
        + f"\r\n--{b}--\r\n".encode()
    )
    return c.post(
        f"{BASE}/{ds}/upload",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={b}"},
    )


def _json_keys(c: httpx.Client, ds: str, name: str) -> httpx.Response:
    return c.post(f"{BASE}/{ds}/get-upload-endpoint", json={"filenameToByteSize": {name: 10}})


def filename_entries(openapi: dict[str, Any]) -> list[Entry]:
    """Every operation that takes a filename, classified by how it takes it."""
    out: list[Entry] = []
    for path, ops in openapi["paths"].items():
        for method, op in ops.items():
            if method not in ("get", "post", "put", "delete", "patch"):
                continue
            if "{filename}" in path:
                out.append(_path_entry(method.upper(), path))
                continue
            content = op.get("requestBody", {}).get("content", {})
            form = content.get("multipart/form-data", {}).get("schema", {})
            if "file" in form.get("properties", {}):
                assert path.endswith("/upload"), f"a new multipart route: {method} {path}"
                out.append(Entry(f"{method.upper()} {path}", _multipart, takes_bodies=True))
            ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
            if ref.endswith("/UploadEndpointRequest"):
                out.append(Entry(f"{method.upper()} {path}", _json_keys, takes_bodies=True))
    return out


def test_every_hostile_name_on_every_route(client: httpx.Client) -> None:
    entries = filename_entries(client.get("/openapi.json").json())
    # file download + delete, the direct upload, the signed-URL request
    assert len(entries) >= 4, [e.id for e in entries]
    ds = create(client)["id"]
    upload(client, ds, "keep.jpg", JPEG)
    before = files_of(client, ds)
    failures = []
    tried = 0
    for case, name, want in NAMES:
        for entry in entries:
            tried += 1
            r = entry.send(client, ds, name)
            body = (
                r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
            )
            code = body.get("error", {}).get("code")
            if entry.takes_bodies:
                ok = (r.status_code, code) in ((400, want), (415, want))
                if want == INVALID and entry.send is _multipart:
                    # A name a multipart header cannot carry (CR, LF, NUL) is a framing
                    # error before it is a name.
                    ok = ok or (r.status_code, code) == (400, "invalid_request")
            else:  # a name no file can have is simply not found
                ok = r.status_code in (400, 404, 415) and code is not None
            if not ok or "x-request-id" not in r.headers:
                failures.append((case, entry.id, r.status_code, r.text[:200]))
    assert failures == [], failures
    assert tried == len(NAMES) * len(entries)
    assert files_of(client, ds) == before  # nothing stored, nothing removed
    assert client.get("/healthz").status_code == 200


def test_nul_and_control_characters_in_every_parameter(client: httpx.Client) -> None:
    """Every path and query parameter of every operation, from the OpenAPI document,
    given values PostgreSQL text cannot hold or that mean something elsewhere: a 4xx
    JSON error, never a 5xx (found: a NUL in a file name was a 500 on PostgreSQL)."""
    ds = create(client)["id"]
    doc = client.get("/openapi.json").json()
    values = ["a\x00b", "\x00", "a\r\nX-Injected: 1", "%00", "\u202e", "é" * 300]
    tried = 0
    failures = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method not in ("get", "delete") or not op.get("parameters"):
                continue
            for param in op["parameters"]:
                for v in values:
                    tried += 1
                    concrete = path.replace("{dataset_id}", ds).replace("{filename}", "a.jpg")
                    params: dict[str, str] = {}
                    if param["in"] == "path":
                        concrete = (
                            path.replace("{" + param["name"] + "}", quote(v, safe=""))
                            .replace("{dataset_id}", ds)
                            .replace("{filename}", "a.jpg")
                        )
                    elif param["in"] == "query":
                        params[param["name"]] = v
                    else:
                        continue
                    r = client.request(method.upper(), concrete, params=params)
                    if r.status_code >= 500 or (r.status_code >= 400 and "error" not in r.json()):
                        failures.append((method, path, param["name"], repr(v), r.status_code))
    assert failures == []
    assert tried >= 40
    assert status(client, ds)["status"] == "DRAFT"  # the dataset itself is untouched


def test_nfd_twin_is_the_nfc_file(client: httpx.Client) -> None:
    """Not an attack but a trap: the same name in two normal forms is one file."""
    ds = create(client)["id"]
    nfc = "café.jpg"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    upload(client, ds, nfd, JPEG)
    upload(client, ds, nfc, media.jpeg(65, 65))
    assert list(files_of(client, ds)) == [nfc]
    assert client.get(f"{BASE}/{ds}/files/{quote(nfd)}").status_code in (200, 307)
    assert client.delete(f"{BASE}/{ds}/files/{quote(nfd)}").status_code == 200
    assert files_of(client, ds) == {}


# --- content spoofing -------------------------------------------------------------------

# The content family each allowed media extension must hold.
FAMILY = {
    ".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp",
    ".mp4": "bmff", ".m4v": "bmff", ".mov": "bmff",
    ".webm": "ebml", ".mkv": "ebml", ".avi": "avi",
}  # fmt: skip
PAYLOADS: dict[str, tuple[str, bytes]] = {
    "jpeg": ("jpeg", JPEG),
    "png": ("png", media.png(64, 64)),
    "webp": ("webp", media.webp(64, 64)),
    "mp4": ("bmff", media.video("mp4", frames=2)),
    "mov": ("bmff", media.video("mov", frames=2)),
    "webm": ("ebml", media.video("webm", frames=2)),
    "avi": ("avi", media.video("avi", frames=2)),
    "gif": ("other", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04"),
    "html": ("other", b"<!doctype html><script>alert(document.cookie)</script>"),
    "svg": ("other", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    "pe-executable": ("other", b"MZ\x90\x00\x03" + b"\x00" * 59 + b"PE\x00\x00"),
    "elf": ("other", b"\x7fELF\x02\x01\x01" + b"\x00" * 57),
    "zip": ("other", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 54),
    "pdf": ("other", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"),
    "riff-wave": ("other", b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 44),
    "text": ("other", b"a photo of a dog"),
    "empty": ("other", b""),
}
MEDIA_EXTS = sorted(e for e, t in BY_EXT.items() if t.kind is not Kind.CAPTION)


def test_every_extension_refuses_every_foreign_family_at_upload(client: httpx.Client) -> None:
    assert set(FAMILY) == set(MEDIA_EXTS)  # a new allowed type needs its family here
    ds = create(client)["id"]
    failures = []
    tried = 0
    for ext in MEDIA_EXTS:
        for pid, (family, data) in PAYLOADS.items():
            if family == FAMILY[ext]:
                continue
            tried += 1
            r = client.post(f"{BASE}/{ds}/upload", files={"file": (f"spoof_{pid}{ext}", data)})
            if r.status_code != 422 or r.json()["error"]["code"] != "invalid_file_content":
                failures.append((ext, pid, r.status_code, r.text[:200]))
    assert failures == []
    assert tried > 100
    assert files_of(client, ds) == {}


def test_spoofed_bytes_by_signed_url_fail_their_check(client: httpx.Client) -> None:
    """The signed route: on S3 the API never sees the bytes, so the content check is
    what refuses them; either way the dataset names each file."""
    ds = create(client)["id"]
    data = PAYLOADS["html"][1]
    names = {f"s_{ext[1:]}{ext}": ext for ext in MEDIA_EXTS}
    urls = signed_urls(client, ds, dict.fromkeys(names, len(data)))
    stored = []
    for name, entry in urls.items():
        r = httpx.put(entry["upload_url"], content=data, headers=entry["headers"])
        if r.status_code == 200:
            stored.append(name)
        else:  # local storage sniffs the first bytes as they arrive
            assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_file_content"
    if not stored:  # refused as they arrived; the URLs stay usable for the right bytes
        assert files_of(client, ds) == {}
        return
    body = wait_final(client, ds)
    if stored:
        assert body["status"] == "FAILED"
        for name in stored:
            codes = {d["code"] for d in body["error"]["details"] if d["filename"] == name}
            assert "invalid_file_content" in codes, body["error"]


# --- decompression bombs ------------------------------------------------------------------

LIMIT = 89_478_485  # Pillow's MAX_IMAGE_PIXELS
BOMBS: dict[str, bytes] = {
    # over twice the limit: Pillow raises
    "over_png.png": media.pixel_bomb_png(20_000, 20_000),
    "over_jpg.jpg": media.pixel_bomb_jpeg(20_000, 20_000),
    "over_jpeg.jpeg": media.pixel_bomb_jpeg(16_000, 16_000),
    "over_webp.webp": media.pixel_bomb_webp(16_383, 16_383),
    # between the limit and twice it: Pillow only warns; trainset refuses these too
    "band_png.png": media.pixel_bomb_png(10_000, 10_000),
    "band_jpg.jpg": media.pixel_bomb_jpeg(10_000, 10_000),
    "band_jpeg.jpeg": media.pixel_bomb_jpeg(9_500, 10_000),
    "band_webp.webp": media.pixel_bomb_webp(10_000, 10_000),
}


def test_bombs_in_every_image_format_fail_without_harm(client: httpx.Client) -> None:
    image_exts = {e for e, t in BY_EXT.items() if t.kind is Kind.IMAGE}
    assert {n[n.rfind(".") :] for n in BOMBS} == image_exts  # every image format
    ds = create(client)["id"]
    for name, data in BOMBS.items():
        assert len(data) < 1000  # tiny files...
        upload(client, ds, name, data)
        upload(client, ds, name[: name.rfind(".")] + ".txt", media.caption())
    upload(client, ds, "fine.jpg", JPEG)
    upload(client, ds, "fine.txt", media.caption())
    body = wait_final(client, ds, timeout=120)
    codes = {d["filename"]: d["code"] for d in body["error"]["details"]}
    for name in BOMBS:
        assert codes.get(name) == "image_too_large", (name, body["error"])
    message = next(
        d["message"] for d in body["error"]["details"] if d["filename"] == "over_webp.webp"
    )
    assert "268,402,689 pixels" in message and f"{LIMIT:,}" in message
    # ...that never took the worker down: a file checked after them passes.
    assert "fine.jpg" not in codes
    again = create(client)["id"]
    upload(client, again, "after.jpg", JPEG)
    upload(client, again, "after.txt", media.caption())
    assert wait_final(client, again)["status"] == "READY"


# --- lying lengths ----------------------------------------------------------------------


@dataclass(frozen=True)
class Lie:
    id: str
    length: str | None  # the Content-Length header sent (None: none at all)
    body: int  # bytes actually sent
    want: tuple[int, str]  # (status, error code); "" = see the case's comment


def _form(size: int) -> tuple[bytes, str]:
    b = "lieboundary"
    head = (
        f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="lie.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    tail = f"\r\n--{b}--\r\n".encode()
    return head + (JPEG + b"\0" * size)[:size] + tail, b


LIES = [
    # The server reads exactly Content-Length bytes: the form is cut short, and the
    # rest is not a request. Whichever the server sees first answers: the route (a
    # JSON invalid_request) or the HTTP layer (a plain 400, and the connection closed).
    Lie("shorter-than-the-body", "1000", 50_000, (400, "")),
    # More promised than sent, then the client closes: an aborted upload.
    Lie("longer-than-the-body", "100000", 2000, (0, "")),
    # Over the direct limit: refused before any of the body is read.
    Lie("over-the-limit", str(150_000_000 + (2 << 20)), 0, (413, "file_too_large")),
    # Neither Content-Length nor chunked: HTTP/1.1 says there is no body.
    Lie("no-length-at-all", None, 0, (400, "invalid_request")),
]


@pytest.mark.parametrize("lie", LIES, ids=[x.id for x in LIES])
def test_lying_content_length_on_the_direct_route(
    server: TrainsetServer, client: httpx.Client, lie: Lie
) -> None:
    ds = create(client)["id"]
    body, b = _form(max(lie.body - 200, 0))
    headers = {"Content-Type": f"multipart/form-data; boundary={b}"}
    if lie.length is not None:
        headers["Content-Length"] = lie.length
    head = request_head(server, f"{BASE}/{ds}/upload", headers)
    if lie.want[0] == 0:  # no answer is owed to a client that hung up mid-body
        send_and_hang_up(server, head + body[: lie.body])
        wait_status(client, ds, "DRAFT")
    else:
        r = raw_exchange(server, head, [body[: lie.body]] if lie.body else [], timeout=30)
        assert r.status_code == lie.want[0], (r.status_code, r.headers, r.body[:300])
        if lie.want[1] or r.headers.get("content-type") == "application/json":
            assert r.json()["error"]["code"] == (lie.want[1] or "invalid_request"), r.body[:300]
        # The attempt is cleaned up even when the HTTP layer answered first.
        wait_status(client, ds, "DRAFT")
    assert files_of(client, ds) == {}
    assert client.get("/healthz").status_code == 200


def test_signed_put_longer_than_signed_is_refused(client: httpx.Client, shape: Shape) -> None:
    ds = create(client)["id"]
    entry = signed_urls(client, ds, {"s.jpg": 100})["s.jpg"]
    r = httpx.put(entry["upload_url"], content=JPEG[:200], headers=entry["headers"])
    assert r.status_code == 403
    if not shape.scaled:  # SeaweedFS answers with its own XML error
        assert r.json()["error"]["code"] == "size_mismatch"
    assert files_of(client, ds) == {}
