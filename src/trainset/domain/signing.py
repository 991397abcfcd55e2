"""HMAC-SHA256 signatures for local signed URLs: uploads (SPEC section 4) and downloads.

The purpose is part of the signed message, so an upload signature never works as a
download signature for the same id, or the other way round.
"""

from __future__ import annotations

import hashlib
import hmac

from trainset.errors import SignatureInvalid


class Signer:
    def __init__(self, key: bytes):
        self._key = key

    def sign(self, subject: str, expires: int, purpose: str = "upload") -> str:
        msg = f"trainset-{purpose}\n{subject}\n{expires}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def verify(self, subject: str, expires: str, signature: str, purpose: str = "upload") -> int:
        """The expiry (unix seconds) when the signature is right; else SignatureInvalid."""
        if not expires.isdigit() or len(expires) > 12:
            raise SignatureInvalid(f"The {purpose} URL is malformed (bad expiry).")
        expected = self.sign(subject, int(expires), purpose)
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise SignatureInvalid(
                f"The {purpose} URL's signature does not match; request a new URL."
            )
        return int(expires)
