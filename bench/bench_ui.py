"""The web UI's first gallery paint: a 2,000-image dataset against a 20-image one.

Both datasets live on one embedded server (thumbnails made by its worker); Debian's
Chromium, driven by Playwright, opens each dataset's page with a cold cache, several
times, alternating. For each load it records:

- first image: navigation start -> the first gallery thumbnail decoded and painted;
- viewport: navigation start -> every thumbnail in the first screen decoded;
- bytes and requests: everything the browser received until then (Chromium's own
  network accounting, headers included).

Goal (issue 5): the 2,000-image dataset within 1.5x of the 20-image one.

    .venv/bin/python bench/bench_ui.py [--large 2000] [--small 20] [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import sys
import time
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--large", type=int, default=2000)
    ap.add_argument("--small", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    with C.TrainsetServer(env={"TRAINSET_WORKERS": "2"}) as srv:
        t = time.perf_counter()
        small = seed(srv, "small", args.small)
        large = seed(srv, "large", args.large)
        print(f"seeded {args.small} + {args.large} image pairs in {time.perf_counter() - t:.0f} s",
              file=sys.stderr)  # fmt: skip
        results: dict[str, list[dict[str, float]]] = {"small": [], "large": []}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=C.CHROMIUM, args=C.CHROMIUM_ARGS)
            load_once(browser, srv, small)  # warm the server and the browser binary
            for _ in range(args.runs):
                for label, ds in (("small", small), ("large", large)):
                    results[label].append(load_once(browser, srv, ds))
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
    C.print_report(
        "Web UI: first gallery paint, 2,000 images against 20",
        [
            f"- {args.runs} cold-cache loads of each, alternating; medians.",
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
            )
        ],
    )


if __name__ == "__main__":
    main()
