"""Run the real trainset server as a subprocess for tests and benchmarks.

Usage::

    with TrainsetServer(env={"TRAINSET_WORKERS": "2"}) as srv:
        httpx.get(srv.base_url + "/prod/v1/trainers/datasets", headers=srv.headers)
        srv.kill(signal.SIGKILL)   # crash it
        srv.restart()              # same data dir, port and token

The command line is built by :func:`serve_command`; set ``TRAINSET_SERVE_CMD`` (a
shell-quoted command, e.g. ``"uv run trainset serve --reload"``) to override it
without touching this file. Configuration goes through the ``TRAINSET_*`` variables of
SPEC section 8; ``TRAINSET_*`` variables of the calling shell are *not* inherited
(a developer's own TRAINSET_DATABASE_URL must not leak into a test) unless passed via
``env=``. The process runs with its data dir's parent as cwd so a ``.env`` in the
repository is not picked up either.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

__all__ = ["ServerStartError", "TrainsetServer", "free_port", "serve_command"]


class ServerStartError(RuntimeError):
    """The server did not become ready; the message carries the tail of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve_command() -> list[str]:
    """The command that starts ``trainset serve`` (adapt here if the CLI changes)."""
    override = os.environ.get("TRAINSET_SERVE_CMD")
    if override:
        return shlex.split(override)
    script = Path(sys.executable).parent / "trainset"
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-m", "trainset.cli.main", "serve"]


def _tail(path: Path, lines: int = 80) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class TrainsetServer:
    """A ``trainset serve`` subprocess on a free loopback port with its own data dir.

    Attributes: ``base_url``, ``token`` (the bootstrap token of the first account),
    ``headers`` (Authorization header dict), ``port``, ``host``, ``data_dir``,
    ``log_path``, ``pid``, ``env`` (the extra environment), ``command``.
    """

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        token: str | None = None,
        command: list[str] | None = None,
        startup_timeout: float = 30.0,
        inherit_trainset_env: bool = False,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.token = token or "tst_" + secrets.token_urlsafe(32)
        self.env: dict[str, str] = dict(env or {})
        self.command = command or serve_command()
        self.startup_timeout = startup_timeout
        self._inherit = inherit_trainset_env
        if data_dir is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="trainset-srv-"))
            self.data_dir = self._tmp / "data"
            self._own_tmp = True
        else:
            self.data_dir = Path(data_dir)
            self._tmp = self.data_dir.parent
            self._own_tmp = False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self._tmp / f"trainset-server-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self.starts = 0

    # -- properties --------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def process_env(self) -> dict[str, str]:
        base = {
            k: v for k, v in os.environ.items() if self._inherit or not k.startswith("TRAINSET_")
        }
        base.update(
            {
                "TRAINSET_HOST": self.host,
                "TRAINSET_PORT": str(self.port),
                "TRAINSET_DATA_DIR": str(self.data_dir),
                "TRAINSET_PUBLIC_URL": self.base_url,
                "TRAINSET_BOOTSTRAP_TOKEN": self.token,
                "PYTHONUNBUFFERED": "1",
            }
        )
        base.update(self.env)
        return base

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> TrainsetServer:
        if self.running:
            raise RuntimeError("already running")
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in _close_log
        self.starts += 1
        self._log_file.write(
            f"\n===== start #{self.starts}: {shlex.join(self.command)} "
            f"(port {self.port}, data {self.data_dir}) =====\n".encode()
        )
        self._log_file.flush()
        self._proc = subprocess.Popen(
            self.command,
            cwd=self._tmp,
            env=self.process_env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group, so kill() reaches any children
        )
        try:
            self.wait_ready()
        except BaseException:
            self._terminate(timeout=5)
            raise
        return self

    def wait_ready(self, timeout: float | None = None) -> None:
        """Poll ``GET /readyz`` until it answers 200 (bounded; fails fast on exit)."""
        deadline = time.monotonic() + (timeout or self.startup_timeout)
        last = "no answer yet"
        delay = 0.02
        with httpx.Client(timeout=httpx.Timeout(2.0, connect=0.5)) as client:
            while True:
                if self._proc is None or self._proc.poll() is not None:
                    code = self._proc.returncode if self._proc else None
                    raise self._fail(f"server exited with code {code} before ready")
                try:
                    r = client.get(self.base_url + "/readyz")
                    if r.status_code == 200:
                        return
                    last = f"/readyz answered {r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                if time.monotonic() > deadline:
                    raise self._fail(
                        f"not ready within {timeout or self.startup_timeout:.0f}s ({last})"
                    )
                time.sleep(delay)
                delay = min(delay * 1.5, 0.25)

    def _fail(self, why: str) -> ServerStartError:
        if self._log_file is not None:
            with contextlib.suppress(Exception):
                self._log_file.flush()
        return ServerStartError(
            f"trainset server failed: {why}\ncommand: {shlex.join(self.command)}\n"
            f"--- tail of {self.log_path} ---\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 80) -> str:
        return _tail(self.log_path, lines)

    def kill(self, sig: int = signal.SIGKILL, *, group: bool = True, wait: float = 10.0) -> int:
        """Send ``sig`` (default SIGKILL: a crash) and wait for exit; returns the code.

        With ``group`` the whole process group gets it (server plus any children it
        started, as a terminal's Ctrl-C or an OOM-killed container would).
        """
        proc = self._proc
        if proc is None:
            raise RuntimeError("not running")
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        try:
            code = proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait(timeout=5)
        self._proc = None
        self._close_log()
        return code

    def _terminate(self, timeout: float = 15.0) -> int | None:
        proc = self._proc
        if proc is None:
            return None
        code: int | None
        if proc.poll() is None:
            code = self.kill(signal.SIGTERM, wait=timeout)
        else:
            code = proc.returncode
            self._proc = None
            self._close_log()
        # reap anything left in the group (a worker child that ignored SIGTERM)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return code

    def _close_log(self) -> None:
        if self._log_file is not None:
            with contextlib.suppress(Exception):
                self._log_file.close()
            self._log_file = None

    def stop(self, *, timeout: float = 15.0) -> int | None:
        """Graceful stop (SIGTERM, SIGKILL after ``timeout``). Keeps the data dir."""
        return self._terminate(timeout)

    def restart(self, *, env: Mapping[str, str] | None = None) -> TrainsetServer:
        """Stop if running, then start again on the same port, data dir and token."""
        if self.running:
            self.stop()
        else:
            self._proc = None
            self._close_log()
        if env is not None:
            self.env.update(env)
        return self.start()

    def cleanup(self) -> None:
        """Stop and remove the temp dir (only if this object created it)."""
        self.stop()
        if self._own_tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> TrainsetServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    # -- convenience -------------------------------------------------------------

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client with base_url and the bearer token set."""
        kwargs.setdefault("timeout", 30.0)
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return httpx.Client(base_url=self.base_url, headers=headers, **kwargs)


if __name__ == "__main__":  # manual smoke: python tests/server.py
    with TrainsetServer() as _srv:
        print(_srv.base_url, _srv.pid)
        print(httpx.get(_srv.base_url + "/readyz").text)
