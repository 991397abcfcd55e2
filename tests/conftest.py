"""Shared fixtures: the real server over loopback, clients, and a second account.

Every test that uses `server`, `client` or `shape` runs once per deployment shape
(tests/shapes.py): embedded (SQLite + local disk) and scaled (PostgreSQL + SeaweedFS).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests import shapes
from tests.seaweed import SeaweedS3
from tests.server import TrainsetServer


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedS3]:
    """One SeaweedFS for the session; each scaled instance uses its own prefix."""
    with SeaweedS3() as s3:
        yield s3


@pytest.fixture(scope="session", params=shapes.selected())
def shape(request: pytest.FixtureRequest) -> Iterator[shapes.Shape]:
    s3 = request.getfixturevalue("seaweed") if request.param == "scaled" else None
    sh = shapes.Shape(request.param, s3)
    yield sh
    sh.cleanup()


@pytest.fixture(scope="session")
def server(shape: shapes.Shape) -> Iterator[TrainsetServer]:
    """One server of the current shape shared by most end-to-end tests."""
    with TrainsetServer(env={**shape.env(), "TRAINSET_WORKERS": "2"}) as srv:
        yield srv


@pytest.fixture(scope="session")
def client(server: TrainsetServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def admin(srv: TrainsetServer, *args: str) -> str:
    """Run `trainset admin ...` against the server's data dir and database; returns stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINSET_")}
    env.update({k: v for k, v in srv.env.items() if k.startswith(("TRAINSET_", "AWS_"))})
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
