"""A real browser for the UI tests: Debian's Chromium driven by Playwright.

Playwright's own browser downloads are not reachable here; its Python package drives
the system Chromium (`/usr/bin/chromium`, or TRAINSET_CHROMIUM). Screenshots of each
step go to `test-artifacts/ui/` (TRAINSET_ARTIFACTS overrides the folder), which
`.ci/run` lists at the end of its output.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.server import TrainsetServer

ARTIFACTS = Path(
    os.environ.get("TRAINSET_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)


# Module scope, not session: Playwright's sync API runs an event loop of its own in this
# thread while it is open, and the asyncio tests that run after this folder need the
# thread free again.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="session")
def shots() -> Path:
    """The screenshot folder, emptied once per session."""
    out = ARTIFACTS / "ui"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return out


@pytest.fixture(scope="module")
def ui_server() -> Iterator[TrainsetServer]:
    """An embedded server of its own: the UI tests make datasets the others don't expect.

    Only the embedded shape: the page is the same on both, and a browser PUT to an object
    store needs that store's CORS rules (docs/deploy.md), which SeaweedFS's test mode
    does not take. The scaled shape's gallery API and thumbnails are tested in
    tests/api/test_gallery.py.
    """
    with TrainsetServer(env={"TRAINSET_WORKERS": "2", "TRAINSET_GC_GRACE_SECONDS": "60"}) as srv:
        yield srv


@pytest.fixture
def page(browser: Any, ui_server: TrainsetServer) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=ui_server.base_url)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    # Chromium logs every 4xx it receives ("Failed to load resource"); the tests cause
    # those on purpose (a wrong token). Anything else logged as an error fails the test.
    pg.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    pg.set_default_timeout(20_000)
    yield pg
    ctx.close()
    # A script error or a policy violation is a failure even when the flow passed.
    assert not errors, errors
