"""Debian's Chromium for Playwright, as this machine allows it (UI tests and bench_ui).

Playwright's own browser downloads are not reachable here; its Python package drives
the system Chromium. As root in a container with no network beyond loopback it runs
without a sandbox and with every background connection off (each would be refused,
slowly).
"""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("TRAINSET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
