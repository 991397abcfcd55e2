"""Leading-byte checks: are the first bytes of a file plausible for its extension?

A cheap, pure test used twice: at upload time on the first `SNIFF_BYTES` of the body
(so a PNG named `.jpg` is caught before the worker runs) and by the worker before it
hands the file to a decoder (so a decoder is only ever given bytes of its own family).

Container families are interchangeable where trainers treat them so: `.mp4`, `.m4v`
and `.mov` are all ISO base media files; `.webm` and `.mkv` are both Matroska (EBML).
Captions (`.txt`) always pass; their content is checked by the worker.
"""

from __future__ import annotations

from collections.abc import Callable

from trainset.domain.filetypes import BY_EXT, extension

# How many leading bytes `sniff_matches` wants. Every signature below fits in 16;
# the rest is headroom so callers never need to change when a check grows.
SNIFF_BYTES: int = 64

_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"
_EBML = b"\x1a\x45\xdf\xa3"
# Top-level box types an ISO BMFF / QuickTime file may start with. Modern files start
# with `ftyp`; old QuickTime files may start directly with a movie, media data,
# padding (`free`, `skip`, `wide`) or a preview (`pnot`) box.
_BMFF_FIRST_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})


def _is_jpeg(head: bytes) -> bool:
    return head.startswith(_JPEG)


def _is_png(head: bytes) -> bool:
    return head.startswith(_PNG)


def _is_riff(head: bytes, form: bytes) -> bool:
    return len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == form


def _is_webp(head: bytes) -> bool:
    return _is_riff(head, b"WEBP")


def _is_avi(head: bytes) -> bool:
    return _is_riff(head, b"AVI ")


def _is_bmff(head: bytes) -> bool:
    """A plausible box header at offset 0: 32-bit size, then a known box type."""
    if len(head) < 8 or head[4:8] not in _BMFF_FIRST_BOXES:
        return False
    size = int.from_bytes(head[0:4], "big")
    if size == 0:  # the box runs to the end of the file
        return True
    if size == 1:  # a 64-bit size follows the type; it covers at least the 16-byte header
        return len(head) >= 16 and int.from_bytes(head[8:16], "big") >= 16
    return size >= 8  # sizes 2..7 cannot hold the header itself


def _is_ebml(head: bytes) -> bool:
    return head.startswith(_EBML)


def _always(head: bytes) -> bool:
    return True


# (check, what the bytes should be, for messages)
_SIGNATURES: dict[str, tuple[Callable[[bytes], bool], str]] = {
    ".jpg": (_is_jpeg, "a JPEG image"),
    ".jpeg": (_is_jpeg, "a JPEG image"),
    ".png": (_is_png, "a PNG image"),
    ".webp": (_is_webp, "a WebP image"),
    ".mp4": (_is_bmff, "an MP4/QuickTime video"),
    ".m4v": (_is_bmff, "an MP4/QuickTime video"),
    ".mov": (_is_bmff, "an MP4/QuickTime video"),
    ".webm": (_is_ebml, "a WebM/Matroska video"),
    ".mkv": (_is_ebml, "a WebM/Matroska video"),
    ".avi": (_is_avi, "an AVI video"),
    ".txt": (_always, "a text caption"),
}

# Every allowed extension must have a signature; a new type added to the table
# without one fails at import rather than silently passing or failing every file.
_missing = set(BY_EXT) - set(_SIGNATURES)
if _missing:  # pragma: no cover - guards future edits of filetypes.py
    raise RuntimeError(f"no leading-byte signature for {sorted(_missing)}")


def sniff_matches(filename: str, head: bytes) -> bool:
    """Whether `head` (the file's first bytes, ideally `SNIFF_BYTES` of them) fits the
    extension of `filename`.

    A head shorter than a signature cannot match it (a tiny file is not a valid image or
    video). Unknown extensions never match. Captions always match.
    """
    entry = _SIGNATURES.get(extension(filename))
    return entry is not None and entry[0](head)


def expected_content(filename: str) -> str:
    """What the bytes of `filename` should be, for messages: 'a JPEG image',
    'an MP4/QuickTime video', ... ('a supported file' for unknown extensions)."""
    entry = _SIGNATURES.get(extension(filename))
    return entry[1] if entry is not None else "a supported file"
