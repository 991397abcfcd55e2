"""The gallery API the web UI uses: items grouped by stem, thumbnails made by the
worker, caption text, per-item problems, and paging (both shapes)."""

from __future__ import annotations

import io
import sqlite3
import time
from typing import Any

import httpx
import psycopg
from PIL import Image

from tests import media
from tests.server import TrainsetServer
from tests.wire import BASE, assert_error, create, upload, wait_final


def items(client: httpx.Client, ds_id: str, **params: Any) -> dict[str, Any]:
    r = client.get(f"{BASE}/{ds_id}/items", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def thumbnail(url: str) -> Image.Image:
    """Fetch a thumbnail URL as a browser's <img> would: no bearer token."""
    r = httpx.get(url, follow_redirects=True, timeout=30)
    assert r.status_code == 200, r.text
    im = Image.open(io.BytesIO(r.content))
    assert im.format == "WEBP"
    im.load()
    return im


def test_items_pair_media_with_captions_and_say_what_is_wrong(client: httpx.Client) -> None:
    ds = create(client)["id"]
    upload(client, ds, "a.jpg", media.jpeg(512, 640))
    upload(client, ds, "a.txt", media.caption("a photo of sks dog"))
    upload(client, ds, "b.png", media.png(300, 300))  # no caption
    upload(client, ds, "c.txt", media.caption("x" * 20_000))  # orphan, too long to keep
    # EXIF orientation 6: stored 400x200, shown upright (portrait).
    upload(client, ds, "rot.jpg", media.jpeg(400, 280, exif_orientation=6))
    upload(client, ds, "rot.txt", media.caption("rotated"))
    upload(client, ds, "v.mp4", media.video("mp4", frames=4, w=320, h=240))
    upload(client, ds, "v.txt", media.caption("waves"))
    assert wait_final(client, ds)["status"] == "FAILED"

    page = items(client, ds)
    assert page["status"] == "FAILED" and page["has_more"] is False
    assert page["file_count"] == 8
    assert [d["filename"] for d in page["error"]["details"]] == ["b.png"]
    by_stem = {it["stem"]: it for it in page["items"]}
    assert list(by_stem) == ["a", "b", "c", "rot", "v"]

    a = by_stem["a"]
    (am,) = a["media"]
    (ac,) = a["captions"]
    assert (am["filename"], am["kind"], am["width"], am["height"]) == ("a.jpg", "image", 512, 640)
    assert am["check"] == {"state": "ok", "code": None, "message": None}
    assert ac["text"] == "a photo of sks dog" and ac["text_truncated"] is False
    assert a["problems"] == [] and a["warnings"] == []
    assert thumbnail(am["thumbnail_url"]).size == (205, 256)

    b = by_stem["b"]
    assert b["captions"] == []
    assert [(p["filename"], p["code"]) for p in b["problems"]] == [("b.png", "missing_caption")]

    c = by_stem["c"]
    assert c["media"] == []
    assert c["captions"][0]["text"] is None and c["captions"][0]["text_truncated"] is True
    assert [w["code"] for w in c["warnings"]] == ["orphan_caption"]

    rot = thumbnail(by_stem["rot"]["media"][0]["thumbnail_url"])
    assert rot.width < rot.height  # turned upright by its EXIF orientation
    assert [w["code"] for w in by_stem["rot"]["warnings"]] == ["exif_rotated"]

    (vm,) = by_stem["v"]["media"]
    assert vm["kind"] == "video" and vm["width"] == 320
    assert thumbnail(vm["thumbnail_url"]).size == (256, 192)  # the first frame


def test_paging_by_stem_returns_every_item_once_and_never_splits_a_pair(
    client: httpx.Client,
) -> None:
    ds = create(client)["id"]
    stems = [f"img_{i:02d}" for i in range(23)]
    for s in stems:
        upload(client, ds, f"{s}.jpg", media.jpeg(64, 64))
        upload(client, ds, f"{s}.txt", media.caption(s))
    wait_final(client, ds)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 5}
        if cursor:
            params["after"] = cursor
        page = items(client, ds, **params)
        pages += 1
        for it in page["items"]:
            seen.append(it["stem"])
            assert [m["filename"] for m in it["media"]] == [f"{it['stem']}.jpg"]
            assert [c["text"] for c in it["captions"]] == [it["stem"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert seen == stems and pages == 5


def test_a_thumbnail_url_is_a_credential(client: httpx.Client) -> None:
    ds = create(client)["id"]
    upload(client, ds, "t.jpg", media.jpeg(300, 300))
    upload(client, ds, "t.txt", media.caption())
    wait_final(client, ds)
    url = items(client, ds)["items"][0]["media"][0]["thumbnail_url"]
    thumbnail(url)
    # Tampered: the store (S3) or trainset refuses it.
    forged = url.replace("ignature=", "ignature=0", 1)
    assert httpx.get(forged, follow_redirects=True).status_code == 403


def test_items_refuses_a_cursor_it_did_not_give(client: httpx.Client) -> None:
    ds = create(client)["id"]
    assert_error(client.get(f"{BASE}/{ds}/items", params={"after": "%%%"}), 400, "invalid_request")
    assert_error(client.get(f"{BASE}/{ds}/items", params={"limit": 0}), 400, "invalid_request")


def test_dataset_list_carries_counts_and_sizes(client: httpx.Client) -> None:
    ds = create(client)
    data = media.jpeg(100, 100)
    upload(client, ds["id"], "a.jpg", data)
    listed = client.get(BASE, params={"name": ds["name"]}).json()["datasets"]
    assert [(d["file_count"], d["total_bytes"]) for d in listed] == [(1, len(data))]


def test_only_the_first_page_lists_the_datasets_problems(client: httpx.Client) -> None:
    # Each later page would repeat the same 100 failures and warnings; it says why the
    # dataset failed and how many problems there are, and its own items carry theirs.
    ds = create(client)["id"]
    for s in ("a", "b", "c", "d"):
        upload(client, ds, f"{s}.png", media.png(300, 300))  # none has a caption
    assert wait_final(client, ds)["status"] == "FAILED"
    first = items(client, ds, limit=2)
    assert [d["filename"] for d in first["error"]["details"]] == [
        "a.png",
        "b.png",
        "c.png",
        "d.png",
    ]
    assert first["problem_count"] == 4
    second = items(client, ds, limit=2, after=first["next_cursor"])
    assert second["error"]["code"] == first["error"]["code"]
    assert second["error"]["details"] == [] and second["warnings"] == []
    assert second["problem_count"] == 4
    assert [p["filename"] for it in second["items"] for p in it["problems"]] == ["c.png", "d.png"]


def test_a_caption_checked_before_its_text_was_kept_is_read_once(
    server: TrainsetServer, client: httpx.Client
) -> None:
    # Captions checked before migration 0003 have no caption_text: the page reads the
    # short ones from storage (not "too long"), and keeps the text for the next load.
    ds = create(client)["id"]
    upload(client, ds, "old.txt", b"\xef\xbb\xbfkept before 0003")  # with a BOM
    upload(client, ds, "long.txt", media.caption("x" * 20_000))
    wait_final(client, ds)

    def sql(statement: str) -> list[Any]:
        url = server.env.get("TRAINSET_DATABASE_URL")
        if url is None:
            with sqlite3.connect(server.data_dir / "trainset.db", timeout=30) as conn:
                return conn.execute(statement.replace("%s", "?"), (ds,)).fetchall()
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as pg:
            cur = pg.execute(statement, (ds,))
            return cur.fetchall() if cur.description else []

    sql("UPDATE files SET caption_text = NULL WHERE dataset_id = %s")
    caps = {c["filename"]: c for it in items(client, ds)["items"] for c in it["captions"]}
    assert caps["old.txt"]["text"] == "kept before 0003"
    assert caps["old.txt"]["text_truncated"] is False
    assert caps["long.txt"]["text"] is None and caps["long.txt"]["text_truncated"] is True
    kept = sql("SELECT filename, caption_text FROM files WHERE dataset_id = %s ORDER BY filename")
    assert [tuple(r) for r in kept] == [("long.txt", None), ("old.txt", "kept before 0003")]


def test_a_thumbnail_keeps_its_url_across_loads(client: httpx.Client) -> None:
    # The same URL while it is valid, so the browser's cache answers a reload (an object
    # store's presigned URL would otherwise change at each signing).
    ds = create(client)["id"]
    upload(client, ds, "s.jpg", media.jpeg(100, 100))
    wait_final(client, ds)
    urls = []
    for _ in range(3):
        urls.append(items(client, ds)["items"][0]["media"][0]["thumbnail_url"])
        time.sleep(1.1)  # a presigned URL carries its signing time to the second
    assert None not in urls
    # (Two loads in a row may straddle the end of a signing window; not both pairs.)
    assert urls[0] == urls[1] or urls[1] == urls[2], urls
