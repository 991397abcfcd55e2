"""The web UI in a real browser against a real server: sign in, create, drop files,
see why a dataset is not ready, fix it in place, edit, delete (issue 5).

Each step saves a screenshot under test-artifacts/ui/.
"""

from __future__ import annotations

import base64
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests import media
from tests.server import TrainsetServer

API = "/prod/v1/trainers/datasets"


def drop_files(page: Any, files: dict[str, bytes], target: str = "#drop") -> None:
    """Drag and drop `files` onto `target` the way a browser delivers them: a DataTransfer
    of File objects in a real `drop` event."""
    payload = {name: base64.b64encode(data).decode() for name, data in files.items()}
    page.evaluate(
        """([selector, files]) => {
          const dt = new DataTransfer();
          for (const [name, b64] of Object.entries(files)) {
            const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            dt.items.add(new File([bin], name));
          }
          const el = document.querySelector(selector);
          const init = { dataTransfer: dt, bubbles: true, cancelable: true };
          el.dispatchEvent(new DragEvent("dragover", init));
          el.dispatchEvent(new DragEvent("drop", init));
        }""",
        [target, payload],
    )


def status_of(srv: TrainsetServer, ds_id: str) -> dict[str, Any]:
    return httpx.get(f"{srv.base_url}{API}/{ds_id}/status", headers=srv.headers).json()


def stored_text(srv: TrainsetServer, ds_id: str, name: str) -> str:
    r = httpx.get(f"{srv.base_url}{API}/{ds_id}/files/{name}", headers=srv.headers)
    r.raise_for_status()
    return r.text


def sign_in(page: Any, srv: TrainsetServer) -> None:
    page.goto("/")
    page.get_by_label("Access token").fill(srv.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Datasets")).to_be_visible()


def card(page: Any, stem: str) -> Any:
    return page.locator(f'article.card[data-stem="{stem}"]')


def test_story_from_sign_in_to_ready(
    page: Any, ui_server: TrainsetServer, shots: Path, tmp_path: Path
) -> None:
    srv = ui_server
    # Sign in: a wrong token is refused with a reason, the right one lands on the list.
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in to trainset")).to_be_visible()
    page.get_by_label("Access token").fill("ts_not_a_real_token_at_all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not accepted")
    page.screenshot(path=shots / "01-sign-in-refused.png")
    page.get_by_label("Access token").fill(srv.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Datasets")).to_be_visible()

    # Create a dataset with the keyboard: type a name, press Enter.
    page.get_by_label("New dataset").fill("portraits")
    page.get_by_label("New dataset").press("Enter")
    expect(page.get_by_role("heading", name="portraits")).to_be_visible()
    ds_id = page.url.rsplit("/", 1)[-1]
    expect(page.locator(".ds-head .badge")).to_have_text("DRAFT")
    page.screenshot(path=shots / "02-new-dataset.png")

    # Drop pairs, a video with its caption, and one image without a caption.
    signed_puts: list[str] = []
    page.on(
        "request",
        lambda r: signed_puts.append(r.url) if r.method == "PUT" and "/uploads/" in r.url else None,
    )
    drop_files(
        page,
        {
            "anna.jpg": media.jpeg(512, 640),
            "anna.txt": media.caption("a portrait of anna, soft light"),
            "ben.png": media.png(480, 480),
            "ben.txt": media.caption("ben smiling, outdoors"),
            "clip.mp4": media.video("mp4", frames=8, w=320, h=240),
            "clip.txt": media.caption("a short clip of waves"),
            "carla.jpg": media.jpeg(600, 400),
        },
    )
    # A large file through "Choose files…": it goes by a signed URL (over 8 MB).
    big = tmp_path / "dora.png"
    big.write_bytes(media.noise_png(1800, 1800))
    assert big.stat().st_size > 8 * 1024 * 1024
    page.locator("#pick-files").set_input_files(str(big))
    drop_files(page, {"dora.txt": media.caption("dora, a detailed noise study")})

    # The status follows UPLOADING to FAILED without a reload, and says why.
    badge = page.locator(".ds-head .badge")
    expect(badge).to_have_text("FAILED", timeout=60_000)
    problems = page.locator("section.problems")
    expect(problems).to_contain_text("carla.jpg has no caption file carla.txt")
    expect(card(page, "carla")).to_have_class("card bad")
    expect(card(page, "carla").locator(".reason")).to_contain_text("no caption file")
    # Thumbnails are real images made by the worker (a video shows its first frame).
    for stem in ("anna", "ben", "clip", "dora"):
        img = card(page, stem).locator(".thumb img")
        expect(img).to_be_visible()
        page.wait_for_function(
            "(el) => el.complete && el.naturalWidth > 0", arg=img.element_handle()
        )
    # Each picture fits its square, whatever its shape (anna is a portrait).
    assert page.evaluate(
        """() => {
          const img = document.querySelector('article[data-stem="anna"] .thumb img');
          const box = img.parentElement.getBoundingClientRect();
          const r = img.getBoundingClientRect();
          return r.height <= box.height + 1 && r.width <= box.width + 1;
        }"""
    )
    assert signed_puts, "the large file did not go by signed URL"
    assert len(page.locator(".queue li.done").all()) == 9
    page.screenshot(path=shots / "03-failed-with-reason.png", full_page=True)

    # Fix it in place: add the missing caption on the card; the dataset becomes READY.
    card(page, "carla").get_by_role("button", name="Add caption for carla.jpg").click()
    card(page, "carla").get_by_label("Caption (carla.txt)").fill("carla reading by a window")
    page.screenshot(path=shots / "04-adding-caption.png", full_page=True)
    card(page, "carla").get_by_role("button", name="Save caption").click()
    expect(badge).to_have_text("READY", timeout=60_000)
    expect(problems).to_be_hidden()
    expect(card(page, "carla").locator(".caption")).to_have_text("carla reading by a window")
    assert stored_text(srv, ds_id, "carla.txt") == "carla reading by a window"
    page.screenshot(path=shots / "05-ready.png", full_page=True)

    # Edit a caption: the editor holds the current text; Ctrl+Enter saves a new .txt.
    card(page, "anna").get_by_role("button", name="Edit caption for anna.jpg").click()
    editor = card(page, "anna").get_by_label("Caption (anna.txt)")
    expect(editor).to_have_value("a portrait of anna, soft light")
    editor.fill("a portrait of anna by the sea, soft light")
    editor.press("Control+Enter")
    expect(card(page, "anna").locator(".caption")).to_have_text(
        "a portrait of anna by the sea, soft light", timeout=30_000
    )
    expect(badge).to_have_text("READY", timeout=60_000)
    assert stored_text(srv, ds_id, "anna.txt") == "a portrait of anna by the sea, soft light"
    page.screenshot(path=shots / "06-caption-edited.png", full_page=True)

    # Delete a file (confirmed in a dialog): ben.png goes, its caption is left an orphan.
    card(page, "ben").get_by_role("button", name="Delete ben.png").click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_contain_text("Delete ben.png?")
    page.screenshot(path=shots / "07-confirm-delete.png")
    dialog.get_by_role("button", name="Delete").click()
    expect(card(page, "ben").locator(".thumb")).to_have_count(0)
    expect(page.locator("section.warnings")).to_contain_text("1 warning")
    names = {f["filename"] for f in status_of(srv, ds_id)["files"]}
    assert "ben.png" not in names and "ben.txt" in names
    card(page, "ben").get_by_role("button", name="Delete ben.txt").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(card(page, "ben")).to_have_count(0)
    expect(badge).to_have_text("READY")
    assert status_of(srv, ds_id)["file_count"] == 8
    page.screenshot(path=shots / "08-after-deletes.png", full_page=True)

    # Readable at phone width: nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=shots / "09-phone.png", full_page=True)


def test_list_filter_and_delete_with_confirmation(
    page: Any, ui_server: TrainsetServer, shots: Path
) -> None:
    srv = ui_server
    with srv.client() as c:
        ready = c.post(API, json={"name": "list_ready"}).json()
        c.post(
            f"{API}/{ready['id']}/upload", files={"file": ("x.jpg", media.jpeg(300, 300))}
        ).raise_for_status()
        c.post(
            f"{API}/{ready['id']}/upload", files={"file": ("x.txt", media.caption())}
        ).raise_for_status()
        c.post(API, json={"name": "list_draft"}).raise_for_status()
    sign_in(page, srv)
    rows = page.locator("table.datasets tbody tr")
    expect(rows.filter(has_text="list_ready")).to_contain_text("READY", timeout=30_000)
    expect(rows.filter(has_text="list_ready")).to_contain_text("2")  # files
    page.get_by_label("Show").select_option("DRAFT")
    expect(rows.filter(has_text="list_draft")).to_be_visible()
    expect(rows.filter(has_text="list_ready")).to_have_count(0)
    page.screenshot(path=shots / "10-list-filtered.png")
    page.get_by_label("Show").select_option("")
    # Cancel keeps it; confirming deletes it.
    page.get_by_role("button", name="Delete dataset list_draft").click()
    page.locator("dialog#confirm").get_by_role("button", name="Cancel").click()
    expect(rows.filter(has_text="list_draft")).to_have_count(1)
    page.get_by_role("button", name="Delete dataset list_draft").click()
    page.locator("dialog#confirm").get_by_role("button", name="Delete").click()
    expect(rows.filter(has_text="list_draft")).to_have_count(0)
    with srv.client() as c:
        names = [d["name"] for d in c.get(API).json()["datasets"]]
    assert "list_draft" not in names and "list_ready" in names


def test_every_control_is_labelled_and_reachable(page: Any, ui_server: TrainsetServer) -> None:
    sign_in(page, ui_server)
    page.get_by_label("New dataset").fill("a11y_check")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.get_by_role("heading", name="a11y_check")).to_be_visible()
    drop_files(page, {"p.jpg": media.jpeg(300, 300)})
    expect(page.locator(".ds-head .badge")).to_have_text("FAILED", timeout=30_000)
    unlabelled = page.evaluate(
        """() => {
          const bad = [];
          const controls = 'button, input:not([type=file]), select, textarea, a[href]';
          for (const el of document.querySelectorAll(controls)) {
            if (el.closest('[hidden]') || el.offsetParent === null) continue;
            const name = (el.getAttribute('aria-label') || el.labels?.[0]?.textContent
                          || el.textContent || '').trim();
            if (!name) bad.push(el.outerHTML.slice(0, 80));
          }
          return bad;
        }"""
    )
    assert unlabelled == []
    # Keyboard only: Tab reaches the fix button, Enter opens the editor, typing and
    # Ctrl+Enter save the caption.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('aria-label')") == (
            "Add caption for p.jpg"
        ):
            break
    else:
        pytest.fail("Tab never reached the Add caption button")
    page.keyboard.press("Enter")
    page.keyboard.type("typed with the keyboard")
    page.keyboard.press("Control+Enter")
    expect(page.locator(".ds-head .badge")).to_have_text("READY", timeout=30_000)


def test_a_whole_folder_through_the_folder_picker(
    page: Any, ui_server: TrainsetServer, shots: Path, tmp_path: Path
) -> None:
    """A folder (with a subfolder and a hidden file, as a camera export has) goes up
    flat: every image and caption, nothing hidden."""
    folder = tmp_path / "shoot"
    (folder / "day2").mkdir(parents=True)
    for i, where in enumerate([folder, folder, folder / "day2"]):
        (where / f"f{i}.jpg").write_bytes(media.jpeg(300 + i, 300))
        (where / f"f{i}.txt").write_text(f"frame {i}")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    sign_in(page, ui_server)
    page.get_by_label("New dataset").fill("folder_pick")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.get_by_role("heading", name="folder_pick")).to_be_visible()
    page.locator("#pick-folder").set_input_files(str(folder))
    expect(page.locator(".ds-head .badge")).to_have_text("READY", timeout=60_000)
    expect(page.locator("article.card")).to_have_count(3)
    ds_id = page.url.rsplit("/", 1)[-1]
    names = sorted(f["filename"] for f in status_of(ui_server, ds_id)["files"])
    assert names == ["f0.jpg", "f0.txt", "f1.jpg", "f1.txt", "f2.jpg", "f2.txt"]
    page.screenshot(path=shots / "11-folder-uploaded.png", full_page=True)


def test_a_revoked_token_signs_out(page: Any, ui_server: TrainsetServer) -> None:
    from tests.conftest import admin

    token = admin(ui_server, "create-token", "default", "--label", "ui").strip().splitlines()[-1]
    page.goto("/")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Datasets")).to_be_visible()
    admin(ui_server, "revoke-token", token)
    page.get_by_label("Show").select_option("READY")  # any call now gets a 401
    expect(page.get_by_role("heading", name="Sign in to trainset")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("no longer accepted")


def test_a_caption_without_kept_text_is_read_from_its_file(
    page: Any, ui_server: TrainsetServer
) -> None:
    """A caption checked before the service kept captions' text (migration 0003) is
    shown (the server reads the file) and can be edited; a live update while a caption
    is being written keeps the editor as it is; the skip link and a mangled address do
    not leave the page blank."""
    srv = ui_server
    with srv.client() as c:
        ds = c.post(API, json={"name": "old_captions"}).json()["id"]
        for name, data in (("o.jpg", media.jpeg(300, 300)), ("o.txt", b"written long ago")):
            c.post(f"{API}/{ds}/upload", files={"file": (name, data)}).raise_for_status()
        deadline = time.monotonic() + 30
        while c.get(f"{API}/{ds}/status").json()["status"] != "READY":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    with sqlite3.connect(srv.data_dir / "trainset.db", timeout=30) as conn:
        conn.execute("UPDATE files SET caption_text = NULL WHERE dataset_id = ?", (ds,))
    sign_in(page, srv)
    page.goto(f"/#/d/{ds}")
    expect(card(page, "o").locator(".caption")).to_have_text("written long ago")
    # The skip link moves focus; it is not a route (the page stays).
    page.locator("a.skip").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    expect(page.get_by_role("heading", name="old_captions", exact=True)).to_be_visible()
    card(page, "o").get_by_role("button", name="Edit caption for o.jpg").click()
    editor = card(page, "o").locator("textarea")
    expect(editor).to_have_value("written long ago")
    editor.fill("written again")
    # Meanwhile another pair arrives: the page shows it, and the editor keeps its text.
    with srv.client() as c:
        for name, data in (("p.jpg", media.jpeg(310, 300)), ("p.txt", b"another")):
            c.post(f"{API}/{ds}/upload", files={"file": (name, data)}).raise_for_status()
    expect(card(page, "p").locator(".caption")).to_have_text("another", timeout=30_000)
    expect(editor).to_have_value("written again")
    expect(editor).to_be_focused()
    card(page, "o").get_by_role("button", name="Save").click()
    expect(card(page, "o").locator(".caption")).to_have_text("written again", timeout=30_000)
    assert stored_text(srv, ds, "o.txt") == "written again"
    page.goto("/#/d/%E0%A4")
    expect(page.get_by_text("That address names no dataset.")).to_be_visible()
