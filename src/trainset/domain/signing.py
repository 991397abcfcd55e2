"""HMAC-SHA256 signatures for local signed upload URLs (SPEC section 4)."""

from __future__ import annotations

import hashlib
import hmac

from trainset.errors import SignatureInvalid


class Signer:
    def __init__(self, key: bytes):
        self._key = key

    def sign(self, upload_id: str, expires: int) -> str:
        msg = f"trainset-upload\n{upload_id}\n{expires}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def verify(self, upload_id: str, expires: str, signature: str) -> int:
        """The expiry (unix seconds) when the signature is right; else SignatureInvalid."""
        if not expires.isdigit() or len(expires) > 12:
            raise SignatureInvalid("The upload URL is malformed (bad expiry).")
        expected = self.sign(upload_id, int(expires))
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise SignatureInvalid("The upload URL's signature does not match; request a new URL.")
        return int(expires)
