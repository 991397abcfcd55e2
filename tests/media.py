"""Small, deterministic test media, built in memory.

Every function returns the bytes of a file; the same arguments give the same bytes.
Images come from Pillow, videos from PyAV's bundled FFmpeg (libx264 for the MP4 and
Matroska families, libvpx VP8 for WebM, MPEG-4 Part 2 for AVI), muxed with
`fflags=+bitexact` so Matroska output carries no random UID or date.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections.abc import Iterator

import av
from PIL import Image

# --- images ---------------------------------------------------------------------------


def noise(seed: str, size: int) -> bytes:
    """`size` deterministic pseudo-random bytes for `seed`."""
    return hashlib.shake_256(seed.encode()).digest(size)


def _picture(w: int, h: int) -> Image.Image:
    """A deterministic RGB picture with some texture (gradients plus seeded noise)."""
    red = Image.linear_gradient("L").resize((w, h))
    green = Image.radial_gradient("L").resize((w, h))
    blue = Image.frombytes("L", (w, h), noise(f"picture {w}x{h}", w * h))
    return Image.merge("RGB", (red, green, blue))


def _exif(orientation: int | None) -> bytes:
    if orientation is None:
        return b""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _save(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def jpeg(
    w: int = 64, h: int = 64, *, exif_orientation: int | None = None, quality: int = 85
) -> bytes:
    return _save(_picture(w, h), "JPEG", quality=quality, exif=_exif(exif_orientation))


def png(w: int = 64, h: int = 64, *, exif_orientation: int | None = None) -> bytes:
    return _save(_picture(w, h), "PNG", exif=_exif(exif_orientation))


def webp(w: int = 64, h: int = 64, *, exif_orientation: int | None = None) -> bytes:
    return _save(_picture(w, h), "WEBP", quality=80, exif=_exif(exif_orientation))


def truncated_jpeg() -> bytes:
    """A real JPEG cut in half: the header is intact, the scan data is not."""
    data = jpeg(256, 256)
    return data[: len(data) // 2]


def truncated_png() -> bytes:
    data = png(256, 256)
    return data[: len(data) // 2]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def pixel_bomb_png(w: int = 100_000, h: int = 100_000) -> bytes:
    """A ~60-byte PNG whose header declares w x h pixels (default 10^10, more than
    twice Pillow's limit). The image data is a stub: Pillow refuses at open time,
    before it would read any of it."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00"))
        + _png_chunk(b"IEND", b"")
    )


def pixel_bomb_jpeg(w: int = 60_000, h: int = 60_000) -> bytes:
    """A real small JPEG whose SOF0 header is patched to claim w x h pixels."""
    data = bytearray(jpeg(16, 16))
    sof = data.find(b"\xff\xc0")  # baseline frame header: FFC0 len(2) precision(1) h(2) w(2)
    assert sof > 0
    data[sof + 5 : sof + 9] = struct.pack(">HH", h, w)
    return bytes(data)


def pixel_bomb_webp(w: int = 16_383, h: int = 16_383) -> bytes:
    """A 38-byte lossless WebP of one colour whose VP8L header is patched to claim
    w x h pixels. It is a real bomb: every pixel costs zero bits, so a decoder given
    no limit fills w * h * 4 bytes (16383^2: 4 GB of RSS, 30 s of CPU, measured)."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (10, 20, 30)).save(buf, "WEBP", lossless=True)
    data = bytearray(buf.getvalue())
    head = data.find(b"VP8L") + 8  # after the chunk tag and its size
    assert data[head] == 0x2F  # the VP8L signature byte
    bits = int.from_bytes(data[head + 1 : head + 5], "little")
    bits = (bits & ~((1 << 28) - 1)) | (w - 1) | ((h - 1) << 14)  # 14 bits each, minus one
    data[head + 1 : head + 5] = bits.to_bytes(4, "little")
    return bytes(data)


# --- videos ---------------------------------------------------------------------------

VIDEO_FORMATS = ("mp4", "m4v", "mov", "webm", "mkv", "avi")

# extension -> (FFmpeg muxer, video encoder). A real .m4v is Apple's MP4 variant
# (FFmpeg's "m4v" muxer writes a raw MPEG-4 elementary stream, which is not that).
_VIDEO: dict[str, tuple[str, str]] = {
    "mp4": ("mp4", "libx264"),
    "m4v": ("mp4", "libx264"),
    "mov": ("mov", "libx264"),
    "mkv": ("matroska", "libx264"),
    "webm": ("webm", "libvpx"),
    "avi": ("avi", "mpeg4"),
}
_AUDIO: dict[str, tuple[str, str]] = {
    "mp4": ("mp4", "aac"),
    "m4v": ("mp4", "aac"),
    "mov": ("mov", "aac"),
    "mkv": ("matroska", "aac"),
    "webm": ("webm", "libopus"),
    "avi": ("avi", "pcm_s16le"),
}


def _frames(count: int, w: int, h: int) -> Iterator[av.VideoFrame]:
    base = _picture(w, h)
    for i in range(count):
        frame = av.VideoFrame.from_image(base.rotate(i * 7))  # type: ignore[no-untyped-call]
        frame.pts = i
        yield frame


def _video_stream(out: av.container.OutputContainer, codec: str, w: int, h: int) -> av.VideoStream:
    stream = out.add_stream(codec, rate=10)
    assert isinstance(stream, av.VideoStream)
    stream.width = w
    stream.height = h
    stream.pix_fmt = "yuv420p"
    if codec == "libx264":
        stream.options = {"threads": "1"}  # deterministic output
    return stream


def video(fmt: str = "mp4", frames: int = 5, w: int = 64, h: int = 64) -> bytes:
    """A real, small video: `frames` frames of w x h at 10 fps."""
    muxer, codec = _VIDEO[fmt]
    buf = io.BytesIO()
    with av.open(buf, "w", format=muxer, container_options={"fflags": "+bitexact"}) as out:
        stream = _video_stream(out, codec, w, h)
        for frame in _frames(frames, w, h):
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def audio_only(fmt: str = "mp4", seconds: float = 0.5) -> bytes:
    """A valid container holding only an audio stream (silence): no video to decode."""
    muxer, codec = _AUDIO[fmt]
    rate = 48_000
    buf = io.BytesIO()
    with av.open(buf, "w", format=muxer, container_options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        formats = stream.codec_context.codec.audio_formats
        assert formats
        fmt_name = formats[0].name
        samples = int(rate * seconds)
        frame = av.AudioFrame(format=fmt_name, layout="mono", samples=samples)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = rate
        frame.pts = 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


# A header that passes the leading-byte check for each family.
_VIDEO_HEADERS: dict[str, bytes] = {
    "mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2",
    "m4v": b"\x00\x00\x00\x18ftypM4V \x00\x00\x00\x01M4V isom",
    "mov": b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ",
    "webm": b"\x1a\x45\xdf\xa3",
    "mkv": b"\x1a\x45\xdf\xa3",
    "avi": b"RIFF\x00\x10\x00\x00AVI ",
}


def broken_video(fmt: str = "mp4", size: int = 4096) -> bytes:
    """A valid-looking header for the family followed by seeded random garbage:
    sniffs as a video, but there is no decodable video stream."""
    return _VIDEO_HEADERS[fmt] + noise(f"broken {fmt}", size)


def garbage_then_video(
    fmt: str = "mkv", garbage_packets: int = 50, frames: int = 3, w: int = 64, h: int = 64
) -> bytes:
    """A video stream whose first `garbage_packets` packets are random bytes, followed
    by `frames` real frames: decodable, but only after that many packets."""
    muxer = _VIDEO[fmt][0]
    buf = io.BytesIO()
    with av.open(buf, "w", format=muxer, container_options={"fflags": "+bitexact"}) as out:
        stream = _video_stream(out, "mpeg4", w, h)  # intra-coded, no delay: simple to shift
        real = [p for f in _frames(frames, w, h) for p in stream.encode(f)]
        real += stream.encode(None)
        time_base = real[0].time_base
        step = int(1 / (time_base * 10))  # one frame at 10 fps in the stream's time base
        for i in range(garbage_packets):
            packet = av.Packet(noise(f"packet {i}", 200))
            packet.stream = stream
            packet.time_base = time_base
            packet.pts = packet.dts = i * step
            out.mux(packet)
        for packet in real:
            assert packet.pts is not None and packet.dts is not None
            packet.pts += garbage_packets * step
            packet.dts += garbage_packets * step
            out.mux(packet)
    return buf.getvalue()


# --- captions -------------------------------------------------------------------------


def caption(text: str = "a photo of a dog") -> bytes:
    return text.encode("utf-8")


def non_utf8_caption() -> bytes:
    """Latin-1 text: 'café' with a lone 0xE9 byte, invalid as UTF-8 at offset 16."""
    return "a photo of a café".encode("latin-1")


def nul_caption() -> bytes:
    return b"a photo of\x00 a dog"


def noise_png(w: int, h: int) -> bytes:
    """An RGB PNG of pure noise: it does not compress, so it is about w * h * 3 bytes."""
    im = Image.frombytes("RGB", (w, h), noise(f"noise {w}x{h}", w * h * 3))
    return _save(im, "PNG", compress_level=1)
