"""Multipart abuse on the direct route, table-driven: every case ends in a clear JSON
answer (never a 5xx, never a hang), stores nothing it should not, and leaves the
server healthy for the next client."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from tests import media
from tests.wire import BASE, create, sizes, status

JPEG = media.jpeg(64, 64)
B = "abuseboundary"


def part(name: str, body: bytes, filename: str | None = None, extra: str = "") -> bytes:
    disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--{B}\r\nContent-Disposition: {disp}\r\n{extra}\r\n".encode() + body + b"\r\n"


def end() -> bytes:
    return f"--{B}--\r\n".encode()


@dataclass(frozen=True)
class Case:
    id: str
    body: Callable[[], bytes]
    content_type: str = f"multipart/form-data; boundary={B}"
    # Acceptable outcomes: (status, error code or None for success)
    expect: tuple[tuple[int, str | None], ...] = ((400, "invalid_request"),)
    stored: bool = False  # whether a.jpg may exist afterwards


CASES = [
    Case("no-boundary-parameter", lambda: part("file", JPEG, "a.jpg") + end(),
         content_type="multipart/form-data"),
    Case("boundary-never-appears", lambda: b"x" * 10_000),
    Case("empty-body", lambda: b""),
    Case("only-the-closing-boundary", end),
    Case("missing-closing-boundary", lambda: part("file", JPEG, "a.jpg")),
    Case("second-file-part",
         lambda: part("file", JPEG, "a.jpg") + part("file", JPEG, "b.jpg") + end()),
    Case("file-field-without-filename", lambda: part("file", JPEG) + end()),
    Case("thousands-of-fields-then-the-file",
         lambda: b"".join(part(f"f{i}", b"v") for i in range(5000))
         + part("file", JPEG, "a.jpg") + end(),
         expect=((200, None), (400, "invalid_request")), stored=True),
    Case("megabyte-preamble-then-the-file",
         lambda: b"p" * (1 << 20) + b"\r\n" + part("file", JPEG, "a.jpg") + end(),
         expect=((200, None), (400, "invalid_request")), stored=True),
    Case("header-flood-in-the-part",
         lambda: part("file", JPEG, "a.jpg", extra="".join(f"X-H{i}: v\r\n" for i in range(20_000)))
         + end(),
         expect=((400, "invalid_request"), (413, "request_too_large"))),
    Case("one-megabyte-header-line",
         lambda: part("file", JPEG, "a.jpg", extra="X-Long: " + "v" * (1 << 20) + "\r\n") + end(),
         expect=((400, "invalid_request"), (413, "request_too_large"))),
    Case("boundary-of-71-characters", lambda: b"",
         content_type="multipart/form-data; boundary=" + "b" * 71),
    Case("not-multipart-at-all", lambda: JPEG, content_type="image/jpeg"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_multipart_abuse(client: httpx.Client, case: Case) -> None:
    ds = create(client)["id"]
    t0 = time.monotonic()
    r = client.post(
        f"{BASE}/{ds}/upload",
        content=case.body(),
        headers={"Content-Type": case.content_type},
        timeout=60,
    )
    took = time.monotonic() - t0
    got = (r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else None)
    assert got in case.expect, (got, r.text[:300])
    assert r.headers.get("x-request-id")
    assert took < 30, took  # bounded work, never a hang
    files = sizes(status(client, ds))
    if case.stored and r.status_code == 200:
        assert files == {"a.jpg": len(JPEG)}
    else:
        assert files == {}, files
    # The next client is served normally.
    ok = client.post(f"{BASE}/{ds}/upload", files={"file": ("ok.jpg", JPEG)})
    assert ok.status_code == 200, ok.text
