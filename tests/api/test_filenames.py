"""Hostile file names on both routes (SPEC section 3): checked, never sanitised, and
never used as a path.

Direct uploads build the multipart body by hand so the server receives exactly the
bytes of the name (a client library may escape or re-encode it).
"""

from __future__ import annotations

import os
import re
import unicodedata
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import media
from tests.server import TrainsetServer
from tests.shapes import stored_blob_names
from tests.wire import BASE, create, signed_urls, status

JPEG = media.jpeg()
OK = (200, None)
BAD = (400, "invalid_filename")
TYPE = (415, "unsupported_file_type")

# 2-byte "é" x 126 + ".jpg" = 256 bytes in 130 characters; one fewer "é" plus "a" = 255.
NAME_256 = "é" * 126 + ".jpg"
NAME_255 = "é" * 125 + "a.jpg"
assert len(NAME_256.encode()) == 256 and len(NAME_255.encode()) == 255

# (id, name as sent, expected (status, code), name it is stored under when accepted)
CASES: list[tuple[str, str, tuple[int, str | None], str | None]] = [
    ("dotdot-slash", "../a.jpg", BAD, None),
    ("dotdot-deep", "../../../../tmp/a.jpg", BAD, None),
    ("subdir", "a/b.jpg", BAD, None),
    ("backslash", "a\\b.jpg", BAD, None),
    ("dotdot-backslash", "..\\a.jpg", BAD, None),
    ("absolute", "/etc/passwd.jpg", BAD, None),
    ("windows-path", "C:\\evil\\a.jpg", BAD, None),
    ("unc-path", "\\\\server\\share\\a.jpg", BAD, None),
    ("nul", "a\x00b.jpg", BAD, None),
    ("nul-before-ext", "a.jpg\x00.exe", BAD, None),
    ("ctrl-01", "a\x01b.jpg", BAD, None),
    ("ctrl-7f", "a\x7fb.jpg", BAD, None),
    ("tab", "a\tb.jpg", BAD, None),
    ("c1-control", "a\x85b.jpg", BAD, None),
    ("bidi-override", "evil\u202egpj.jpg", BAD, None),
    ("bidi-isolate", "a\u2066b.jpg", BAD, None),
    ("hidden", ".hidden.jpg", BAD, None),
    ("dot", ".", BAD, None),
    ("dotdot", "..", BAD, None),
    ("only-ext", ".jpg", BAD, None),
    ("empty", "", BAD, None),
    ("leading-space", " a.jpg", BAD, None),
    ("trailing-space", "a.jpg ", BAD, None),
    ("trailing-dot", "a.jpg.", BAD, None),
    ("256-bytes", NAME_256, BAD, None),
    ("255-bytes", NAME_255, OK, NAME_255),
    ("exe-after-jpg", "a.jpg.exe", TYPE, None),
    ("no-extension", "noext", TYPE, None),
    ("gif", "a.gif", TYPE, None),
    ("double-ext", "a.php.jpg", OK, "a.php.jpg"),
    ("upper-ext", "A.JPG", OK, "A.JPG"),
    ("mixed-ext", "b.JpEg", OK, "b.JpEg"),
    ("nfd", "e\u0301.jpg", OK, "é.jpg"),
    ("percent-encoded", "%2e%2e%2fa.jpg", OK, "%2e%2e%2fa.jpg"),
    ("unicode", "日本語 ファイル.jpg", OK, "日本語 ファイル.jpg"),
]
# Names a multipart header cannot carry raw (CR/LF end the header): signed route only.
JSON_ONLY: list[tuple[str, str, tuple[int, str | None], str | None]] = [
    ("newline", "a\nb.jpg", BAD, None),
    ("carriage-return", "a\rb.jpg", BAD, None),
    ("crlf-injection", "a.jpg\r\nX-Evil: 1", BAD, None),
]


def multipart(filename: bytes, data: bytes) -> tuple[bytes, str]:
    boundary = "trainset-test-" + uuid.uuid4().hex
    body = (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def direct(client: httpx.Client, ds_id: str, filename: str | bytes) -> httpx.Response:
    raw = filename if isinstance(filename, bytes) else filename.encode("utf-8")
    body, ctype = multipart(raw, JPEG)
    return client.post(f"{BASE}/{ds_id}/upload", content=body, headers={"Content-Type": ctype})


def signed(client: httpx.Client, ds_id: str, filename: str) -> httpx.Response:
    return client.post(
        f"{BASE}/{ds_id}/get-upload-endpoint", json={"filenameToByteSize": {filename: len(JPEG)}}
    )


def put(entry: dict[str, Any]) -> httpx.Response:
    return httpx.put(entry["upload_url"], content=JPEG, headers=entry["headers"], timeout=30)


def check_answer(r: httpx.Response, expected: tuple[int, str | None]) -> None:
    code, error = expected
    assert r.status_code == code, (r.status_code, r.text)
    assert r.headers.get("x-request-id")
    if error is not None:
        body = r.json()
        assert set(body) == {"error"}, body
        assert body["error"]["code"] == error, body
        assert body["error"]["message"], body


def names_in(client: httpx.Client, ds_id: str) -> list[str]:
    return [f["filename"] for f in status(client, ds_id)["files"]]


# python-multipart's own header parser keeps only the last component of a Windows
# path ('C:\\evil\\a.jpg' -> 'a.jpg'); trainset parses Content-Disposition itself
# so such a name is refused, never shortened.
@pytest.mark.parametrize(
    ("name", "expected", "stored"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_direct_upload(
    client: httpx.Client, name: str, expected: tuple[int, str | None], stored: str | None
) -> None:
    ds = create(client)
    r = direct(client, ds["id"], name)
    check_answer(r, expected)
    if stored is None:
        assert names_in(client, ds["id"]) == []
        assert status(client, ds["id"])["status"] == "DRAFT"
    else:
        assert r.json()["filename"] == stored
        assert r.json()["bytes"] == len(JPEG)
        assert names_in(client, ds["id"]) == [stored]
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("name", "expected", "stored"),
    [c[1:] for c in CASES + JSON_ONLY],
    ids=[c[0] for c in CASES + JSON_ONLY],
)
def test_signed_route(
    client: httpx.Client, name: str, expected: tuple[int, str | None], stored: str | None
) -> None:
    ds = create(client)
    r = signed(client, ds["id"], name)
    check_answer(r, expected)
    if stored is None:
        assert status(client, ds["id"])["status"] == "DRAFT"  # no URL was issued
        return
    uploads = r.json()["uploads"]
    assert len(uploads) == 1
    (entry,) = uploads.values()
    assert put(entry).status_code == 200
    assert names_in(client, ds["id"]) == [stored]


def test_unsupported_type_message_lists_allowed(client: httpx.Client) -> None:
    ds = create(client)
    for r in (direct(client, ds["id"], "a.jpg.exe"), signed(client, ds["id"], "a.jpg.exe")):
        check_answer(r, TYPE)
        message = r.json()["error"]["message"]
        for ext in (".jpg", ".jpeg", ".png", ".webp", ".mp4", ".mov", ".webm", ".mkv"):
            assert ext in message, message
        for ext in (".avi", ".m4v", ".txt"):
            assert ext in message, message


@pytest.mark.parametrize(
    "wire",
    [b"C:\\\\evil\\\\a.jpg", b"\\\\\\\\server\\\\share\\\\a.jpg"],
    ids=["drive-path", "unc-path"],
)
def test_escaped_windows_paths_in_multipart(client: httpx.Client, wire: bytes) -> None:
    """The same paths as a client escapes them in a quoted-string (each \\ doubled)."""
    ds = create(client)
    check_answer(direct(client, ds["id"], wire), BAD)
    assert names_in(client, ds["id"]) == []


def test_non_utf8_name_in_multipart(client: httpx.Client) -> None:
    ds = create(client)
    r = direct(client, ds["id"], b"caf\xe9.jpg")  # latin-1 bytes
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] in ("invalid_filename", "invalid_request")
    assert names_in(client, ds["id"]) == []


def test_nfd_and_nfc_are_one_file(client: httpx.Client) -> None:
    ds = create(client)
    nfc, nfd = "café.jpg", unicodedata.normalize("NFD", "café.jpg")
    assert nfc != nfd
    assert direct(client, ds["id"], nfc).status_code == 200
    r = direct(client, ds["id"], nfd)
    assert r.status_code == 200 and r.json()["filename"] == nfc
    assert names_in(client, ds["id"]) == [nfc]
    # a signed URL for the NFD name writes the same (NFC) file
    uploads = signed_urls(client, ds["id"], {nfd: len(JPEG)})
    assert len(uploads) == 1
    (entry,) = uploads.values()
    assert put(entry).status_code == 200
    assert names_in(client, ds["id"]) == [nfc]


def test_one_request_naming_a_file_twice_after_nfc(client: httpx.Client) -> None:
    ds = create(client)
    nfc, nfd = "é.jpg", "e\u0301.jpg"
    r = client.post(
        f"{BASE}/{ds['id']}/get-upload-endpoint",
        json={"filenameToByteSize": {nfc: 10, nfd: 20}},
    )
    check_answer(r, BAD)
    assert status(client, ds["id"])["status"] == "DRAFT"


def test_bad_names_are_all_reported_at_once(client: httpx.Client) -> None:
    ds = create(client)
    r = client.post(
        f"{BASE}/{ds['id']}/get-upload-endpoint",
        json={"filenameToByteSize": {"../x.jpg": 1, "ok.jpg": 1, "a/b.txt": 1}},
    )
    check_answer(r, BAD)
    message = r.json()["error"]["message"]
    assert "../x.jpg" in message and "a/b.txt" in message
    assert "ok.jpg" not in message


def _components(name: str) -> set[str]:
    """The name, its NFC form, and each piece a path API would see in it."""
    out = {name, unicodedata.normalize("NFC", name)}
    for n in list(out):
        out.update(re.split(r"[/\\\x00]", n))
    return {c for c in out if c not in ("", ".", "..")}


def test_names_never_reach_the_filesystem(server: TrainsetServer, client: httpx.Client) -> None:
    """Send every name on both routes, then walk the server's whole directory tree:
    no path component is a user-supplied name, and blobs have generated names."""
    ds = create(client)
    sent: set[str] = set()
    for _, name, _, _ in CASES:
        direct(client, ds["id"], name)
        sent |= _components(name)
    for _, name, _, _ in CASES + JSON_ONLY:
        r = signed(client, ds["id"], name)
        if r.status_code == 200:
            for entry in r.json()["uploads"].values():
                assert put(entry).status_code == 200
        sent |= _components(name)
    stored = names_in(client, ds["id"])
    assert "a.php.jpg" in stored and "é.jpg" in stored  # the accepted ones did arrive

    root = Path(server.data_dir).parent
    seen: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for part in (*dirnames, *filenames):
            seen.append(part)
            assert part not in sent, f"user-supplied name on disk: {Path(dirpath, part)}"
    assert seen, "walked nothing"
    # Blobs (files, or objects in the bucket) are named by generated keys only.
    blobs = stored_blob_names(server.env, str(server.data_dir))
    assert blobs
    for p in blobs:
        assert re.fullmatch(r"[0-9a-f]{32}", p.rsplit("/", 1)[-1]), p
    assert not Path("/etc/passwd.jpg").exists()
    assert not (root.parent / "a.jpg").exists()
