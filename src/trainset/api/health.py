"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import Connection, func, select
from starlette.responses import PlainTextResponse, Response

from trainset.api.deps import Svc
from trainset.api.errors import error_body
from trainset.api.metrics import Gauge
from trainset.api.responses import json_response
from trainset.db.tables import datasets, garbage, jobs
from trainset.errors import TrainsetError

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> Response:
    """The process is up (no dependencies checked)."""
    return json_response({"status": "ok"})


def _instance_gauges(conn: Connection) -> dict[str, Gauge]:
    Series = dict[tuple[tuple[str, str], ...], float]
    jobs_by_state: Series = {
        (("state", state),): float(n)
        for state, n in conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state))
    }
    by_status: Series = {
        (("status", status),): float(n)
        for status, n in conn.execute(
            select(datasets.c.status, func.count()).group_by(datasets.c.status)
        )
    }
    garbage_rows = conn.execute(select(func.count()).select_from(garbage)).scalar_one()
    return {
        "trainset_check_jobs": (
            "Content checks queued or running (instance-wide).",
            jobs_by_state,
        ),
        "trainset_datasets": ("Datasets by status (instance-wide).", by_status),
        "trainset_garbage_blobs": (
            "Blobs scheduled for removal (instance-wide).",
            {(): float(garbage_rows)},
        ),
    }


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request, svc: Svc) -> Response:
    """Prometheus metrics: this process's requests, and instance-wide gauges."""
    gauges = await svc.db.read(_instance_gauges)
    text = request.app.state.metrics.render(gauges)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")


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
