"""Pure ASGI middleware (no BaseHTTPMiddleware: it would buffer streaming bodies).

- Every response carries `X-Request-ID` (the client's, when it is sane, else new).
- An exception that escapes a route becomes the SPEC's JSON 500, never a traceback.
- JSON endpoints get a body-size cap; the upload routes stream and enforce their own.
- Limits that protect the process: a request rate per bearer token (or per client
  address without one) answered 429 with `Retry-After`, and a cap on uploads
  streaming at once answered 503 with `Retry-After`, both before any body is read.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trainset.api.errors import error_body
from trainset.api.metrics import Metrics, route_of

log = logging.getLogger("trainset.api")
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
MAX_JSON_BODY = 1 << 20
_STREAMING_SUFFIXES = ("/upload",)
_STREAMING_PREFIXES = ("/prod/v1/trainers/uploads/",)


def _is_streaming(path: str) -> bool:
    return path.endswith(_STREAMING_SUFFIXES) or path.startswith(_STREAMING_PREFIXES)


async def _send_json(
    send: Send, status: int, body: dict[str, Any], rid: str, *, retry_after: int | None = None
) -> None:
    payload = orjson.dumps(body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"x-request-id", rid.encode()),
        (b"connection", b"close"),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


_UNLIMITED_PATHS = ("/healthz", "/readyz", "/metrics")
# URLs that are their own credential (signed PUTs, signed downloads and thumbnails) may
# be used from any origin, as an object store's would: no cookie or ambient credential
# is involved, so answering CORS for them exposes nothing a URL holder lacks.
_URL_CREDENTIAL_PREFIXES = (
    "/prod/v1/trainers/uploads/",
    "/prod/v1/trainers/blobs/",
    "/prod/v1/trainers/thumbnails/",
)
_CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"ETag, Content-Range, X-Request-ID"),
]


async def _preflight(send: Send, rid: str) -> None:
    headers = [
        *_CORS_HEADERS,
        (b"access-control-allow-methods", b"GET, HEAD, PUT"),
        (b"access-control-allow-headers", b"Content-Type, Range"),
        (b"access-control-max-age", b"600"),
        (b"content-length", b"0"),
        (b"x-request-id", rid.encode()),
    ]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


class RateLimiter:
    """Token buckets: `rate` requests per second per key, bursts of `2 * rate`."""

    MAX_KEYS = 50_000

    def __init__(self, rate: float):
        self.rate = rate
        self.capacity = max(1.0, 2 * rate)
        self._buckets: dict[bytes, tuple[float, float]] = {}  # key -> (tokens, at)

    def peek(self, key: bytes, now: float) -> float:
        """As `wait`, without counting the request."""
        tokens, at = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def wait(self, key: bytes, now: float) -> float:
        """0 when a request may go now (and it is counted), else seconds to wait."""
        tokens, at = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        if len(self._buckets) >= self.MAX_KEYS and key not in self._buckets:
            self._forget_idle(now)
        self._buckets[key] = (tokens - 1, now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        # A bucket that would be full again carries no information: drop those.
        full = [
            k for k, (t, at) in self._buckets.items()
            if t + (now - at) * self.rate >= self.capacity
        ]  # fmt: skip
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self.MAX_KEYS:  # still full: forget the oldest half
            for k in sorted(self._buckets, key=lambda k: self._buckets[k][1])[: self.MAX_KEYS // 2]:
                del self._buckets[k]


def _limit_key(scope: Scope) -> bytes:
    for k, v in scope["headers"]:
        if k == b"authorization":
            return hashlib.sha256(v).digest()
    client = scope.get("client")
    return f"ip:{client[0] if client else '-'}".encode()


class RequestContext:
    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter | None = None,
        max_uploads: int = 0,
        metrics: Metrics | None = None,
    ):
        self.app = app
        self.limiter = limiter
        self.max_uploads = max_uploads
        self.metrics = metrics or Metrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = ""
        for k, v in scope["headers"]:
            if k == b"x-request-id":
                rid = v.decode("latin-1")
                break
        if not _SANE_ID.match(rid):
            rid = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = rid
        started = False
        cors = scope["path"].startswith(_URL_CREDENTIAL_PREFIXES)
        t0 = time.perf_counter()
        answered = 500
        raw_send = send

        async def counted(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = int(message["status"])
            await raw_send(message)

        send = counted

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                if cors:
                    headers.extend(_CORS_HEADERS)
                message["headers"] = headers
            await send(message)

        path = scope["path"]
        # A read through a signed URL (thumbnails, downloads) is counted only when it is
        # refused: the call that issued the URL was counted, and a gallery loads hundreds
        # of thumbnails at once from one address, as it would from an object store. A
        # client that keeps presenting bad URLs runs out all the same.
        signed_read = cors and scope["method"] in ("GET", "HEAD")
        limiter = None if path.startswith(_UNLIMITED_PATHS) else self.limiter
        key = _limit_key(scope) if limiter is not None else b""
        try:
            if cors and scope["method"] == "OPTIONS":
                await _preflight(send, rid)
                return
            if limiter is not None:
                at = time.monotonic()
                wait = limiter.peek(key, at) if signed_read else limiter.wait(key, at)
                if wait > 0:
                    await _send_json(
                        send,
                        429,
                        error_body(
                            "rate_limited",
                            f"Too many requests; at most {limiter.rate:g} per second. "
                            "Retry after the time in Retry-After.",
                        ),
                        rid,
                        retry_after=math.ceil(wait),
                    )
                    return
            upload = scope["method"] in ("POST", "PUT") and _is_streaming(path)
            if upload and self.max_uploads and self.metrics.uploads >= self.max_uploads:
                await _send_json(
                    send,
                    503,
                    error_body(
                        "overloaded",
                        f"This server is receiving {self.metrics.uploads} uploads already; "
                        "retry shortly.",
                    ),
                    rid,
                    retry_after=1,
                )
                return

            receive_ = receive
            if scope["method"] in ("POST", "PUT", "PATCH") and not _is_streaming(path):
                # JSON bodies are small: read them here, whole, so an oversized one is a 413
                # before the framework parses anything (it would turn a raised error into 400).
                body = await _read_capped(receive, scope)
                if body is None:
                    await _send_json(
                        send,
                        413,
                        error_body(
                            "request_too_large", f"The request body is over {MAX_JSON_BODY} bytes."
                        ),
                        rid,
                    )
                    return
                receive_ = _replay(body, receive)

            if upload:
                self.metrics.uploads += 1
            try:
                await self.app(scope, receive_, send_with_id)
            except Exception:
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                if not started:
                    await _send_json(
                        send,
                        500,
                        error_body(
                            "internal_error", "Something went wrong on the server; it was logged."
                        ),
                        rid,
                    )
            finally:
                if upload:
                    self.metrics.uploads -= 1
        finally:
            if limiter is not None and signed_read and answered >= 400:
                limiter.wait(key, time.monotonic())
            self.metrics.observe(scope["method"], route_of(path), answered,
                                 time.perf_counter() - t0)  # fmt: skip


async def _read_capped(receive: Receive, scope: Scope) -> bytes | None:
    """The whole body, or None as soon as it is known to exceed MAX_JSON_BODY."""
    for k, v in scope["headers"]:
        if k == b"content-length" and v.isdigit() and int(v) > MAX_JSON_BODY:
            return None
    parts: list[bytes] = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > MAX_JSON_BODY:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as Starlette does

    return replay
