"""Accounts are isolated (SPEC section 7): another account's dataset is 404 on every
endpoint, never 403, and names are unique per account only."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
import pytest

from tests import media
from tests.server import TrainsetServer
from tests.wire import (
    BASE,
    DATASET_CALLS,
    assert_error,
    call_dataset_endpoint,
    create,
    signed_urls,
    sizes,
    status,
    upload,
    wait_final,
)

JPEG = media.jpeg()


def listed(client: httpx.Client) -> dict[str, str]:
    r = client.get(BASE)
    assert r.status_code == 200, r.text
    return {d["id"]: d["name"] for d in r.json()["datasets"]}


CALLS = DATASET_CALLS


@pytest.mark.parametrize("what", CALLS)
def test_other_account_gets_404(
    client: httpx.Client, other_client: httpx.Client, what: str
) -> None:
    ds = create(client)
    upload(client, ds["id"], "a.jpg", JPEG)
    before = wait_final(client, ds["id"])  # settled: any later change would show
    err = assert_error(
        call_dataset_endpoint(other_client, what, ds["id"]), 404, "dataset_not_found"
    )
    # indistinguishable from an id that does not exist at all (modulo the id itself)
    unknown = str(uuid.uuid4())
    err_unknown = assert_error(
        call_dataset_endpoint(other_client, what, unknown), 404, "dataset_not_found"
    )
    assert err["message"].replace(ds["id"], "ID") == err_unknown["message"].replace(unknown, "ID")
    # nothing changed for the owner, not even updated_at
    assert status(client, ds["id"]) == before
    assert sizes(before) == {"a.jpg": len(JPEG)}
    assert ds["id"] in listed(client)


def test_other_account_cannot_see_it_in_the_list(
    client: httpx.Client, other_client: httpx.Client
) -> None:
    ds = create(client)
    mine = create(other_client)
    assert ds["id"] not in listed(other_client)
    assert ds["name"] not in listed(other_client).values()
    assert mine["id"] in listed(other_client)
    assert mine["id"] not in listed(client)
    # the name filter does not reach across accounts either
    r = other_client.get(BASE, params={"name": ds["name"]})
    assert r.status_code == 200 and r.json()["datasets"] == []


def test_same_name_in_both_accounts(client: httpx.Client, other_client: httpx.Client) -> None:
    name = f"shared_{uuid.uuid4().hex[:10]}"
    a = create(client, name)
    b = create(other_client, name)
    assert a["name"] == b["name"] == name and a["id"] != b["id"]
    upload(client, a["id"], "a.jpg", JPEG)
    assert status(other_client, b["id"])["files"] == []
    # deleting one leaves the other
    assert other_client.delete(f"{BASE}/{b['id']}").status_code == 200
    assert status(client, a["id"])["name"] == name
    assert_error(client.post(BASE, json={"name": name}), 409, "dataset_name_taken")


def test_signed_url_writes_only_to_its_own_dataset(
    client: httpx.Client, other_client: httpx.Client
) -> None:
    mine = create(client)
    theirs = create(other_client)
    entry = signed_urls(other_client, theirs["id"], {"a.jpg": len(JPEG)})["a.jpg"]
    r = httpx.put(entry["upload_url"], content=JPEG, headers=entry["headers"], timeout=30)
    assert r.status_code == 200, r.text
    assert [f["filename"] for f in status(other_client, theirs["id"])["files"]] == ["a.jpg"]
    assert status(client, mine["id"])["files"] == []


def test_concurrent_creates_of_one_name(server: TrainsetServer) -> None:
    name = f"race_{uuid.uuid4().hex[:10]}"
    n = 8
    barrier = threading.Barrier(n)
    results: list[httpx.Response | BaseException] = [RuntimeError("not run")] * n

    def worker(i: int) -> None:
        with server.client() as c:
            c.get("/healthz")  # connect first, so the creates start together
            barrier.wait(10)
            try:
                results[i] = c.post(BASE, json={"name": name})
            except BaseException as e:  # reported below with the others
                results[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    responses = [r for r in results if isinstance(r, httpx.Response)]
    assert len(responses) == n, results
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * (n - 1), [(r.status_code, r.text) for r in responses]
    for r in responses:
        if r.status_code == 409:
            assert_error(r, 409, "dataset_name_taken")
    (winner,) = [r.json() for r in responses if r.status_code == 200]
    with server.client() as c:
        same = [d for d in c.get(BASE).json()["datasets"] if d["name"] == name]
    assert [d["id"] for d in same] == [winner["id"]]


def test_deleted_dataset_frees_its_name_at_once(client: httpx.Client) -> None:
    ds = create(client)
    upload(client, ds["id"], "a.jpg", JPEG)
    r = client.delete(f"{BASE}/{ds['id']}")
    assert r.status_code == 200 and r.json()["deleted"] is True
    again = create(client, ds["name"])
    assert again["id"] != ds["id"] and again["status"] == "DRAFT"
    body: dict[str, Any] = status(client, again["id"])
    assert body["files"] == []
    assert_error(client.get(f"{BASE}/{ds['id']}/status"), 404, "dataset_not_found")


def _request_for(method: str, path: str) -> dict[str, Any]:
    """A small, otherwise valid request for a dataset-scoped operation."""
    if path.endswith("/upload"):
        return {"files": {"file": ("x.jpg", b"\xff\xd8\xff")}}
    if path.endswith("/get-upload-endpoint"):
        return {"json": {"filenameToByteSize": {"x.jpg": 10}}}
    return {}


def test_every_dataset_route_is_404_for_another_account(
    client: httpx.Client, other_client: httpx.Client
) -> None:
    """Derived from the app's own OpenAPI document, so a new dataset-scoped endpoint is
    covered without touching this test."""
    ds = create(client)
    upload(client, ds["id"], "a.jpg", JPEG)
    upload(client, ds["id"], "a.txt", media.caption())
    before = wait_final(client, ds["id"])
    paths = client.get("/openapi.json").json()["paths"]
    routes = [
        (method.upper(), path)
        for path, ops in paths.items()
        if "{dataset_id}" in path
        for method in ops
        if method in ("get", "post", "put", "delete", "patch")
    ]
    assert len(routes) >= 7, routes  # status, upload, urls, delete, file get/delete, manifest
    for method, path in routes:
        concrete = path.replace("{dataset_id}", ds["id"]).replace("{filename}", "a.jpg")
        r = other_client.request(method, concrete, **_request_for(method, path))
        assert_error(r, 404, "dataset_not_found")
    assert status(client, ds["id"]) == before  # nothing changed for the owner
