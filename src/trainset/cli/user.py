"""User commands over the SDK: `ls`, `status`, `rm`. Exit codes mean something:
0 done (a status is READY), 1 the dataset FAILED, 2 usage or a request the server
refused as wrong, 3 the server or the network failed."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import ssl
import sys
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from trainset.cli import profile
from trainset.client import Client, errors
from trainset.client._spec import DEFAULT_URL
from trainset.client.models import Dataset, DatasetStatus

F = TypeVar("F", bound=Callable[..., Any])
EXIT_FAILED, EXIT_USAGE, EXIT_SERVER, EXIT_INTERRUPTED = 1, 2, 3, 130
# Set on Ctrl-C: transfers still running on worker threads stop at their next chunk.
STOP = threading.Event()


TRANSFER_THREAD = "trainset-transfer"
# After Ctrl-C, how long the transfers get to stop at their next chunk before the CLI
# exits without them (one stuck in a stalled read would otherwise hold the exit until
# its timeout).
STOP_GRACE = 3.0


def _exit_interrupted() -> None:
    deadline = time.monotonic() + STOP_GRACE
    ours = [t for t in threading.enumerate() if t.name.startswith(TRANSFER_THREAD)]
    for t in ours:
        t.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in ours):
        # Interpreter exit would join them (concurrent.futures does): leave at once. A
        # download stuck so leaves its hidden temp file (`.NAME.*.trainset-part`).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_INTERRUPTED)


@contextlib.contextmanager
def worker_pool(n: int) -> Iterator[ThreadPoolExecutor]:
    """A thread pool that does not wait for its running tasks on Ctrl-C: queued ones are
    cancelled and STOP tells running ones to give up (`handles_errors` then exits 130)."""
    pool = ThreadPoolExecutor(n, thread_name_prefix=TRANSFER_THREAD)
    try:
        yield pool
    except KeyboardInterrupt:
        STOP.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _network(e: OSError) -> bool:
    return isinstance(e, ConnectionError | TimeoutError | socket.gaierror | ssl.SSLError)


def _exit_code(e: errors.TrainsetError) -> int:
    """The one table from SDK errors to exit codes."""
    if isinstance(e, errors.InvalidRequest | errors.NotFound | errors.Conflict):
        return EXIT_USAGE
    if isinstance(e, errors.FileTooLarge | errors.UnsupportedFileType | errors.InvalidFileContent):
        return EXIT_USAGE
    return EXIT_SERVER


def handles_errors(fn: F) -> F:
    """One line on stderr and a meaningful exit code; a traceback only with --debug."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        debug = ctx.find_root().params.get("debug")
        STOP.clear()  # a command run in-process after an interrupted one starts afresh
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            # Pools were shut down without waiting (worker_pool); their running
            # transfers stop at their next chunk.
            STOP.set()
            click.echo("\ntrainset: interrupted", err=True)
            _exit_interrupted()
        except errors.TrainsetError as e:
            if debug:
                raise
            click.echo(f"trainset: {e.message}", err=True)
            sys.exit(_exit_code(e))
        except (zipfile.BadZipFile, zlib.error) as e:
            if debug:
                raise
            click.echo(f"trainset: not a readable zip file: {e}", err=True)
            sys.exit(EXIT_USAGE)
        except OSError as e:
            if debug:
                raise
            where = f": {e.filename}" if e.filename else ""
            click.echo(f"trainset: {e.strerror or e}{where}", err=True)
            sys.exit(EXIT_SERVER if _network(e) else EXIT_USAGE)

    return wrapper  # type: ignore[return-value]


def _from_file(key: str) -> Callable[[], str | None]:
    """A click default: the config file's value (flags and environment come first)."""

    def default() -> str | None:
        try:
            return profile.load().get(key)
        except ValueError as e:
            raise click.UsageError(str(e)) from None

    return default


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def _file_token_only_for_its_url(fn: F) -> F:
    """The config file's token goes only to the config file's URL: a URL given by a flag
    or TRAINSET_URL that differs from it gets no token from the file."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        if ctx.get_parameter_source("token") is ParameterSource.DEFAULT and kwargs.get("token"):
            effective = kwargs.get("url") or DEFAULT_URL
            try:
                saved = profile.load().get("url") or DEFAULT_URL
            except ValueError as e:
                raise click.UsageError(str(e)) from None
            if not _same_url(effective, saved):
                kwargs["token"] = None
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def client_options(fn: F) -> F:
    fn = _file_token_only_for_its_url(fn)
    fn = click.option(
        "--token", envvar="TRAINSET_TOKEN", default=_from_file("token"), show_default=False,
        help="Bearer token (TRAINSET_TOKEN, or the config file's; see `trainset login`).",
    )(fn)  # fmt: skip
    fn = click.option(
        "--url", envvar="TRAINSET_URL", default=_from_file("url"), show_default=False,
        help="Server base URL (TRAINSET_URL, or the config file's).", metavar="URL",
    )(fn)  # fmt: skip
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(fn)


def resolve(c: Client, name_or_id: str) -> Dataset | None:
    """A dataset by name, else None (the caller then treats the argument as an id)."""
    return c.find_dataset(name_or_id)


def _dataset_json(d: Dataset) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "status": d.status,
        "created_at": d.created_at.isoformat(),
        "updated_at": d.updated_at.isoformat(),
    }


def print_status(st: DatasetStatus, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({
            "id": st.id, "name": st.name, "status": st.status,
            "files": [{"filename": f.filename, "size_bytes": f.size_bytes} for f in st.files],
            "error": st.error_message,
            "failures": [vars_(p) for p in st.failures],
            "warnings": [vars_(p) for p in st.warnings],
        }))  # fmt: skip
        return
    size = sum(f.size_bytes for f in st.files)
    click.echo(f"{st.name}  {st.status}  {len(st.files)} files  {size:,} bytes  (id {st.id})")
    if st.error_message:
        click.echo(f"  {st.error_message}:")
    for p in st.failures:
        click.echo(f"  FAILED  {p.filename or '-'}: {p.message}")
    for p in st.warnings:
        click.echo(f"  warning {p.filename or '-'}: {p.message}")


def vars_(p: Any) -> dict[str, Any]:
    return {"filename": p.filename, "code": p.code, "message": p.message}


@click.command("ls")
@client_options
@click.option("--status", "status_filter", help="Only datasets with this status.")
@handles_errors
def ls(url: str | None, token: str | None, as_json: bool, status_filter: str | None) -> None:
    """List the account's datasets."""
    with Client(url, token) as c:
        items = list(c.iter_datasets(status=status_filter))
    if as_json:
        click.echo(json.dumps([_dataset_json(d) for d in items]))
        return
    for d in items:
        click.echo(f"{d.name}\t{d.status}\t{d.updated_at:%Y-%m-%d %H:%M:%S}\t{d.id}")


@click.command("status")
@client_options
@click.argument("dataset")
@click.option("--wait", is_flag=True, help="Wait until it leaves UPLOADING.")
@click.option(
    "--timeout", default=600.0, show_default=True, type=click.FloatRange(0),
    help="Seconds --wait waits; exit 3 if still UPLOADING then.",
)  # fmt: skip
@handles_errors
def status(
    url: str | None, token: str | None, as_json: bool, dataset: str, wait: bool, timeout: float
) -> None:
    """Show DATASET (a name or an id): status, files, and every failing file's reason.

    Exits 1 when the dataset is FAILED, 3 when --wait gave up while still UPLOADING."""
    with Client(url, token) as c:
        found = resolve(c, dataset)
        ds_id = found.id if found else dataset
        st = c.wait(ds_id, timeout=timeout) if wait else c.status(ds_id)
    print_status(st, as_json)
    exit_on_status(st, waited=wait)


def exit_on_status(st: DatasetStatus, *, waited: bool) -> None:
    """Exit 1 when FAILED; 3 when a wait ended (timed out) with the dataset still UPLOADING."""
    if st.status == "FAILED":
        sys.exit(EXIT_FAILED)
    if waited and st.status == "UPLOADING":
        click.echo(f"trainset: gave up waiting: {st.name} is still UPLOADING", err=True)
        sys.exit(EXIT_SERVER)


@click.command("rm")
@client_options
@click.argument("dataset")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@handles_errors
def rm(url: str | None, token: str | None, as_json: bool, dataset: str, yes: bool) -> None:
    """Delete DATASET (a name or an id) and all its files. Irreversible."""
    with Client(url, token) as c:
        found = resolve(c, dataset)
        ds_id = found.id if found else dataset
        label = found.name if found else dataset
        if not yes:
            if not sys.stdin.isatty():
                click.echo("trainset: not deleting without confirmation; pass --yes", err=True)
                sys.exit(EXIT_USAGE)
            try:
                confirmed = click.confirm(f"Delete dataset {label} and all its files?")
            except click.Abort:
                confirmed = False
            if not confirmed:
                sys.exit(EXIT_USAGE)
        c.delete_dataset(ds_id)
    click.echo(json.dumps({"id": ds_id, "deleted": True}) if as_json else f"deleted {label}")


@click.command("login")
@client_options
@handles_errors
def login(url: str | None, token: str | None, as_json: bool) -> None:
    """Check the URL and token work, then keep them in the config file (mode 0600) for
    later commands. Flags, or TRAINSET_URL / TRAINSET_TOKEN, say what to keep."""
    if not token:
        token = click.prompt("Token", hide_input=True)
    with Client(url, token) as c:
        c.list_datasets(limit=1)  # an unknown token is refused here, before it is kept
        where = profile.save(c.base_url, token)
    click.echo(json.dumps({"config": str(where)}) if as_json else f"saved to {where}")


def commands() -> list[click.Command]:
    from trainset.cli.pull import pull
    from trainset.cli.upload import upload

    return [ls, status, rm, upload, pull, login]
