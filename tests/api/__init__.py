"""End-to-end API tests. The wire helpers live in tests/wire.py (re-exported here)."""

from tests.wire import (  # noqa: F401 - re-exported for `from tests.api import ...`
    BASE,
    assert_error,
    create,
    signed_urls,
    status,
    upload,
    wait_final,
)
