"""The allowed file types: extensions, kinds, content types and leading-byte signatures.

One table, used by upload-time sniffing (the first bytes), by the worker's content
checks, and by the signed-URL route for the `Content-Type` a PUT must carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    CAPTION = "caption"


@dataclass(frozen=True, slots=True)
class FileType:
    ext: str  # lower case, with the dot
    kind: Kind
    content_type: str
    # Pillow format name for images (only that decoder is ever tried).
    pil_format: str | None = None


_TYPES = [
    FileType(".jpg", Kind.IMAGE, "image/jpeg", "JPEG"),
    FileType(".jpeg", Kind.IMAGE, "image/jpeg", "JPEG"),
    FileType(".png", Kind.IMAGE, "image/png", "PNG"),
    FileType(".webp", Kind.IMAGE, "image/webp", "WEBP"),
    FileType(".mp4", Kind.VIDEO, "video/mp4"),
    FileType(".m4v", Kind.VIDEO, "video/x-m4v"),
    FileType(".mov", Kind.VIDEO, "video/quicktime"),
    FileType(".webm", Kind.VIDEO, "video/webm"),
    FileType(".mkv", Kind.VIDEO, "video/x-matroska"),
    FileType(".avi", Kind.VIDEO, "video/x-msvideo"),
    FileType(".txt", Kind.CAPTION, "text/plain"),
]

# A caption's text is kept for the gallery when it has at most this many characters
# (trainers' captions are a few hundred); a longer one is still checked in full.
CAPTION_TEXT_MAX = 16 * 1024

BY_EXT: dict[str, FileType] = {t.ext: t for t in _TYPES}
ALLOWED_EXTENSIONS: tuple[str, ...] = tuple(t.ext for t in _TYPES)


def extension(filename: str) -> str:
    """The lower-cased extension with its dot ('' when there is none)."""
    dot = filename.rfind(".")
    return filename[dot:].lower() if dot > 0 else ""


def base_name(filename: str) -> str:
    """The name before the last dot, compared exactly (case-sensitive) for caption pairing."""
    dot = filename.rfind(".")
    return filename[:dot] if dot > 0 else filename


def file_type(filename: str) -> FileType | None:
    return BY_EXT.get(extension(filename))
