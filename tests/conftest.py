"""Shared fixtures: the real server over loopback, clients, and a second account."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests.server import TrainsetServer


@pytest.fixture(scope="session")
def server() -> Iterator[TrainsetServer]:
    """One embedded-shape server (SQLite + local disk) shared by most end-to-end tests."""
    with TrainsetServer(env={"TRAINSET_WORKERS": "2"}) as srv:
        yield srv


@pytest.fixture(scope="session")
def client(server: TrainsetServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def admin(srv: TrainsetServer, *args: str) -> str:
    """Run `trainset admin ...` against the server's data dir; returns stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINSET_")}
    env["TRAINSET_DATA_DIR"] = str(srv.data_dir)
    exe = srv.command[0]
    out = subprocess.run(
        [exe, "admin", *args], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout


@pytest.fixture(scope="session")
def other_client(server: TrainsetServer) -> Iterator[httpx.Client]:
    """A client of a second account on the same server."""
    token = admin(server, "create-account", "other").strip().splitlines()[-1]
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as c:
        yield c
