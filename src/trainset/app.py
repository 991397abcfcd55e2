"""The application factory: wires database, storage, worker, sweeper and routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from trainset import __version__
from trainset.api import datasets, errors, files, gallery, health, uploads, web
from trainset.api.metrics import Metrics
from trainset.api.middleware import RateLimiter, RequestContext
from trainset.config import Settings
from trainset.db.migrate import upgrade
from trainset.domain import accounts, maintenance
from trainset.domain.clock import expiry
from trainset.services import Services, build
from trainset.worker.runner import CheckWorker

log = logging.getLogger("trainset")


async def start(svc: Services, *, announce: bool = True) -> None:
    """Prepare an instance: schema, first account, crash recovery."""
    await upgrade(svc.db)
    token = await accounts.bootstrap(svc.db, svc.settings.bootstrap_token)
    if announce and token is not None:
        if svc.settings.bootstrap_token:
            print("trainset: registered TRAINSET_BOOTSTRAP_TOKEN for account 'default'", flush=True)
        else:
            print(
                "trainset: created account 'default'. Its token (shown once, keep it):\n"
                f"\n    {token}\n",
                flush=True,
            )
    elif announce and token is None and not svc.settings.bootstrap_token:
        print(
            "trainset: tokens are shown once, at the first start. For a new one run:\n"
            "    trainset admin create-token default",
            flush=True,
        )
    if svc.db.is_sqlite:
        await maintenance.recover(svc)


def create_app(settings: Settings, svc: Services | None = None) -> FastAPI:
    services = svc or build(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await start(services)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(maintenance.run_sweeper(services, stop), name="sweeper")]
        worker = None
        if settings.workers > 0:
            worker = CheckWorker(services, settings.workers)
            tasks.append(asyncio.create_task(worker.run(), name="check-worker"))
        log.info("trainset %s ready on %s", __version__, settings.base_url)
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                worker.stop()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await services.db.dispose()

    app = FastAPI(
        title="trainset",
        version=__version__,
        description="Datasets for LoRA trainers; wire-compatible with the reference dataset API.",
        lifespan=lifespan,
    )
    app.state.services = services
    errors.install(app)
    app.include_router(health.router)
    app.include_router(datasets.router)
    app.include_router(uploads.router)
    app.include_router(files.router)
    app.include_router(gallery.router)
    # Any presigned URL shows the object store's origin, which the UI's policy allows.
    sample = services.storage.presign_get(
        services.storage.new_key(), expires_at=expiry(60), filename="origin"
    )
    app.include_router(web.router(settings.base_url, sample))
    app.state.metrics = Metrics()
    app.add_middleware(
        RequestContext,
        limiter=RateLimiter(settings.rate_limit) if settings.rate_limit else None,
        max_uploads=settings.max_concurrent_uploads,
        metrics=app.state.metrics,
    )
    return app
