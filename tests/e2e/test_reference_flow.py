"""The reference documentation's curl examples, verbatim but for the base URL."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests import media
from tests.server import TrainsetServer
from tests.wire import wait_final

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

MICROS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")
EXPIRY = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def curl(*args: str, cwd: Path) -> Any:
    out = subprocess.run(
        ["curl", "--silent", "--show-error", "--fail-with-body", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout) if out.stdout.strip() else None


def test_quickstart_with_curl(server: TrainsetServer, tmp_path: Path) -> None:
    base, auth = server.base_url, f"Authorization: Bearer {server.token}"
    (tmp_path / "dog_01.jpg").write_bytes(media.jpeg(320, 320))
    (tmp_path / "dog_01.txt").write_bytes(media.caption("a photo of sks dog"))
    (tmp_path / "img_0001.jpg").write_bytes(media.jpeg(300, 400))
    (tmp_path / "img_0001.txt").write_bytes(media.caption("a dog on grass"))

    created = curl(
        "--request", "POST",
        "--url", f"{base}/prod/v1/trainers/datasets",
        "--header", "Content-Type: application/json",
        "--header", auth,
        "--data", '{\n    "name": "curl_quickstart"\n  }',
        cwd=tmp_path,
    )  # fmt: skip
    assert set(created) == {"id", "name", "status", "created_at", "updated_at"}
    assert created["name"] == "curl_quickstart" and created["status"] == "DRAFT"
    assert MICROS.match(created["created_at"]) and MICROS.match(created["updated_at"])
    ds = created["id"]

    up = curl(
        "--request", "POST",
        "--url", f"{base}/prod/v1/trainers/datasets/{ds}/upload",
        "--header", auth,
        "--form", "file=@./dog_01.jpg",
        cwd=tmp_path,
    )  # fmt: skip
    assert {k: up[k] for k in ("id", "name", "object", "filename")} == {
        "id": ds, "name": "curl_quickstart", "object": "file", "filename": "dog_01.jpg",
    }  # fmt: skip
    assert up["bytes"] == (tmp_path / "dog_01.jpg").stat().st_size
    assert MICROS.match(up["created_at"])
    curl(
        "--request", "POST", "--url", f"{base}/prod/v1/trainers/datasets/{ds}/upload",
        "--header", auth, "--form", "file=@./dog_01.txt", cwd=tmp_path,
    )  # fmt: skip

    sizes = {n: (tmp_path / n).stat().st_size for n in ("img_0001.jpg", "img_0001.txt")}
    signed = curl(
        "--request", "POST",
        "--url", f"{base}/prod/v1/trainers/datasets/{ds}/get-upload-endpoint",
        "--header", "Content-Type: application/json",
        "--header", auth,
        "--data", json.dumps({"filenameToByteSize": sizes}),
        cwd=tmp_path,
    )  # fmt: skip
    assert set(signed["uploads"]) == set(sizes)
    for name, entry in signed["uploads"].items():
        assert entry["method"] == "PUT" and EXPIRY.match(entry["expires_at"])
        ctype = entry["headers"]["Content-Type"]
        assert ctype == ("image/jpeg" if name.endswith(".jpg") else "text/plain")
        put = subprocess.run(
            ["curl", "--silent", "--show-error", "--fail", "-i", "-X", "PUT",
             "--upload-file", f"./{name}", "-H", f"Content-Type: {ctype}", entry["upload_url"]],
            cwd=tmp_path, capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        assert " 200 " in put.stdout and "etag:" in put.stdout.lower()

    final = wait_final(server.client(), ds)
    assert final["status"] == "READY", final
    assert "error" not in final
    names = sorted(["dog_01.jpg", "dog_01.txt", "img_0001.jpg", "img_0001.txt"])
    assert [f["filename"] for f in final["files"]] == names
    for f in final["files"]:
        data = (tmp_path / f["filename"]).read_bytes()
        assert f["size_bytes"] == len(data)
        assert f.get("sha256") in (None, hashlib.sha256(data).hexdigest())  # an extra field

    listing = curl(
        "--request", "GET", "--url", f"{base}/prod/v1/trainers/datasets",
        "--header", auth, cwd=tmp_path,
    )  # fmt: skip
    mine = [d for d in listing["datasets"] if d["id"] == ds]
    assert len(mine) == 1 and mine[0]["status"] == "READY"
    assert {"id", "name", "status", "created_at", "updated_at"} <= set(mine[0])

    deleted = curl(
        "--request", "DELETE", "--url", f"{base}/prod/v1/trainers/datasets/{ds}",
        "--header", auth, cwd=tmp_path,
    )  # fmt: skip
    assert deleted == {"id": ds, "name": "curl_quickstart", "deleted": True}
