"""Dataset rules and warnings as a pure function (SPEC section 5)."""

from __future__ import annotations

from typing import Any

from trainset.domain.rules import FileFacts, evaluate


def f(name: str, sha: str | None = None, state: str = "ok", **meta: Any) -> FileFacts:
    return FileFacts(name, sha or f"h-{name}", state, meta=meta)


def codes(items: list[dict[str, Any]]) -> set[tuple[str | None, str]]:
    return {(i["filename"], i["code"]) for i in items}


def test_pairs_pass() -> None:
    v = evaluate([f("a.jpg", width=512, height=512), f("a.txt"), f("b.mp4"), f("b.txt")])
    assert v.failures == [] and v.warnings == [] and v.error() is None


def test_missing_and_ambiguous_captions_name_every_file() -> None:
    v = evaluate([f("a.jpg"), f("b.jpg"), f("b.png"), f("b.txt"), f("c.webm"), f("c.txt")])
    assert codes(v.failures) == {
        ("a.jpg", "missing_caption"),
        ("b.jpg", "ambiguous_caption"),
        ("b.png", "ambiguous_caption"),
    }
    err = v.error()
    assert err is not None
    assert err["code"] == "validation_failed"
    assert err["message"] == "3 of 6 files failed validation"


def test_caption_pairing_is_exact_on_base_name() -> None:
    # base name = before the LAST dot, compared case-sensitively
    v = evaluate([f("a.b.jpg"), f("a.b.txt"), f("C.jpg"), f("c.txt")])
    assert codes(v.failures) == {("C.jpg", "missing_caption")}
    assert ("c.txt", "orphan_caption") in codes(v.warnings)


def test_check_failures_are_named_with_their_code() -> None:
    bad = FileFacts("x.jpg", "h", "failed", "corrupt_image", "x.jpg is truncated")
    v = evaluate([bad, f("x.txt")])
    assert v.failures == [
        {"filename": "x.jpg", "code": "corrupt_image", "message": "x.jpg is truncated"}
    ]


def test_no_media_and_upload_expired() -> None:
    v = evaluate([f("a.txt")], expired_uploads=["big.mp4"])
    assert codes(v.failures) == {(None, "no_media"), ("big.mp4", "upload_expired")}
    assert evaluate([], expired_uploads=["x.jpg"]).error() is not None


def test_warnings_do_not_fail() -> None:
    v = evaluate(
        [
            f("a.jpg", "same", width=100, height=900, exif_rotated=True),
            f("a.txt", empty=True),
            f("b.jpg", "same", width=512, height=512),
            f("b.txt"),
            f("B.JPG", width=512, height=512),
            f("B.txt"),
            f("lonely.txt"),
        ]
    )
    assert v.failures == []
    assert codes(v.warnings) == {
        ("a.jpg", "small_image"),
        ("a.jpg", "exif_rotated"),
        ("a.txt", "empty_caption"),
        ("b.jpg", "duplicate_content"),
        ("b.jpg", "case_collision"),
        ("b.txt", "case_collision"),
        ("lonely.txt", "orphan_caption"),
    }


def test_identical_captions_are_not_duplicates() -> None:
    v = evaluate([f("a.jpg"), f("a.txt", "same"), f("b.jpg"), f("b.txt", "same")])
    assert v.warnings == []
