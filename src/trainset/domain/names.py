"""Filename and dataset-name rules (SPEC section 3). Names are checked, never sanitised."""

from __future__ import annotations

import re
import secrets
import string
import unicodedata

from trainset.domain.filetypes import ALLOWED_EXTENSIONS, file_type
from trainset.errors import InvalidFilename, InvalidName, UnsupportedFileType

MAX_FILENAME_BYTES = 255
MAX_DATASET_NAME = 128
DATASET_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_DATASET_NAME = re.compile(DATASET_NAME_PATTERN)
_ALNUM = string.ascii_lowercase + string.digits

# Bidirectional overrides and isolates make a name display as something it is not.
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)}


# Names Windows reserves for devices, whatever follows the first dot ("con.txt" too): a
# dataset pulled to a Windows training machine could not hold such a file.
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10)}


def _filename_problem(name: str) -> str | None:
    if not name:
        return "is empty"
    if "/" in name or "\\" in name:
        return "contains a path separator; send a bare file name"
    if "\x00" in name:
        return "contains a NUL character"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return "contains a control character"
    if any(c in _BIDI for c in name):
        return "contains a bidirectional-override character"
    if name in (".", ".."):
        return "is a directory reference"
    if name.startswith("."):
        return "starts with a dot (hidden files are not allowed)"
    if name != name.strip():
        return "starts or ends with white space"
    if name.endswith("."):
        return "ends with a dot"
    if name.split(".", 1)[0].rstrip(" ").upper() in _RESERVED:
        return "is a device name Windows reserves (CON, PRN, AUX, NUL, COM1-9, LPT1-9)"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode"
    if len(encoded) > MAX_FILENAME_BYTES:
        return f"is longer than {MAX_FILENAME_BYTES} bytes in UTF-8"
    return None


def check_filename(raw: str) -> str:
    """Return the NFC form of `raw`, or raise InvalidFilename / UnsupportedFileType."""
    problem = _filename_problem(raw)
    name = raw if problem else unicodedata.normalize("NFC", raw)
    if problem is None:
        problem = _filename_problem(name)
    if problem:
        raise InvalidFilename(
            f"The file name {raw!r} {problem}.", details=[{"filename": raw, "reason": problem}]
        )
    if file_type(name) is None:
        raise UnsupportedFileType(
            f"{name!r} has an unsupported type; allowed: {', '.join(ALLOWED_EXTENSIONS)}.",
            details=[{"filename": name, "allowed": list(ALLOWED_EXTENSIONS)}],
        )
    return name


def check_dataset_name(name: str) -> str:
    if not name or len(name) > MAX_DATASET_NAME or not _DATASET_NAME.match(name):
        raise InvalidName(
            f"The dataset name {name!r} is not allowed: use 1-{MAX_DATASET_NAME} letters, "
            "digits, '.', '_' or '-', starting with a letter or digit (it becomes a folder name "
            "on training machines)."
        )
    return name


def generate_dataset_name() -> str:
    return "ds_" + "".join(secrets.choice(_ALNUM) for _ in range(12))
