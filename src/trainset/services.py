"""The long-lived parts a request or a background task needs, built once per process."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from trainset.config import ConfigError, Settings
from trainset.db.engine import Database
from trainset.domain.signing import Signer
from trainset.storage.base import Storage


@dataclass
class Services:
    settings: Settings
    db: Database
    storage: Storage
    signer: Signer
    # Set when new check jobs are queued, so an in-process worker starts at once.
    jobs_queued: asyncio.Event = field(default_factory=asyncio.Event)


def open_storage(settings: Settings) -> Storage:
    url = settings.resolved_storage_url
    if url.startswith("file://"):
        from pathlib import Path

        from trainset.storage.local import LocalStorage

        local = LocalStorage(Path(url[len("file://") :]))
        local.open()
        return local
    if url.startswith("s3://"):
        from trainset.storage.s3 import MAX_COPY, S3Storage, parse_url

        try:
            parse_url(url)
        except ValueError as e:
            raise ConfigError(f"TRAINSET_STORAGE_URL: {e}") from None
        if settings.signed_upload_limit > MAX_COPY:
            raise ConfigError(
                f"TRAINSET_SIGNED_UPLOAD_LIMIT: at most {MAX_COPY} with S3 storage "
                "(a presigned upload is sealed by one server-side copy)"
            )
        return S3Storage(url, endpoint_url=settings.s3_endpoint_url)
    raise ConfigError(f"TRAINSET_STORAGE_URL={url!r}: use file://PATH or s3://BUCKET/PREFIX")


def build(settings: Settings) -> Services:
    return Services(
        settings=settings,
        db=Database(settings.resolved_database_url),
        storage=open_storage(settings),
        signer=Signer(settings.signing_key()),
    )
