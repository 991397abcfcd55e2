"""Receiving one file's bytes, shared by the direct route and signed-URL PUTs.

The bytes stream into a blob writer (hashed, bounded, sniffed on their first bytes)
and are committed only when the whole body arrived intact; any failure discards
them and leaves the previous version of the filename untouched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from trainset.domain import uploads
from trainset.domain.filetypes import file_type
from trainset.domain.sniff import SNIFF_BYTES, sniff_matches
from trainset.errors import InvalidFileContent, SizeMismatch, TrainsetError
from trainset.services import Services
from trainset.storage.base import BlobWriter


def _check_head(filename: str, head: bytes) -> None:
    if not sniff_matches(filename, head):
        ft = file_type(filename)
        what = ft.content_type if ft else "its type"
        raise InvalidFileContent(
            f"{filename} does not look like {what}: its first bytes do not match the extension."
        )


async def receive(
    svc: Services,
    ticket: uploads.Ticket,
    chunks: AsyncIterator[bytes],
    too_large: Callable[[], TrainsetError],
) -> uploads.StoredFile:
    writer = await svc.storage.writer(ticket.blob_key)
    committed = False
    try:
        head = bytearray()
        sniffed = False
        renewed = time.monotonic()
        async for chunk in chunks:
            if writer.size + len(chunk) > ticket.size_limit:
                raise too_large()
            if not sniffed:
                head += chunk[: SNIFF_BYTES - len(head)]
                if len(head) >= SNIFF_BYTES:
                    _check_head(ticket.filename, bytes(head))
                    sniffed = True
            await writer.write(chunk)
            if time.monotonic() - renewed > ticket.lease_seconds / 4:
                renewed = time.monotonic()
                await uploads.renew(svc, ticket)
        if ticket.expected_size is not None and writer.size != ticket.expected_size:
            raise SizeMismatch(
                f"This URL was signed for exactly {ticket.expected_size} bytes; "
                f"{writer.size} arrived. Nothing was stored."
            )
        if not sniffed:
            _check_head(ticket.filename, bytes(head))
        blob = await writer.commit()
        committed = True
        return await uploads.finish(svc, ticket, blob)
    except BaseException:
        # Shielded: a cancelled request must still release its row and its bytes.
        await asyncio.shield(_cleanup(svc, ticket, writer, committed))
        raise


async def _cleanup(
    svc: Services, ticket: uploads.Ticket, writer: BlobWriter, committed: bool
) -> None:
    if not committed:
        await writer.abort()
    await uploads.abort(svc, ticket, blob_committed=committed)
