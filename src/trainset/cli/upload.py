"""`trainset upload DIR`: check a folder locally, send only what the server lacks, wait.

Every name, type and caption pairing is checked before a byte is sent (the same
rules as the server's, from `trainset.domain`); files already present with the same
size and sha256 are skipped, so a rerun after an interruption sends only the rest
and an unchanged folder sends nothing. Only files the server has under the same name
and size are hashed beforehand; the rest are hashed as they are sent, and the
server's sha256 of each must match. Small files go by direct upload, large ones by
signed URL, several at a time, largest first (their checks take longest, so they
start while the small files are still on their way).
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import threading
import time
import zipfile
from concurrent.futures import FIRST_EXCEPTION, wait
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import click

from trainset.cli.user import (
    EXIT_USAGE,
    STOP,
    client_options,
    exit_on_status,
    handles_errors,
    print_status,
    worker_pool,
)
from trainset.client import Client, Source, Stream, errors, models
from trainset.client._spec import DIRECT_UPLOAD_LIMIT, open_source
from trainset.domain.names import check_filename
from trainset.domain.rules import FileFacts, evaluate
from trainset.errors import InvalidFilename, UnsupportedFileType

BLOCKING = {"missing_caption", "ambiguous_caption", "no_media"}
# Direct uploads whose stored sha256 differs from the bytes sent: sent this many times
# in all, then the stored copy is deleted and the upload fails (exit 3).
DIRECT_TRIES = 3


@dataclass(frozen=True, slots=True)
class Local:
    name: str
    source: Source  # a path, or a Stream over a zip member
    size: int


def _entries(source: Path) -> list[tuple[str, bool, Source, int]]:
    """(name, is_folder, source, size) of a folder's entries or a zip's members.

    A zip whose members all sit in one top folder is read as that folder."""
    if source.is_dir():
        return [
            (e.name, e.is_dir(), Path(e.path), 0 if e.is_dir() else e.stat().st_size)
            for e in os.scandir(source)
        ]
    zf = zipfile.ZipFile(source)  # kept open for the streams below, closed at exit
    members = [i for i in zf.infolist() if not i.filename.startswith("__MACOSX/")]
    tops = {i.filename.split("/", 1)[0] for i in members}
    prefix = f"{tops.pop()}/" if len(tops) == 1 and all("/" in i.filename for i in members) else ""
    out: list[tuple[str, bool, Source, int]] = []
    seen_dirs: set[str] = set()
    for info in members:
        rel = info.filename[len(prefix) :]
        if not rel:
            continue
        head, _, rest = rel.partition("/")
        if rest or info.is_dir():
            if head not in seen_dirs:
                seen_dirs.add(head)
                out.append((head, True, source, 0))
            continue
        out.append((rel, False, Stream(functools.partial(zf.open, info), info.file_size),
                    info.file_size))  # fmt: skip
    return out


def scan(source: Path) -> tuple[list[Local], list[str]]:
    """The files of a folder or zip, and every problem that would make the upload pointless."""
    files: list[Local] = []
    problems: list[str] = []
    for name, is_dir, src, size in sorted(_entries(source), key=lambda e: e[0]):
        if name.startswith("."):
            continue  # .DS_Store and friends: never part of a dataset
        if is_dir:
            problems.append(f"{name}/: a dataset is one flat folder; move its files up")
            continue
        try:
            checked = check_filename(name)
        except (InvalidFilename, UnsupportedFileType) as e:
            problems.append(e.message)
            continue
        files.append(Local(checked, src, size))
    verdict = evaluate([FileFacts(f.name, f.name, "ok") for f in files])
    problems += [p["message"] for p in verdict.failures if p["code"] in BLOCKING]
    return files, problems


def sha256_of(source: Source) -> str:
    h = hashlib.sha256()
    with open_source(source) as f:
        while chunk := f.read(1 << 20):
            if STOP.is_set():
                raise errors.Stopped("stopped")
            h.update(chunk)
    return h.hexdigest()


class Progress:
    """Files and bytes done: one updating line on a terminal, plain lines otherwise."""

    def __init__(self, total_files: int, total_bytes: int):
        self.tty = sys.stderr.isatty()
        self.total_files, self.total_bytes = total_files, total_bytes
        self.files = self.bytes = 0
        self._lock = threading.Lock()

    def done(self, f: Local) -> None:
        with self._lock:
            self.files += 1
            self.bytes += f.size
            if self.tty:
                click.echo(
                    f"\r  {self.files}/{self.total_files} files, "
                    f"{self.bytes / 1e6:.1f}/{self.total_bytes / 1e6:.1f} MB",
                    err=True, nl=self.files == self.total_files,
                )  # fmt: skip
            else:
                click.echo(f"  uploaded {f.name} ({f.size} bytes)", err=True)


class _Hashing:
    """A source's reader that hashes what is read."""

    def __init__(self, f: IO[bytes], h: Any):
        self._f, self._h = f, h

    def read(self, n: int = -1) -> bytes:
        chunk = self._f.read(n)
        self._h.update(chunk)
        return chunk

    def __enter__(self) -> _Hashing:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()


class Hashed:
    """A file's source for the SDK recording the sha256 of the bytes last read from it
    (each retry reads, and hashes, afresh): for signed-URL uploads, whose stored sha256
    is only known from a later status. (Direct uploads are checked by the SDK.)"""

    def __init__(self, f: Local):
        self._h = hashlib.sha256()
        self._source = f.source
        self.stream = Stream(self._open, f.size)

    def _open(self) -> IO[bytes]:
        self._h = hashlib.sha256()
        return _Hashing(open_source(self._source), self._h)  # type: ignore[return-value]

    def digest(self) -> str:
        return self._h.hexdigest()


def _direct(c: Client, ds_id: str, f: Local) -> None:
    """A direct upload, sent again while the server stores other bytes than were sent;
    after DIRECT_TRIES the bad copy is deleted and IntegrityError raised."""
    for attempt in range(DIRECT_TRIES):
        try:
            c.upload(ds_id, f.source, filename=f.name, stop=STOP)
            return
        except errors.IntegrityError as e:
            if attempt + 1 < DIRECT_TRIES:
                click.echo(f"  {f.name}: stored bytes differ from those sent; again", err=True)
                continue
            c.delete_file(ds_id, f.name)
            raise errors.IntegrityError(
                f"{f.name}: the server stored other bytes than were sent, {DIRECT_TRIES} "
                "times; removed it from the dataset"
            ) from e


def send(
    c: Client, ds_id: str, todo: list[Local], concurrency: int, progress: Progress, limit: int
) -> dict[str, str]:
    """Send `todo`; returns the sha256 of what went by signed URL, by name (the server's
    sha256 of those is only known from a later status)."""
    big = [f for f in todo if f.size > limit]
    urls: dict[str, models.SignedUpload] = {}
    for i in range(0, len(big), 1000):
        urls |= c.upload_urls(ds_id, {f.name: f.size for f in big[i : i + 1000]})
    signed: dict[str, str] = {}

    def one(f: Local) -> None:
        if f.name in urls:
            sent = Hashed(f)
            c.put_signed(urls[f.name], sent.stream, stop=STOP)
            signed[f.name] = sent.digest()
        else:
            _direct(c, ds_id, f)
        progress.done(f)

    with worker_pool(concurrency) as pool:
        futures = [pool.submit(one, f) for f in todo]
        finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for fut in futures:  # stop cleanly on the first hard error
            fut.cancel()
        for fut in finished:
            fut.result()
    return signed


def verify_signed(c: Client, ds_id: str, st: models.DatasetStatus, signed: dict[str, str]) -> None:
    """The server's sha256 of each file sent by signed URL against the bytes sent (a file
    the server has not hashed yet, e.g. still unchecked in object storage, cannot be
    told). Mismatching files are deleted and IntegrityError names them."""
    stored = {f.filename: f.sha256 for f in st.files}
    bad = sorted(n for n, h in signed.items() if stored.get(n) not in (None, h))
    if not bad:
        return
    for n in bad:
        c.delete_file(ds_id, n)
    raise errors.IntegrityError(
        f"{', '.join(bad)}: the server stored other bytes than were sent by signed URL; "
        "removed from the dataset, upload again"
    )


@click.command("upload")
@client_options
@click.argument("folder", type=click.Path(exists=True, path_type=Path))
@click.option("--name", help="Dataset name (default: the folder's name); created if missing.")
@click.option("--wait/--no-wait", default=True, help="Wait for READY or FAILED (default).")
@click.option(
    "--concurrency", default=4, show_default=True, type=click.IntRange(1, 64),
    help="Files hashed and sent at once.",
)  # fmt: skip
@click.option(
    "--direct-limit", default=DIRECT_UPLOAD_LIMIT, hidden=True,
    type=click.IntRange(0, DIRECT_UPLOAD_LIMIT),
    help="Files larger than this many bytes go by signed URL (for tests).",
)  # fmt: skip
@handles_errors
def upload(
    url: str | None, token: str | None, as_json: bool, folder: Path, name: str | None,
    wait: bool, concurrency: int, direct_limit: int,
) -> None:  # fmt: skip
    """Upload FOLDER or a .zip (images, videos and their .txt captions) as a dataset.

    Exits 0 when READY, 1 when FAILED (each failing file is printed with its reason),
    2 when local checks refuse the folder (nothing is sent), 3 on server or network
    errors."""
    if not folder.is_dir() and not zipfile.is_zipfile(folder):
        click.echo(f"trainset: {folder} is neither a folder nor a zip file", err=True)
        sys.exit(EXIT_USAGE)
    files, problems = scan(folder)
    if problems:
        click.echo(f"trainset: not uploading {folder}: {len(problems)} problem(s):", err=True)
        for p in problems:
            click.echo(f"  {p}", err=True)
        sys.exit(EXIT_USAGE)
    name = name or (folder.resolve().name if folder.is_dir() else folder.stem)
    with Client(url, token) as c:
        ds = c.find_dataset(name) or c.create_dataset(name)
        remote = {f.filename: (f.size_bytes, f.sha256) for f in c.status(ds.id).files}
        # A file can only be skipped if the server has one of its name and size, and
        # knows its sha256 (one put to object storage and not checked yet does not).
        maybe = [
            f
            for f in files
            if f.name in remote and remote[f.name][0] == f.size and remote[f.name][1] is not None
        ]
        with worker_pool(concurrency) as pool:
            hashes = dict(zip(maybe, pool.map(lambda f: sha256_of(f.source), maybe), strict=True))
        todo = [f for f in files if f not in hashes or remote[f.name][1] != hashes[f]]
        todo.sort(key=lambda f: -f.size)
        skipped = len(files) - len(todo)
        click.echo(f"{ds.name}: {len(todo)} to send, {skipped} already there (unchanged)", err=True)
        started = time.monotonic()
        signed: dict[str, str] = {}
        if todo:
            progress = Progress(len(todo), sum(f.size for f in todo))
            signed = send(c, ds.id, todo, concurrency, progress, direct_limit)
            click.echo(f"  sent in {time.monotonic() - started:.1f} s", err=True)
        if not wait:
            if signed:
                verify_signed(c, ds.id, c.status(ds.id), signed)
            return
        # Checks of many large videos can take long; the user can always Ctrl-C.
        st = c.wait(ds.id, timeout=24 * 3600, poll=0.5)
        verify_signed(c, ds.id, st, signed)
    print_status(st, as_json)
    exit_on_status(st, waited=True)
