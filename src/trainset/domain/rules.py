"""Dataset rules and warnings (SPEC section 5), as a pure function of the files.

Failures block READY; warnings never do. Every failing file is named.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trainset.domain.filetypes import Kind, base_name, file_type

SMALL_IMAGE_PX = 256


@dataclass(frozen=True, slots=True)
class FileFacts:
    filename: str
    sha256: str | None
    check_state: str  # pending | ok | failed
    check_code: str | None = None
    check_message: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Verdict:
    failures: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    file_count: int

    def error(self) -> dict[str, Any] | None:
        if not self.failures:
            return None
        named = {f["filename"] for f in self.failures if f.get("filename")}
        if named:
            message = f"{len(named)} of {self.file_count} files failed validation"
        else:
            message = self.failures[0]["message"]
        return {"code": "validation_failed", "message": message, "details": self.failures}


def _item(filename: str | None, code: str, message: str) -> dict[str, Any]:
    return {"filename": filename, "code": code, "message": message}


def evaluate(files: Iterable[FileFacts], expired_uploads: Iterable[str] = ()) -> Verdict:
    failures: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    files = sorted(files, key=lambda f: f.filename)

    media_by_base: dict[str, list[str]] = defaultdict(list)
    captions: dict[str, FileFacts] = {}
    for f in files:
        ft = file_type(f.filename)
        if f.check_state == "failed":
            failures.append(
                _item(f.filename, f.check_code or "invalid_file_content", f.check_message or "")
            )
        if ft is None:
            continue
        if ft.kind is Kind.CAPTION:
            captions[base_name(f.filename)] = f
        else:
            media_by_base[base_name(f.filename)].append(f.filename)
        if f.check_state != "ok":
            continue
        meta = f.meta or {}
        if ft.kind is Kind.CAPTION and meta.get("empty"):
            warnings.append(_item(f.filename, "empty_caption", f"{f.filename} is empty"))
        if ft.kind is Kind.IMAGE:
            w, h = meta.get("width"), meta.get("height")
            if isinstance(w, int) and isinstance(h, int) and min(w, h) < SMALL_IMAGE_PX:
                warnings.append(
                    _item(
                        f.filename,
                        "small_image",
                        f"{f.filename} is {w}x{h}; its shortest side is under {SMALL_IMAGE_PX} px",
                    )
                )
            if meta.get("exif_rotated"):
                warnings.append(
                    _item(
                        f.filename,
                        "exif_rotated",
                        f"{f.filename} is rotated by its EXIF orientation; "
                        "trainers may not apply it",
                    )
                )

    for base, names in sorted(media_by_base.items()):
        caption = f"{base}.txt"
        if len(names) > 1:
            others = ", ".join(names)
            for n in names:
                failures.append(
                    _item(n, "ambiguous_caption", f"{others} share one caption name {caption}")
                )
        elif base not in captions:
            failures.append(
                _item(names[0], "missing_caption", f"{names[0]} has no caption file {caption}")
            )

    for base, cap in sorted(captions.items()):
        if base not in media_by_base:
            warnings.append(
                _item(
                    cap.filename,
                    "orphan_caption",
                    f"{cap.filename} has no image or video named {base}.*",
                )
            )

    for name in sorted(set(expired_uploads)):
        failures.append(
            _item(
                name,
                "upload_expired",
                f"{name} was never uploaded to its signed URL before it expired; "
                "upload it again or request a new URL",
            )
        )

    if files and not media_by_base:
        failures.append(
            _item(None, "no_media", "The dataset has files but no image or video to train on")
        )

    by_hash: dict[str, list[str]] = defaultdict(list)
    by_fold: dict[str, list[str]] = defaultdict(list)
    for f in files:
        ft = file_type(f.filename)
        # Identical captions are normal ("a photo of sks dog"); identical media are not.
        if ft is not None and ft.kind is not Kind.CAPTION and f.sha256 is not None:
            by_hash[f.sha256].append(f.filename)
        by_fold[f.filename.casefold()].append(f.filename)
    for names in by_hash.values():
        for n in names[1:]:
            warnings.append(_item(n, "duplicate_content", f"{n} has the same bytes as {names[0]}"))
    for names in by_fold.values():
        for n in names[1:]:
            warnings.append(
                _item(n, "case_collision", f"{n} differs from {names[0]} only in letter case")
            )

    return Verdict(failures, warnings, len(files))
