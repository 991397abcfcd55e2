"""Pure ASGI middleware (no BaseHTTPMiddleware: it would buffer streaming bodies).

- Every response carries `X-Request-ID` (the client's, when it is sane, else new).
- An exception that escapes a route becomes the SPEC's JSON 500, never a traceback.
- JSON endpoints get a body-size cap; the upload routes stream and enforce their own.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trainset.api.errors import error_body

log = logging.getLogger("trainset.api")
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
MAX_JSON_BODY = 1 << 20
_STREAMING_SUFFIXES = ("/upload",)
_STREAMING_PREFIXES = ("/prod/v1/trainers/uploads/",)


def _is_streaming(path: str) -> bool:
    return path.endswith(_STREAMING_SUFFIXES) or path.startswith(_STREAMING_PREFIXES)


async def _send_json(send: Send, status: int, body: dict[str, Any], rid: str) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"x-request-id", rid.encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RequestContext:
    def __init__(self, app: ASGIApp):
        self.app = app

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

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message["headers"] = headers
            await send(message)

        receive_ = receive
        if scope["method"] in ("POST", "PUT", "PATCH") and not _is_streaming(scope["path"]):
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
