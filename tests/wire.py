"""Small helpers over the wire API for tests (the SDK is not used: tests speak HTTP)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

BASE = "/prod/v1/trainers/datasets"
FINAL = {"READY", "FAILED", "DRAFT"}


def create(client: httpx.Client, name: str | None = None) -> dict[str, Any]:
    r = client.post(BASE, json={"name": name or f"t_{uuid.uuid4().hex[:12]}"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def upload(
    client: httpx.Client, ds_id: str, filename: str, data: bytes, *, expect: int = 200
) -> httpx.Response:
    r = client.post(f"{BASE}/{ds_id}/upload", files={"file": (filename, data)})
    assert r.status_code == expect, r.text
    return r


def status(client: httpx.Client, ds_id: str) -> dict[str, Any]:
    r = client.get(f"{BASE}/{ds_id}/status")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def wait_final(client: httpx.Client, ds_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll status until it leaves UPLOADING (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        body = status(client, ds_id)
        if body["status"] in FINAL:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"still {body['status']} after {timeout}s: {body}")
        time.sleep(0.05)


def sizes(status_body: dict[str, Any]) -> dict[str, int]:
    """filename -> size_bytes of a status answer's files (in their listed order)."""
    return {f["filename"]: f["size_bytes"] for f in status_body["files"]}


def signed_urls(client: httpx.Client, ds_id: str, sizes: dict[str, int]) -> dict[str, Any]:
    r = client.post(f"{BASE}/{ds_id}/get-upload-endpoint", json={"filenameToByteSize": sizes})
    assert r.status_code == 200, r.text
    uploads: dict[str, Any] = r.json()["uploads"]
    return uploads


# Every endpoint that takes a dataset id, for tests that must cover them all.
DATASET_CALLS = ["status", "upload", "get-upload-endpoint", "delete"]


def call_dataset_endpoint(client: httpx.Client, what: str, ds_id: str) -> httpx.Response:
    """Call one of DATASET_CALLS on `ds_id` with a small valid request."""
    if what == "status":
        return client.get(f"{BASE}/{ds_id}/status")
    if what == "upload":
        # Refused before its content is looked at when the dataset is not the caller's.
        return client.post(f"{BASE}/{ds_id}/upload", files={"file": ("x.jpg", b"\xff\xd8\xff")})
    if what == "get-upload-endpoint":
        return client.post(
            f"{BASE}/{ds_id}/get-upload-endpoint", json={"filenameToByteSize": {"x.jpg": 10}}
        )
    assert what == "delete", what
    return client.delete(f"{BASE}/{ds_id}")


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The SPEC section 2 shape, with an X-Request-ID header."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    assert r.headers.get("x-request-id"), r.headers
    body = r.json()
    assert set(body) == {"error"}, body
    err: dict[str, Any] = body["error"]
    assert err["code"] == code, body
    assert isinstance(err["message"], str) and err["message"], body
    assert "Traceback" not in r.text
    return err
