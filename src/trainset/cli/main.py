"""The `trainset` command: `serve`, `worker` and `admin ...` (user commands come with the SDK)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from trainset.cli import user
from trainset.errors import TrainsetError

if TYPE_CHECKING:
    from trainset.config import Settings

T = TypeVar("T")


def _settings(**overrides: Any) -> Settings:
    # Imported here: the user commands (upload, pull, ...) never load the server's
    # settings, and pydantic-settings is a fifth of the CLI's start-up time.
    from trainset.config import ConfigError, load_settings

    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as e:
        raise click.ClickException(str(e)) from None


def _run(fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(fn())  # type: ignore[arg-type]
    except TrainsetError as e:
        raise click.ClickException(e.message) from None


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@click.group()
@click.version_option(package_name="trainset")
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
def main(debug: bool) -> None:
    """trainset: datasets for LoRA trainers."""


@main.command()
@click.option("--host", default=None, help="Bind address (TRAINSET_HOST).")
@click.option("--port", type=int, default=None, help="Port (TRAINSET_PORT).")
def serve(host: str | None, port: int | None) -> None:
    """Run the API (with an in-process check worker unless TRAINSET_WORKERS=0)."""
    import uvicorn

    from trainset.app import create_app
    from trainset.config import ConfigError

    settings = _settings(host=host, port=port)
    _logging(settings.log_level)
    try:
        app = create_app(settings)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    print(f"trainset: serving on {settings.base_url} ({_where(settings)})", flush=True)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        access_log=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=10,
    )


def _where(settings: Settings) -> str:
    """Where metadata and bytes live, for the start-up line (no password shown)."""
    from sqlalchemy.engine import make_url

    if settings.database_url is None and settings.storage_url is None:
        return f"data in {settings.data_dir}"
    db = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    return f"database {db}, storage {settings.resolved_storage_url}"


@main.command()
@click.option("--concurrency", type=int, default=None, help="Checks at once (default: cores).")
def worker(concurrency: int | None) -> None:
    """Run content checks only (for deployments with TRAINSET_WORKERS=0 on the API)."""
    from trainset.services import build
    from trainset.worker.runner import CheckWorker

    settings = _settings()
    _logging(settings.log_level)

    async def go() -> None:
        from trainset.db.migrate import upgrade

        svc = build(settings)
        await upgrade(svc.db)  # idempotent and locked: safe beside starting API processes
        # TRAINSET_WORKERS=0 (shared with API nodes) means "none in serve", not here.
        w = CheckWorker(svc, concurrency or settings.workers or os.cpu_count() or 1)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, w.stop)
        try:
            await w.run()
        finally:
            await svc.db.dispose()

    _run(go)


@main.group()
def admin() -> None:
    """Accounts, tokens and schema migrations."""


def _with_db(fn: Callable[[Any], Awaitable[T]]) -> T:
    from trainset.db.engine import Database
    from trainset.db.migrate import upgrade

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def go() -> T:
        db = Database(settings.resolved_database_url)
        try:
            await upgrade(db)
            return await fn(db)
        finally:
            await db.dispose()

    return _run(go)


@admin.command("migrate")
def migrate() -> None:
    """Bring the database schema up to date."""

    async def noop(_db: Any) -> None:
        return None

    _with_db(noop)
    click.echo("schema is up to date")


@admin.command("create-account")
@click.argument("name")
def create_account(name: str) -> None:
    """Create an account; prints its token (shown once) as the last line."""
    from trainset.domain import accounts

    _, token = _with_db(lambda db: accounts.create_account(db, name))
    click.echo(f"created account {name!r}; its token (shown once):", err=False)
    click.echo(token)


@admin.command("create-token")
@click.argument("account")
@click.option("--label", default=None, help="A note to recognise the token by.")
def create_token(account: str, label: str | None) -> None:
    """Create another token for ACCOUNT; prints it (shown once) as the last line."""
    from trainset.domain import accounts

    token = _with_db(lambda db: accounts.create_token(db, account, label))
    click.echo(token)


@admin.command("revoke-token")
@click.argument("token")
def revoke_token(token: str) -> None:
    """Revoke TOKEN (the whole token, or its first 8 characters as listed)."""
    from trainset.domain import accounts

    n = _with_db(lambda db: accounts.revoke_token(db, token))
    click.echo(f"revoked {n} token(s)")


for _command in user.commands():
    main.add_command(_command)


if __name__ == "__main__":
    sys.exit(main())
