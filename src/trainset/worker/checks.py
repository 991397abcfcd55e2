"""Content checks for one stored file, run in a worker process.

Everything here is synchronous and top level so it can be submitted to a
`concurrent.futures.ProcessPoolExecutor` (any start method): `check_file(path,
filename)` reads the bytes at `path` and returns a picklable `CheckResult` verdict.

- Every file: its first bytes must fit its extension (`sniff_matches`), else
  `invalid_file_content`. Decoders are only ever given bytes of their own family.
- Images: Pillow with only the decoder for the extension, a decompression-bomb check
  before any pixel is decoded (`image_too_large`), then a full decode (`corrupt_image`).
- Videos: PyAV with only the demuxer for the extension's family; at least one video
  stream, and its first frame must decode within a bounded number of packets
  (`corrupt_video`).
- Captions: streamed in chunks through a strict incremental UTF-8 decoder; not UTF-8
  or containing NUL is `invalid_caption`. Memory does not grow with the file.

A verdict is about the file's content. If `path` itself cannot be opened (the blob is
missing, a permission problem), `check_file` raises `OSError`: that is an
infrastructure failure to retry, not something to report against the user's file.
A `MemoryError` while decoding a file that is within the limits is likewise raised
rather than turned into a verdict.
"""

from __future__ import annotations

import codecs
import io
import re
import warnings
from dataclasses import dataclass, field
from typing import IO, Final

import av
from av.container import InputContainer
from av.video.stream import VideoStream
from PIL import Image, UnidentifiedImageError

from trainset.domain.filetypes import CAPTION_TEXT_MAX, FileType, Kind, extension, file_type
from trainset.domain.sniff import SNIFF_BYTES, expected_content, sniff_matches

# Failure codes (the dataset rules of the same names).
INVALID_FILE_CONTENT: Final = "invalid_file_content"
CORRUPT_IMAGE: Final = "corrupt_image"
IMAGE_TOO_LARGE: Final = "image_too_large"
CORRUPT_VIDEO: Final = "corrupt_video"
INVALID_CAPTION: Final = "invalid_caption"

# Captions are read this many bytes at a time.
CAPTION_CHUNK_BYTES: Final = 64 * 1024
# A video whose first frame has not decoded after this many demuxed packets (of any
# stream), or this many bytes of packet data, is reported as having no decodable
# video stream. Real files decode their first frame within a handful of packets.
MAX_PACKETS_BEFORE_FIRST_FRAME: Final = 500
MAX_PACKET_BYTES_BEFORE_FIRST_FRAME: Final = 256 * 1024 * 1024
# PyAV's (open, read) timeouts in seconds: FFmpeg's interrupt callback aborts a single
# open or read that blocks longer than this.
VIDEO_TIMEOUT: Final = (30.0, 30.0)

ORIENTATION_TAG: Final = 0x0112

# Gallery thumbnails: the longest side, and the WebP quality (about 6-15 KB each).
THUMB_PX: Final = 256
THUMB_QUALITY: Final = 75
THUMB_METHOD: Final = 0  # libwebp effort (0-6): 0 takes a third of 4's time at 256 px

# The one FFmpeg demuxer tried for each video extension (same container family).
_DEMUXERS: Final[dict[str, str]] = {
    ".mp4": "mov",
    ".m4v": "mov",
    ".mov": "mov",
    ".webm": "matroska",
    ".mkv": "matroska",
    ".avi": "avi",
}

_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")
_MAX_REASON_CHARS = 200


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdict on one file version.

    `code` and `message` are set exactly when `ok` is False. `meta` holds facts for
    warnings and the UI: images `width`, `height`, `format`, `mode`, `frames`,
    `exif_rotated`; videos `width`, `height`, `codec`, `container`, `duration`
    (seconds or None), `frames` (or None), `fps` (or None); captions `chars`, `empty`.
    Failures may carry partial facts (e.g. `pixels` and `limit` for image_too_large).

    A passing image or video also carries `thumbnail`, a small WebP of it (upright, as
    EXIF says), made from the pixels the check decoded anyway; a caption carries its
    `text` when it is short enough for the gallery (`CAPTION_TEXT_MAX`).
    """

    ok: bool
    code: str | None
    message: str | None
    meta: dict[str, object] = field(default_factory=dict)
    thumbnail: bytes | None = None
    text: str | None = None


def _passed(
    meta: dict[str, object], thumbnail: bytes | None = None, text: str | None = None
) -> CheckResult:
    return CheckResult(ok=True, code=None, message=None, meta=meta, thumbnail=thumbnail, text=text)


# EXIF orientation -> the transpose that turns a picture upright (EXIF 2.3, table 4).
_UPRIGHT: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _fit(size: tuple[int, int]) -> tuple[int, int]:
    """`size` scaled down to fit a THUMB_PX square (never up)."""
    w, h = size
    scale = min(1.0, THUMB_PX / max(w, h, 1))
    return max(1, round(w * scale)), max(1, round(h * scale))


def thumbnail(im: Image.Image, orientation: object = None) -> bytes | None:
    """A WebP of at most THUMB_PX on its longest side, turned upright by its EXIF
    `orientation`. Shrinks `im` in place (the check is done with its pixels), and turns
    the small picture, not the large one. None when it cannot be made: a thumbnail is
    never worth failing a file that decoded."""
    try:
        if im.mode not in ("RGB", "RGBA"):
            im = im.convert("RGBA" if "A" in im.getbands() or "transparency" in im.info else "RGB")
        # An integer box reduction first (fast), then Lanczos over the last factor of 2.
        im.thumbnail((THUMB_PX, THUMB_PX), Image.Resampling.LANCZOS, reducing_gap=2.0)
        if isinstance(orientation, int) and orientation in _UPRIGHT:
            im = im.transpose(_UPRIGHT[orientation])
        out = io.BytesIO()
        im.save(out, "WEBP", quality=THUMB_QUALITY, method=THUMB_METHOD)
        return out.getvalue()
    except Exception:
        return None


def _failed(code: str, message: str, meta: dict[str, object] | None = None) -> CheckResult:
    return CheckResult(ok=False, code=code, message=message, meta=meta or {})


def _reason(exc: BaseException, path: str, filename: str) -> str:
    """A short, safe description of a decoder error: never the internal path."""
    if isinstance(exc, av.FFmpegError) and exc.strerror:
        text = str(exc.strerror)  # str(exc) adds the errno and the C function name
    else:
        text = str(exc).strip() or type(exc).__name__
    text = text.replace(path, filename)
    text = " ".join(text.split())  # one line
    if len(text) > _MAX_REASON_CHARS:
        text = text[: _MAX_REASON_CHARS - 1] + "…"
    return text


def check_file(path: str, filename: str) -> CheckResult:
    """Check the bytes at `path` against the type named by `filename`'s extension.

    `filename` is the user-visible name: it picks the file type and appears in
    messages, and is never used as a path.
    """
    ft = file_type(filename)
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
        if ft is None:
            return _failed(
                INVALID_FILE_CONTENT,
                f"{filename} has an unsupported extension {extension(filename) or '(none)'!r}.",
            )
        if not sniff_matches(filename, head):
            return _failed(
                INVALID_FILE_CONTENT,
                f"{filename} is not {expected_content(filename)} "
                "(its bytes do not match the extension).",
            )
        f.seek(0)
        if ft.kind is Kind.IMAGE:
            return _check_image(f, path, filename, ft)
        if ft.kind is Kind.VIDEO:
            return _check_video(f, path, filename, ft)
        return _check_caption(f, filename)


# Images ---------------------------------------------------------------------------


def _check_image(f: IO[bytes], path: str, filename: str, ft: FileType) -> CheckResult:
    assert ft.pil_format is not None
    what = expected_content(filename)
    try:
        with warnings.catch_warnings():
            # Pillow warns between MAX_IMAGE_PIXELS and twice that, and raises above;
            # both are refused, and both happen inside Image.open, before decoding.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(f, formats=[ft.pil_format]) as im:
                meta: dict[str, object] = {
                    "width": im.width,
                    "height": im.height,
                    "format": im.format,
                    "mode": im.mode,
                    "frames": getattr(im, "n_frames", 1),
                }
                # A JPEG decodes with its inverse DCT scaled down to about the
                # thumbnail's size (libjpeg's scaled decoding; other formats ignore
                # this). It still reads and entropy-decodes every coefficient of every
                # scan, so damage anywhere in the stream fails the load exactly as at
                # full size; only the pixels it produces are fewer (bench_checks.py).
                im.draft(None, _fit(im.size))
                im.load()
                meta.update(_orientation(im))
                thumb = thumbnail(im, meta.get("exif_orientation"))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return _too_large(filename, exc)
    except UnidentifiedImageError:
        return _failed(
            CORRUPT_IMAGE,
            f"{filename} could not be decoded as {what} (its header is not readable); "
            "it is damaged, so export or upload it again.",
        )
    except MemoryError:
        raise
    except Exception as exc:  # any decoder failure is a verdict on the file, never a crash
        reason = _reason(exc, path, filename)
        return _failed(
            CORRUPT_IMAGE,
            f"{filename} could not be decoded as {what} ({reason}); "
            "it is damaged or truncated, so export or upload it again.",
            {"error": reason},
        )
    return _passed(meta, thumb)


def _orientation(im: Image.Image) -> dict[str, object]:
    try:
        orientation = im.getexif().get(ORIENTATION_TAG)
    except Exception:  # a damaged EXIF block does not make the pixels unusable
        return {"exif_rotated": False, "exif_unreadable": True}
    meta: dict[str, object] = {"exif_rotated": orientation is not None and orientation != 1}
    if isinstance(orientation, int):
        meta["exif_orientation"] = orientation
    return meta


def _too_large(filename: str, exc: BaseException) -> CheckResult:
    limit = Image.MAX_IMAGE_PIXELS
    found = _BOMB_PIXELS.search(str(exc))
    meta: dict[str, object] = {"limit": limit}
    if found:
        pixels = int(found.group(1))
        meta["pixels"] = pixels
        size = f"has {pixels:,} pixels, more than"
    else:
        size = "is larger than"
    return _failed(
        IMAGE_TOO_LARGE,
        f"{filename} {size} the {limit:,}-pixel limit for images; "
        "downscale it and upload it again.",
        meta,
    )


# Videos ---------------------------------------------------------------------------


def _no_stream(filename: str, reason: str, meta: dict[str, object] | None = None) -> CheckResult:
    return _failed(CORRUPT_VIDEO, f"{filename} has no decodable video stream ({reason}).", meta)


def _check_video(f: IO[bytes], path: str, filename: str, ft: FileType) -> CheckResult:
    try:
        container = av.open(f, mode="r", format=_DEMUXERS[ft.ext], timeout=VIDEO_TIMEOUT)
    except Exception as exc:
        if _out_of_memory(exc):
            raise
        reason = f"the container could not be read: {_reason(exc, path, filename)}"
        return _no_stream(filename, reason)
    try:
        with container:
            return _first_frame(container, path, filename)
    except Exception as exc:  # demuxer failures mid-stream, or anything else PyAV raises
        if _out_of_memory(exc):
            raise
        return _no_stream(filename, _reason(exc, path, filename))


def _out_of_memory(exc: Exception) -> bool:
    """Python ran out of memory (retry later), as opposed to FFmpeg's ENOMEM
    (av.MemoryError), which usually means absurd sizes in a damaged file."""
    return isinstance(exc, MemoryError) and not isinstance(exc, av.FFmpegError)


def _pick_video_stream(container: InputContainer) -> VideoStream | None:
    """The first video stream that is not cover art, else the first video stream."""
    streams = list(container.streams.video)
    if not streams:
        return None
    for stream in streams:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return streams[0]


def _first_frame(container: InputContainer, path: str, filename: str) -> CheckResult:
    stream = _pick_video_stream(container)
    if stream is None:
        return _no_stream(filename, "the file has no video stream")
    ctx = stream.codec_context
    if ctx is None:  # FFmpeg does not know the codec at all
        return _no_stream(filename, "there is no decoder for its codec")
    ctx.thread_count = 1  # one frame; the worker pool supplies the parallelism

    packets = 0
    packet_bytes = 0
    last_error: str | None = None
    frame = None
    for packet in container.demux():
        packets += 1
        packet_bytes += packet.size
        if packet.stream.index == stream.index:
            try:
                frames = ctx.decode(packet)
            except av.FFmpegError as exc:  # a damaged packet; a player would carry on
                last_error = _reason(exc, path, filename)
                frames = []
            if frames:
                frame = frames[0]
                break
        if packets >= MAX_PACKETS_BEFORE_FIRST_FRAME:
            break
        if packet_bytes >= MAX_PACKET_BYTES_BEFORE_FIRST_FRAME:
            break

    meta: dict[str, object] = {"codec": ctx.name, "container": container.format.name}
    if frame is None:
        if packets >= MAX_PACKETS_BEFORE_FIRST_FRAME:
            reason = f"no frame decoded in the first {MAX_PACKETS_BEFORE_FIRST_FRAME} packets"
        elif packet_bytes >= MAX_PACKET_BYTES_BEFORE_FIRST_FRAME:
            reason = f"no frame decoded in the first {packet_bytes:,} bytes"
        else:
            reason = "no frame could be decoded"
        if last_error is not None:
            reason += f"; the decoder reported: {last_error}"
        return _no_stream(filename, reason, meta)

    meta.update(
        width=frame.width,
        height=frame.height,
        duration=_duration(container, stream),
        frames=stream.frames or None,
        fps=float(stream.average_rate) if stream.average_rate else None,
    )
    try:
        poster = thumbnail(frame.to_image())  # type: ignore[no-untyped-call]
    except Exception:  # a pixel format PyAV cannot convert: no poster, the video is fine
        poster = None
    return _passed(meta, poster)


def _duration(container: InputContainer, stream: VideoStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / av.time_base
    return None


# Captions -------------------------------------------------------------------------


def _check_caption(f: IO[bytes], filename: str) -> CheckResult:
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0  # bytes of the file consumed before `chunk`
    chars = 0
    blank = True
    first_text = True
    kept: list[str] | None = []  # the text, until it grows past CAPTION_TEXT_MAX

    def not_utf8(at: int) -> CheckResult:
        return _failed(
            INVALID_CAPTION,
            f"{filename} is not valid UTF-8 text (invalid byte at offset {at}); save it as UTF-8.",
            {"offset": at},
        )

    while True:
        chunk = f.read(CAPTION_CHUNK_BYTES)
        final = not chunk
        pending = len(decoder.getstate()[0])  # bytes of an unfinished character
        try:
            text = decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            bad = offset - pending + exc.start
            nul = chunk.find(b"\0")
            if nul < 0 or offset + nul > bad:
                return not_utf8(bad)
            text = ""  # the NUL comes first; reported below
        nul = chunk.find(b"\0")
        if nul >= 0:
            at = offset + nul
            return _failed(
                INVALID_CAPTION,
                f"{filename} contains a NUL byte at offset {at}; "
                "captions must be plain UTF-8 text.",
                {"offset": at},
            )
        if final:
            break
        if first_text and text:
            first_text = False
            text = text.removeprefix("\ufeff")  # a UTF-8 byte order mark is fine
        chars += len(text)
        if kept is not None:
            kept.append(text)
            if chars > CAPTION_TEXT_MAX:
                kept = None
        if blank and text and not text.isspace():
            blank = False
        offset += len(chunk)
    return _passed(
        {"chars": chars, "empty": blank}, text="".join(kept) if kept is not None else None
    )
