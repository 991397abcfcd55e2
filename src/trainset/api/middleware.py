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
            receive_ = _capped(receive, scope)

        try:
            await self.app(scope, receive_, send_with_id)
        except _BodyTooLarge:
            if not started:
                await _send_json(
                    send,
                    413,
                    error_body(
                        "request_too_large",
                        f"The request body is over {MAX_JSON_BODY} bytes.",
                    ),
                    rid,
                )
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


class _BodyTooLarge(Exception):
    pass


def _capped(receive: Receive, scope: Scope) -> Receive:
    for k, v in scope["headers"]:
        if k == b"content-length" and v.isdigit() and int(v) > MAX_JSON_BODY:

            async def refuse() -> Message:
                raise _BodyTooLarge

            return refuse
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > MAX_JSON_BODY:
            raise _BodyTooLarge
        return message

    return counted
