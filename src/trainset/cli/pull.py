"""`trainset pull NAME DIR`: materialise a READY dataset as DIR/NAME/, the layout
trainers mount. Only the dataset's files end up there (no state files: trainers walk
the folder); each is verified against its sha256 and written atomically, unchanged
files are skipped, and files no longer in the dataset are removed only with --delete.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import click

from trainset.cli.user import (
    EXIT_USAGE,
    STOP,
    client_options,
    handles_errors,
    resolve,
    worker_pool,
)
from trainset.client import Client, models
from trainset.domain.names import check_filename
from trainset.errors import InvalidFilename, UnsupportedFileType


def _unchanged(path: Path, f: models.ManifestFile) -> bool:
    try:
        if path.stat().st_size != f.size_bytes:
            return False
    except FileNotFoundError:
        return False
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest() == f.sha256


@click.command("pull")
@client_options
@click.argument("dataset")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--delete", is_flag=True, help="Remove local files no longer in the dataset.")
@click.option(
    "--concurrency", default=4, show_default=True, type=click.IntRange(1, 64),
    help="Files fetched at once.",
)  # fmt: skip
@handles_errors
def pull(
    url: str | None, token: str | None, as_json: bool, dataset: str, dest: Path,
    delete: bool, concurrency: int,
) -> None:  # fmt: skip
    """Download DATASET (a READY dataset's name or id) into DEST/NAME/."""
    with Client(url, token) as c:
        found = resolve(c, dataset)
        m = c.manifest(found.id if found else dataset)
        # Names come from the server, but a name never becomes a path unchecked.
        for f in m.files:
            try:
                if check_filename(f.filename) != f.filename:
                    raise InvalidFilename(f"{f.filename!r} is not in normal form")
            except (InvalidFilename, UnsupportedFileType) as e:
                click.echo(f"trainset: refusing a file name from the server: {e}", err=True)
                sys.exit(EXIT_USAGE)
        target = dest / m.name
        target.mkdir(parents=True, exist_ok=True)
        todo = [f for f in m.files if not _unchanged(target / f.filename, f)]
        click.echo(
            f"{m.name}: {len(todo)} to fetch, {len(m.files) - len(todo)} unchanged", err=True
        )

        def fetch(f: models.ManifestFile) -> None:
            c.fetch(f.download_url, target / f.filename, sha256=f.sha256, stop=STOP)

        with worker_pool(concurrency) as pool:
            list(pool.map(fetch, todo))
        removed = []
        if delete:
            keep = {f.filename for f in m.files}
            for entry in os.scandir(target):
                if entry.is_file() and entry.name not in keep:
                    os.unlink(entry.path)
                    removed.append(entry.name)
    if as_json:
        click.echo(json.dumps({"path": str(target), "files": len(m.files),
                               "fetched": len(todo), "removed": removed}))  # fmt: skip
        return
    click.echo(
        f"{target}: {len(m.files)} files ({len(todo)} fetched"
        + (f", {len(removed)} removed)" if delete else ")")
    )
