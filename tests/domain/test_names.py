"""Filename and dataset-name rules (SPEC section 3): checked, never sanitised."""

from __future__ import annotations

import pytest

from trainset.domain.names import check_dataset_name, check_filename, generate_dataset_name
from trainset.domain.signing import Signer
from trainset.errors import InvalidFilename, InvalidName, SignatureInvalid, UnsupportedFileType

BAD = [
    "",
    "../a.jpg",
    "a/b.jpg",
    "a\\b.jpg",
    "a\x00.jpg",
    "a\x1b.jpg",
    "a\x7f.jpg",
    "\u202egpj.txt",
    ".",
    "..",
    ".hidden.jpg",
    " a.jpg",
    "a.jpg ",
    "a.jpg.",
    "é" * 127 + ".jpg",  # 258 bytes in UTF-8
]


@pytest.mark.parametrize("name", BAD)
def test_bad_filenames(name: str) -> None:
    with pytest.raises(InvalidFilename):
        check_filename(name)


@pytest.mark.parametrize("name", ["a.gif", "a.jpg.exe", "noext", "a.", "a.tar.gz"])
def test_unsupported_types(name: str) -> None:
    with pytest.raises((UnsupportedFileType, InvalidFilename)):
        check_filename(name)


def test_good_names_and_nfc() -> None:
    assert check_filename("IMG_0001.JPG") == "IMG_0001.JPG"
    assert check_filename("a.php.jpg") == "a.php.jpg"
    assert check_filename("e\u0301.jpg") == "\u00e9.jpg"
    assert check_filename("x" * 251 + ".txt") == "x" * 251 + ".txt"


@pytest.mark.parametrize("name", ["", "a b", "a/b", "-x", ".x", "x" * 129, "ü"])
def test_bad_dataset_names(name: str) -> None:
    with pytest.raises(InvalidName):
        check_dataset_name(name)


def test_generated_names() -> None:
    names = {generate_dataset_name() for _ in range(100)}
    assert len(names) == 100
    assert all(n.startswith("ds_") and check_dataset_name(n) == n for n in names)


def test_signer_round_trip_and_tamper() -> None:
    s = Signer(b"k" * 32)
    sig = s.sign("u1", 1000)
    assert s.verify("u1", "1000", sig) == 1000
    flipped = sig[:-1] + ("1" if sig[-1] == "0" else "0")
    for args in [("u2", "1000", sig), ("u1", "1001", sig), ("u1", "1000", flipped)]:
        with pytest.raises(SignatureInvalid):
            s.verify(*args)
    with pytest.raises(SignatureInvalid):
        s.verify("u1", "-1", sig)
    with pytest.raises(SignatureInvalid):
        Signer(b"other-key-000000").verify("u1", "1000", sig)
    with pytest.raises(SignatureInvalid):  # an upload signature is no download signature
        s.verify("u1", "1000", sig, "download")


@pytest.mark.parametrize("name", ["CON.jpg", "con.txt", "Nul.png", "aux.tar.txt", "COM1.mp4",
                                  "lpt9.webp", "prn .txt"])  # fmt: skip
def test_windows_device_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidFilename, match="reserves"):
        check_filename(name)


@pytest.mark.parametrize("name", ["CONFIG.jpg", "con1.jpg", "com0.png", "console.txt", "nulls.txt"])
def test_names_that_only_start_like_a_device_are_fine(name: str) -> None:
    assert check_filename(name) == name
