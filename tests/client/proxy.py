"""A small HTTP proxy on loopback in front of a real server, for what the real server
cannot be made to do on demand: bytes changed on the way, a 503, a dropped
connection, redirects, a response that stalls halfway. Everything else is forwarded
to `upstream` as is, and every request's headers are recorded.

    with Proxy(server.base_url) as p:
        p.corrupt = (b"CORRUPTME", b"corrupted", 1)  # in the next request body that has it
        Client(p.url, token).upload(...)

Paths: `/hops/N/<rest>` answers a redirect with a *relative* Location to
`/hops/N-1/<rest>`, and `/hops/0/<rest>` forwards `/<rest>`; `/slow/<rest>` forwards
`/<rest>` but stops after SLOW_FIRST bytes of the body until `gate` is set.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx

SLOW_FIRST = 2 << 20
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
              "content-encoding"}  # fmt: skip


class Proxy:
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.seen: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers
        self.corrupt: tuple[bytes, bytes, int] | None = None  # old, new, times
        self.fail_gets = 0  # answer the next N GETs 503 overloaded (Retry-After: 0)
        self.drop = 0  # close the next N connections without an answer
        self.gate = threading.Event()
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=30, headers={"Accept-Encoding": "identity"})
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _take(self, attr: str) -> bool:
        with self._lock:
            n = getattr(self, attr)
            if n > 0:
                setattr(self, attr, n - 1)
                return True
            return False

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        headers = {k: v for k, v in h.headers.items()}
        self.seen.append((h.command, h.path, headers))
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        if self._take("drop"):
            h.close_connection = True
            return
        if h.command == "GET" and self._take("fail_gets"):
            self._answer(h, 503, {"Retry-After": "0", "Content-Type": "application/json"},
                         b'{"error": {"code": "overloaded", "message": "busy"}}')  # fmt: skip
            return
        with self._lock:
            if self.corrupt and self.corrupt[0] in body:
                old, new, times = self.corrupt
                body = body.replace(old, new)
                self.corrupt = (old, new, times - 1) if times > 1 else None
        path, slow = h.path, False
        if path.startswith("/hops/"):
            n, _, rest = path[len("/hops/") :].partition("/")
            if int(n) > 0:
                self._answer(h, 302, {"Location": f"/hops/{int(n) - 1}/{rest}"}, b"")
                return
            path = "/" + rest
        elif path.startswith("/slow/"):
            path, slow = path[len("/slow") :], True
        fwd = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
        r = self._http.request(h.command, self.upstream + path, headers=fwd, content=body)
        out = {k: v for k, v in r.headers.items() if k.lower() not in HOP_BY_HOP}
        self._answer(h, r.status_code, out, r.content, slow=slow)

    def _answer(
        self, h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes,
        slow: bool = False,
    ) -> None:  # fmt: skip
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if slow:
            h.wfile.write(body[:SLOW_FIRST])
            h.wfile.flush()
            self.gate.wait(30)
            body = body[SLOW_FIRST:]
        if h.command != "HEAD":
            h.wfile.write(body)

    def __enter__(self) -> Proxy:
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.gate.set()
        self._server.shutdown()
        self._server.server_close()
        self._http.close()
