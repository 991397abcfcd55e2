"""Time, always naive UTC, and the two wire formats of SPEC section 1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def now() -> datetime:
    """Naive UTC with microseconds: what the database stores."""
    return datetime.now(UTC).replace(tzinfo=None)


def expiry(ttl_seconds: int) -> datetime:
    """`ttl_seconds` from now, rounded up to the second (wire expiries are whole
    seconds): a URL is never valid for less than its lifetime."""
    at = now()
    if at.microsecond:
        at = at.replace(microsecond=0) + timedelta(seconds=1)
    return at + timedelta(seconds=ttl_seconds)


def wire(ts: datetime) -> str:
    """`2026-01-31T10:20:30.143086`: always six fractional digits, no offset."""
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f")


def wire_expiry(ts: datetime) -> str:
    """`2026-01-31T10:40:30Z`: to the second."""
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")
