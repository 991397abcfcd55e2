"""The web UI's first gallery paint: a 2,000-image dataset against a 20-image one.

Both datasets live on one embedded server (thumbnails made by its worker); Debian's
Chromium, driven by Playwright, opens each dataset's page with a cold cache, several
times, alternating. For each load it records:

- first image: navigation start -> the first gallery thumbnail decoded and painted;
- viewport: navigation start -> every thumbnail in the first screen decoded;
- bytes and requests: everything the browser received until then (Chromium's own
  network accounting, headers included).

Goal (issue 5): the 2,000-image dataset within 1.5x of the 20-image one.

Then the live status: each dataset's page open (the large one scrolled to 5 pages of
items), a direct upload into it kept streaming so the dataset stays UPLOADING, and
what the page fetched over --live seconds from the moment it showed UPLOADING
(requests to the API, and bytes; the browser's cache on, as a person's is). Goal: the
same within 1.5x, however many items are shown.

    .venv/bin/python bench/bench_ui.py [--large 2000] [--small 20] [--runs 5] [--live 10]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import socket
import statistics
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from PIL import Image

import _common as C

# Resolves with timings once every gallery image inside the viewport has loaded.
WAIT_FOR_GALLERY = """() => new Promise((resolve) => {
  let first = null;
  const tick = () => {
    const imgs = [...document.querySelectorAll('.gallery img')];
    const visible = imgs.filter((i) => i.getBoundingClientRect().top < innerHeight);
    const done = visible.filter((i) => i.complete && i.naturalWidth > 0);
    if (done.length && first === null) first = performance.now();
    if (visible.length && done.length === visible.length) {
      resolve({ first, viewport: performance.now(), images: done.length, all: imgs.length });
    } else requestAnimationFrame(tick);
  };
  tick();
})"""


def picture(i: int) -> bytes:
    """A distinct 384 px JPEG per index (so no duplicate_content warnings): a gradient
    tinted by the index, with a block of noise seeded by it."""
    grad = Image.linear_gradient("L").resize((384, 384))
    im = Image.merge("RGB", [grad.point(lambda v, k=k: (v + 37 * i * k) % 256)
                             for k in (1, 2, 3)])  # fmt: skip
    im.paste(
        Image.frombytes("RGB", (48, 48), hashlib.shake_256(b"%d" % i).digest(48 * 48 * 3)), (16, 16)
    )
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def seed(srv: C.TrainsetServer, name: str, count: int) -> str:
    with srv.client(timeout=120) as c:
        ds = C.check(c.post(C.API, json={"name": name}), "create")["id"]

    def put(i: int) -> None:
        with httpx.Client(base_url=srv.base_url, headers=srv.headers, timeout=120) as c:
            for fname, data in ((f"img_{i:05}.jpg", picture(i)), (f"img_{i:05}.txt", None)):
                body = data if data is not None else f"a photo of sks style, number {i}".encode()
                r = C.request_with_retry(
                    lambda fname=fname, body=body: c.post(
                        f"{C.API}/{ds}/upload", files={"file": (fname, body)}
                    )
                )
                C.check(r, f"upload {fname}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(count)))
    with srv.client(timeout=120) as c:
        deadline = time.monotonic() + 900
        while True:
            st = C.check(c.get(f"{C.API}/{ds}/status"), "status")
            if st["status"] != "UPLOADING":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} still UPLOADING")
            time.sleep(0.5)
    if st["status"] != "READY" or st["warnings"]:
        raise RuntimeError(f"{name} is {st['status']}: {st.get('error')} {st['warnings'][:3]}")
    return ds


def load_once(browser: Any, srv: C.TrainsetServer, ds_id: str) -> dict[str, float]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.add_init_script(f"localStorage.setItem('trainset.token', {srv.token!r})")
    page = ctx.new_page()
    cdp = ctx.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    received = {"bytes": 0.0, "requests": 0}

    def finished(e: dict[str, Any]) -> None:
        received["bytes"] += e.get("encodedDataLength", 0)
        received["requests"] += 1

    cdp.on("Network.loadingFinished", finished)
    page.goto(f"{srv.base_url}/#/d/{ds_id}")
    t = page.evaluate(WAIT_FOR_GALLERY)
    snapshot = dict(received)  # what arrived by the time the first screen was painted
    ctx.close()
    return {"first": t["first"], "viewport": t["viewport"], "images": t["images"], **snapshot}


@contextlib.contextmanager
def uploading(srv: C.TrainsetServer, ds_id: str) -> Iterator[None]:
    """A direct upload into `ds_id` that keeps streaming (its first bytes sent, the rest
    held back), so the dataset is UPLOADING until the block ends (and it hangs up)."""
    head = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="held.jpg"\r\n\r\n'
        + picture(99_999)[:2000]
    )
    request = (
        f"POST {C.API}/{ds_id}/upload HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {srv.token}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {len(head) + 1_000_000}\r\n\r\n"
    ).encode() + head
    with socket.create_connection((srv.host, srv.port), timeout=60) as held:
        held.sendall(request)
        yield
    with srv.client() as c:  # the hang-up ends the attempt; the status settles again
        deadline = time.monotonic() + 60
        while C.check(c.get(f"{C.API}/{ds_id}/status"), "status")["status"] == "UPLOADING":
            if time.monotonic() > deadline:
                raise RuntimeError("still UPLOADING after the held upload hung up")
            time.sleep(0.2)


def live_once(
    browser: Any, srv: C.TrainsetServer, ds_id: str, cards: int, seconds: float
) -> dict[str, float]:
    """What the open page fetches in `seconds` of UPLOADING with `cards` items shown."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.add_init_script(f"localStorage.setItem('trainset.token', {srv.token!r})")
    page = ctx.new_page()
    page.goto(f"{srv.base_url}/#/d/{ds_id}")
    page.evaluate(WAIT_FOR_GALLERY)
    deadline = time.monotonic() + 60
    while page.locator("article.card").count() < cards:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the gallery did not reach {cards} items")
        page.mouse.wheel(0, 20_000)
        page.wait_for_timeout(100)
    cdp = ctx.new_cdp_session(page)
    cdp.send("Network.enable")
    seen = {"bytes": 0.0, "api": 0, "counting": False}
    api_ids: set[str] = set()

    def sent(e: dict[str, Any]) -> None:
        if seen["counting"] and "/prod/v1/trainers/" in e["request"]["url"]:
            api_ids.add(e["requestId"])

    def finished(e: dict[str, Any]) -> None:
        if seen["counting"]:
            seen["bytes"] += e.get("encodedDataLength", 0)
            seen["api"] += e["requestId"] in api_ids

    cdp.on("Network.requestWillBeSent", sent)
    cdp.on("Network.loadingFinished", finished)
    with uploading(srv, ds_id):
        page.locator(".ds-head .badge", has_text="UPLOADING").wait_for(timeout=30_000)
        seen["counting"] = True
        page.wait_for_timeout(seconds * 1000)
        seen["counting"] = False
    ctx.close()
    return {"bytes": seen["bytes"], "api": seen["api"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--large", type=int, default=2000)
    ap.add_argument("--small", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--live", type=float, default=10.0, help="seconds of UPLOADING watched")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    with C.TrainsetServer(env={"TRAINSET_WORKERS": "2"}) as srv:
        t = time.perf_counter()
        small = seed(srv, "small", args.small)
        large = seed(srv, "large", args.large)
        print(f"seeded {args.small} + {args.large} image pairs in {time.perf_counter() - t:.0f} s",
              file=sys.stderr)  # fmt: skip
        results: dict[str, list[dict[str, float]]] = {"small": [], "large": []}
        live: dict[str, dict[str, float]] = {}
        shown = {"small": args.small, "large": min(args.large, 24 + 4 * 60)}  # 5 pages
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=C.CHROMIUM, args=C.CHROMIUM_ARGS)
            load_once(browser, srv, small)  # warm the server and the browser binary
            for _ in range(args.runs):
                for label, ds in (("small", small), ("large", large)):
                    results[label].append(load_once(browser, srv, ds))
            for label, ds in (("small", small), ("large", large)):
                live[label] = live_once(browser, srv, ds, shown[label], args.live)
            browser.close()

    def med(label: str, key: str) -> float:
        return statistics.median(r[key] for r in results[label])

    rows = []
    for label, n in (("small", args.small), ("large", args.large)):
        rows.append([
            f"{n:,} images", f"{med(label, 'first'):.0f}", f"{med(label, 'viewport'):.0f}",
            f"{med(label, 'bytes') / 1024:.0f}", f"{med(label, 'requests'):.0f}",
            f"{med(label, 'images'):.0f}",
        ])  # fmt: skip
    rows.append([
        "ratio large / small",
        f"{med('large', 'first') / med('small', 'first'):.2f}x",
        f"{med('large', 'viewport') / med('small', 'viewport'):.2f}x",
        f"{med('large', 'bytes') / med('small', 'bytes'):.2f}x",
        f"{med('large', 'requests') / med('small', 'requests'):.2f}x",
        "",
    ])  # fmt: skip
    live_rows = [
        [f"{args.small:,} images, all {shown['small']} shown", f"{live['small']['api']:.0f}",
         f"{live['small']['bytes'] / 1024:.0f}"],
        [f"{args.large:,} images, {shown['large']} shown (5 pages)", f"{live['large']['api']:.0f}",
         f"{live['large']['bytes'] / 1024:.0f}"],
        ["ratio large / small", f"{live['large']['api'] / max(1, live['small']['api']):.2f}x",
         f"{live['large']['bytes'] / max(1.0, live['small']['bytes']):.2f}x"],
    ]  # fmt: skip
    C.print_report(
        "Web UI: first gallery paint, 2,000 images against 20",
        [
            f"- {args.runs} cold-cache loads of each, alternating; medians.",
            f"- Live status: {args.live:g} s of UPLOADING watched on an open page, once each.",
            "- Goal (issue 5): the large dataset within 1.5x of the small one.",
        ],
        [
            (
                "first paint",
                [
                    "dataset",
                    "first image ms",
                    "first screen ms",
                    "KiB received",
                    "requests",
                    "images painted",
                ],
                rows,
            ),
            (
                f"live status: what the page fetches in {args.live:g} s of UPLOADING",
                ["dataset", "API requests", "KiB received"],
                live_rows,
            ),
        ],
    )


if __name__ == "__main__":
    main()
