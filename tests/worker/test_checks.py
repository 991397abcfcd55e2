"""Leading-byte sniffing and the worker's per-file content checks."""

from __future__ import annotations

import io
import multiprocessing
import pickle
import tracemalloc
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import pytest
from PIL import Image

from tests import media
from trainset.domain.filetypes import BY_EXT
from trainset.domain.sniff import SNIFF_BYTES, expected_content, sniff_matches
from trainset.worker import checks
from trainset.worker.checks import CheckResult, check_file

Writer = Callable[[bytes, str], tuple[str, str]]


@pytest.fixture
def put(tmp_path: Path) -> Writer:
    """Store bytes under a generated blob name; return (path, user-visible filename)."""
    counter = iter(range(1_000_000))

    def write(data: bytes, filename: str) -> tuple[str, str]:
        path = tmp_path / f"blob-{next(counter)}"
        path.write_bytes(data)
        return str(path), filename

    return write


def run(put: Writer, data: bytes, filename: str) -> CheckResult:
    path, name = put(data, filename)
    result = check_file(path, name)
    assert result.ok == (result.code is None) == (result.message is None)
    if not result.ok:
        assert result.message is not None
        assert name in result.message
        assert path not in result.message  # internal blob paths never reach users
    return result


# --- sniffing -------------------------------------------------------------------------

# One sample head per content family.
FAMILY_HEADS: dict[str, bytes] = {
    "jpeg": media.jpeg()[:SNIFF_BYTES],
    "png": media.png()[:SNIFF_BYTES],
    "webp": media.webp()[:SNIFF_BYTES],
    "bmff": media.video("mp4")[:SNIFF_BYTES],
    "qt": media.video("mov")[:SNIFF_BYTES],
    "ebml": media.video("webm")[:SNIFF_BYTES],
    "avi": media.video("avi")[:SNIFF_BYTES],
    "text": b"a photo of a dog",
    "wav": b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00",
}
FAMILY_OF_EXT = {
    ".jpg": {"jpeg"},
    ".jpeg": {"jpeg"},
    ".png": {"png"},
    ".webp": {"webp"},
    ".mp4": {"bmff", "qt"},
    ".m4v": {"bmff", "qt"},
    ".mov": {"bmff", "qt"},
    ".webm": {"ebml"},
    ".mkv": {"ebml"},
    ".avi": {"avi"},
    ".txt": set(FAMILY_HEADS),
}


def test_every_allowed_extension_has_a_family() -> None:
    assert set(FAMILY_OF_EXT) == set(BY_EXT)
    for ext in BY_EXT:
        assert expected_content("x" + ext) != "a supported file"


@pytest.mark.parametrize("ext", sorted(BY_EXT))
@pytest.mark.parametrize("family", sorted(FAMILY_HEADS))
def test_sniff_matrix(ext: str, family: str) -> None:
    assert sniff_matches("file" + ext, FAMILY_HEADS[family]) == (family in FAMILY_OF_EXT[ext])


def test_sniff_is_case_insensitive_and_needs_an_allowed_extension() -> None:
    assert sniff_matches("A.JPG", FAMILY_HEADS["jpeg"])
    assert sniff_matches("clip.MoV", FAMILY_HEADS["bmff"])
    assert not sniff_matches("a.gif", b"GIF89a" + bytes(58))
    assert not sniff_matches("jpeg", FAMILY_HEADS["jpeg"])  # no extension
    assert not sniff_matches("a.jpg.exe", FAMILY_HEADS["jpeg"])


@pytest.mark.parametrize("ext", [e for e in sorted(BY_EXT) if e != ".txt"])
def test_too_short_heads_do_not_match(ext: str) -> None:
    family = sorted(FAMILY_OF_EXT[ext])[0]
    head = FAMILY_HEADS[family]
    assert not sniff_matches("f" + ext, b"")
    needed = next(n for n in range(len(head) + 1) if sniff_matches("f" + ext, head[:n]))
    assert 3 <= needed <= 16 <= SNIFF_BYTES
    assert not sniff_matches("f" + ext, head[: needed - 1])


def test_captions_always_sniff_ok() -> None:
    assert sniff_matches("a.txt", b"")
    assert sniff_matches("a.txt", b"\xff\xfe\x00garbage")


@pytest.mark.parametrize("box", [b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"])
def test_bmff_first_boxes(box: bytes) -> None:
    assert sniff_matches("a.mov", b"\x00\x00\x00\x08" + box)
    assert sniff_matches("a.mp4", b"\x00\x00\x00\x00" + box)  # size 0: to end of file


def test_bmff_box_sizes() -> None:
    assert not sniff_matches("a.mp4", b"\x00\x00\x00\x08abcd")  # unknown box type
    assert not sniff_matches("a.mp4", b"\x00\x00\x00\x04ftyp")  # smaller than its header
    large = b"\x00\x00\x00\x01mdat" + (1 << 33).to_bytes(8, "big")
    assert sniff_matches("a.mp4", large)
    assert not sniff_matches("a.mp4", large[:12])  # 64-bit size cut off
    assert not sniff_matches("a.mp4", b"\x00\x00\x00\x01mdat" + (8).to_bytes(8, "big"))


# --- images ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "make", "fmt"),
    [
        ("photo.jpg", media.jpeg, "JPEG"),
        ("photo.jpeg", media.jpeg, "JPEG"),
        ("PHOTO.JPG", media.jpeg, "JPEG"),
        ("photo.png", media.png, "PNG"),
        ("photo.webp", media.webp, "WEBP"),
    ],
)
def test_good_images(put: Writer, name: str, make: Callable[..., bytes], fmt: str) -> None:
    result = run(put, make(96, 40), name)
    assert result.ok, result.message
    assert result.meta["width"] == 96
    assert result.meta["height"] == 40
    assert result.meta["format"] == fmt
    assert result.meta["exif_rotated"] is False


@pytest.mark.parametrize("make", [media.jpeg, media.png, media.webp])
@pytest.mark.parametrize(("orientation", "rotated"), [(1, False), (3, True), (6, True), (8, True)])
def test_exif_rotated(
    put: Writer, make: Callable[..., bytes], orientation: int, rotated: bool
) -> None:
    ext = {media.jpeg: ".jpg", media.png: ".png", media.webp: ".webp"}[make]
    result = run(put, make(exif_orientation=orientation), "r" + ext)
    assert result.ok
    assert result.meta["exif_rotated"] is rotated
    assert result.meta["exif_orientation"] == orientation


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("x.jpg", media.png()),
        ("x.jpeg", media.webp()),
        ("x.png", media.jpeg()),
        ("x.webp", media.png()),
        ("x.webp", media.video("avi")),  # RIFF, but not WEBP
        ("x.jpg", b""),
        ("x.png", b"\x89PNG"),
    ],
    ids=[
        "png-as-jpg",
        "webp-as-jpeg",
        "jpeg-as-png",
        "png-as-webp",
        "avi-as-webp",
        "empty",
        "short",
    ],
)
def test_images_with_wrong_content(put: Writer, name: str, data: bytes) -> None:
    result = run(put, data, name)
    assert result.code == "invalid_file_content"
    assert result.message is not None
    assert "do not match the extension" in result.message


def test_truncated_images(put: Writer) -> None:
    for name, data in [("t.jpg", media.truncated_jpeg()), ("t.png", media.truncated_png())]:
        result = run(put, data, name)
        assert result.code == "corrupt_image", name
        assert "truncated" in str(result.message)


def test_truncated_webp(put: Writer) -> None:
    data = media.webp(256, 256)
    result = run(put, data[: len(data) // 2], "t.webp")
    assert result.code == "corrupt_image"


def test_garbage_after_a_valid_signature_is_corrupt(put: Writer) -> None:
    for name, header in [("g.png", b"\x89PNG\r\n\x1a\n"), ("g.jpg", b"\xff\xd8\xff\xe0")]:
        result = run(put, header + bytes(range(256)) * 4, name)
        assert result.code == "corrupt_image", (name, result)


def _full_size_decode_fails(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
            im.load()
    except Exception:
        return True
    return False


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_a_scaled_jpeg_decode_refuses_what_a_full_decode_refuses(
    put: Writer, progressive: bool
) -> None:
    """The check decodes JPEGs with a scaled inverse DCT (only a thumbnail's worth of
    pixels), which still reads every coefficient: each damaged copy, cut short or with
    its scan data overwritten at some depth, gets the verdict a full-size decode gives."""
    im = Image.frombytes("RGB", (1200, 900), media.noise("scaled", 1200 * 900 * 3))
    good = _save_jpeg(im, progressive)
    start = good.find(b"\xff\xda")  # the first scan
    damaged: list[bytes] = []
    for frac in (0.1, 0.5, 0.9, 0.99):
        at = start + int((len(good) - start) * frac)
        damaged.append(good[:at])  # cut short
        damaged.append(good[:at] + b"\xff\xd9" + good[at + 2 :])  # an early end marker
        damaged.append(good[:at] + bytes(4096) + good[at + 4096 :])  # zeroed scan data
    refused = 0
    for i, data in enumerate(damaged):
        want = _full_size_decode_fails(data)
        result = run(put, data, f"d{i}.jpg")
        assert (result.code == "corrupt_image") == want, (i, result)
        refused += want
    assert refused >= 4  # the table holds real refusals, not only decodable copies
    assert run(put, good, "good.jpg").ok


def _save_jpeg(im: Image.Image, progressive: bool) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, progressive=progressive)
    return buf.getvalue()


def test_damaged_png_data_is_corrupt(put: Writer) -> None:
    # A PNG with its pixel data zeroed fails zlib decoding: corrupt, not a crash.
    data = bytearray(media.png(128, 128))
    idat = data.find(b"IDAT")
    data[idat + 10 : idat + 400] = bytes(390)
    result = run(put, bytes(data), "z.png")
    assert result.code == "corrupt_image"


@pytest.mark.parametrize(
    ("name", "data", "pixels"),
    [
        ("bomb.png", media.pixel_bomb_png(), 10**10),  # above twice the limit: an error
        ("bomb2.png", media.pixel_bomb_png(10_000, 10_000), 10**8),  # between: a warning
        ("bomb.jpg", media.pixel_bomb_jpeg(), 60_000 * 60_000),
    ],
    ids=["png-over-twice-the-limit", "png-over-the-limit", "jpeg"],
)
def test_pixel_bombs(put: Writer, name: str, data: bytes, pixels: int) -> None:
    assert len(data) < 1000
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # (not "error": that would do check_file's job)
        result = run(put, data, name)
    assert caught == []  # refused, not merely warned about
    assert result.code == "image_too_large"
    assert result.meta == {"pixels": pixels, "limit": Image.MAX_IMAGE_PIXELS}
    assert f"{pixels:,} pixels" in str(result.message)


def test_bomb_check_leaves_warning_filters_alone(put: Writer) -> None:
    before = list(warnings.filters)
    assert run(put, media.pixel_bomb_png(10_000, 10_000), "b.png").code == "image_too_large"
    assert run(put, media.jpeg(), "ok.jpg").ok
    assert warnings.filters == before


def test_image_exactly_at_the_limit_is_not_a_bomb(put: Writer) -> None:
    # The check is "above the limit": a header at the limit is opened, then its
    # (stub) pixel data fails to decode.
    assert Image.MAX_IMAGE_PIXELS is not None
    side = int(Image.MAX_IMAGE_PIXELS**0.5)
    result = run(put, media.pixel_bomb_png(side, side), "edge.png")
    assert result.code == "corrupt_image"


# --- videos ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", media.VIDEO_FORMATS)
def test_good_videos(put: Writer, fmt: str) -> None:
    result = run(put, media.video(fmt, frames=5, w=96, h=64), "clip." + fmt)
    assert result.ok, result.message
    meta = result.meta
    assert (meta["width"], meta["height"]) == (96, 64)
    assert meta["codec"] == {"webm": "vp8", "avi": "mpeg4"}.get(fmt, "h264")
    assert isinstance(meta["duration"], float)
    assert meta["duration"] == pytest.approx(0.5, abs=0.15)
    assert meta["fps"] == pytest.approx(10.0)
    assert meta["frames"] in (5, None)


@pytest.mark.parametrize(
    ("name", "source"),
    [("a.mov", "mp4"), ("a.m4v", "mov"), ("a.mp4", "m4v"), ("a.mkv", "webm"), ("a.webm", "mkv")],
)
def test_interchangeable_containers(put: Writer, name: str, source: str) -> None:
    assert run(put, media.video(source), name).ok


@pytest.mark.parametrize("fmt", media.VIDEO_FORMATS)
def test_videos_with_wrong_content(put: Writer, fmt: str) -> None:
    other = "avi" if fmt != "avi" else "mkv"
    for data in [media.jpeg(), media.png(), media.video(other), media.caption()]:
        result = run(put, data, "clip." + fmt)
        assert result.code == "invalid_file_content"


def test_wrong_content_messages(put: Writer) -> None:
    assert run(put, media.png(), "x.jpg").message == (
        "x.jpg is not a JPEG image (its bytes do not match the extension)."
    )
    assert run(put, media.jpeg(), "x.mp4").message == (
        "x.mp4 is not an MP4/QuickTime video (its bytes do not match the extension)."
    )


@pytest.mark.parametrize("fmt", media.VIDEO_FORMATS)
def test_broken_videos(put: Writer, fmt: str) -> None:
    data = media.broken_video(fmt)
    assert sniff_matches("clip." + fmt, data[:SNIFF_BYTES])
    result = run(put, data, "clip." + fmt)
    assert result.code == "corrupt_video"
    assert str(result.message).startswith(f"clip.{fmt} has no decodable video stream (")


@pytest.mark.parametrize("fmt", media.VIDEO_FORMATS)
def test_audio_only_is_not_a_video(put: Writer, fmt: str) -> None:
    result = run(put, media.audio_only(fmt), "song." + fmt)
    assert result.code == "corrupt_video"
    assert "no video stream" in str(result.message)


@pytest.mark.parametrize("fmt", media.VIDEO_FORMATS)
def test_truncated_videos(put: Writer, fmt: str) -> None:
    data = media.video(fmt, frames=3)
    for keep in (12, 64):
        result = run(put, data[:keep], "cut." + fmt)
        assert result.code in ("corrupt_video", "invalid_file_content"), (keep, result)
        assert not result.ok


def test_unknown_codec(put: Writer) -> None:
    data = media.video("mkv")
    assert b"V_MPEG4/ISO/AVC" in data
    result = run(put, data.replace(b"V_MPEG4/ISO/AVC", b"V_MPEG4/ISO/XYZ"), "x.mkv")
    assert result.code == "corrupt_video"
    assert "no decoder" in str(result.message)


def test_cover_art_is_not_taken_for_the_video() -> None:
    # Muxers put attached pictures after the real streams, so this is checked directly.
    cover: Any = SimpleNamespace(disposition=av.stream.Disposition.attached_pic)
    movie: Any = SimpleNamespace(disposition=av.stream.Disposition.default)

    def container(*video: Any) -> Any:
        return SimpleNamespace(streams=SimpleNamespace(video=list(video)))

    assert checks._pick_video_stream(container(cover, movie)) is movie
    assert checks._pick_video_stream(container(movie, cover)) is movie
    assert checks._pick_video_stream(container(cover)) is cover  # better than nothing
    assert checks._pick_video_stream(container()) is None


def test_first_frame_after_damaged_packets(put: Writer, monkeypatch: pytest.MonkeyPatch) -> None:
    data = media.garbage_then_video("mkv", garbage_packets=50)
    assert run(put, data, "late.mkv").ok  # a player skips damaged packets; so do we

    monkeypatch.setattr(checks, "MAX_PACKETS_BEFORE_FIRST_FRAME", 10)
    result = run(put, data, "late.mkv")
    assert result.code == "corrupt_video"
    assert "no frame decoded in the first 10 packets" in str(result.message)
    assert "the decoder reported" in str(result.message)


def test_packet_byte_budget(put: Writer, monkeypatch: pytest.MonkeyPatch) -> None:
    data = media.garbage_then_video("mp4", garbage_packets=50)
    monkeypatch.setattr(checks, "MAX_PACKET_BYTES_BEFORE_FIRST_FRAME", 2_000)
    result = run(put, data, "late.mp4")
    assert result.code == "corrupt_video"
    assert "bytes" in str(result.message)


# --- captions -------------------------------------------------------------------------


def test_good_caption(put: Writer) -> None:
    result = run(put, media.caption("a photo of a dog"), "a.txt")
    assert result == CheckResult(
        True, None, None, {"chars": 16, "empty": False}, text="a photo of a dog"
    )


def test_caption_with_bom_and_unicode(put: Writer) -> None:
    result = run(put, b"\xef\xbb\xbf" + "ein Hund, 犬 🐕".encode(), "a.txt")
    assert result.ok
    assert result.meta == {"chars": 13, "empty": False}


@pytest.mark.parametrize(
    "data",
    [b"", b"   \n\t\r\n", b"\xef\xbb\xbf", "\u3000\u00a0".encode()],
    ids=["zero-bytes", "whitespace", "bom-only", "unicode-spaces"],
)
def test_empty_captions(put: Writer, data: bytes) -> None:
    result = run(put, data, "e.txt")
    assert result.ok
    assert result.meta["empty"] is True


def test_zero_width_space_is_not_blank(put: Writer) -> None:
    assert run(put, "\u200b".encode(), "z.txt").meta["empty"] is False


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (media.non_utf8_caption(), 16),
        (b"caf\xc3", 3),  # a character cut off at the end of the file
        (b"ab\xed\xa0\x80", 2),  # an encoded surrogate
        (b"\xc0\xaf", 0),  # overlong encoding
        (b"\xff\xfeh\x00i\x00", 0),  # UTF-16
    ],
    ids=["latin-1", "cut-off", "surrogate", "overlong", "utf-16"],
)
def test_non_utf8_captions(put: Writer, data: bytes, offset: int) -> None:
    result = run(put, data, "bad.txt")
    assert result.code == "invalid_caption"
    assert result.meta == {"offset": offset}
    assert result.message == (
        f"bad.txt is not valid UTF-8 text (invalid byte at offset {offset}); save it as UTF-8."
    )


def test_nul_caption(put: Writer) -> None:
    result = run(put, media.nul_caption(), "n.txt")
    assert result.code == "invalid_caption"
    assert result.meta == {"offset": 10}
    assert "NUL" in str(result.message)


def test_caption_chunk_boundaries(put: Writer) -> None:
    chunk = checks.CAPTION_CHUNK_BYTES
    euro = "€".encode()  # three bytes
    # A character split across two reads is fine and counted once.
    ok = run(put, b"a" * (chunk - 1) + euro + b"b", "split.txt")
    assert ok.meta == {"chars": chunk + 1, "empty": False}
    # An invalid sequence that starts in one read and ends in the next is reported at
    # the offset where it starts.
    bad = run(put, b"a" * (chunk - 1) + euro[:2] + b"X", "split.txt")
    assert bad.meta == {"offset": chunk - 1}
    # Offsets keep counting in later reads, for invalid bytes and NULs alike.
    assert run(put, b"a" * (3 * chunk) + b"\xff", "late.txt").meta == {"offset": 3 * chunk}
    assert run(put, b"a" * (2 * chunk + 5) + b"\x00", "late.txt").meta == {"offset": 2 * chunk + 5}
    # Whichever problem comes first in a read is the one reported.
    assert run(put, b"ab\xffcd\x00", "both.txt").meta == {"offset": 2}
    assert run(put, b"ab\x00cd\xff", "both.txt").meta == {"offset": 2}


def test_large_caption_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    line = "a photo of a dog on a beach, golden hour, 35mm, ünïcödé\n".encode()
    with path.open("wb") as f:
        for _ in range(20 * 1024 * 1024 // (len(line) * 1000) + 1):
            f.write(line * 1000)
    size = path.stat().st_size
    assert size >= 20 * 1024 * 1024
    tracemalloc.start()
    try:
        result = check_file(str(path), "big.txt")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok
    assert result.meta["chars"] == size // len(line) * len(line.decode())
    assert peak < 2 * 1024 * 1024, peak


# --- any file -------------------------------------------------------------------------


def test_unknown_extension_is_a_verdict_not_a_crash(put: Writer) -> None:
    for name in ["a.gif", "noext", "a.jpg.exe"]:
        result = run(put, media.jpeg(), name)
        assert result.code == "invalid_file_content"


def test_filename_is_never_used_as_a_path(put: Writer) -> None:
    path, _ = put(media.jpeg(), "ignored")
    assert check_file(path, "../../../etc/passwd.jpg").ok
    assert check_file(path, "/definitely/not/here/photo.jpg").ok


def test_missing_blob_is_an_error_not_a_verdict(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        check_file(str(tmp_path / "gone"), "photo.jpg")


def test_results_pickle() -> None:
    result = CheckResult(False, "corrupt_image", "x.jpg is broken.", {"width": 1, "a": None})
    assert pickle.loads(pickle.dumps(result)) == result  # noqa: S301 - our own bytes


def test_check_file_in_a_process_pool(put: Writer) -> None:
    jobs = [
        put(media.jpeg(exif_orientation=6), "a.jpg"),
        put(media.truncated_jpeg(), "b.jpg"),
        put(media.pixel_bomb_png(), "c.png"),
        put(media.video("mp4"), "d.mp4"),
        put(media.broken_video("webm"), "e.webm"),
        put(media.nul_caption(), "f.txt"),
        put(media.png(), "g.jpg"),
    ]
    expected = [check_file(path, name) for path, name in jobs]
    # "spawn": nothing may depend on state inherited from the parent process.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        results = list(pool.map(check_file, *zip(*jobs, strict=True)))
    assert results == expected
    assert [r.code for r in results] == [
        None,
        "corrupt_image",
        "image_too_large",
        None,
        "corrupt_video",
        "invalid_caption",
        "invalid_file_content",
    ]


# --- thumbnails and caption text (the gallery) -----------------------------------------


def _thumb(result: CheckResult) -> Image.Image:
    assert result.ok and result.thumbnail is not None
    im = Image.open(io.BytesIO(result.thumbnail), formats=["WEBP"])
    im.load()
    return im


@pytest.mark.parametrize(
    ("data", "name", "size"),
    [
        (media.jpeg(1000, 500), "a.jpg", (256, 128)),
        (media.png(100, 80), "a.png", (100, 80)),  # never enlarged
        (media.webp(300, 600), "a.webp", (128, 256)),
        # EXIF orientation 6 (rotate 90): stored 400 wide, shown 400 tall.
        (media.jpeg(400, 200, exif_orientation=6), "r.jpg", (128, 256)),
    ],
)
def test_images_get_an_upright_thumbnail(put: Writer, data: bytes, name: str, size: Any) -> None:
    assert _thumb(run(put, data, name)).size == size


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "I;16", "1", "CMYK"])
def test_thumbnails_of_every_pixel_mode(put: Writer, mode: str) -> None:
    im = Image.new("RGB", (300, 300), (200, 40, 90)).convert(mode)
    fmt, name = ("JPEG", "m.jpg") if mode == "CMYK" else ("PNG", "m.png")
    buf = io.BytesIO()
    im.save(buf, fmt)
    thumb = _thumb(run(put, buf.getvalue(), name))
    assert thumb.size == (256, 256)
    assert thumb.mode in ("RGB", "RGBA")


def test_a_video_thumbnail_is_its_first_frame(put: Writer) -> None:
    assert _thumb(run(put, media.video("webm", frames=3, w=320, h=160), "v.webm")).size == (
        256,
        128,
    )


def test_failed_files_get_no_thumbnail(put: Writer) -> None:
    assert run(put, media.truncated_jpeg(), "t.jpg").thumbnail is None


def test_caption_text_is_kept_only_when_short(put: Writer) -> None:
    limit = checks.CAPTION_TEXT_MAX
    assert run(put, b"x" * limit, "a.txt").text == "x" * limit
    long = run(put, b"y" * (limit + 1), "b.txt")
    assert long.ok and long.text is None and long.meta["chars"] == limit + 1
