"""Status lifecycle and per-file validation over real HTTP (SPEC section 5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests import media
from tests.wire import create, sizes, status, upload, wait_final


def failing(body: dict[str, Any]) -> set[tuple[str | None, str]]:
    assert body["status"] == "FAILED", body
    err = body["error"]
    assert err["code"] == "validation_failed" and err["message"]
    return {(d["filename"], d["code"]) for d in err["details"]}


def test_draft_then_uploading_then_ready(client: httpx.Client) -> None:
    ds = create(client)
    assert status(client, ds["id"])["status"] == "DRAFT"
    upload(client, ds["id"], "a.jpg", media.jpeg(300, 300))
    assert status(client, ds["id"])["status"] in ("UPLOADING", "FAILED")
    upload(client, ds["id"], "a.txt", media.caption())
    body = wait_final(client, ds["id"])
    assert body["status"] == "READY" and body["warnings"] == []
    assert body["updated_at"] >= ds["updated_at"]


BadCase = tuple[str, Callable[[], bytes], str]
CASES: list[BadCase] = [
    ("truncated.jpg", media.truncated_jpeg, "corrupt_image"),
    ("bomb.png", media.pixel_bomb_png, "image_too_large"),
    ("clip.mp4", lambda: media.broken_video("mp4"), "corrupt_video"),
]


@pytest.mark.parametrize(("name", "make", "code"), CASES)
def test_bad_media_fails_with_file_named(
    client: httpx.Client, name: str, make: Callable[[], bytes], code: str
) -> None:
    ds = create(client)
    upload(client, ds["id"], name, make())
    upload(client, ds["id"], name.rsplit(".", 1)[0] + ".txt", media.caption())
    upload(client, ds["id"], "good.jpg", media.jpeg(300, 300))
    upload(client, ds["id"], "good.txt", media.caption())
    body = wait_final(client, ds["id"])
    assert failing(body) == {(name, code)}
    assert body["error"]["message"] == "1 of 4 files failed validation"
    detail = body["error"]["details"][0]
    assert name in detail["message"]
    # The failing file is still listed: it was uploaded; it just did not validate.
    assert name in {f["filename"] for f in body["files"]}


def test_caption_rules(client: httpx.Client) -> None:
    ds = create(client)
    for n, data in [
        ("nocap.jpg", media.jpeg(300, 300)),
        ("amb.jpg", media.jpeg(300, 300)),
        ("amb.png", media.png(300, 300)),
        ("amb.txt", media.caption()),
        ("latin1.jpg", media.jpeg(300, 300)),
        ("latin1.txt", media.non_utf8_caption()),
        ("nulbyte.webp", media.webp(300, 300)),
        ("nulbyte.txt", media.nul_caption()),
    ]:
        upload(client, ds["id"], n, data)
    assert failing(wait_final(client, ds["id"])) == {
        ("nocap.jpg", "missing_caption"),
        ("amb.jpg", "ambiguous_caption"),
        ("amb.png", "ambiguous_caption"),
        ("latin1.txt", "invalid_caption"),
        ("nulbyte.txt", "invalid_caption"),
    }


def test_fix_a_failed_dataset_by_uploading_the_missing_caption(client: httpx.Client) -> None:
    ds = create(client)
    upload(client, ds["id"], "a.mp4", media.video("mp4"))
    assert failing(wait_final(client, ds["id"])) == {("a.mp4", "missing_caption")}
    upload(client, ds["id"], "a.txt", media.caption("a clip"))
    assert wait_final(client, ds["id"])["status"] == "READY"


def test_no_media(client: httpx.Client) -> None:
    ds = create(client)
    upload(client, ds["id"], "only.txt", media.caption())
    assert failing(wait_final(client, ds["id"])) == {(None, "no_media")}


def test_warnings_never_block_ready(client: httpx.Client) -> None:
    ds = create(client)
    pic = media.jpeg(300, 300)
    for n, data in [
        ("small.jpg", media.jpeg(64, 64)),
        ("small.txt", media.caption()),
        ("rot.jpg", media.jpeg(300, 300, exif_orientation=6)),
        ("rot.txt", b"  \n"),
        ("one.jpg", pic),
        ("one.txt", media.caption()),
        ("two.jpg", pic),
        ("two.txt", media.caption()),
        ("Two.jpg", media.jpeg(320, 320)),
        ("Two.txt", media.caption()),
        ("stray.txt", media.caption()),
    ]:
        upload(client, ds["id"], n, data)
    body = wait_final(client, ds["id"])
    assert body["status"] == "READY", body
    assert "error" not in body
    got = {(w["filename"], w["code"]) for w in body["warnings"]}
    assert got == {
        ("small.jpg", "small_image"),
        ("rot.jpg", "exif_rotated"),
        ("rot.txt", "empty_caption"),
        ("two.jpg", "duplicate_content"),
        ("two.jpg", "case_collision"),
        ("two.txt", "case_collision"),
        ("stray.txt", "orphan_caption"),
    }


def test_every_video_container(client: httpx.Client) -> None:
    ds = create(client)
    for fmt in ("mp4", "mov", "m4v", "webm", "mkv", "avi"):
        upload(client, ds["id"], f"v_{fmt}.{fmt}", media.video(fmt))
        upload(client, ds["id"], f"v_{fmt}.txt", media.caption(fmt))
    body = wait_final(client, ds["id"])
    assert body["status"] == "READY", body


def test_overwrite_by_filename_replaces_atomically(client: httpx.Client) -> None:
    ds = create(client)
    upload(client, ds["id"], "a.jpg", media.truncated_jpeg())
    upload(client, ds["id"], "a.txt", media.caption())
    assert failing(wait_final(client, ds["id"])) == {("a.jpg", "corrupt_image")}
    good = media.jpeg(400, 300)
    r = upload(client, ds["id"], "a.jpg", good)
    assert r.json()["bytes"] == len(good)
    body = wait_final(client, ds["id"])
    assert body["status"] == "READY"
    assert sizes(body) == {"a.jpg": len(good), "a.txt": len(media.caption())}
    assert body["file_count"] == 2 and body["total_bytes"] == len(good) + len(media.caption())


def test_failed_upload_keeps_previous_version(client: httpx.Client) -> None:
    ds = create(client)
    good = media.jpeg(300, 300)
    upload(client, ds["id"], "a.jpg", good)
    upload(client, ds["id"], "a.txt", media.caption())
    wait_final(client, ds["id"])
    # Same name, bytes that are not a JPEG: refused, and the old version stays.
    r = client.post(
        f"/prod/v1/trainers/datasets/{ds['id']}/upload", files={"file": ("a.jpg", b"GIF89a" * 20)}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_file_content"
    body = wait_final(client, ds["id"])
    assert body["status"] == "READY"
    assert sizes(body)["a.jpg"] == len(good)


def test_list_filters_and_pagination(client: httpx.Client) -> None:
    made = [create(client)["id"] for _ in range(5)]
    seen: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if after:
            params["after"] = after
        page = client.get("/prod/v1/trainers/datasets", params=params).json()
        seen += [d["id"] for d in page["datasets"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        after = page["next_cursor"]
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in made] == made  # oldest first, nothing skipped
    name = status(client, made[0])["name"]
    only = client.get("/prod/v1/trainers/datasets", params={"name": name}).json()["datasets"]
    assert [d["id"] for d in only] == [made[0]]
    drafts = client.get("/prod/v1/trainers/datasets", params={"status": "DRAFT"}).json()
    assert {d["status"] for d in drafts["datasets"]} == {"DRAFT"}
