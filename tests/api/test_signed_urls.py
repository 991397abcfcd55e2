"""Signed-URL PUTs (SPEC section 4): the URL is the credential, bound to one size,
one content type and one expiry; every refusal stores nothing.

On the embedded shape the URL points at trainset, which answers refusals with its
JSON errors. On the scaled shape it is a SigV4 presigned PUT to SeaweedFS: the store
itself refuses (its own XML error), and trainset records a file only once the object
exists with the signed size (HEAD on status polls)."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from tests import media
from tests.server import TrainsetServer
from tests.shapes import Shape
from tests.wire import BASE, assert_error, create, signed_urls, status, upload, wait_final

JPEG = media.jpeg(300, 300)
# Other bytes of the same size (what a stale URL might still deliver to a store).
OTHER = JPEG[:64] + bytes(reversed(JPEG[64:]))
EXPIRY = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def put(
    entry: dict[str, Any], data: Any, headers: dict[str, str] | None = None, url: str | None = None
) -> httpx.Response:
    """A PUT as an object-store client sends it: no bearer token."""
    hdrs = entry["headers"] if headers is None else headers
    return httpx.put(url or entry["upload_url"], content=data, headers=hdrs, timeout=30)


def files_of(client: httpx.Client, ds_id: str) -> dict[str, int]:
    return {f["filename"]: f["size_bytes"] for f in status(client, ds_id)["files"]}


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def flip_hex(s: str, at: int = 5) -> str:
    return s[:at] + ("0" if s[at] != "0" else "1") + s[at + 1 :]


def pieces(data: bytes, size: int = 1000) -> Iterator[bytes]:
    """A generator: httpx sends it with Transfer-Encoding: chunked (no Content-Length)."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


def refused(shape: Shape, r: httpx.Response, status_code: int, code: str) -> str:
    """The PUT was refused: by trainset (its JSON error, whose message is returned) or,
    on the scaled shape, by the object store (an S3 XML error)."""
    if not shape.scaled:
        return str(assert_error(r, status_code, code)["message"])
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert "<Error>" in r.text, r.text
    return r.text


def sig_param(shape: Shape) -> str:
    return "X-Amz-Signature" if shape.scaled else "signature"


def one_url(client: httpx.Client, ds_id: str, name: str, size: int) -> dict[str, Any]:
    entry: dict[str, Any] = signed_urls(client, ds_id, {name: size})[name]
    return entry


def test_happy_path(shape: Shape, client: httpx.Client) -> None:
    ds = create(client)
    caption = media.caption()
    out = signed_urls(client, ds["id"], {"a.jpg": len(JPEG), "a.txt": len(caption)})
    assert set(out) == {"a.jpg", "a.txt"}
    entry = out["a.jpg"]
    assert entry["method"] == "PUT"
    assert entry["headers"] == {"Content-Type": "image/jpeg"}
    assert out["a.txt"]["headers"]["Content-Type"].startswith("text/plain")
    assert EXPIRY.match(entry["expires_at"]), entry
    expires = datetime.strptime(entry["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    left = (expires - datetime.now(UTC)).total_seconds()
    assert 29 * 60 < left <= 30 * 60 + 1, left  # default lifetime: 30 minutes
    assert out["a.jpg"]["upload_url"] != out["a.txt"]["upload_url"]
    assert status(client, ds["id"])["status"] == "UPLOADING"

    r = put(entry, JPEG)
    assert r.status_code == 200, r.text
    if not shape.scaled:  # trainset's own answer; a store answers with its own ETag
        etag = r.headers.get("etag", "")
        assert etag.strip('"') == hashlib.sha256(JPEG).hexdigest(), r.headers
    else:
        assert urlsplit(entry["upload_url"]).netloc != urlsplit(str(client.base_url)).netloc
        assert "X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost" in entry["upload_url"]
    assert files_of(client, ds["id"]) == {"a.jpg": len(JPEG)}
    assert put(out["a.txt"], caption).status_code == 200
    body = wait_final(client, ds["id"])
    assert body["status"] == "READY", body
    assert files_of(client, ds["id"]) == {"a.jpg": len(JPEG), "a.txt": len(caption)}


def test_read_and_delete_by_name_right_after_a_put(client: httpx.Client) -> None:
    """Read after write: a file PUT to its URL is what a download by name returns next,
    even before any status poll (on the scaled shape nothing has recorded it yet), and a
    delete right after a PUT removes that version for good."""
    ds = create(client)
    upload(client, ds["id"], "a.jpg", JPEG)
    assert put(one_url(client, ds["id"], "a.jpg", len(OTHER)), OTHER).status_code == 200
    r = client.get(f"{BASE}/{ds['id']}/files/a.jpg", follow_redirects=True)
    assert r.status_code == 200 and r.content == OTHER, r.status_code
    assert put(one_url(client, ds["id"], "b.jpg", len(JPEG)), JPEG).status_code == 200
    r = client.get(f"{BASE}/{ds['id']}/files/b.jpg", follow_redirects=True)
    assert r.status_code == 200 and r.content == JPEG, r.status_code
    assert put(one_url(client, ds["id"], "c.jpg", len(JPEG)), JPEG).status_code == 200
    assert client.delete(f"{BASE}/{ds['id']}/files/c.jpg").status_code == 200
    assert "c.jpg" not in files_of(client, ds["id"])  # the poll does not bring it back
    assert client.get(f"{BASE}/{ds['id']}/files/c.jpg").status_code == 404


def test_put_needs_no_token_and_ignores_one(client: httpx.Client) -> None:
    ds = create(client)
    entry = one_url(client, ds["id"], "a.jpg", len(JPEG))
    headers = {**entry["headers"], "Authorization": "Bearer not-a-token"}
    r = put(entry, JPEG, headers=headers)
    assert r.status_code == 200, r.text
    assert files_of(client, ds["id"]) == {"a.jpg": len(JPEG)}


def test_chunked_body_of_the_right_size(shape: Shape, client: httpx.Client) -> None:
    if shape.scaled:
        pytest.skip("a SigV4 URL signs Content-Length: a chunked body (none) is refused")
    ds = create(client)
    entry = one_url(client, ds["id"], "a.jpg", len(JPEG))
    assert put(entry, pieces(JPEG)).status_code == 200
    assert files_of(client, ds["id"]) == {"a.jpg": len(JPEG)}


@pytest.mark.parametrize("delta", [1, -1, 1000, -len(JPEG)], ids=["+1", "-1", "+1000", "empty"])
def test_declared_size_mismatch(shape: Shape, client: httpx.Client, delta: int) -> None:
    ds = create(client)
    entry = one_url(client, ds["id"], "a.jpg", len(JPEG))
    data = JPEG + b"\0" * delta if delta > 0 else JPEG[: len(JPEG) + delta]
    message = refused(shape, put(entry, data), 403, "size_mismatch")
    if not shape.scaled:
        assert str(len(JPEG)) in message
    assert files_of(client, ds["id"]) == {}
    # the URL is still good for the right bytes
    assert put(entry, JPEG).status_code == 200
    assert files_of(client, ds["id"]) == {"a.jpg": len(JPEG)}


@pytest.mark.parametrize("delta", [1, -1, 100_000], ids=["+1", "-1", "+100000"])
def test_chunked_size_mismatch(shape: Shape, client: httpx.Client, delta: int) -> None:
    ds = create(client)
    entry = one_url(client, ds["id"], "a.jpg", len(JPEG))
    data = JPEG + b"\0" * delta if delta > 0 else JPEG[: len(JPEG) + delta]
    refused(shape, put(entry, pieces(data)), 403, "size_mismatch")
    assert files_of(client, ds["id"]) == {}
    assert client.get("/healthz").status_code == 200


def test_tampered_signature(shape: Shape, client: httpx.Client) -> None:
    ds = create(client)
    entry = one_url(client, ds["id"], "a.jpg", len(JPEG))
    param = sig_param(shape)
    sig = dict(parse_qsl(urlsplit(entry["upload_url"]).query))[param]
    for bad in (
        flip_hex(sig, 5),
        flip_hex(sig, len(sig) - 1),
        sig[:-1],
        sig + "0",
        "",
        sig.upper(),
    ):
        if bad == sig:
            continue
        r = put(entry, JPEG, url=with_query(entry["upload_url"], **{param: bad}))
        refused(shape, r, 403, "signature_invalid")
    assert files_of(client, ds["id"]) == {}


def test_tampered_expiry(shape: Shape, client: httpx.Client) -> None:
    ds = create(client)
    entry = one_url(client, ds["id"], "a.jpg", len(JPEG))
    param = "X-Amz-Expires" if shape.scaled else "expires"
    expires = dict(parse_qsl(urlsplit(entry["upload_url"]).query))[param]
    for bad in (str(int(expires) + 3600), str(int(expires) - 1), "9" * 12, "abc", "-1"):
        r = put(entry, JPEG, url=with_query(entry["upload_url"], **{param: bad}))
        refused(shape, r, 403, "signature_invalid")
    assert files_of(client, ds["id"]) == {}


def test_url_of_another_upload_id(shape: Shape, client: httpx.Client) -> None:
    """A valid signature moved onto a different upload id is not valid for it."""
    ds = create(client)
    out = signed_urls(client, ds["id"], {"a.jpg": len(JPEG), "b.jpg": len(JPEG)})
    a, b = urlsplit(out["a.jpg"]["upload_url"]), urlsplit(out["b.jpg"]["upload_url"])
    forged = urlunsplit(a._replace(query=b.query))
    refused(shape, put(out["a.jpg"], JPEG, url=forged), 403, "signature_invalid")
    assert files_of(client, ds["id"]) == {}


@pytest.mark.parametrize(
    "ctype",
    ["image/png", "application/octet-stream", "text/plain", "image/jpegx", "multipart/form-data"],
)
def test_wrong_content_type(shape: Shape, client: httpx.Client, ctype: str) -> None:
    ds = create(client)
    entry = one_url(client, ds["id"], "a.jpg", len(JPEG))
    r = put(entry, JPEG, headers={"Content-Type": ctype})
    message = refused(shape, r, 403, "content_type_mismatch")
    if not shape.scaled:
        assert "image/jpeg" in message
    assert files_of(client, ds["id"]) == {}


def test_missing_content_type(shape: Shape, client: httpx.Client) -> None:
    ds = create(client)
    entry = one_url(client, ds["id"], "a.jpg", len(JPEG))
    r = put(entry, JPEG, headers={})
    assert "content-type" not in r.request.headers
    message = refused(shape, r, 403, "content_type_mismatch")
    if not shape.scaled:
        assert "image/jpeg" in message
    assert files_of(client, ds["id"]) == {}


def test_content_type_is_case_insensitive(shape: Shape, client: httpx.Client) -> None:
    if shape.scaled:
        pytest.skip("SigV4 signs the header value as sent: the store compares it exactly")
    ds = create(client)
    entry = one_url(client, ds["id"], "a.jpg", len(JPEG))
    assert put(entry, JPEG, headers={"Content-Type": "Image/JPEG"}).status_code == 200


def test_superseded_url(shape: Shape, client: httpx.Client) -> None:
    ds = create(client)
    first = one_url(client, ds["id"], "a.jpg", len(JPEG))
    second = one_url(client, ds["id"], "a.jpg", len(JPEG))
    assert first["upload_url"] != second["upload_url"]
    # A store cannot revoke a presigned URL: it takes the bytes, trainset ignores them.
    other = OTHER
    r = put(first, other)
    if shape.scaled:
        assert r.status_code == 200, r.text
    else:
        assert_error(r, 403, "url_superseded")
    assert files_of(client, ds["id"]) == {}
    assert put(second, JPEG).status_code == 200
    assert files_of(client, ds["id"]) == {"a.jpg": len(JPEG)}
    # and still refused (or ignored) after the newer one was used
    r = put(first, other)
    if not shape.scaled:
        assert_error(r, 403, "url_superseded")
    assert files_of(client, ds["id"]) == {"a.jpg": len(JPEG)}
    assert client.get(f"{BASE}/{ds['id']}/files/a.jpg", follow_redirects=True).content == JPEG


def test_used_url_superseded_by_a_newer_upload(shape: Shape, client: httpx.Client) -> None:
    """A used URL must not overwrite a newer version that arrived another way, nor
    (object store) change the bytes of the version it delivered."""
    ds = create(client)
    entry = one_url(client, ds["id"], "a.jpg", len(JPEG))
    assert put(entry, JPEG).status_code == 200
    assert files_of(client, ds["id"]) == {"a.jpg": len(JPEG)}
    if shape.scaled:
        # The URL still works at the store until it expires: a second PUT of other
        # bytes must not change the recorded (and checked) version.
        assert put(entry, OTHER).status_code == 200
        assert files_of(client, ds["id"]) == {"a.jpg": len(JPEG)}
        assert client.get(f"{BASE}/{ds['id']}/files/a.jpg", follow_redirects=True).content == JPEG
    newer = media.jpeg(200, 200)
    upload(client, ds["id"], "a.jpg", newer)
    r = put(entry, JPEG)
    if not shape.scaled:
        assert_error(r, 403, "url_superseded")
    assert files_of(client, ds["id"]) == {"a.jpg": len(newer)}
    assert client.get(f"{BASE}/{ds['id']}/files/a.jpg", follow_redirects=True).content == newer


def test_put_after_dataset_deleted(shape: Shape, client: httpx.Client) -> None:
    ds = create(client)
    entry = one_url(client, ds["id"], "a.jpg", len(JPEG))
    assert client.delete(f"{BASE}/{ds['id']}").status_code == 200
    r = put(entry, JPEG)
    if shape.scaled:
        assert r.status_code == 200  # the store takes it; garbage collection removes it
    else:
        assert_error(r, 404, "dataset_not_found")
    # the name is free again, and a new dataset of that name does not get the file
    again = create(client, ds["name"])
    assert files_of(client, again["id"]) == {}


def test_put_to_unknown_upload_id(shape: Shape, client: httpx.Client) -> None:
    ds = create(client)
    entry = one_url(client, ds["id"], "a.jpg", len(JPEG))
    parts = urlsplit(entry["upload_url"])
    other = urlunsplit(parts._replace(path=parts.path.rsplit("/", 1)[0] + "/nope"))
    r = put(entry, JPEG, url=other)
    assert r.status_code in (403, 404), r.text
    if shape.scaled:
        refused(shape, r, 403, "signature_invalid")
        return  # an unsigned id is a bad signature first
    assert r.json()["error"]["code"] in ("signature_invalid", "dataset_not_found")


def test_wrong_content_is_refused(shape: Shape, client: httpx.Client) -> None:
    ds = create(client)
    png = media.png()
    entry = one_url(client, ds["id"], "a.jpg", len(png))
    r = put(entry, png)
    if not shape.scaled:
        assert_error(r, 422, "invalid_file_content")
        assert files_of(client, ds["id"]) == {}
        return
    # The bytes went straight to the store; the content check catches the lie.
    assert r.status_code == 200
    upload(client, ds["id"], "a.txt", media.caption())
    body = wait_final(client, ds["id"])
    assert body["status"] == "FAILED", body
    found = {(d["filename"], d["code"]) for d in body["error"]["details"]}
    assert ("a.jpg", "invalid_file_content") in found, body


# --- expiry (a server whose URLs live two seconds) -------------------------------------------
# Expiry is whole seconds (issue time rounded down + TTL), so a two-second URL is
# still valid for at least one second after it is issued.


@pytest.fixture(scope="module")
def short_ttl(shape: Shape) -> Iterator[TrainsetServer]:
    with shape.server(signed_url_ttl_seconds="2", workers="1") as srv:
        yield srv


@pytest.fixture
def short_client(short_ttl: TrainsetServer) -> Iterator[httpx.Client]:
    with short_ttl.client() as c:
        yield c


def sleep_past(expires_at: str, margin: float = 1.1) -> None:
    expires = datetime.strptime(expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    wait = (expires - datetime.now(UTC)).total_seconds() + margin
    if wait > 0:
        time.sleep(wait)


def wait_for(client: httpx.Client, ds_id: str, want: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = status(client, ds_id)
        if body["status"] == want:
            return body
        assert time.monotonic() < deadline, f"still {body['status']}: {body}"
        time.sleep(0.1)


def test_expired_url(shape: Shape, short_client: httpx.Client) -> None:
    ds = create(short_client)
    entry = one_url(short_client, ds["id"], "a.jpg", len(JPEG))
    sleep_past(entry["expires_at"])
    refused(shape, put(entry, JPEG), 403, "url_expired")
    assert files_of(short_client, ds["id"]) == {}


def test_unused_url_fails_the_dataset_until_a_new_url(short_client: httpx.Client) -> None:
    ds = create(short_client)
    upload(short_client, ds["id"], "b.jpg", JPEG)
    upload(short_client, ds["id"], "b.txt", media.caption())
    entry = one_url(short_client, ds["id"], "a.jpg", len(JPEG))
    sleep_past(entry["expires_at"], margin=0.5)
    body = wait_for(short_client, ds["id"], "FAILED")
    details = body["error"]["details"]
    assert {(d["filename"], d["code"]) for d in details} == {("a.jpg", "upload_expired")}, body
    assert "a.jpg" in details[0]["message"]
    # Asking for a new URL for that file lifts the failure: waiting for it again.
    again = one_url(short_client, ds["id"], "a.jpg", len(JPEG))
    body = status(short_client, ds["id"])
    assert body["status"] == "UPLOADING", body
    assert "error" not in body
    # and when that one lapses unused too, the dataset fails again for it
    sleep_past(again["expires_at"], margin=0.5)
    body = wait_for(short_client, ds["id"], "FAILED")
    assert [d["filename"] for d in body["error"]["details"]] == ["a.jpg"]


def test_expired_url_lifted_by_a_direct_upload(short_client: httpx.Client) -> None:
    ds = create(short_client)
    entry = one_url(short_client, ds["id"], "a.jpg", len(JPEG))
    sleep_past(entry["expires_at"], margin=0.5)
    wait_for(short_client, ds["id"], "FAILED")
    upload(short_client, ds["id"], "a.jpg", JPEG)
    upload(short_client, ds["id"], "a.txt", media.caption())
    body = wait_final(short_client, ds["id"])
    assert body["status"] == "READY", body
    assert files_of(short_client, ds["id"]) == {"a.jpg": len(JPEG), "a.txt": len(media.caption())}
