"""The `trainset` command: admin subcommands and configuration errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.server import TrainsetServer

TRAINSET = str(Path(sys.executable).parent / "trainset")


def run(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRAINSET_")}
    return subprocess.run(
        [TRAINSET, *args],
        env={**base, "TRAINSET_DATA_DIR": str(data_dir), **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_admin_accounts_and_tokens(tmp_path: Path) -> None:
    made = run("admin", "create-account", "alice", data_dir=tmp_path)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("ts_") and len(token) > 30
    again = run("admin", "create-account", "alice", data_dir=tmp_path)
    assert again.returncode != 0 and "already exists" in again.stderr
    second = run("admin", "create-token", "alice", data_dir=tmp_path).stdout.strip()
    assert second.startswith("ts_") and second != token
    assert run("admin", "create-token", "nobody", data_dir=tmp_path).returncode != 0

    with TrainsetServer(data_dir=tmp_path, token=token) as srv:
        for t in (token, second):
            r = httpx.get(
                srv.base_url + "/prod/v1/trainers/datasets",
                headers={"Authorization": f"Bearer {t}"},
            )
            assert r.status_code == 200
        assert run("admin", "revoke-token", second, data_dir=tmp_path).returncode == 0
        r = httpx.get(
            srv.base_url + "/prod/v1/trainers/datasets",
            headers={"Authorization": f"Bearer {second}"},
        )
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        # The database stores hashes only: no token text anywhere in it.
        raw = (tmp_path / "trainset.db").read_bytes() + (
            (tmp_path / "trainset.db-wal").read_bytes()
            if (tmp_path / "trainset.db-wal").exists()
            else b""
        )
        assert token.encode() not in raw and second.encode() not in raw


def test_bad_configuration_stops_startup(tmp_path: Path) -> None:
    r = run("serve", data_dir=tmp_path, TRAINSET_PORT="eighty")
    assert r.returncode != 0
    assert "TRAINSET_PORT" in r.stderr and "Traceback" not in r.stderr
    r = run("serve", data_dir=tmp_path, TRAINSET_STORAGE_URL="ftp://x")
    assert r.returncode != 0 and "TRAINSET_STORAGE_URL" in r.stderr
    r = run("serve", data_dir=tmp_path, TRAINSET_STORAGE_URL="s3://")
    assert r.returncode != 0 and "TRAINSET_STORAGE_URL" in r.stderr and "bucket" in r.stderr
    # A presigned upload is sealed by one server-side copy, which S3 caps at 5 GiB.
    r = run("serve", data_dir=tmp_path, TRAINSET_STORAGE_URL="s3://b/p",
            TRAINSET_SIGNED_UPLOAD_LIMIT=str(6 * 1024**3))  # fmt: skip
    assert r.returncode != 0 and "TRAINSET_SIGNED_UPLOAD_LIMIT" in r.stderr
    assert "Traceback" not in r.stderr


def _serve_until_ready(data_dir: Path) -> tuple[str, str]:
    """Start `trainset serve` without a bootstrap token; returns (stdout so far, base url)."""
    from tests.server import free_port

    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRAINSET_")}
    env = {**base, "TRAINSET_DATA_DIR": str(data_dir), "TRAINSET_PORT": str(port),
           "TRAINSET_WORKERS": "0", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    proc = subprocess.Popen(
        [TRAINSET, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded by the server's own startup
            lines.append(line)
            if "Application startup complete" in line:
                break
        return "".join(lines), url
    finally:
        proc.terminate()
        proc.wait(15)


def test_first_start_prints_token_once(tmp_path: Path) -> None:
    out, _ = _serve_until_ready(tmp_path)
    tokens = [w for w in out.split() if w.startswith("ts_")]
    assert len(tokens) == 1, out
    out2, _ = _serve_until_ready(tmp_path)
    assert tokens[0] not in out2 and "create-token default" in out2
    with TrainsetServer(data_dir=tmp_path, token=tokens[0]) as srv:
        r = httpx.get(
            srv.base_url + "/prod/v1/trainers/datasets",
            headers={"Authorization": f"Bearer {tokens[0]}"},
        )
        assert r.status_code == 200


def test_openapi_and_docs(server: TrainsetServer) -> None:
    spec = httpx.get(server.base_url + "/openapi.json").json()
    paths = spec["paths"]
    for p in (
        "/prod/v1/trainers/datasets",
        "/prod/v1/trainers/datasets/{dataset_id}/upload",
        "/prod/v1/trainers/datasets/{dataset_id}/get-upload-endpoint",
        "/prod/v1/trainers/datasets/{dataset_id}/status",
        "/prod/v1/trainers/datasets/{dataset_id}",
        "/prod/v1/trainers/uploads/{upload_id}",
    ):
        assert p in paths, p
    upload = paths["/prod/v1/trainers/datasets/{dataset_id}/upload"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert "413" in upload["responses"]
    assert httpx.get(server.base_url + "/docs").status_code == 200
