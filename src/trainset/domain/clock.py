"""Time, always naive UTC, and the two wire formats of SPEC section 1."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """Naive UTC with microseconds: what the database stores."""
    return datetime.now(UTC).replace(tzinfo=None)


def wire(ts: datetime) -> str:
    """`2026-01-31T10:20:30.143086`: always six fractional digits, no offset."""
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f")


def wire_expiry(ts: datetime) -> str:
    """`2026-01-31T10:40:30Z`: to the second."""
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")
