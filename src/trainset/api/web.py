"""The web UI: a page and its assets, served from the package (no build step, no CDN).

The page talks to the same bearer API as every client; the token lives in the
browser's storage and is sent as a header, never as a cookie, so there is no CSRF
surface. The Content-Security-Policy allows scripts and styles only from this server,
and images, media and uploads from here and from the object store's presigned URLs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from trainset.errors import NotFound

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def _load() -> dict[str, Asset]:
    out: dict[str, Asset] = {}
    for entry in resources.files("trainset.web").iterdir():
        suffix = entry.name[entry.name.rfind(".") :]
        if entry.is_file() and suffix in _TYPES:
            body = entry.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            out[entry.name] = Asset(body, _TYPES[suffix], etag)
    return out


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def content_security_policy(*origins: str | None) -> str:
    extra = " ".join(sorted({o for o in origins if o}))
    src = f"'self' {extra}".strip()
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {src} blob: data:",
            f"media-src {src} blob:",
            f"connect-src {src}",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def router(base_url: str, storage_url_sample: str | None) -> APIRouter:
    """Routes for `/` and `/ui/NAME`. `storage_url_sample` is any presigned URL of the
    object store (None for local storage): its origin is allowed for images and PUTs."""
    assets = _load()
    csp = content_security_policy(_origin(base_url), _origin(storage_url_sample))
    r = APIRouter(include_in_schema=False)

    def serve(request: Request, asset: Asset, cache: str) -> Response:
        headers = {
            "ETag": asset.etag,
            "Cache-Control": cache,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
        if asset.content_type.startswith("text/html"):
            headers["Content-Security-Policy"] = csp
            headers["X-Frame-Options"] = "DENY"
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.content_type, headers=headers)

    @r.get("/")
    async def index(request: Request) -> Response:
        return serve(request, assets["index.html"], "no-cache")

    @r.get("/ui/{name}")
    async def asset(request: Request, name: Annotated[str, Path(max_length=64)]) -> Response:
        found = assets.get(name)
        if found is None or name == "index.html":
            raise NotFound(f"No UI file named {name!r}.")
        # Revalidated on every load (cheap: a 304), so an upgrade is seen at once.
        return serve(request, found, "no-cache")

    return r
