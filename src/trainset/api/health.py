"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from trainset.api.deps import Svc
from trainset.api.errors import error_body
from trainset.api.responses import json_response
from trainset.errors import TrainsetError

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> Response:
    """The process is up (no dependencies checked)."""
    return json_response({"status": "ok"})


@router.get("/readyz")
async def readyz(svc: Svc) -> Response:
    """The database and the storage both answer."""
    checks: dict[str, str] = {}
    failed = False
    try:
        await svc.db.ping()
        checks["database"] = "ok"
    except (TrainsetError, OSError, Exception):  # any failure means not ready
        checks["database"] = "unavailable"
        failed = True
    try:
        await svc.storage.ping()
        checks["storage"] = "ok"
    except (TrainsetError, OSError):
        checks["storage"] = "unavailable"
        failed = True
    if failed:
        body = error_body("not_ready", "A dependency is unavailable.", checks)
        return json_response(body, 503, {"Retry-After": "1"})
    return json_response({"status": "ready", "checks": checks})
